/**
 * Directories that checkout writes into and deletes from, held open and entered one component at
 * a time, so that a local attacker who swaps a directory for a symlink while checkout runs cannot
 * send a write or a delete anywhere else.
 *
 * Invariants:
 * - A directory is entered from its parent's open descriptor with O_DIRECTORY|O_NOFOLLOW: a
 *   symlink (or anything but a directory) where a directory is expected is refused, never followed.
 * - Every operation names an entry of a directory held open (`at(dir, name)`): on Linux through
 *   `/proc/self/fd/<fd>/<name>`, which the kernel resolves to the directory that was opened, not to
 *   whatever its path names now (openat(2) without native bindings). Elsewhere the path is the
 *   verified one, checked again (dev/ino of the open descriptor against lstat) before each use:
 *   a narrower window, not none.
 * - The walk down starts at the repository root's real path, and the tracked path's parent is
 *   entered through its real components, which must stay inside the root and out of .git and .dv.
 * - Deletes never follow a symlink: a link is unlinked, a directory is emptied entry by entry
 *   from its own open descriptor (iteratively: no recursion whose depth the data chooses).
 */
import {
  closeSync,
  constants,
  existsSync,
  fstatSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  realpathSync,
  rmdirSync,
  unlinkSync,
} from 'node:fs';
import { join, posix, relative, sep } from 'node:path';
import { DvError, fsError } from '../errors.js';
import { checkRealInside } from './safe-path.js';

const { O_RDONLY, O_DIRECTORY, O_NOFOLLOW } = constants;
const DIR_FLAGS = O_RDONLY | O_DIRECTORY | O_NOFOLLOW;

/** Whether `/proc/self/fd/<fd>/name` reaches into the directory open as `fd` (Linux with /proc mounted). */
export const PROC_FD = ((): boolean => {
  try {
    if (!existsSync('/proc/self/fd')) return false;
    const fd = openSync('/', O_RDONLY | O_DIRECTORY);
    try {
      return lstatSync(`/proc/self/fd/${fd}/.`).ino === lstatSync('/').ino;
    } finally {
      closeSync(fd);
    }
  } catch {
    return false;
  }
})();

/** An open, verified directory. `path` names it for operations on its entries. */
export interface DirHandle {
  fd: number;
  path: string;
  /** Its path for messages (the workspace path, not the /proc one). */
  shown: string;
  dev: number;
  ino: number;
}

const handle = (fd: number, shown: string): DirHandle => {
  const st = fstatSync(fd);
  return { fd, path: PROC_FD ? `/proc/self/fd/${fd}` : shown, shown, dev: st.dev, ino: st.ino };
};

/** The path of entry `name` of `dir`; where /proc is missing, only after checking `dir` is still what was opened. */
export function at(dir: DirHandle, name: string): string {
  if (!PROC_FD) {
    const st = lstatSync(dir.path, { throwIfNoEntry: false });
    if (!st || !st.isDirectory() || st.dev !== dir.dev || st.ino !== dir.ino) throw swapped(dir.shown);
  }
  return join(dir.path, name);
}

const swapped = (shown: string): DvError =>
  new DvError(
    'UNSAFE_PATH',
    `${shown} was replaced while dv wrote into it (a symbolic link or another directory took its place): dv does not write through it; check who changes the workspace, then run the checkout again`,
    { path: shown },
  );

export function closeDir(dir: DirHandle): void {
  try {
    closeSync(dir.fd);
  } catch {
    /* already closed */
  }
}

/**
 * Enters `name` of `parent` (creating it as a directory when `create`), refusing anything but a
 * real directory. Returns undefined when it does not exist (and `create` is false).
 */
export function enterDir(parent: DirHandle, name: string, create: boolean): DirHandle | undefined {
  const p = at(parent, name);
  const shown = join(parent.shown, name);
  if (create) {
    try {
      mkdirSync(p);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw fsError(e, shown);
    }
  }
  let fd: number;
  try {
    fd = openSync(p, DIR_FLAGS);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && !create) return undefined;
    // Made (or found) a moment ago and gone now: someone else moved it.
    if (code === 'ENOENT') throw swapped(shown);
    if (code === 'ELOOP' || code === 'ENOTDIR' || code === 'EMLINK') {
      throw new DvError(
        'UNSAFE_PATH',
        `${shown} is a symbolic link or a file where dv expected a directory: dv does not write through it; move it away and run the checkout again`,
        { path: shown },
      );
    }
    throw fsError(e, shown);
  }
  const h = handle(fd, shown);
  if (!PROC_FD) {
    // The path opened might have been swapped between the open and now: it must still be this directory.
    const st = lstatSync(p, { throwIfNoEntry: false });
    if (!st || !st.isDirectory() || st.dev !== h.dev || st.ino !== h.ino) {
      closeSync(fd);
      throw swapped(shown);
    }
  }
  return h;
}

/**
 * Opens the directory at repository path `relDir` ('' for the root): through its real path up to
 * the deepest part that exists (symlinks inside the repository are allowed there, as in
 * checkTrackedPath, but the real path must stay inside and out of .git and .dv), then creating the
 * rest component by component.
 */
export function openRepoDir(root: string, relDir: string): DirHandle {
  const realRoot = realpathSync.native(root);
  const parts = relDir === '' || relDir === '.' ? [] : relDir.split('/');
  let exist = parts.length;
  let real: string | undefined;
  for (; exist > 0; exist--) {
    try {
      real = realpathSync.native(join(root, ...parts.slice(0, exist)));
      break;
    } catch {
      /* not there yet */
    }
  }
  const up = real === undefined ? '' : relative(realRoot, real);
  checkRealInside(relDir, up, real ?? realRoot);
  let dir = handle(openSync(realRoot, O_RDONLY | O_DIRECTORY), root);
  const steps: [string, boolean][] = [
    ...(up ? up.split(sep) : []).map((p): [string, boolean] => [p, false]),
    ...parts.slice(exist).map((p): [string, boolean] => [p, true]),
  ];
  for (const [name, create] of steps) {
    let next: DirHandle | undefined;
    // Each descriptor is closed exactly once: a second close could hit a number another thread reuses.
    try {
      next = enterDir(dir, name, create);
    } finally {
      closeDir(dir);
    }
    if (!next) throw new DvError('UNSAFE_PATH', `${relDir} changed while dv opened it: run the checkout again`, { path: relDir });
    dir = next;
  }
  return { ...dir, shown: join(root, ...parts) };
}

/** Removes entry `name` of `dir`: a file or link is unlinked (never followed), a directory emptied and removed. */
export function removeEntry(dir: DirHandle, name: string): void {
  interface Frame {
    parent: DirHandle;
    name: string;
    h?: DirHandle;
    closed?: boolean;
  }
  const stack: Frame[] = [{ parent: dir, name }];
  const gone = (e: unknown, shown: string): void => {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw fsError(e, shown);
  };
  try {
    while (stack.length > 0) {
      const f = stack[stack.length - 1];
      if (f.h) {
        // Its entries are gone: the directory itself goes (rmdir never follows a link).
        closeDir(f.h);
        f.closed = true;
        try {
          rmdirSync(at(f.parent, f.name));
        } catch (e) {
          gone(e, join(f.parent.shown, f.name));
        }
        stack.pop();
        continue;
      }
      const p = at(f.parent, f.name);
      const st = lstatSync(p, { throwIfNoEntry: false });
      if (st && !st.isDirectory()) {
        try {
          unlinkSync(p);
        } catch (e) {
          gone(e, join(f.parent.shown, f.name));
        }
      }
      const h = st?.isDirectory() ? enterDir(f.parent, f.name, false) : undefined;
      if (!h) {
        stack.pop();
        continue;
      }
      f.h = h;
      for (const d of readdirSync(h.path, { withFileTypes: true })) {
        if (d.isDirectory()) stack.push({ parent: h, name: d.name });
        else {
          try {
            unlinkSync(at(h, d.name));
          } catch (e) {
            gone(e, join(h.shown, d.name));
          }
        }
      }
    }
  } finally {
    for (const f of stack) if (f.h && !f.closed) closeDir(f.h);
  }
}

/** Removes repository path `rel` (file, link or directory) without following any symlink on the way. */
export function removeRepoPath(root: string, rel: string): void {
  const parent = openRepoDir(root, posix.dirname(rel) === '.' ? '' : posix.dirname(rel));
  try {
    removeEntry(parent, posix.basename(rel));
  } finally {
    closeDir(parent);
  }
}

/**
 * Open directories by repository path, entered one component at a time from the nearest one
 * already open. At most `cap` stay open beyond those pinned: a pinned handle is named by writes
 * in flight in the worker threads and is closed only once unpinned.
 */
export class DirCache {
  private readonly open = new Map<string, DirHandle>();
  private readonly pins = new Map<string, number>();
  constructor(
    private readonly root: string,
    private readonly base: string,
    private readonly cap = 128,
  ) {}

  /** The directory at repository path `relDir` (at or below `base`), created when `create`; undefined when absent. */
  get(relDir: string, create: boolean): DirHandle | undefined {
    const below: string[] = [];
    let d = relDir;
    let h = this.touch(d);
    // Iteratively: up to the nearest open ancestor (or the base), then down.
    while (!h && d !== this.base) {
      if (!d.startsWith(this.base === '' ? '' : `${this.base}/`) || d === '') throw new Error(`${relDir} is not below ${this.base}`);
      below.push(posix.basename(d));
      d = d.includes('/') ? d.slice(0, d.lastIndexOf('/')) : '';
      h = this.touch(d);
    }
    if (!h) h = this.add(d, openRepoDir(this.root, d));
    for (let i = below.length - 1; i >= 0; i--) {
      const next = enterDir(h, below[i], create);
      if (!next) return undefined;
      d = d === '' ? below[i] : `${d}/${below[i]}`;
      h = this.add(d, next);
    }
    return h;
  }

  /** Keeps `relDir`'s handle open until as many `unpin` calls. */
  pin(relDir: string, create: boolean): DirHandle | undefined {
    const h = this.get(relDir, create);
    if (h) this.pins.set(relDir, (this.pins.get(relDir) ?? 0) + 1);
    return h;
  }

  /** Holds `h` as the directory at `relDir` (one built elsewhere: write-stage.ts), pinned until as many `unpin` calls. */
  stage(relDir: string, h: DirHandle): void {
    this.pins.set(relDir, (this.pins.get(relDir) ?? 0) + 1);
    this.add(relDir, h);
  }

  unpin(relDir: string): void {
    const n = (this.pins.get(relDir) ?? 1) - 1;
    if (n > 0) this.pins.set(relDir, n);
    else this.pins.delete(relDir);
    this.evict();
  }

  /** Forgets `relDir` and everything below it (it was removed; its handles name nothing now). */
  forget(relDir: string): void {
    for (const [k, h] of this.open) {
      if ((k === relDir || k.startsWith(`${relDir}/`)) && !this.pins.has(k)) {
        closeDir(h);
        this.open.delete(k);
      }
    }
  }

  close(): void {
    for (const h of this.open.values()) closeDir(h);
    this.open.clear();
    this.pins.clear();
  }

  private touch(relDir: string): DirHandle | undefined {
    const h = this.open.get(relDir);
    if (h) {
      this.open.delete(relDir);
      this.open.set(relDir, h);
    }
    return h;
  }

  private add(relDir: string, h: DirHandle): DirHandle {
    const old = this.open.get(relDir);
    if (old && old !== h) closeDir(old);
    this.open.set(relDir, h);
    this.evict();
    return h;
  }

  private evict(): void {
    if (this.open.size <= this.cap + this.pins.size) return;
    for (const [k, h] of this.open) {
      if (this.open.size <= this.cap + this.pins.size) break;
      if (!this.pins.has(k)) {
        closeDir(h);
        this.open.delete(k);
      }
    }
  }
}
