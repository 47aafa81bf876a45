/**
 * `dv checkout`: make tracked paths match their pointer files, or restore any snapshot or tree
 * (by id or unique prefix) and point the pointer file at it. Touches only entries that differ
 * and refuses to destroy content the store does not hold, unless forced.
 */
import { promises as fsp } from 'node:fs';
import { join, posix } from 'node:path';
import { shellQuote as quote } from '../core/shell.js';
import { treeStats, type Tree } from '../core/tree.js';
import { DvError } from '../errors.js';
import { gitState } from '../repo/git.js';
import { VERSION, type RepoSession } from '../repo/repo.js';
import { materialize } from '../workspace/materialize.js';
import { checkPointerSnapshots, findTracked, ignoreInGit, readPointer, usesGit } from '../workspace/pointers.js';
import { scanPath } from '../workspace/scan.js';
import { inReservedDir, refuseGitTracked, selectTracked, trackedRel } from '../workspace/tracked.js';
import { checkTrackedPath } from '../workspace/safe-path.js';
import { leftoverTemps, removeLeftoversBeside } from '../workspace/leftovers.js';
import { removeRepoPath } from '../workspace/write-dir.js';
import type { WriteThrough } from '../workspace/write-through.js';
import { fileTreeNamed, resolveTreeish, treeLoader } from '../history/objects.js';
import { checkComplete } from '../history/tree-check.js';
import { pointAt, storeSnapshot } from '../history/snapshot.js';

export interface CheckoutOptions {
  /** Snapshot or tree id (or prefix) to restore; omit to follow the pointer files. */
  target?: string;
  paths?: string[];
  cwd?: string;
  force?: boolean;
  /** With `target` and a path that is not tracked: start tracking it (refused otherwise, NOT_TRACKED). */
  new?: boolean;
  jobs?: number;
  /**
   * `total`: what the checkout of `path` writes in all, when known before the first write (into an
   * empty place: the tree's declared files and bytes; an update learns what differs as it goes).
   */
  onProgress?: (files: number, bytes: number, total: CheckoutTotal) => void;
  /** `dv pull`: files its fetch already wrote whole (workspace/write-through.ts), renamed into place instead of written. */
  stage?: WriteThrough;
}

export interface CheckoutTotal {
  files?: number;
  bytes?: number;
  path: string;
}

export interface CheckoutEntry {
  path: string;
  snapshot: string;
  tree: string;
  written: number;
  removed: number;
  bytes: number;
}

export interface CheckoutResult {
  paths: CheckoutEntry[];
}

/**
 * Restores one tracked path. Its objects are located through recent pack indexes while it runs
 * (store/pack-locator.ts): the tree is walked twice (complete? then write) in about the order
 * its objects were added, and a million LevelDB lookups would map all of LevelDB's tables.
 */
async function restore(
  s: RepoSession,
  rel: string,
  kind: 'dir' | 'file',
  tree: string,
  opts: CheckoutOptions,
): Promise<{ written: number; removed: number; bytes: number }> {
  await s.store.locateThroughPacks();
  try {
    return await restoreTree(s, rel, kind, tree, opts);
  } finally {
    s.store.locateByIndex();
  }
}

async function restoreTree(
  s: RepoSession,
  rel: string,
  kind: 'dir' | 'file',
  tree: string,
  opts: CheckoutOptions,
): Promise<{ written: number; removed: number; bytes: number }> {
  await checkTrackedPath(s.root, rel);
  const storeLoad = treeLoader(s.store);
  await checkComplete(s.store, tree, storeLoad, join(s.root, rel));
  const abs = join(s.root, rel);
  const st = await fsp.lstat(abs).catch(() => undefined);
  let current: string | null = null;
  let overlay = new Map<string, Tree>();
  // Files deleted here because the path is of the other kind (counted with materialize's).
  let replaced = 0;
  if (kind === 'file') await removeLeftoversBeside(s.root, rel);
  if (st && (st.isFile() || st.isDirectory())) {
    let scan = await scanPath({ root: s.root, rel, index: s.index, allTrees: true });
    // A checkout killed mid-write leaves temp files: they are ours, not uncommitted user data.
    const temps = leftoverTemps(scan, rel);
    if (temps.length > 0) {
      for (const t of temps) removeRepoPath(s.root, t);
      scan = await scanPath({ root: s.root, rel, index: s.index, allTrees: true });
    }
    if (scan.kind === kind) {
      current = scan.tree;
      overlay = scan.trees;
    } else if (!opts.force) {
      throw new DvError(
        'UNSAVED_CHANGES',
        `${rel} is a ${scan.kind === 'dir' ? 'directory' : 'file'} in the workspace but a ${kind === 'dir' ? 'directory' : 'file'} in the data to check out: move it away or pass --force`,
        { paths: [rel] },
      );
    } else {
      removeRepoPath(s.root, rel);
      replaced = scan.files;
    }
  } else if (st) {
    if (!opts.force)
      throw new DvError('UNSAVED_CHANGES', `${rel} exists and is not a file or directory: move it away or pass --force`, { paths: [rel] });
    removeRepoPath(s.root, rel);
    replaced = 1;
  }
  const r = await materialize({
    root: s.root,
    rel,
    kind,
    target: tree,
    current,
    load: treeLoader(s.store, overlay),
    store: s.store,
    index: s.index,
    force: opts.force ?? false,
    jobs: opts.jobs,
    stage: opts.stage,
    tmp: join(s.paths.dvDir, 'tmp'),
    onProgress: opts.onProgress && progressWithTotal(opts.onProgress, rel, current === null ? await storeLoad(tree) : undefined),
  });
  return { ...r, removed: r.removed + replaced };
}

/** The progress callback with the checkout's total: the declared files and bytes of `tree` (when all of it is written). */
function progressWithTotal(
  onProgress: NonNullable<CheckoutOptions['onProgress']>,
  rel: string,
  tree: Tree | undefined,
): (files: number, bytes: number) => void {
  const total: CheckoutTotal = { path: rel };
  if (tree) {
    total.files = 0;
    total.bytes = 0;
    for (const e of tree.entries) {
      total.files += e.type === 'dir' ? e.files : 1;
      total.bytes += e.type === 'link' ? 0 : e.size;
    }
  }
  return (files, bytes) => onProgress(files, bytes, total);
}

/** PARTIAL: what was restored, and one line on what was not (the codes say why: 22 missing data, 16 unsaved changes). */
export function partialCheckout(done: CheckoutEntry[], failed: { path: string; code: string; message: string }[]): DvError {
  const rest =
    failed.length > 1
      ? `; also ${failed
          .slice(1)
          .map((f) => `${f.path} (${f.code})`)
          .join(', ')}`
      : '';
  const msg = `${done.length} of ${done.length + failed.length} paths checked out; ${failed[0].path}: ${failed[0].message}${rest}`;
  return new DvError('PARTIAL', msg, { paths: done, failed });
}

/** Edit distance (Levenshtein) of two short strings. */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length];
}

/**
 * `rel` has no pointer file: restoring into it starts tracking a new path. Refused inside (or
 * around) a tracked path; refused too, as a likely typo, when `refuse` (a path named without
 * `--new`), with the nearest tracked path as a suggestion.
 */
async function checkNewPath(s: RepoSession, rel: string, what: 'snapshot' | 'tree', id: string, refuse: boolean): Promise<void> {
  const tracked = await findTracked(s.root);
  const outer = tracked.find((t) => rel.startsWith(t.rel + '/'));
  if (outer)
    throw new DvError(
      'USAGE',
      `${rel} is inside ${outer.rel}, which dv tracks: restore the whole of it (\`dv checkout ${id.slice(0, 12)} ${outer.rel}\`) or a path outside it`,
      { path: rel },
    );
  const inner = tracked.find((t) => t.rel.startsWith(rel + '/'));
  if (inner)
    throw new DvError('USAGE', `${rel} contains ${inner.rel}, which dv tracks on its own: restore into another path`, { path: rel });
  if (!refuse) {
    // Starting to track a path git tracks would have it tracked twice.
    if (await usesGit(s)) await refuseGitTracked(s.root, rel, `dv checkout ${id.slice(0, 12)} ${quote(rel)} --new`);
    return;
  }
  let near: string | undefined;
  let best = Math.max(2, Math.floor(rel.length / 3)) + 1;
  for (const t of tracked) {
    const d = distance(rel, t.rel);
    if (d < best) {
      best = d;
      near = t.rel;
    }
  }
  throw new DvError(
    'NOT_TRACKED',
    `${rel} is not tracked${near ? ` (did you mean ${near}?)` : ''}: to restore ${what} ${id.slice(0, 12)} as a new tracked path ${rel}, pass --new`,
    { path: rel, ...(near ? { suggestion: near } : {}) },
  );
}

export async function checkout(s: RepoSession, opts: CheckoutOptions): Promise<CheckoutResult> {
  const cwd = opts.cwd ?? s.root;
  const out: CheckoutEntry[] = [];
  if (!opts.target) {
    // Every path that can be restored is: one with missing data or unsaved changes does not
    // stop the others, and the command then fails PARTIAL naming what was left.
    const tracked = await selectTracked(s, opts.paths, cwd, { named: true });
    const failed: { path: string; code: string; message: string }[] = [];
    let first: DvError | undefined;
    for (const t of tracked) {
      try {
        await checkPointerSnapshots(s.store, [t], { required: true });
        const r = await restore(s, t.rel, t.pointer.kind, t.pointer.tree, opts);
        out.push({ path: t.rel, snapshot: t.pointer.snapshot, tree: t.pointer.tree, ...r });
      } catch (e) {
        if (!(e instanceof DvError) || e.code === 'INTERRUPTED' || e.code === 'NO_SPACE') throw e;
        first ??= e;
        failed.push({ path: t.rel, code: e.code, message: e.message });
      }
    }
    if (first && out.length === 0) throw first;
    if (first) throw partialCheckout(out, failed);
    return { paths: out };
  }
  const what = await resolveTreeish(s.store, opts.target);
  if ((opts.paths?.length ?? 0) > 1) throw new DvError('USAGE', 'dv checkout <id> takes at most one path');
  let rel: string;
  if (opts.paths && opts.paths.length === 1) {
    rel = trackedRel(s.root, cwd, opts.paths[0]);
    if (rel === '' || inReservedDir(rel)) throw new DvError('USAGE', `cannot check out into ${opts.paths[0]}`);
  } else if (what.snapshot) {
    rel = what.snapshot.path;
  } else {
    const all = await selectTracked(s, undefined, cwd);
    if (all.length !== 1)
      throw new DvError('USAGE', `${opts.target} is a tree: name the path to restore it into, e.g. \`dv checkout ${opts.target} data\``);
    rel = all[0].rel;
  }
  await checkTrackedPath(s.root, rel);
  const existing = await readPointer(s.root, rel);
  if (!existing) await checkNewPath(s, rel, what.snapshot ? 'snapshot' : 'tree', what.id, Boolean(opts.paths?.length) && !opts.new);
  const kind = what.snapshot?.kind ?? existing?.pointer.kind ?? 'dir';
  // A file's tree is one entry named after the file: under another name, the entry is renamed
  // (else the restored file would never match its pointer).
  let treeId = what.tree;
  if (kind === 'file') {
    treeId = await fileTreeNamed(s.store, what.tree, posix.basename(rel));
    if (treeId !== what.tree) await s.store.flush();
  }
  if (!existing && !opts.force) {
    // Starting to track a path: what is there now is the user's, in no snapshot of it; only
    // content identical to what is restored (an out dv repro restores) may stay without --force.
    const abs = join(s.root, rel);
    const st = await fsp.lstat(abs).catch(() => undefined);
    const empty = !st || (st.isDirectory() && (await fsp.readdir(abs)).length === 0);
    if (!empty && (!(st!.isFile() || st!.isDirectory()) || (await scanPath({ root: s.root, rel, index: s.index })).tree !== treeId)) {
      throw new DvError(
        'UNSAVED_CHANGES',
        `${rel} exists and dv does not track it: restoring ${what.snapshot ? 'snapshot' : 'tree'} ${what.id.slice(0, 12)} there would replace it; move it away, or pass --force to replace it`,
        { paths: [rel] },
      );
    }
  }

  const r = await restore(s, rel, kind, treeId, opts);
  let snapshotId = what.snapshotId;
  let size = what.snapshot?.size;
  let files = what.snapshot?.files;
  let recorded = false;
  if (!snapshotId || what.snapshot?.path !== rel || treeId !== what.tree) {
    // A bare tree (or a snapshot restored under another path) gets a snapshot of its own.
    const tree = await treeLoader(s.store)(treeId);
    const { size: sz, files: n } = treeStats(tree);
    size = sz;
    files = n;
    snapshotId = await storeSnapshot(
      s,
      rel,
      { kind, tree: treeId, size, files },
      {
        parent: existing?.pointer.snapshot,
        message: `checkout of ${what.id.slice(0, 12)}`,
        time: new Date().toISOString(),
        lineage: { git: await gitState(s.root), dv: VERSION, meta: {} },
      },
    );
    await s.store.flush();
    recorded = true;
  }
  // A snapshot recorded here is logged; the pointer is rewritten either way.
  await pointAt(s, rel, snapshotId, { kind, tree: treeId, size: size ?? 0, files: files ?? 0 }, { log: recorded });
  if (!existing && (await usesGit(s))) await ignoreInGit(s.root, rel);
  out.push({ path: rel, snapshot: snapshotId, tree: treeId, ...r });
  return { paths: out };
}
