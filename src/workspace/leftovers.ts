/**
 * Temp files a killed checkout left in the workspace, found so that the next checkout removes
 * them: atomic writes' (symlinks, single-threaded writers: ATOMIC_TEMP) and the write workers'
 * (write-temp.ts), which the walk skips. Only those whose writer is gone (`writerGone`): a
 * temp file of a live dv is in use.
 */
import { promises as fsp } from 'node:fs';
import { basename, dirname, join, posix } from 'node:path';
import { ATOMIC_TEMP, writerGone } from '../store/atomic.js';
import type { ScanResult } from './scan.js';
import { removeRepoPath } from './write-dir.js';
import { deadWorkerTemp } from './write-temp.js';

/** Workspace paths (relative to the root) of temp files that dead dv processes left in `scan`. */
export function leftoverTemps(scan: ScanResult, rel: string): string[] {
  const out: string[] = [];
  for (const t of scan.temps) if (deadWorkerTemp(basename(t))) out.push(`${rel}/${t}`);
  if (scan.kind !== 'dir') return out;
  // Iterative: the depth of the tree is the data's, not a bound of ours.
  const todo: [string, string][] = [[scan.tree, rel]];
  for (let next = todo.pop(); next; next = todo.pop()) {
    const [id, dir] = next;
    for (const e of scan.trees.get(id)?.entries ?? []) {
      const m = ATOMIC_TEMP.exec(e.name);
      if (e.type === 'file' && m && writerGone(Number(m[2]))) out.push(`${dir}/${e.name}`);
      else if (e.type === 'dir') todo.push([e.id, `${dir}/${e.name}`]);
    }
  }
  return out;
}

/** Removes temp files of dead dv processes beside a tracked single file. */
export async function removeLeftoversBeside(root: string, rel: string): Promise<void> {
  const dir = dirname(join(root, rel));
  const name = basename(rel);
  for (const f of await fsp.readdir(dir).catch(() => [] as string[])) {
    const m = ATOMIC_TEMP.exec(f);
    const w = deadWorkerTemp(f);
    if ((m && m[1] === name && writerGone(Number(m[2]))) || (w && (w[1] === name || w[1] === undefined)))
      removeRepoPath(root, posix.join(posix.dirname(rel), f));
  }
}
