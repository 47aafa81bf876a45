/**
 * Writing snapshots: a scanned path stored and recorded as a snapshot, logged (`.dv/snapshots.log`)
 * and named by its pointer file. `dv commit`, `dv add`, `dv move`, `dv checkout` of a bare tree and
 * the outs of `dv repro` all record snapshots through here.
 *
 * Invariant: data before names: a snapshot is put in the store, the store flushed, and only then
 * logged and pointed at (`pointAt`); a killed dv leaves at worst an unnamed snapshot.
 */
import { posix } from 'node:path';
import { encodeSnapshot, type Snapshot } from '../core/snapshot.js';
import { DvError } from '../errors.js';
import { gitAuthor, gitState } from '../repo/git.js';
import { VERSION, type RepoSession } from '../repo/repo.js';
import { logSnapshot } from '../repo/reflog.js';
import { HashPool } from '../workspace/hash-pool.js';
import { scanPath, type ScanProgress, type ScanResult } from '../workspace/scan.js';
import { writePointer } from '../workspace/pointers.js';
import { graft } from './graft.js';
import { loadSnapshot } from './objects.js';
import { ScanSink } from './scan-sink.js';

/** How a new snapshot is described, and progress while its path is scanned. */
export interface SnapshotOptions {
  message?: string;
  meta?: Record<string, string>;
  onProgress?: (p: ScanProgress & { path: string }) => void;
  /** The hashing pool of a command that snapshots several paths (`withScanPool`). */
  pool?: HashPool;
}

/** A tracked path after it was scanned and, when it changed, recorded. */
export interface SnapshotEntry {
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

/** Scans `rel` and stores what is new in it (its last objects not flushed; the rest in packs of bounded size: scan-sink.ts). */
function scanAndStore(s: RepoSession, rel: string, opts: SnapshotOptions): Promise<ScanResult> {
  const sink = new ScanSink(s.store);
  return scanPath({
    root: s.root,
    rel,
    index: s.index,
    sink,
    pool: opts.pool,
    onProgress: (p) => opts.onProgress?.({ ...p, path: rel }),
  });
}

/**
 * Runs `fn` with one hashing pool for all its snapshots when there are several (`count`): the
 * workers start once, not once per path (~0.1 s of CPU each, and a pause between two paths).
 */
export async function withScanPool<T>(s: RepoSession, count: number, fn: (pool?: HashPool) => Promise<T>): Promise<T> {
  if (count < 2) return fn();
  const pool = new HashPool(new ScanSink(s.store));
  try {
    return await fn(pool);
  } finally {
    await pool.close();
  }
}

/** Scans `rel`, stores what is new, records a snapshot whose parent is `parent`, rewrites the pointer. */
export async function snapshotPath(
  s: RepoSession,
  rel: string,
  parent: string | null,
  opts: SnapshotOptions,
  force = false,
): Promise<SnapshotEntry> {
  const scan = await scanAndStore(s, rel, opts);
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

/**
 * Logs snapshot `id` of `rel` (unless `log` is false: a snapshot recorded before) and points its
 * pointer file at it: call once the store is flushed.
 */
export async function pointAt(s: RepoSession, rel: string, id: string, scan: SnapshotShape, opts: { log?: boolean } = {}): Promise<void> {
  if (opts.log !== false) await logSnapshot(s.paths.dvDir, id, rel);
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

/**
 * Records the changes of the paths `within` the tracked directory `rel` alone (repository-relative),
 * as `git commit PATH` does: the new snapshot is the parent's tree with those paths taken from the
 * workspace; other changes stay unrecorded.
 */
export async function snapshotWithin(
  s: RepoSession,
  rel: string,
  parent: string,
  within: string[],
  opts: SnapshotOptions,
): Promise<SnapshotEntry> {
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
  const scan = await scanAndStore(s, rel, opts);
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
