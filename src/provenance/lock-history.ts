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
/** Bytes of dv.lock read from git per call. */
const BATCH = 64 * 1024 * 1024;
const SHA = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;
export const isCommitId = (s: unknown): s is string => typeof s === 'string' && SHA.test(s);

/**
 * The dv.lock of each of `commits` (a commit without one is absent from the map). A malformed
 * one throws, or with `onBad` is reported there and left out (a walk over history goes on).
 */
export async function locksAt(
  root: string,
  commits: string[],
  onBad?: (commit: string, e: DvError) => void,
): Promise<Map<string, Lockfile>> {
  const found = new Map<string, Lockfile>();
  const ids = commits.filter(isCommitId);
  if (ids.length === 0) return found;
  const check = (await gitOut(root, ['cat-file', '--batch-check'], ids.map((c) => `${c}:${LOCK_FILE}`).join('\n') + '\n'))
    .toString('utf8')
    .split('\n');
  const blobs: { commit: string; blob: string }[] = [];
  const sizes = new Map<string, number>();
  ids.forEach((commit, k) => {
    const m = /^([0-9a-f]+) blob (\d+)$/.exec(check[k] ?? '');
    if (!m) return;
    if (Number(m[2]) > MAX_LOCK) {
      const e = new DvError('PIPELINE_INVALID', `${LOCK_FILE} at commit ${commit.slice(0, 12)} is ${m[2]} bytes: not a dv.lock dv wrote`, {
        commit,
      });
      if (!onBad) throw e;
      onBad(commit, e);
      return;
    }
    blobs.push({ commit, blob: m[1] });
    sizes.set(m[1], Number(m[2]));
  });
  if (blobs.length === 0) return found;
  const parsed = await readBlobs(root, [...new Set(blobs.map((b) => b.blob))], sizes);
  const locks = new Map<string, Lockfile | DvError>();
  for (const { commit, blob } of blobs) {
    const text = parsed.get(blob);
    if (text === undefined) continue;
    if (!locks.has(blob)) {
      try {
        locks.set(blob, parseLock(text, `${LOCK_FILE} at commit ${commit.slice(0, 12)}`));
      } catch (e) {
        if (!(e instanceof DvError) || !onBad) throw e;
        locks.set(blob, e);
      }
    }
    const lock = locks.get(blob)!;
    if (lock instanceof DvError) onBad!(commit, lock);
    else found.set(commit, lock);
  }
  return found;
}

/** Blobs read with `git cat-file --batch`, in batches of at most BATCH bytes (each blob is at most MAX_LOCK). */
async function readBlobs(root: string, ids: string[], sizes: Map<string, number>): Promise<Map<string, string>> {
  const texts = new Map<string, string>();
  for (let k = 0; k < ids.length; ) {
    const batch: string[] = [];
    let bytes = 0;
    while (k < ids.length && (batch.length === 0 || bytes + sizes.get(ids[k])! <= BATCH)) {
      bytes += sizes.get(ids[k])!;
      batch.push(ids[k++]);
    }
    const out = await gitOut(root, ['cat-file', '--batch'], batch.join('\n') + '\n');
    let pos = 0;
    // Bounded by the batch: each record moves pos forward by its header and its declared size.
    for (let n = 0; n < batch.length && pos < out.length; n++) {
      const nl = out.indexOf(10, pos);
      if (nl < 0) break;
      const [id, type, sizeText] = out.toString('utf8', pos, nl).split(' ');
      const size = Number(sizeText);
      if (type !== 'blob' || !Number.isSafeInteger(size)) break;
      texts.set(id, out.toString('utf8', nl + 1, nl + 1 + size));
      pos = nl + 1 + size + 1;
    }
  }
  return texts;
}

/**
 * The commits reachable from `rev` (`all`: every ref, as `git log --all`) that changed dv.lock,
 * newest first, at most `max`; none when git has no commits.
 */
export async function lockCommits(root: string, rev: string | { all: true }, max: number): Promise<string[]> {
  const from = typeof rev === 'string' ? ['--end-of-options', rev] : ['--all'];
  try {
    const out = await gitOut(root, ['log', `--max-count=${max}`, '--format=%H', '--no-renames', ...from, '--', LOCK_FILE]);
    return out.toString('utf8').split('\n').filter(isCommitId);
  } catch (e) {
    if ((await gitOut(root, ['rev-parse', '--verify', '-q', 'HEAD']).catch(() => null)) === null) return [];
    throw e;
  }
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
