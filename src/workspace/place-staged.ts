/**
 * Moving a file a pull's fetch staged whole (write-through.ts) into its place in the workspace:
 * by a write worker (write-worker.ts) among other files, or by the main thread when a checkout has
 * nothing else to write (write-pool.ts: no worker is started for a few renames).
 *
 * Invariants: the staged file is taken only when it is a regular file of the declared size with no
 * other link, opened without following a symlink; its mode is set exactly and its stat taken
 * through its own descriptor; it is renamed over the target inside the directory the main thread
 * verified (by its /proc handle, or checked again by device and inode where there is no /proc);
 * a file that cannot be used fails with code STAGED (the pool writes it from the store), a
 * directory replaced meanwhile with UNSAFE_PATH. `control` counts the placement in flight, so a
 * stopper (write-temp.ts) that sees none in flight sees none start; on a stop the staged file stays
 * where it is (the pull removes its staging).
 */
import { closeSync, constants, fchmodSync, fstatSync, lstatSync, openSync, renameSync, type Stats } from 'node:fs';
import { dirname, join } from 'node:path';

/** Where a file goes: its directory (a /proc handle path, or a path checked by `check`) and name. */
export interface PlaceTarget {
  i: number;
  path: string;
  dir: string;
  check?: { dev: number; ino: number };
  name: string;
  exec: boolean;
  size: number;
}

export interface Placed {
  i: number;
  size: number;
  mtimeMs: number;
  ino: number;
}

/** Where `dir` is a plain path (no /proc): refuses unless it is still the directory the main thread verified. */
export function verifyDir(f: PlaceTarget): void {
  if (!f.check) return;
  const st = lstatSync(f.dir, { throwIfNoEntry: false });
  if (!st || !st.isDirectory() || st.dev !== f.check.dev || st.ino !== f.check.ino) {
    throw Object.assign(
      new Error(`${dirname(f.path)} was replaced while dv wrote into it: dv does not write through it; run the checkout again`),
      { code: 'UNSAFE_PATH' },
    );
  }
}

/** A staged file that cannot be used: the pool writes the file from the store instead. */
const unusable = (f: PlaceTarget, why: string): Error =>
  Object.assign(new Error(`the staged copy of ${f.path} ${why}`), { code: 'STAGED' });

/** Moves the staged file `staged` into place as `f` (see the header). */
export function placeStaged(f: PlaceTarget, staged: string, control: Int32Array): Placed {
  Atomics.add(control, 1, 1);
  try {
    if (Atomics.load(control, 0) !== 0) throw Object.assign(new Error('stopped'), { code: 'INTERRUPTED' });
    verifyDir(f);
    let fd: number;
    try {
      fd = openSync(staged, constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch {
      throw unusable(f, 'is gone');
    }
    let st: Stats;
    try {
      st = fstatSync(fd);
      if (!st.isFile() || st.size !== f.size || st.nlink !== 1) throw unusable(f, 'is not what the pull wrote');
      fchmodSync(fd, f.exec ? 0o755 : 0o644);
      st = fstatSync(fd);
    } finally {
      closeSync(fd);
    }
    verifyDir(f);
    try {
      renameSync(staged, join(f.dir, f.name));
    } catch (e) {
      // Another file system (the tracked path is a mount point): written from the store instead.
      if ((e as NodeJS.ErrnoException).code === 'EXDEV') throw unusable(f, 'is on another file system');
      throw e;
    }
    return { i: f.i, size: st.size, mtimeMs: st.mtimeMs, ino: st.ino };
  } finally {
    Atomics.sub(control, 1, 1);
    Atomics.notify(control, 1);
  }
}
