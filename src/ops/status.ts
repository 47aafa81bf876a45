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
import type { Tree, TreeEntry } from '../core/tree.js';

export type PathState = 'clean' | 'modified' | 'missing' | 'not-in-cache' | 'partial';

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
  /**
   * clean; modified; missing: not in the workspace (run `dv checkout`); not-in-cache: the data was never fetched (run `dv pull`);
   * partial: what is in the workspace matches, the rest was not fetched (`notFetched`; a partial `dv pull`).
   */
  state: PathState;
  added: string[];
  modified: string[];
  deleted: string[];
  /** Files (or whole directories) absent from the workspace whose data is not in the local store either: `dv pull` them. */
  notFetched: string[];
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
  for (const { tracked: t, within } of await selectTrackedWithin(s, opts.paths, opts.cwd ?? s.root, { named: true })) {
    // Named paths inside the tracked directory: only the changes under them.
    const shown = (p: string): boolean => !within || within.some((w) => p === w || p.startsWith(w + '/'));
    const base = {
      path: t.rel,
      pointer: t.pointerRel,
      snapshot: t.pointer.snapshot,
      added: [] as string[],
      modified: [] as string[],
      deleted: [] as string[],
      notFetched: [] as string[],
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
    const load = notFetchedLoader(s, treeLoader(s.store, scan.trees), scan.trees);
    const prefix = (p: string): string => (t.pointer.kind === 'file' || scan.kind === 'file' ? t.rel : `${t.rel}/${p}`);
    const take = (c: Change): void => {
      if (!shown(prefix(c.path))) return;
      // A directory whose tree was never fetched (a partial pull): one line for all it holds.
      if (c.path.endsWith(`/${NOT_FETCHED}`)) base.notFetched.push(prefix(c.path.slice(0, -NOT_FETCHED.length - 1)));
      else base[c.type].push(prefix(c.path));
    };
    if (t.pointer.kind === scan.kind) await diffTrees(t.pointer.tree, scan.tree, load, '', take);
    else {
      await diffTrees(t.pointer.tree, null, load, '', take);
      await diffTrees(null, scan.tree, load, '', take);
    }
    if (t.pointer.kind === 'dir' && base.deleted.length > 0) await splitNotFetched(s, load, t.rel, t.pointer.tree, base);
    const changed = base.added.length + base.modified.length + base.deleted.length > 0;
    if (changed && leftoverTemps(scan, t.rel).length > 0) base.reason = 'interrupted-checkout';
    const entry: PathStatus = { ...base, state: changed ? 'modified' : base.notFetched.length > 0 ? 'partial' : 'clean' };
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
  // Data not fetched is no change: nothing for `dv commit` to record.
  const clean = paths.every((p) => p.state === 'clean' || p.state === 'partial');
  return { clean, upToDate: clean && stages.length === 0, paths, stages, ...(metrics.length ? { metrics } : {}) };
}

/** The name standing for a directory whose tree is not here: NUL, which no real tree entry holds (core/tree.ts). */
const NOT_FETCHED = '\0';

/**
 * Trees of the pointer's side that were never fetched (a partial pull) load as one link named
 * NOT_FETCHED, so the diff reports the directory once instead of failing on the missing tree.
 */
function notFetchedLoader(s: RepoSession, load: (id: string) => Promise<Tree>, overlay: Map<string, Tree>): (id: string) => Promise<Tree> {
  return async (id) => {
    if (overlay.has(id) || (await s.store.has(id))) return load(id);
    return { entries: [{ type: 'link', name: NOT_FETCHED, target: '' }] };
  };
}

const LINK = 'link';

/**
 * Moves the deleted files whose data the local store lacks (never fetched) to `notFetched`: their
 * entries are looked up in the pointer's tree (deleted paths come in path order, so each
 * directory is read once in a row), then the store is asked once.
 */
async function splitNotFetched(
  s: RepoSession,
  load: (id: string) => Promise<Tree>,
  rel: string,
  root: string,
  p: { deleted: string[]; notFetched: string[] },
): Promise<void> {
  let dirKey: string | undefined;
  let dir = new Map<string, TreeEntry>();
  const ids: (string | undefined)[] = [];
  for (const path of p.deleted) {
    const segs = path.slice(rel.length + 1).split('/');
    const key = segs.slice(0, -1).join('/');
    if (key !== dirKey) {
      dirKey = key;
      let id: string | undefined = root;
      for (const seg of segs.slice(0, -1)) {
        const e: TreeEntry | undefined = id === undefined ? undefined : (await load(id)).entries.find((x) => x.name === seg);
        id = e?.type === 'dir' ? e.id : undefined;
      }
      dir = new Map(id === undefined ? [] : (await load(id)).entries.map((e) => [e.name, e]));
    }
    const e = dir.get(segs[segs.length - 1]);
    ids.push(e?.type === 'file' ? e.id : e?.type === 'link' ? LINK : undefined);
  }
  const known = ids.filter((id): id is string => id !== undefined && id !== LINK);
  const haveKnown = await s.store.hasMany(known);
  const have = new Set(known.filter((_, k) => haveKnown[k]));
  const deleted: string[] = [];
  const links: string[] = [];
  p.deleted.forEach((path, k) => {
    const id = ids[k];
    (id === LINK ? links : id !== undefined && !have.has(id) ? p.notFetched : deleted).push(path);
  });
  // A symlink has no data to fetch: in a workspace that is a partial pull, one left out was not checked out, not deleted.
  if (p.notFetched.length > 0) p.notFetched.push(...links);
  else deleted.push(...links);
  p.deleted = deleted.sort();
  p.notFetched.sort();
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
