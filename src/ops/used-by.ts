/**
 * `dv used-by <path|snapshot>`: which artifacts were built from some data, directly or through
 * other stages: in the workspace's dv.lock, and in dv.lock at each commit of git history that
 * changed it (newest first, at most `maxCommits`), for data-deletion requests, licence problems
 * or poisoned data. Reads records only (dv.lock, git); runs nothing, writes nothing.
 *
 * A path matches a stage dep that is that path, lies inside it or holds it (a file inside a
 * tracked directory is "used" by a stage that read the directory). A snapshot id matches the deps
 * that name that snapshot, or its path with its exact tree.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { isIdPrefix } from '../core/ids.js';
import { DvError, isDvError } from '../errors.js';
import type { RepoSession } from '../repo/repo.js';
import { trackedRel } from '../workspace/tracked.js';
import { loadSnapshot, resolveId } from '../history/objects.js';
import { overlaps } from '../pipeline/dag.js';
import type { DepRecord } from '../pipeline/run.js';
import { loadPipeline } from '../pipeline/state.js';
import { consumersIn, type Consumer } from '../provenance/consumers.js';
import { lockCommits, locksAt } from '../provenance/lock-history.js';

export interface UsedByOptions {
  /** A tracked path (or a path inside one, or one no longer tracked), or a snapshot id. */
  target: string;
  /** At most this many commits that changed dv.lock are read (default 1000; 0: only the workspace's dv.lock). */
  maxCommits?: number;
  /** Walk every branch and tag (`git log --all`), not only HEAD's history. */
  all?: boolean;
  cwd?: string;
}

export interface UsedByHistory extends Consumer {
  /** How many of the commits read record this out version built from the data. */
  commits: number;
  newest: string;
  oldest: string;
}

export interface UsedByResult {
  target: { path: string; snapshot?: string; tree?: string };
  /** Outs built from the data, by the workspace's dv.lock. */
  current: Consumer[];
  /** Each out version built from the data by dv.lock in history, newest first. */
  history: UsedByHistory[];
  commitsRead: number;
  /** More commits changed dv.lock than were read (raise --max-commits). */
  truncated: boolean;
  /** dv.lock files in history that could not be read (one line each). */
  warnings: string[];
}

export const DEFAULT_MAX_COMMITS = 1000;
/** dv.lock files read from git per call: memory is bounded by a chunk, not by the history. */
const CHUNK = 100;
const MAX_WARNINGS = 20;

export async function usedBy(s: RepoSession, opts: UsedByOptions): Promise<UsedByResult> {
  const max = opts.maxCommits ?? DEFAULT_MAX_COMMITS;
  if (!Number.isSafeInteger(max) || max < 0) throw new DvError('USAGE', `--max-commits must be a whole number >= 0, not ${max}`);
  const pipeline = await loadPipeline(s.root);
  const { target, reads } = await resolveTarget(s, opts.target, opts.cwd ?? s.root, pipeline.lock.stages);
  const current = consumersIn(pipeline.lock, reads);
  const warnings: string[] = [];
  const commits = max === 0 ? [] : await lockCommits(s.root, opts.all ? { all: true } : 'HEAD', max + 1);
  const truncated = commits.length > max;
  if (truncated) commits.length = max;
  const seen = new Map<string, UsedByHistory>();
  for (let k = 0; k < commits.length; k += CHUNK) {
    const chunk = commits.slice(k, k + CHUNK);
    const locks = await locksAt(s.root, chunk, (_c, e) => {
      if (warnings.length < MAX_WARNINGS) warnings.push(e.message);
    });
    for (const commit of chunk) {
      const lock = locks.get(commit);
      if (!lock) continue;
      for (const c of consumersIn(lock, reads)) {
        const key = `${c.path}\0${c.snapshot}`;
        const had = seen.get(key);
        if (had) {
          had.commits++;
          had.oldest = commit;
        } else seen.set(key, { ...c, commits: 1, newest: commit, oldest: commit });
      }
    }
  }
  return { target, current, history: [...seen.values()], commitsRead: commits.length, truncated, warnings };
}

type Reads = (d: DepRecord) => boolean;

async function resolveTarget(
  s: RepoSession,
  arg: string,
  cwd: string,
  locked: Record<string, { deps: DepRecord[] }>,
): Promise<{ target: UsedByResult['target']; reads: Reads }> {
  const rel = trackedRel(s.root, cwd, arg);
  if (rel === '') throw new DvError('USAGE', 'dv used-by: name the data (a tracked path or a file inside one) or a snapshot id');
  const named = Object.values(locked).some((st) => st.deps.some((d) => overlaps(d.path, rel)));
  const exists = await fsp.lstat(join(s.root, rel)).then(
    () => true,
    () => false,
  );
  if (!named && !exists && isIdPrefix(arg.toLowerCase())) {
    try {
      const id = await resolveId(s.store, arg);
      const snap = await loadSnapshot(s.store, id).catch(() => undefined);
      if (!snap) throw new DvError('USAGE', `${arg} names an object that is not a snapshot: give a snapshot id or a path`, { arg });
      return {
        target: { path: snap.path, snapshot: id, tree: snap.tree },
        reads: (d) => d.snapshot === id || (d.path === snap.path && d.id === snap.tree),
      };
    } catch (e) {
      if (!isDvError(e, 'UNKNOWN_ID')) throw e;
    }
  }
  return { target: { path: rel }, reads: (d) => overlaps(d.path, rel) };
}
