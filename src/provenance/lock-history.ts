/**
 * dv.lock as git commits hold it, and what git says changed between two commits: the records
 * `dv lineage diff` and `dv used-by` read from history.
 *
 * Nothing here trusts its input: commit ids are checked as hex before they reach git, a dv.lock
 * blob larger than MAX_LOCK is not read (it is refused, naming the commit), every dv.lock is
 * validated by parseLock, and the walks are bounded by their callers' limits.
 */
import { DvError } from '../errors.js';
import { gitOut } from '../repo/git-pointers.js';
import { LOCK_FILE, parseLock, type Lockfile } from '../pipeline/lockfile.js';

/** A dv.lock of many stages is tens of KiB; one larger than this is not a dv.lock dv wrote. */
export const MAX_LOCK = 16 * 1024 * 1024;
const SHA = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;
export const isCommitId = (s: unknown): s is string => typeof s === 'string' && SHA.test(s);

/** The dv.lock blobs of `commits` (a commit without one is absent from the map). */
export async function locksAt(root: string, commits: string[]): Promise<Map<string, Lockfile>> {
  const found = new Map<string, Lockfile>();
  const ids = commits.filter(isCommitId);
  if (ids.length === 0) return found;
  const check = (await gitOut(root, ['cat-file', '--batch-check'], ids.map((c) => `${c}:${LOCK_FILE}`).join('\n') + '\n'))
    .toString('utf8')
    .split('\n');
  const blobs: { commit: string; blob: string }[] = [];
  ids.forEach((commit, k) => {
    const m = /^([0-9a-f]+) blob (\d+)$/.exec(check[k] ?? '');
    if (!m) return;
    if (Number(m[2]) > MAX_LOCK)
      throw new DvError('PIPELINE_INVALID', `${LOCK_FILE} at commit ${commit.slice(0, 12)} is ${m[2]} bytes: not a dv.lock dv wrote`, {
        commit,
      });
    blobs.push({ commit, blob: m[1] });
  });
  if (blobs.length === 0) return found;
  // One blob per call keeps each read within MAX_LOCK (a batch of many would add up).
  const parsed = new Map<string, Lockfile>();
  for (const { commit, blob } of blobs) {
    let lock = parsed.get(blob);
    if (!lock) {
      const text = (await gitOut(root, ['cat-file', 'blob', blob])).toString('utf8');
      lock = parseLock(text, `${LOCK_FILE} at commit ${commit.slice(0, 12)}`);
      parsed.set(blob, lock);
    }
    found.set(commit, lock);
  }
  return found;
}

/** The commits reachable from `rev` (newest first, at most `max`) whose tree holds a dv.lock that changed there. */
export async function lockCommits(root: string, rev: string, max: number): Promise<string[]> {
  const out = await gitOut(root, ['log', `--max-count=${max}`, '--format=%H', '--no-renames', '--end-of-options', rev, '--', LOCK_FILE]);
  return out.toString('utf8').split('\n').filter(isCommitId);
}

/** Whether dv leaves a file to git only as its bookkeeping (pointer files, dv.lock, dv.yaml, .gitignore). */
export function isDvBookkeeping(path: string): boolean {
  const base = path.slice(path.lastIndexOf('/') + 1);
  return path.endsWith('.dv') || path === LOCK_FILE || path === 'dv.yaml' || base === '.gitignore';
}

/**
 * Files changed between two commits (`git diff --name-only`), the first `limit` kept after
 * `drop`; null when either commit is not in this clone.
 */
export async function changedBetween(
  root: string,
  a: string,
  b: string,
  limit: number,
  drop: (path: string) => boolean,
): Promise<{ files: string[]; more: number; filtered: number } | null> {
  if (!isCommitId(a) || !isCommitId(b)) return null;
  let out: Buffer;
  try {
    out = await gitOut(root, ['diff', '--name-only', '-z', '--no-renames', '--end-of-options', a, b]);
  } catch {
    return null;
  }
  const files: string[] = [];
  let more = 0;
  let filtered = 0;
  for (const f of out.toString('utf8').split('\0')) {
    if (f === '') continue;
    if (drop(f)) filtered++;
    else if (files.length < limit) files.push(f);
    else more++;
  }
  return { files, more, filtered };
}
