/**
 * Checkout's temp files and how the write workers are stopped cleanly (Ctrl-C, or a failure).
 *
 * A worker writes each file to a temp file beside its target and renames it over the target:
 * a rename inside one directory takes only that directory's lock, while a rename from a shared
 * temp directory takes the file system's rename mutex and two directory locks, and on ext4 after
 * mass deletions (slow inode allocation under the lock) two workers spent most of a 20,000-file
 * checkout spinning on each other (10 s, 17 s of system time; 1.6 s beside the target).
 *
 * The names are dv's own (`.<name>.<pid>.<run token>.w<thread>.dvtmp`): the workspace walk skips
 * them, so a checkout killed mid-write never shows up in status or gets added, and the next
 * checkout removes those of processes that are gone. The run token tells this process's temp
 * files from those of an earlier process that had the same pid (containers reuse pids).
 * Stopping (Ctrl-C, or one worker's failure) has every worker delete the temp file it was writing.
 */
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { writerGone } from '../store/atomic.js';

/** A write worker's temp file name; groups: name (absent in the short form), pid, run token. */
export const WORKER_TEMP = /^\.(?:(.+)\.)?(\d+)(?:\.(t[0-9a-z]{5}))?\.w\d+(?:x\d+)?\.dvtmp$/s;

/** This process's run token (the main thread's; workers get it through workerData). */
export const RUN_TOKEN = `t${(randomBytes(4).readUInt32BE(0) % 36 ** 5).toString(36).padStart(5, '0')}`;

/** Where thread `tid` writes `target` before renaming it (one file at a time per thread). */
export function workerTempPath(target: string, pid: number, token: string, tid: number): string {
  const name = basename(target);
  // NAME_MAX is 255 bytes: a long name gets the short form.
  return join(
    dirname(target),
    Buffer.byteLength(name) <= 200 ? `.${name}.${pid}.${token}.w${tid}.dvtmp` : `.${pid}.${token}.w${tid}.dvtmp`,
  );
}

/** Whether `name` is a write worker's temp file left by a process that is gone (never one of ours). */
export function deadWorkerTemp(name: string): RegExpExecArray | null {
  const m = WORKER_TEMP.exec(name);
  if (!m) return null;
  // Our pid with another run token: an earlier process that had this pid (containers reuse pids).
  return writerGone(Number(m[2]), m[3] !== RUN_TOKEN ? 'done' : 'in-use') ? m : null;
}

/** A pool's shared counters: [0] stop requested, [1] files being written right now. */
export type WriteControl = Int32Array;
const active = new Set<WriteControl>();

export function newWriteControl(): WriteControl {
  const c = new Int32Array(new SharedArrayBuffer(8));
  active.add(c);
  return c;
}

export function releaseWriteControl(c: WriteControl): void {
  active.delete(c);
}

/** Asks a pool's workers to stop and waits (at most `timeoutMs`) until each has deleted its temp file. */
export async function stopWrites(c: WriteControl, timeoutMs = 10_000): Promise<void> {
  Atomics.store(c, 0, 1);
  const until = Date.now() + timeoutMs;
  while (Atomics.load(c, 1) > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 2));
}

/**
 * Ctrl-C: asks every pool's workers to stop and blocks (at most `timeoutMs`) until each has
 * deleted the temp file it was writing; called from the SIGINT handler just before exiting.
 */
export function stopWritesSync(timeoutMs = 2000): void {
  for (const c of active) Atomics.store(c, 0, 1);
  const until = Date.now() + timeoutMs;
  for (const c of active) {
    for (;;) {
      const n = Atomics.load(c, 1);
      const left = until - Date.now();
      if (n <= 0 || left <= 0) break;
      Atomics.wait(c, 1, n, left);
    }
  }
}
