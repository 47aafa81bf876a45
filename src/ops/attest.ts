/**
 * `dv attest <artifact>`: the artifact's provenance back to raw data, signed, as a document a
 * third party can check without dv's store (in-toto Statement v1, SLSA provenance v1 predicate,
 * DSSE envelope: provenance/statement.ts). `dv attest verify` is attest-verify.ts. Returns data;
 * the CLI prints.
 *
 * Invariants: subjects' sha256 are computed from the store (the recorded bytes, re-hashed as
 * read), never from a workspace file that may have changed since; the walk of the artifact's
 * trees is bounded (MAX_FILES) and iterative, as is the walk of each file's manifest.
 */
import { createHash } from 'node:crypto';
import { decodeManifest } from '../core/manifest.js';
import type { FileEntry } from '../core/tree.js';
import { DvError } from '../errors.js';
import { type Envelope, type Signer, signEnvelope } from '../provenance/dsse.js';
import { saveEvidence } from '../provenance/evidence-store.js';
import {
  type AttestedStage,
  DV_BUILD_TYPE,
  DV_BUILDER_ID,
  DV_SNAPSHOT,
  DV_TREE,
  INTOTO_PAYLOAD_TYPE,
  type ResourceDescriptor,
  SLSA_PROVENANCE_V1,
  SNAPSHOT_SUBJECT_PREFIX,
  type Statement,
  STATEMENT_TYPE,
  stageRecord,
} from '../provenance/statement.js';
import { ATTEST_KEY, configuredSigner } from '../provenance/trust.js';
import { writeFileAtomic } from '../store/atomic.js';
import type { ObjectStore } from '../store/object-store.js';
import type { RepoSession } from '../repo/repo.js';
import { lineage } from './lineage.js';
import { loadSnapshot, treeLoader } from '../history/objects.js';

/** Files of one artifact dv lists as subjects (and walks on disk when verifying). */
export const MAX_FILES = 1_000_000;

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
  /** The copy kept in the store's directory (`dv attest verify <artifact>` finds it there). */
  kept: string;
  envelope: Envelope;
}

/** Signs a statement and keeps the envelope under its snapshot; returns the envelope, its file text and where it was kept. */
export async function signAndKeep(
  s: RepoSession,
  statement: Statement,
  signer: Signer,
): Promise<{ envelope: Envelope; text: string; kept: string }> {
  const envelope = signEnvelope(INTOTO_PAYLOAD_TYPE, Buffer.from(JSON.stringify(statement), 'utf8'), signer);
  const text = JSON.stringify(envelope, null, 2) + '\n';
  const [kept] = await saveEvidence(
    s,
    'attestations',
    [statement.predicate.buildDefinition.internalParameters.snapshot],
    Buffer.from(text),
  );
  return { envelope, text, kept };
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
  const stages: AttestedStage[] = r.stages.map((st) => ({ ...stageRecord(st), ranAt: st.ranAt }));
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
  // Materials are what the runs read: an output no run of the chain read (the artifact's siblings,
  // another out of an upstream stage) went into nothing attested here.
  const read = new Set(r.stages.flatMap((st) => st.inputs.map((d) => `${d.path}\0${d.id}`)));
  for (const a of r.artifacts) {
    if (a.path === snap.path && a.id === snap.tree) continue;
    if (a.kind === 'output' && !read.has(`${a.path}\0${a.id}`)) continue;
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
  const { envelope, text, kept } = await signAndKeep(s, statement, signer);
  if (opts.output !== undefined) await writeFileAtomic(opts.output, text);
  const p = statement.predicate.buildDefinition;
  return {
    artifact: p.externalParameters.artifact,
    snapshot: p.internalParameters.snapshot,
    keyid: signer.keyid,
    subjects: statement.subject.length,
    materials: p.resolvedDependencies.length,
    stages: p.internalParameters.stages.length,
    ...(opts.output !== undefined ? { file: opts.output } : {}),
    kept,
    envelope,
  };
}
