/**
 * `dv attest <artifact>`: the artifact's provenance back to raw data, signed, as a document a
 * third party can check without dv's store (in-toto Statement v1, SLSA provenance v1 predicate,
 * DSSE envelope: provenance/statement.ts). `dv attest verify FILE [artifact]`: the signature is
 * a trusted key's, the artifact's bytes on disk are the subjects, and every material is here
 * and matches (snapshots in the local store, the code commit in git, each stage's cmd, params,
 * environment, deps and outs in dv.lock). Both return data; the CLI prints and exits.
 *
 * Invariants: subjects' sha256 are computed from the store (the recorded bytes, re-hashed as
 * read), never from a workspace file that may have changed since; verification reads the
 * workspace through lstat (a subject that is a link is a failure, not followed) and bounds its
 * walk; the attestation is untrusted until a trusted key's signature verifies, and its subject
 * names are checked before any is joined to the repository root.
 */
import { createHash } from 'node:crypto';
import { constants as fsc, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { decodeManifest } from '../core/manifest.js';
import type { FileEntry } from '../core/tree.js';
import { badEntryName } from '../core/tree.js';
import { DvError, fsError } from '../errors.js';
import { checkEnvelope, MAX_ENVELOPE_BYTES, parseEnvelope, type Envelope, signEnvelope } from '../provenance/dsse.js';
import { compareStage } from '../provenance/compare.js';
import {
  type AttestedStage,
  DV_BUILD_TYPE,
  DV_BUILDER_ID,
  DV_SNAPSHOT,
  DV_TREE,
  INTOTO_PAYLOAD_TYPE,
  parseStatement,
  type ResourceDescriptor,
  SLSA_PROVENANCE_V1,
  SNAPSHOT_SUBJECT_PREFIX,
  type Statement,
  STATEMENT_TYPE,
} from '../provenance/statement.js';
import { ATTEST_KEY, configuredSigner, TRUSTED_KEYS, trustedKeys } from '../provenance/trust.js';
import { checkParents } from '../repo/control-file.js';
import { git } from '../repo/git.js';
import { writeFileAtomic } from '../store/atomic.js';
import type { ObjectStore } from '../store/object-store.js';
import type { RepoSession } from '../repo/repo.js';
import { findTracked } from '../workspace/pointers.js';
import { toRepoRel } from '../workspace/scan.js';
import { lineage } from './lineage.js';
import { loadSnapshot, treeLoader } from './objects.js';
import { loadPipeline } from './pipeline.js';

/** Files of one artifact dv lists as subjects, and walks on disk when verifying. */
const MAX_FILES = 1_000_000;
const READ_BYTES = 1024 * 1024;

export interface AttestOptions {
  /** A stage out or tracked path (or a file inside one), or a snapshot id. */
  target: string;
  cwd?: string;
  /** Where to write the envelope (JSON); absent: only returned. */
  output?: string;
}

export interface AttestResult {
  artifact: string;
  snapshot: string;
  keyid: string;
  subjects: number;
  materials: number;
  stages: number;
  /** The file written, when `output` was given. */
  file?: string;
  envelope: Envelope;
}

/** SHA-256 of a stored file, chunk by chunk in file order (the manifest depth is at most 8, checked by its decoder). */
async function storedSha256(store: ObjectStore, e: FileEntry): Promise<string> {
  const h = createHash('sha256');
  if (!e.chunked) return h.update(await store.get(e.id)).digest('hex');
  // Explicit stack of (children, next index): no recursion whose depth the data chooses.
  const stack: { ids: string[]; level: number; at: number }[] = [];
  const push = async (id: string): Promise<void> => {
    const n = decodeManifest(await store.get(id), id);
    if (stack.length > 8) throw new DvError('BAD_OBJECT', `file manifest ${id.slice(0, 12)} nests too deep`, { id });
    stack.push({ ids: n.children.map((c) => c.id), level: n.level, at: 0 });
  };
  await push(e.id);
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    if (top.at >= top.ids.length) {
      stack.pop();
      continue;
    }
    const id = top.ids[top.at++];
    if (top.level > 0) await push(id);
    else h.update(await store.get(id));
  }
  return h.digest('hex');
}

/** The files of a stored artifact with their repository paths, breadth first, bounded. */
async function storedFiles(s: RepoSession, path: string, tree: string, kind: 'dir' | 'file'): Promise<{ rel: string; entry: FileEntry }[]> {
  const load = treeLoader(s.store);
  const out: { rel: string; entry: FileEntry }[] = [];
  const queue: { rel: string; id: string }[] = [{ rel: path, id: tree }];
  for (let next = 0; next < queue.length; next++) {
    const { rel, id } = queue[next];
    for (const e of (await load(id)).entries) {
      const at = kind === 'file' ? path : `${rel}/${e.name}`;
      if (e.type === 'file') out.push({ rel: at, entry: e });
      else if (e.type === 'dir') queue.push({ rel: at, id: e.id });
      if (out.length + queue.length - next > MAX_FILES)
        throw new DvError('USAGE', `${path} has more than ${MAX_FILES} files: attest a part of it`);
    }
  }
  return out.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
}

/** The in-toto Statement for an artifact (unsigned). */
export async function buildStatement(s: RepoSession, target: string, cwd: string): Promise<Statement> {
  const r = await lineage(s, { target, cwd });
  const snap = await loadSnapshot(s.store, r.target.snapshot);
  const files = await storedFiles(s, snap.path, snap.tree, snap.kind);
  const subject: ResourceDescriptor[] = [];
  for (const f of files) subject.push({ name: f.rel, digest: { sha256: await storedSha256(s.store, f.entry) } });
  subject.push({ name: SNAPSHOT_SUBJECT_PREFIX + snap.path, digest: { [DV_TREE]: snap.tree, [DV_SNAPSHOT]: r.target.snapshot } });
  const stages: AttestedStage[] = r.stages.map((st) => ({
    name: st.name,
    cmd: st.cmd,
    ...(st.wdir ? { wdir: st.wdir } : {}),
    key: st.key,
    params: st.params,
    env: st.env,
    deps: st.inputs,
    outs: st.outputs,
    ranAt: st.ranAt,
  }));
  const own = stages.find((st) => st.outs.some((o) => o.path === snap.path && o.id === snap.tree));
  const deps: ResourceDescriptor[] = [];
  // The code commit of each run; dirty: the run had changes not committed, which no commit holds.
  const commits = new Map<string, boolean>();
  const addCommit = (g: { commit: string | null; dirty: boolean } | null | undefined): void => {
    if (g?.commit) commits.set(g.commit, (commits.get(g.commit) ?? false) || g.dirty === true);
  };
  for (const st of stages) addCommit(st.env.git);
  if (!own) addCommit(snap.lineage.git);
  for (const [c, dirty] of commits)
    deps.push({ name: 'code', digest: { gitCommit: c }, ...(dirty ? { annotations: { dirty: true } } : {}) });
  for (const a of r.artifacts) {
    if (a.path === snap.path && a.id === snap.tree) continue;
    deps.push({
      name: a.path,
      digest: { [DV_TREE]: a.id, ...(a.snapshot ? { [DV_SNAPSHOT]: a.snapshot } : {}) },
      annotations: { kind: a.kind, ...(a.stage ? { stage: a.stage } : {}), ...(a.uncommitted ? { uncommitted: true } : {}) },
    });
  }
  return {
    _type: STATEMENT_TYPE,
    subject,
    predicateType: SLSA_PROVENANCE_V1,
    predicate: {
      buildDefinition: {
        buildType: DV_BUILD_TYPE,
        externalParameters: {
          artifact: snap.path,
          ...(own ? { stage: own.name, cmd: own.cmd, ...(own.wdir ? { wdir: own.wdir } : {}), params: own.params } : {}),
        },
        internalParameters: {
          snapshot: r.target.snapshot,
          tree: snap.tree,
          ...(own ? { runKey: own.key, env: own.env } : {}),
          stages,
        },
        resolvedDependencies: deps,
      },
      runDetails: {
        builder: { id: DV_BUILDER_ID, version: { dv: own?.env.dv ?? snap.lineage.dv } },
        metadata: { ...(own ? { invocationId: own.key } : {}), finishedOn: own?.ranAt ?? snap.time },
      },
    },
  };
}

export async function attest(s: RepoSession, opts: AttestOptions): Promise<AttestResult> {
  const signer = await configuredSigner(s.config, s.root);
  if (!signer)
    throw new DvError(
      'USAGE',
      `no signing key: set one with \`dv config --local ${ATTEST_KEY} PATH\` (an Ed25519 key; make one with \`dv key gen PATH\`)`,
    );
  const statement = await buildStatement(s, opts.target, opts.cwd ?? s.root);
  const envelope = signEnvelope(INTOTO_PAYLOAD_TYPE, Buffer.from(JSON.stringify(statement), 'utf8'), signer);
  if (opts.output !== undefined) await writeFileAtomic(opts.output, JSON.stringify(envelope, null, 2) + '\n');
  const p = statement.predicate.buildDefinition;
  return {
    artifact: p.externalParameters.artifact,
    snapshot: p.internalParameters.snapshot,
    keyid: signer.keyid,
    subjects: statement.subject.length,
    materials: p.resolvedDependencies.length,
    stages: p.internalParameters.stages.length,
    ...(opts.output !== undefined ? { file: opts.output } : {}),
    envelope,
  };
}

export interface VerifyAttestationOptions {
  /** The envelope file. */
  file: string;
  /** The artifact expected to be a subject (a path); absent: the attested one. */
  artifact?: string;
  /** A trusted-keys file; absent: `attest.trustedKeys` from trusted config. */
  trustedKeys?: string;
  cwd?: string;
}

export interface VerifyAttestationResult {
  ok: boolean;
  file: string;
  artifact?: string;
  /** Trusted keys whose signature verified. */
  signedBy: string[];
  /** Counts of what was checked. */
  checked: { subjects: number; materials: number; stages: number };
  /** One line per thing that does not match. */
  failures: string[];
}

/** SHA-256 of a workspace file, opened without following a link (a regular file, checked on the open handle). */
async function diskSha256(file: string): Promise<string | undefined> {
  const h = createHash('sha256');
  const fh = await fsp.open(file, fsc.O_RDONLY | (fsc.O_NOFOLLOW ?? 0) | (fsc.O_NONBLOCK ?? 0));
  try {
    if (!(await fh.stat()).isFile()) return undefined;
    const buf = Buffer.alloc(READ_BYTES);
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      h.update(buf.subarray(0, bytesRead));
    }
  } finally {
    await fh.close();
  }
  return h.digest('hex');
}

/** A subject name that is a plain path inside the repository (never .git or .dv), or why not. */
function badSubjectPath(name: string): string | undefined {
  if (name === '' || name.startsWith('/')) return 'is not a relative path';
  for (const part of name.split('/')) {
    const why = badEntryName(part);
    if (why) return why;
  }
  return undefined;
}

/** Workspace files under `rel` (a directory), by lstat, bounded; links and specials are listed too. */
async function diskFiles(root: string, rel: string): Promise<string[]> {
  const out: string[] = [];
  const queue = [rel];
  for (let next = 0; next < queue.length; next++) {
    const dir = queue[next];
    const names = await fsp.readdir(join(root, dir), { withFileTypes: true }).catch(() => []);
    for (const d of names) {
      const at = `${dir}/${d.name}`;
      if (d.isDirectory()) queue.push(at);
      else out.push(at);
      if (out.length + queue.length - next > MAX_FILES) return out;
    }
  }
  return out;
}

async function checkSubjects(s: RepoSession, st: Statement, failures: string[]): Promise<void> {
  const artifact = st.predicate.buildDefinition.externalParameters.artifact;
  const named = new Set<string>();
  for (const sub of st.subject) {
    const name = sub.name!;
    if (name.startsWith(SNAPSHOT_SUBJECT_PREFIX)) continue;
    const why = badSubjectPath(name);
    if (why) {
      failures.push(`subject ${JSON.stringify(name)} ${why}`);
      continue;
    }
    named.add(name);
    const want = sub.digest?.sha256;
    if (typeof want !== 'string') {
      failures.push(`subject ${name} has no sha256 digest`);
      continue;
    }
    const abs = join(s.root, name);
    // A directory on the way that is a link would hash a file outside the repository.
    const through = await checkParents(s.root, abs).then(
      () => undefined,
      (e) => (e instanceof DvError ? e.message : String(e)),
    );
    if (through) {
      failures.push(`${name}: a directory on its path is a link or not a directory, attested a file`);
      continue;
    }
    const stat = await fsp.lstat(abs).catch(() => undefined);
    if (!stat) {
      failures.push(`${name}: missing on disk (attested sha256 ${want.slice(0, 12)})`);
      continue;
    }
    if (!stat.isFile()) {
      failures.push(`${name}: not a regular file on disk (a link or special file), attested a file`);
      continue;
    }
    const got = await diskSha256(abs).catch((e) => {
      if ((e as NodeJS.ErrnoException).code === 'ELOOP') return undefined;
      throw fsError(e, abs);
    });
    if (got === undefined) failures.push(`${name}: not a regular file on disk (replaced while read), attested a file`);
    else if (got !== want) failures.push(`${name}: sha256 ${got.slice(0, 12)} on disk, attested ${want.slice(0, 12)} (the file changed)`);
  }
  const top = await fsp.lstat(join(s.root, artifact)).catch(() => undefined);
  if (top?.isDirectory() && badSubjectPath(artifact) === undefined)
    for (const f of await diskFiles(s.root, artifact)) if (!named.has(f)) failures.push(`${f}: on disk in ${artifact}, not attested`);
}

/** The snapshot subject: in the store, holding the attested tree, and what dv.lock or the pointer names now. */
async function checkSnapshot(s: RepoSession, st: Statement, failures: string[]): Promise<void> {
  const ip = st.predicate.buildDefinition.internalParameters;
  const artifact = st.predicate.buildDefinition.externalParameters.artifact;
  const snap = await loadSnapshot(s.store, ip.snapshot).catch(() => undefined);
  if (!snap) failures.push(`${artifact}: snapshot ${ip.snapshot.slice(0, 12)} is not in the local store (run \`dv fetch\`)`);
  else if (snap.tree !== ip.tree || snap.path !== artifact)
    failures.push(
      `${artifact}: snapshot ${ip.snapshot.slice(0, 12)} holds ${snap.path} tree ${snap.tree.slice(0, 12)}, attested tree ${ip.tree.slice(0, 12)}`,
    );
  const lock = await loadPipeline(s.root).catch(() => undefined);
  let current: string | undefined;
  for (const x of Object.values(lock?.lock.stages ?? {})) current ??= x.outs.find((o) => o.path === artifact)?.snapshot;
  current ??= (await findTracked(s.root).catch(() => [])).find((t) => t.rel === artifact)?.pointer.snapshot;
  if (current === undefined) failures.push(`${artifact}: neither dv.lock nor a pointer file names it`);
  else if (current !== ip.snapshot)
    failures.push(`${artifact}: the workspace records snapshot ${current.slice(0, 12)}, attested ${ip.snapshot.slice(0, 12)}`);
}

async function checkMaterials(s: RepoSession, st: Statement, failures: string[]): Promise<number> {
  const deps = st.predicate.buildDefinition.resolvedDependencies;
  for (const d of deps) {
    const name = d.name ?? '?';
    const commit = d.digest?.gitCommit;
    if (typeof commit === 'string') {
      const ok = /^[0-9a-f]{40}([0-9a-f]{24})?$/.test(commit) && (await git(s.root, ['cat-file', '-e', `${commit}^{commit}`])).code === 0;
      if (!ok) failures.push(`code commit ${commit.slice(0, 12)} is not in this git repository (run \`git fetch\`)`);
      continue;
    }
    const snapId = d.digest?.[DV_SNAPSHOT];
    if (typeof snapId !== 'string') continue;
    const snap = await loadSnapshot(s.store, snapId).catch(() => undefined);
    if (!snap) failures.push(`material ${name}: snapshot ${snapId.slice(0, 12)} is not in the local store (run \`dv fetch\`)`);
    else if (snap.path !== name && !name.startsWith(snap.path + '/'))
      failures.push(`material ${name}: snapshot ${snapId.slice(0, 12)} is of ${snap.path}, not ${name}`);
    else if (snap.path === name && snap.tree !== d.digest?.[DV_TREE])
      failures.push(
        `material ${name}: snapshot ${snapId.slice(0, 12)} holds tree ${snap.tree.slice(0, 12)}, attested ${String(d.digest?.[DV_TREE]).slice(0, 12)}`,
      );
  }
  // Every snapshot a stage read must be a listed material, and the reverse.
  const listed = new Set(deps.flatMap((d) => (typeof d.digest?.[DV_SNAPSHOT] === 'string' ? [d.digest[DV_SNAPSHOT]] : [])));
  for (const stage of st.predicate.buildDefinition.internalParameters.stages)
    for (const d of stage.deps)
      if (d.snapshot && !listed.has(d.snapshot))
        failures.push(`stage ${stage.name}: dep ${d.path} snapshot ${d.snapshot.slice(0, 12)} is not among the attested materials`);
  return deps.length;
}

/** The attestation file's text, read to the cap on its open handle; undefined when not a regular file or too large. */
async function readCapped(file: string): Promise<string | undefined> {
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(file, fsc.O_RDONLY | (fsc.O_NONBLOCK ?? 0));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT')
      throw new DvError('PATH_NOT_FOUND', `${file} does not exist: give the attestation file \`dv attest\` wrote`, { path: file });
    throw fsError(e, file);
  }
  try {
    if (!(await fh.stat()).isFile()) return undefined;
    const buf = Buffer.alloc(MAX_ENVELOPE_BYTES + 1);
    let n = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, n, buf.length - n, n);
      if (bytesRead === 0) break;
      n += bytesRead;
      if (n === buf.length) return undefined;
    }
    return buf.subarray(0, n).toString('utf8');
  } finally {
    await fh.close();
  }
}

export async function verifyAttestation(s: RepoSession, opts: VerifyAttestationOptions): Promise<VerifyAttestationResult> {
  const trusted = await trustedKeys(s.config, s.root, opts.trustedKeys);
  if (!trusted)
    throw new DvError(
      'USAGE',
      `no trusted keys: give --trusted-keys FILE (the public keys whose signatures you accept), or set \`dv config --local ${TRUSTED_KEYS} FILE\``,
    );
  const result: VerifyAttestationResult = {
    ok: false,
    file: opts.file,
    signedBy: [],
    checked: { subjects: 0, materials: 0, stages: 0 },
    failures: [],
  };
  const fail = (line: string): VerifyAttestationResult => {
    result.failures.push(line);
    return result;
  };
  const text = await readCapped(opts.file);
  if (text === undefined)
    return fail(`${opts.file} is not an attestation (not a regular file, or larger than ${MAX_ENVELOPE_BYTES} bytes)`);
  const env = parseEnvelope(text, opts.file);
  if (env.payloadType !== INTOTO_PAYLOAD_TYPE) return fail(`payloadType is ${JSON.stringify(env.payloadType)}, not ${INTOTO_PAYLOAD_TYPE}`);
  const sig = checkEnvelope(env, trusted.keys);
  result.signedBy = sig.trustedBy;
  // An unsigned payload proves nothing: its contents are not even compared.
  if (sig.trustedBy.length === 0) {
    for (const p of sig.problems) result.failures.push(`${p} (trusted keys: ${trusted.file})`);
    return result;
  }
  const st = parseStatement(env.payloadBytes, opts.file);
  const attested = st.predicate.buildDefinition.externalParameters.artifact;
  result.artifact = attested;
  if (opts.artifact !== undefined) {
    const rel = toRepoRel(s.root, opts.cwd ?? s.root, opts.artifact)
      .replace(/\/+$/, '')
      .replace(/\.dv$/, '');
    if (rel !== attested && !rel.startsWith(attested + '/'))
      return fail(`${rel} is not a subject of this attestation: it attests ${attested} (an attestation of another artifact)`);
    if (rel !== attested && !st.subject.some((x) => x.name === rel || x.name?.startsWith(rel + '/')))
      return fail(`${rel} is not a subject of this attestation (no file of ${attested} by that name)`);
  }
  await checkSubjects(s, st, result.failures);
  await checkSnapshot(s, st, result.failures);
  result.checked.subjects = st.subject.length;
  result.checked.materials = await checkMaterials(s, st, result.failures);
  const lock = await loadPipeline(s.root).catch((e) => {
    result.failures.push(`dv.lock cannot be read: ${e instanceof DvError ? e.message : String(e)}`);
    return undefined;
  });
  if (lock)
    for (const stage of st.predicate.buildDefinition.internalParameters.stages)
      result.failures.push(...compareStage(stage, lock.lock.stages[stage.name]));
  result.checked.stages = st.predicate.buildDefinition.internalParameters.stages.length;
  result.ok = result.failures.length === 0;
  return result;
}
