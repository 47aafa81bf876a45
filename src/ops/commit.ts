/** `dv commit` (and the snapshot step of `dv add`): record new snapshots of tracked paths. */
import { posix } from 'node:path';
import { encodeSnapshot, type Snapshot } from '../core/snapshot.js';
import { DvError } from '../errors.js';
import { gitAuthor, gitState } from '../repo/git.js';
import { VERSION, type RepoSession } from '../repo/repo.js';
import { scanPath, toRepoRel, type ScanProgress, type ScanResult } from '../workspace/scan.js';
import { checkPointerSnapshots, findTracked, pointerRelFor, usesGit, writePointer, type Tracked } from '../workspace/pointers.js';
import { graft } from '../history/graft.js';
import { loadSnapshot } from '../history/objects.js';
import { logSnapshot } from '../repo/reflog.js';

export interface CommitOptions {
  /** Paths to commit (relative to `cwd`); all tracked paths when empty. */
  paths?: string[];
  cwd?: string;
  message?: string;
  meta?: Record<string, string>;
  onProgress?: (p: ScanProgress & { path: string }) => void;
}

export interface CommitEntry {
  path: string;
  snapshot: string;
  tree: string;
  /** The parent of `snapshot` (null for a first snapshot), whether it was just recorded or not (`changed`). */
  parent: string | null;
  changed: boolean;
  size: number;
  files: number;
  filesHashed: number;
  bytesHashed: number;
}

export interface CommitResult {
  committed: CommitEntry[];
  /** Pointer files rewritten, for `git add` (none without git: `dv init --no-git`). */
  gitAdd: string[];
  bytesStored: number;
  objectsStored: number;
}

/** Scans `rel`, stores what is new, records a snapshot whose parent is `parent`, rewrites the pointer. */
export async function snapshotPath(
  s: RepoSession,
  rel: string,
  parent: string | null,
  opts: CommitOptions,
  force = false,
): Promise<CommitEntry> {
  const scan = await scanPath({
    root: s.root,
    rel,
    index: s.index,
    sink: s.store,
    onProgress: (p) => opts.onProgress?.({ ...p, path: rel }),
  });
  const prev = parent ? await readParent(s, parent) : null;
  const base = {
    path: rel,
    tree: scan.tree,
    parent,
    size: scan.size,
    files: scan.files,
    filesHashed: scan.filesHashed,
    bytesHashed: scan.bytesHashed,
  };
  // Unchanged: the entry is the current snapshot, with its own parent.
  if (prev?.tree === scan.tree && !force) return { ...base, snapshot: parent!, parent: prev.parents[0] ?? null, changed: false };
  const id = await storeSnapshot(s, rel, scan, {
    parent,
    message: opts.message ?? (parent ? `update ${rel}` : `add ${rel}`),
    time: new Date().toISOString(),
    lineage: { git: await gitState(s.root), dv: VERSION, meta: opts.meta ?? {} },
  });
  // Data before the pointer that names it.
  await s.store.flush();
  await pointAt(s, rel, id, scan);
  return { ...base, snapshot: id, changed: true };
}

/** What a snapshot and a pointer file say about the data they name. */
export type SnapshotShape = Pick<ScanResult, 'kind' | 'tree' | 'size' | 'files'>;

/** Stores (without flushing) a snapshot of the scanned, stored `rel`; returns its id. */
export async function storeSnapshot(
  s: RepoSession,
  rel: string,
  scan: SnapshotShape,
  o: { parent: string | null | undefined; message: string; time: string; lineage: Snapshot['lineage'] },
): Promise<string> {
  const snap: Snapshot = {
    path: rel,
    kind: scan.kind,
    tree: scan.tree,
    parents: o.parent ? [o.parent] : [],
    message: o.message,
    author: await gitAuthor(s.root),
    time: o.time,
    size: scan.size,
    files: scan.files,
    lineage: o.lineage,
  };
  return s.store.putObject(encodeSnapshot(snap));
}

/** Logs snapshot `id` of `rel` and points its pointer file at it: call once the store is flushed. */
export async function pointAt(s: RepoSession, rel: string, id: string, scan: SnapshotShape): Promise<void> {
  await logSnapshot(s.paths.dvDir, id, rel);
  await writePointer(s.root, rel, {
    path: posix.basename(rel),
    kind: scan.kind,
    snapshot: id,
    tree: scan.tree,
    size: scan.size,
    files: scan.files,
  });
}

async function readParent(s: RepoSession, parent: string): Promise<Snapshot | null> {
  try {
    return await loadSnapshot(s.store, parent);
  } catch (e) {
    if (e instanceof DvError && e.code === 'OBJECT_MISSING') return null;
    throw e;
  }
}

/** Selects tracked paths named by `paths` (relative to `cwd`), or all of them. */
export async function selectTracked(
  s: RepoSession,
  paths: string[] | undefined,
  cwd: string,
  opts: { snapshotsRequired?: boolean } = {},
): Promise<Tracked[]> {
  const all = await findTracked(s.root);
  const picked = !paths || paths.length === 0 ? all : paths.map((p) => trackedOf(s.root, all, cwd, p).tracked);
  // A pointer whose tree is not its snapshot's is refused before anything uses it.
  await checkPointerSnapshots(s.store, picked, { required: opts.snapshotsRequired });
  return picked;
}

/** The tracked path holding `p`, and `p` relative to the root (the tracked path itself, or a path inside it). */
function trackedOf(root: string, all: Tracked[], cwd: string, p: string): { tracked: Tracked; rel: string } {
  let rel = toRepoRel(root, cwd, p);
  if (rel.endsWith('.dv') && all.some((t) => t.pointerRel === rel)) rel = rel.slice(0, -3);
  const t = all.find((x) => x.rel === rel || rel.startsWith(x.rel + '/'));
  if (!t) throw new DvError('NOT_TRACKED', `${p} is not tracked by dv: run \`dv add ${p}\` first`, { path: p });
  return { tracked: t, rel };
}

/**
 * Like `selectTracked`, once per tracked path, with the paths inside it that were named
 * (`within`, relative to the root), or null when it was named whole (or nothing was named).
 */
export async function selectTrackedWithin(
  s: RepoSession,
  paths: string[] | undefined,
  cwd: string,
): Promise<{ tracked: Tracked; within: string[] | null }[]> {
  const all = await findTracked(s.root);
  if (!paths || paths.length === 0) {
    await checkPointerSnapshots(s.store, all);
    return all.map((tracked) => ({ tracked, within: null }));
  }
  const out = new Map<string, { tracked: Tracked; within: string[] | null }>();
  for (const p of paths) {
    const { tracked, rel } = trackedOf(s.root, all, cwd, p);
    const e = out.get(tracked.rel) ?? { tracked, within: [] };
    out.set(tracked.rel, e);
    if (rel === tracked.rel) e.within = null;
    else if (e.within && !e.within.includes(rel)) e.within.push(rel);
  }
  await checkPointerSnapshots(
    s.store,
    [...out.values()].map((e) => e.tracked),
  );
  return [...out.values()];
}

/**
 * Records the changes of the paths `within` the tracked directory `rel` alone (repository-relative),
 * as `git commit PATH` does: the new snapshot is the parent's tree with those paths taken from the
 * workspace; other changes stay unrecorded.
 */
async function snapshotWithin(s: RepoSession, rel: string, parent: string, within: string[], opts: CommitOptions): Promise<CommitEntry> {
  const prev = await loadSnapshot(s.store, parent).catch((e) => {
    if (e instanceof DvError && e.code === 'OBJECT_MISSING') {
      throw new DvError(
        'OBJECT_MISSING',
        `${rel}: the snapshot to record ${within[0]} into is not here: \`dv fetch ${rel}\` first, or commit all of it with \`dv commit ${rel}\``,
        { path: rel },
      );
    }
    throw e;
  });
  const scan = await scanPath({
    root: s.root,
    rel,
    index: s.index,
    sink: s.store,
    onProgress: (p) => opts.onProgress?.({ ...p, path: rel }),
  });
  const inner = within.map((w) => w.slice(rel.length + 1));
  const g = await graft(s.store, prev.tree, scan.tree, inner, scan.trees);
  const base = { path: rel, tree: g.tree, size: g.size, files: g.files, filesHashed: scan.filesHashed, bytesHashed: scan.bytesHashed };
  if (g.tree === prev.tree) return { ...base, snapshot: parent, parent: prev.parents[0] ?? null, changed: false };
  const shape = { kind: 'dir' as const, tree: g.tree, size: g.size, files: g.files };
  const id = await storeSnapshot(s, rel, shape, {
    parent,
    message: opts.message ?? `update ${within.join(', ')}`,
    time: new Date().toISOString(),
    lineage: { git: await gitState(s.root), dv: VERSION, meta: opts.meta ?? {} },
  });
  await s.store.flush();
  await pointAt(s, rel, id, shape);
  return { ...base, snapshot: id, parent, changed: true };
}

/** Snapshots every changed tracked path (or the ones named; a path inside one records that part alone). */
export async function commit(s: RepoSession, opts: CommitOptions): Promise<CommitResult> {
  const selected = await selectTrackedWithin(s, opts.paths, opts.cwd ?? s.root);
  const before = { ...s.store.stats };
  const committed: CommitEntry[] = [];
  for (const { tracked: t, within } of selected) {
    if (within && t.pointer.kind === 'dir') committed.push(await snapshotWithin(s, t.rel, t.pointer.snapshot, within, opts));
    else committed.push(await snapshotPath(s, t.rel, t.pointer.snapshot, opts));
  }
  const gitAdd = (await usesGit(s)) ? committed.filter((c) => c.changed).map((c) => pointerRelFor(c.path)) : [];
  return {
    committed,
    gitAdd,
    bytesStored: s.store.stats.storedBytesWritten - before.storedBytesWritten,
    objectsStored: s.store.stats.objectsWritten - before.objectsWritten,
  };
}
