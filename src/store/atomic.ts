/**
 * Atomic file writes (temp file in the same file system, fsync, rename), and the one rule for
 * dv's temp files: every temp name carries its writer's pid, and a temp file whose writer is gone
 * (`writerGone`) is a leftover of a killed dv that the next command may remove.
 *
 * This process's own temp files are known too (`removeOwnTempsSync`, for Ctrl-C): the atomic
 * writes in flight by path, and the temp directories its commands write into (`useTempDir`), in
 * which every name carrying this pid is this process's.
 */
import { promises as fsp, readdirSync, rmSync } from 'node:fs';
import { join, dirname, basename } from 'node:path';
import { fsError } from '../errors.js';

let counter = 0;
/** Temp files of atomic writes under way, and the temp directories this process writes into. */
const inFlight = new Set<string>();
const ownDirs = new Set<string>();

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

/**
 * The pid in the name of a dv temp file in a temp directory (pack temps `pack-`/`wpack-`, push
 * outboxes `outbox-`, atomic writes' ATOMIC_TEMP), or undefined for a name that is not dv's.
 */
export function tempWriterPid(name: string): number | undefined {
  const pid = /^(?:w?pack|outbox|co)-(\d+)-/.exec(name)?.[1] ?? ATOMIC_TEMP.exec(name)?.[2];
  return pid === undefined ? undefined : Number(pid);
}

/** Says that this process's commands write temp files into `dir` (the store's and `.dv`'s tmp). */
export function useTempDir(dir: string): void {
  ownDirs.add(dir);
}

/**
 * Ctrl-C: removes this process's temp files (atomic writes under way, and every name carrying
 * this pid in the temp directories in use), synchronously, just before the process exits. What
 * a worker thread opens after this (in its last milliseconds) is a dead process's leftover for
 * the next command.
 */
export function removeOwnTempsSync(): number {
  let n = 0;
  const rm = (p: string): void => {
    try {
      rmSync(p, { recursive: true, force: true });
      n++;
    } catch {
      // best effort: the next command removes what a dead process left
    }
  };
  for (const p of inFlight) rm(p);
  inFlight.clear();
  for (const dir of ownDirs) {
    let names: string[] = [];
    try {
      names = readdirSync(dir);
    } catch {
      continue;
    }
    for (const name of names) if (tempWriterPid(name) === process.pid) rm(join(dir, name));
  }
  return n;
}

/** A temp path for `target`, inside `tmpDir` when given (same file system), else beside it. */
export function tempPathFor(target: string, tmpDir?: string): string {
  const name = `.${basename(target)}.${process.pid}.${Date.now().toString(36)}.${(counter++).toString(36)}.tmp`;
  return join(tmpDir ?? dirname(target), name);
}

/** Writes `data` to `target` atomically: readers see the old or the new content, never a mix. */
export async function writeFileAtomic(target: string, data: string | Uint8Array, tmpDir?: string, mode?: number): Promise<void> {
  const tmp = tempPathFor(target, tmpDir);
  if (tmpDir) useTempDir(tmpDir);
  inFlight.add(tmp);
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
  } finally {
    inFlight.delete(tmp);
  }
}
