/**
 * Git revisions as dv arguments: `HEAD~1`, `main`, `v1.2`, `origin/main` name the data that the
 * pointer files of that commit name, as `dvc diff HEAD~1` does. Also the history of pointer
 * files through git commits (`dv log --git`).
 *
 * Nothing here trusts the revision text: it reaches git only after `--end-of-options`, and a
 * pointer blob larger than a pointer can be is never read (see readPointerBlobs).
 */
import type { Pointer } from '../core/pointer.js';
import { POINTER_SUFFIX } from '../core/pointer.js';
import { gitOut, readPointerBlobs } from './git-pointers.js';

/** A pointer file as a commit holds it. */
export interface PointerAt {
  /** The tracked path (the pointer file's path without `.dv`). */
  rel: string;
  pointer: Pointer;
}

const SHA = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;

/** The commit `rev` names (peeled from a tag), or undefined when git knows no such commit. */
export async function resolveCommit(root: string, rev: string): Promise<string | undefined> {
  if (rev === '' || rev.includes('\n') || rev.startsWith('-')) return undefined;
  try {
    const out = (await gitOut(root, ['rev-parse', '--verify', '-q', '--end-of-options', `${rev}^{commit}`])).toString('utf8').trim();
    return SHA.test(out) ? out : undefined;
  } catch {
    return undefined;
  }
}

/** Whether a blob path from `git ls-tree` is a pointer file (not a file of `.dv/` itself). */
export const isPointerPath = (p: string): boolean => p.endsWith(POINTER_SUFFIX) && p !== POINTER_SUFFIX && !p.startsWith('.dv/');

/** Every pointer file in `commit`'s tree, with the pointer it holds (files that are not pointers are left out). */
export async function pointersAt(root: string, commit: string): Promise<PointerAt[]> {
  const out = (await gitOut(root, ['ls-tree', '-r', '-z', '--full-tree', '--end-of-options', commit])).toString('utf8');
  const blobs: { blob: string; path: string }[] = [];
  for (const rec of out.split('\0')) {
    const m = /^(100644|100755) blob ([0-9a-f]+)\t(.*)$/s.exec(rec);
    if (m && isPointerPath(m[3])) blobs.push({ blob: m[2], path: m[3] });
  }
  const pointers = await readPointerBlobs(root, [...new Set(blobs.map((b) => b.blob))]);
  const found: PointerAt[] = [];
  for (const b of blobs) {
    const pointer = pointers.get(b.blob);
    if (pointer) found.push({ rel: b.path.slice(0, -POINTER_SUFFIX.length), pointer });
  }
  return found;
}

/** One commit that changed pointer files, newest first, for `dv log --git`. */
export interface PointerCommit {
  commit: string;
  time: string;
  author: string;
  subject: string;
  /** The pointer files this commit added or changed (a deleted one is left out). */
  pointers: PointerAt[];
}

/**
 * The commits reachable from `rev` that add or change pointer files (of `paths` only, when given:
 * tracked paths relative to the root), newest first, at most `limit` of them.
 */
export async function pointerHistory(root: string, rev: string, paths: string[], limit: number): Promise<PointerCommit[]> {
  const specs = paths.length ? paths.map((p) => `:(literal)${p}${POINTER_SUFFIX}`) : [`*${POINTER_SUFFIX}`];
  const args = [
    'log',
    `--max-count=${limit}`,
    '--format=%x01%H%x00%aI%x00%an <%ae>%x00%s%x00',
    '--raw',
    '-z',
    '--no-abbrev',
    '--no-renames',
    '--diff-filter=AMT',
    '--no-color',
    '--end-of-options',
    rev,
    '--',
    ...specs,
  ];
  const out = (await gitOut(root, args)).toString('utf8');
  const commits: { head: PointerCommit; blobs: { blob: string; path: string }[] }[] = [];
  const tokens = out.split('\0');
  for (let k = 0; k < tokens.length; k++) {
    const t = tokens[k].replace(/^\n+/, '');
    if (t.startsWith('\x01')) {
      commits.push({
        head: { commit: t.slice(1), time: tokens[k + 1], author: tokens[k + 2], subject: tokens[k + 3], pointers: [] },
        blobs: [],
      });
      k += 3;
    } else if (t.startsWith(':') && commits.length > 0) {
      const path = tokens[++k] ?? '';
      const words = t.split(' ');
      const blob = words[3];
      if (blob && SHA.test(blob) && isPointerPath(path)) commits[commits.length - 1].blobs.push({ blob, path });
    }
  }
  const pointers = await readPointerBlobs(root, [...new Set(commits.flatMap((c) => c.blobs.map((b) => b.blob)))]);
  for (const c of commits) {
    for (const b of c.blobs) {
      const pointer = pointers.get(b.blob);
      if (pointer) c.head.pointers.push({ rel: b.path.slice(0, -POINTER_SUFFIX.length), pointer });
    }
  }
  return commits.map((c) => c.head).filter((c) => c.pointers.length > 0);
}
