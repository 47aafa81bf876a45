/** `dv commit`: record new snapshots of the tracked paths that changed (or of the parts named). */
import type { RepoSession } from '../repo/repo.js';
import { DvError } from '../errors.js';
import { checkPointerSnapshots, findTracked, pointerRelFor, usesGit, type Tracked } from '../workspace/pointers.js';
import { toRepoRel } from '../workspace/scan.js';
import { snapshotPath, snapshotWithin, type SnapshotEntry, type SnapshotOptions } from '../history/snapshot.js';
export interface CommitOptions extends SnapshotOptions {
  /** Paths to commit (relative to `cwd`); all tracked paths when empty. */
  paths?: string[];
  cwd?: string;
}

export type CommitEntry = SnapshotEntry;

export interface CommitResult {
  committed: CommitEntry[];
  /** Pointer files rewritten, for `git add` (none without git: `dv init --no-git`). */
  gitAdd: string[];
  bytesStored: number;
  objectsStored: number;
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
