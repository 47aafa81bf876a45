/**
 * Atomic file writes (temp file in the same file system, fsync, rename), and the one rule for
 * dv's temp files: every temp name carries its writer's pid, and a temp file whose writer is gone
 * (`writerGone`) is a leftover of a killed dv that the next command may remove.
 */
import { promises as fsp } from 'node:fs';
import { join, dirname, basename } from 'node:path';
import { fsError } from '../errors.js';

let counter = 0;

/** The name `tempPathFor` gives: `.<name>.<pid>.<time>.<n>.tmp`; groups: name, pid. */
export const ATOMIC_TEMP = /^\.(.+)\.(\d+)\.[0-9a-z]+\.[0-9a-z]+\.tmp$/s;

/** Whether a process with this pid runs on this host (EPERM: it does, owned by someone else). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Whether the writer (process `pid`, on this host) of a temp file is gone, so that the file is a
 * leftover. Another process's temp file is a leftover once that process has exited; this
 * process's own are in use, unless the caller knows they are `done` (gc holds the writer lock;
 * a run token says the file is from an earlier process that had the same pid).
 */
export function writerGone(pid: number, mine: 'in-use' | 'done' = 'in-use'): boolean {
  if (pid === process.pid) return mine === 'done';
  return !processAlive(pid);
}

/** A temp path for `target`, inside `tmpDir` when given (same file system), else beside it. */
export function tempPathFor(target: string, tmpDir?: string): string {
  const name = `.${basename(target)}.${process.pid}.${Date.now().toString(36)}.${(counter++).toString(36)}.tmp`;
  return join(tmpDir ?? dirname(target), name);
}

/** Writes `data` to `target` atomically: readers see the old or the new content, never a mix. */
export async function writeFileAtomic(target: string, data: string | Uint8Array, tmpDir?: string, mode?: number): Promise<void> {
  const tmp = tempPathFor(target, tmpDir);
  try {
    await fsp.mkdir(dirname(target), { recursive: true });
    if (tmpDir) await fsp.mkdir(tmpDir, { recursive: true });
    const fh = await fsp.open(tmp, 'w', mode ?? 0o666);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fsp.rename(tmp, target);
  } catch (e) {
    await fsp.rm(tmp, { force: true }).catch(() => undefined);
    throw fsError(e, target);
  }
}
