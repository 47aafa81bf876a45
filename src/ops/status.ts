/** `dv status`: what changed in each tracked path since its pointer file's snapshot. */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { diffTrees, type Change } from '../core/diff.js';
import type { RepoSession } from '../repo/repo.js';
import { scanPath } from '../workspace/scan.js';
import { selectTrackedWithin } from '../workspace/tracked.js';
import { readControlFile } from '../repo/control-file.js';
import { treeLoader } from '../history/objects.js';
import { loadPipeline, outOfDate, type OutOfDateStage } from '../pipeline/state.js';
import { metricValues, type MetricValues } from '../pipeline/metrics.js';
import { leftoverTemps } from '../workspace/leftovers.js';
import { loggedSnapshots } from '../repo/reflog.js';
import { loadSnapshot } from '../history/objects.js';
import { git, gitCatBlobs } from '../repo/git.js';
import { decodePointer } from '../core/pointer.js';

export type PathState = 'clean' | 'modified' | 'missing' | 'not-in-cache';

/**
 * Why a `modified` path differs (null otherwise): `pointer-moved`, the data is a version this clone
 * recorded or checked out before (git checkout/pull moved the pointer file: run `dv checkout`);
 * `interrupted-checkout`, a killed checkout left its temp files (run `dv checkout` to finish);
 * `edited`, local edits (`dv commit`, or `dv checkout --force` to discard them).
 */
export type ChangeReason = 'pointer-moved' | 'interrupted-checkout' | 'edited';

export interface PathStatus {
  path: string;
  pointer: string;
  snapshot: string;
  /** clean; modified; missing: not in the workspace (run `dv checkout`); not-in-cache: the data was never fetched (run `dv pull`). */
  state: PathState;
  added: string[];
  modified: string[];
  deleted: string[];
  /** Files whose content had to be read (the stat cache could not vouch for them). */
  filesHashed: number;
  reason: ChangeReason | null;
}

export interface StatusResult {
  /** Whether every tracked path matches its pointer file (stages aside). */
  clean: boolean;
  /** `clean` and no pipeline stage out of date: nothing for `dv commit`, `dv checkout` or `dv repro` to do. */
  upToDate: boolean;
  paths: PathStatus[];
  /** Pipeline stages (dv.yaml) that `dv repro` would run or restore, and why; only without path arguments. */
  stages: OutOfDateStage[];
  /** Metrics files of dv.yaml's stages as they are in the workspace (values null: missing or unparsable). */
  metrics?: { stage: string; path: string; values: MetricValues | null }[];
}

export interface StatusOptions {
  paths?: string[];
  cwd?: string;
}

export async function status(s: RepoSession, opts: StatusOptions = {}): Promise<StatusResult> {
  const paths: PathStatus[] = [];
  // Modified paths whose reason waits for one look at history for them all (recordedTrees).
  const undecided: { entry: PathStatus; rel: string; pointerRel: string; tree: string }[] = [];
  for (const { tracked: t, within } of await selectTrackedWithin(s, opts.paths, opts.cwd ?? s.root)) {
    // Named paths inside the tracked directory: only the changes under them.
    const shown = (p: string): boolean => !within || within.some((w) => p === w || p.startsWith(w + '/'));
    const base = {
      path: t.rel,
      pointer: t.pointerRel,
      snapshot: t.pointer.snapshot,
      added: [] as string[],
      modified: [] as string[],
      deleted: [] as string[],
      filesHashed: 0,
      reason: null as ChangeReason | null,
    };
    const haveTree = await s.store.has(t.pointer.tree);
    const exists = await fsp.lstat(join(s.root, t.rel)).then(
      () => true,
      () => false,
    );
    if (!exists) {
      paths.push({ ...base, state: haveTree ? 'missing' : 'not-in-cache' });
      continue;
    }
    const scan = await scanPath({ root: s.root, rel: t.rel, index: s.index });
    base.filesHashed = scan.filesHashed;
    if (scan.tree === t.pointer.tree) {
      paths.push({ ...base, state: 'clean' });
      continue;
    }
    if (!haveTree) {
      paths.push({ ...base, state: 'not-in-cache' });
      continue;
    }
    const load = treeLoader(s.store, scan.trees);
    const prefix = (p: string): string => (t.pointer.kind === 'file' || scan.kind === 'file' ? t.rel : `${t.rel}/${p}`);
    const take = (c: Change): void => {
      if (shown(prefix(c.path))) base[c.type].push(prefix(c.path));
    };
    if (t.pointer.kind === scan.kind) await diffTrees(t.pointer.tree, scan.tree, load, '', take);
    else {
      await diffTrees(t.pointer.tree, null, load, '', take);
      await diffTrees(null, scan.tree, load, '', take);
    }
    const changed = base.added.length + base.modified.length + base.deleted.length > 0;
    if (changed && leftoverTemps(scan, t.rel).length > 0) base.reason = 'interrupted-checkout';
    const entry: PathStatus = { ...base, state: changed ? 'modified' : 'clean' };
    paths.push(entry);
    if (changed && !entry.reason) undecided.push({ entry, rel: t.rel, pointerRel: t.pointerRel, tree: scan.tree });
  }
  if (undecided.length > 0) {
    const recorded = await recordedTrees(s, undecided);
    for (const u of undecided) u.entry.reason = recorded.get(u.rel)?.has(u.tree) ? 'pointer-moved' : 'edited';
  }
  let stages: OutOfDateStage[] = [];
  const metrics: NonNullable<StatusResult['metrics']> = [];
  if (!opts.paths || opts.paths.length === 0) {
    const p = await loadPipeline(s.root);
    if (p.exists) stages = await outOfDate(s, p);
    for (const name of p.dag.order) {
      for (const m of p.dag.stages.get(name)!.metrics ?? []) {
        // Named by dv.yaml, which comes with a clone: a regular file (perhaps behind a link), never a FIFO or device.
        const text = await readControlFile(join(s.root, m), { followLinks: true, maxBytes: 16 * 1024 * 1024 }).catch(() => undefined);
        metrics.push({ stage: name, path: m, values: text === undefined ? null : metricValues(text, m) });
      }
    }
  }
  const clean = paths.every((p) => p.state === 'clean');
  return { clean, upToDate: clean && stages.length === 0, paths, stages, ...(metrics.length ? { metrics } : {}) };
}

/** How far back status looks for a version of the data this clone had: bounded, since each is a read. */
const RECENT_SNAPSHOTS = 50;
const RECENT_GIT_MOVES = 20;

/**
 * For each of `paths` (by tracked path): the trees it held at versions this clone recorded (the
 * snapshot log) or had checked out (the pointer file at the last positions of git's HEAD reflog).
 * Data equal to one of them is not a local edit: the pointer moved under it. Read once per status,
 * only when some path differs: one `git log -g` and one `git cat-file --batch` for every path and
 * commit (a `git show` each cost up to 20 processes per path). Unreadable entries are skipped:
 * this only shapes advice.
 */
async function recordedTrees(s: RepoSession, paths: { rel: string; pointerRel: string }[]): Promise<Map<string, Set<string>>> {
  const out = new Map<string, Set<string>>(paths.map((p) => [p.rel, new Set<string>()]));
  for (const id of (await loggedSnapshots(s.paths.dvDir)).slice(-RECENT_SNAPSHOTS)) {
    const snap = await loadSnapshot(s.store, id).catch(() => undefined);
    if (snap) out.get(snap.path)?.add(snap.tree);
  }
  const moves = await git(s.root, ['log', '-g', '--format=%H', '-n', String(RECENT_GIT_MOVES), 'HEAD', '--']);
  const heads = moves.code === 0 ? [...new Set(moves.stdout.split('\n').filter((l) => /^[0-9a-f]{40,64}$/.test(l)))] : [];
  const spec = (c: string, pointerRel: string): string => `${c}:${pointerRel}`;
  const blobs = await gitCatBlobs(
    s.root,
    heads.flatMap((c) => paths.map((p) => spec(c, p.pointerRel))),
    64 * 1024,
  );
  for (const p of paths)
    for (const c of heads) {
      const blob = blobs.get(spec(c, p.pointerRel));
      if (!blob) continue;
      try {
        out.get(p.rel)!.add(decodePointer(blob.toString('utf8'), p.pointerRel).tree);
      } catch {
        // A malformed pointer in an old commit says nothing about this workspace.
      }
    }
  return out;
}
