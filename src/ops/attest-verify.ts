/**
 * `dv attest verify FILE [artifact]`: the signature is a trusted key's, the artifact's bytes on
 * disk are the subjects, and every material is here and matches (snapshots in the local store,
 * the code commit in git, each stage's cmd, params, environment, deps and outs in dv.lock).
 * Returns every failure as one line; the CLI prints them and exits ATTESTATION_INVALID.
 *
 * Invariants: the attestation is untrusted until a trusted key's signature verifies (nothing of
 * an unverified payload is compared); its subject names are checked before any is joined to the
 * repository root; workspace files are opened without following links, with no link among their
 * parent directories; walks and reads are bounded.
 */
import { createHash } from 'node:crypto';
import { constants as fsc, promises as fsp } from 'node:fs';
import { isAbsolute, join, relative, sep } from 'node:path';
import { badEntryName } from '../core/tree.js';
import { DvError, fsError } from '../errors.js';
import { checkEnvelope, MAX_ENVELOPE_BYTES, parseEnvelope } from '../provenance/dsse.js';
import { compareStage } from '../provenance/compare.js';
import {
  DV_SNAPSHOT,
  DV_TREE,
  INTOTO_PAYLOAD_TYPE,
  parseStatement,
  SNAPSHOT_SUBJECT_PREFIX,
  type Statement,
} from '../provenance/statement.js';
import { TRUSTED_KEYS, trustedKeys } from '../provenance/trust.js';
import { predicateTypeOf, REBUILD_PREDICATE, type ReceiptReport } from '../provenance/receipt.js';
import { currentSnapshot, storedReceiptReports, verifyReceiptFile } from '../provenance/receipt-verify.js';
import { loadEvidence } from '../provenance/evidence-store.js';
import { checkParents } from '../repo/control-file.js';
import { git } from '../repo/git.js';
import type { RepoSession } from '../repo/repo.js';
import { findTracked } from '../workspace/pointers.js';
import { toRepoRel } from '../workspace/scan.js';
import { MAX_FILES } from './attest.js';
import { loadSnapshot } from '../history/objects.js';
import { loadPipeline } from '../pipeline/state.js';

const READ_BYTES = 1024 * 1024;

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
  /** What the file is: an attestation (`dv attest`) or a rebuild receipt (`dv repro --verify --rebuild`). */
  kind: 'attestation' | 'receipt';
  /** The receipt verified (kind receipt), or the kept receipts of the attested snapshot that trusted keys signed. */
  receipts: ReceiptReport[];
  /** A receipt that verifies but records a rebuild that did not reproduce the artifact (exit NOT_REPRODUCIBLE). */
  notReproduced?: true;
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
  // Every snapshot a stage read must be a listed material (a material list cut short hides an input).
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
    kind: 'attestation',
    receipts: [],
  };
  const artifact = await keptArtifact(s, opts.file);
  if (artifact) return verifyKept(s, opts, artifact, trusted, result);
  const text = await readCapped(opts.file);
  if (text === undefined)
    return { ...result, failures: [`${opts.file} is not an attestation (not a regular file, or larger than ${MAX_ENVELOPE_BYTES} bytes)`] };
  return verifyText(s, opts, text, trusted, result);
}

type Trusted = NonNullable<Awaited<ReturnType<typeof trustedKeys>>>;

/** The tracked path or stage out `file` names (its current snapshot), when it names one: then its kept attestations are verified. */
async function keptArtifact(s: RepoSession, file: string): Promise<{ rel: string; snapshot: string } | undefined> {
  const rel = relative(s.root, file).split(sep).join('/').replace(/\.dv$/, '');
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) return undefined;
  const snapshot = await currentSnapshot(s, rel);
  return snapshot ? { rel, snapshot } : undefined;
}

/** `dv attest verify <artifact>`: the attestations kept for its current snapshot; the first that verifies counts. */
async function verifyKept(
  s: RepoSession,
  opts: VerifyAttestationOptions,
  a: { rel: string; snapshot: string },
  trusted: Trusted,
  empty: VerifyAttestationResult,
): Promise<VerifyAttestationResult> {
  const kept = await loadEvidence(s, 'attestations', a.snapshot);
  if (kept.length === 0)
    return {
      ...empty,
      artifact: a.rel,
      failures: [
        `no attestation is kept for ${a.rel} (snapshot ${a.snapshot.slice(0, 12)}): sign one with \`dv attest ${a.rel}\` or \`dv commit --sign\`, or give the attestation file`,
      ],
    };
  let last = empty;
  for (const k of kept) {
    const fresh: VerifyAttestationResult = { ...empty, file: k.file, failures: [], receipts: [] };
    last = await verifyText(s, { ...opts, file: k.file, artifact: a.rel, cwd: s.root }, k.bytes.toString('utf8'), trusted, fresh).catch(
      (e) => {
        if (!(e instanceof DvError)) throw e;
        return { ...fresh, failures: [e.message] };
      },
    );
    if (last.ok) return last;
  }
  return last;
}

async function verifyText(
  s: RepoSession,
  opts: VerifyAttestationOptions,
  text: string,
  trusted: Trusted,
  result: VerifyAttestationResult,
): Promise<VerifyAttestationResult> {
  const fail = (line: string): VerifyAttestationResult => {
    result.failures.push(line);
    return result;
  };
  const env = parseEnvelope(text, opts.file);
  if (env.payloadType === INTOTO_PAYLOAD_TYPE && predicateTypeOf(env.payloadBytes) === REBUILD_PREDICATE)
    return receiptResult(s, opts, text, trusted, result);
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
  result.receipts = await storedReceiptReports(s, st.predicate.buildDefinition.internalParameters.snapshot, attested, trusted.keys);
  result.ok = result.failures.length === 0;
  return result;
}

/** A rebuild receipt given as the file: provenance/receipt-verify.ts checks it. */
async function receiptResult(
  s: RepoSession,
  opts: VerifyAttestationOptions,
  text: string,
  trusted: Trusted,
  result: VerifyAttestationResult,
): Promise<VerifyAttestationResult> {
  const rel =
    opts.artifact === undefined
      ? undefined
      : toRepoRel(s.root, opts.cwd ?? s.root, opts.artifact)
          .replace(/\/+$/, '')
          .replace(/\.dv$/, '');
  const v = await verifyReceiptFile(s, text, opts.file, trusted, rel);
  result.kind = 'receipt';
  result.signedBy = v.signedBy;
  result.failures = v.failures;
  if (v.report) {
    result.receipts = [v.report];
    result.artifact = rel ?? v.report.artifacts.join(', ');
    result.checked.subjects = v.report.artifacts.length;
  }
  if (v.notReproduced) result.notReproduced = true;
  result.ok = result.failures.length === 0;
  return result;
}
