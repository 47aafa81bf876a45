/**
 * dv's own files: `.gitignore`, `.dv/` and everything dv keeps there, pointer files, dv.yaml and
 * dv.lock. Each may arrive by `git clone`, so each may be a symlink (to a secret, to another
 * store, to `/dev/zero`). The rule, held here and only here:
 * - never read through a link: the last component is opened with O_NOFOLLOW, and the directories
 *   between the repository root and the file (when the caller names the root) must be real ones;
 * - never block: the file is lstat'ed first (a device is never opened) and opened O_NONBLOCK, and
 *   what was opened must be the regular file lstat saw (same device and inode);
 * - never write through a link: a target that exists must be a regular file, and the new content
 *   goes to a temp file renamed over it (rename replaces a name, it never follows one);
 * - bounded: a file larger than `maxBytes` is refused, not read.
 * A refusal is one DvError line naming the file and what to do.
 */
import { constants as fsc, promises as fsp, type Stats } from 'node:fs';
import { dirname, isAbsolute, join, relative, sep } from 'node:path';
import { DvError, fsError, type ErrorCode } from '../errors.js';
import { writeFileAtomic } from '../store/atomic.js';

/** Codes a control-file refusal may carry: the one that names what the file is. */
export type ControlCode = Extract<ErrorCode, 'BAD_CONFIG' | 'BAD_POINTER' | 'UNSAFE_PATH' | 'PIPELINE_INVALID'>;

export interface ControlFileOptions {
  /** The error code of a refusal (default UNSAFE_PATH). */
  code?: ControlCode;
  /** How the file is named in messages (default: the path given). */
  show?: string;
  /** Check that no directory between `root` and the file is a symlink. */
  root?: string;
  /** Larger files are refused (default 64 MiB). */
  maxBytes?: number;
  /**
   * Follow a link at the last component (not dv's own file but one a stage names: a params or
   * metrics file); it must still end at a regular file, and is still never opened blocking.
   */
  followLinks?: boolean;
}

const O_NOFOLLOW = fsc.O_NOFOLLOW ?? 0;
const O_NONBLOCK = fsc.O_NONBLOCK ?? 0;
const DEFAULT_MAX = 64 * 1024 * 1024;

function kindOf(st: Stats): string {
  if (st.isSymbolicLink()) return 'a symbolic link';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  if (st.isSocket()) return 'a socket';
  if (st.isDirectory()) return 'a directory';
  return 'not a regular file';
}

function refuse(file: string, what: string, o: ControlFileOptions): DvError {
  const name = o.show ?? file;
  return new DvError(
    o.code ?? 'UNSAFE_PATH',
    `${name} is ${what}: dv never reads or writes its own files through links or special files; remove it (or replace it with a regular file) and run the command again`,
    { file: name, special: true },
  );
}

/**
 * Refuses when a directory between `root` and `file` is a symlink or not a directory (a missing
 * one is fine: nothing can be read through it, and a writer creates it).
 */
export async function checkParents(root: string, file: string, o: ControlFileOptions = {}): Promise<void> {
  const rel = relative(root, dirname(file));
  if (rel === '') return;
  if (rel.startsWith('..') || isAbsolute(rel))
    throw new DvError(o.code ?? 'UNSAFE_PATH', `${o.show ?? file} is outside the repository ${root}`, { file: o.show ?? file });
  let cur = root;
  for (const part of rel.split(sep)) {
    cur = join(cur, part);
    const st = await fsp.lstat(cur).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT' || e.code === 'ENOTDIR') return undefined;
      throw fsError(e, cur);
    });
    if (!st) return;
    if (!st.isDirectory())
      throw refuse(cur, kindOf(st), { ...o, show: `${relative(root, cur)} (on the way to ${o.show ?? relative(root, file)})` });
  }
}

/**
 * What `lstat` says of `file`: undefined when it does not exist; refused when it exists and is not
 * a regular file.
 */
export async function lstatControlFile(file: string, o: ControlFileOptions = {}): Promise<Stats | undefined> {
  if (o.root) await checkParents(o.root, file, o);
  const st = await (o.followLinks ? fsp.stat(file) : fsp.lstat(file)).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT' || e.code === 'ENOTDIR') return undefined;
    throw fsError(e, o.show ?? file);
  });
  if (st && !st.isFile()) throw refuse(file, kindOf(st), o);
  return st;
}

/** The bytes of a control file, or undefined when it does not exist. Refusals: see the header. */
export async function readControlBytes(file: string, o: ControlFileOptions = {}): Promise<Buffer | undefined> {
  const before = await lstatControlFile(file, o);
  if (!before) return undefined;
  const max = o.maxBytes ?? DEFAULT_MAX;
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(file, fsc.O_RDONLY | (o.followLinks ? 0 : O_NOFOLLOW) | O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    // Swapped for a link between lstat and open.
    if (code === 'ELOOP' || code === 'EMLINK') throw refuse(file, 'a symbolic link', o);
    throw fsError(e, o.show ?? file);
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw refuse(file, kindOf(st), o);
    if (st.dev !== before.dev || st.ino !== before.ino) throw refuse(file, 'replaced while dv read it', o);
    if (st.size > max)
      throw new DvError(
        o.code ?? 'UNSAFE_PATH',
        `${o.show ?? file} is ${st.size} bytes, more than the ${max} dv reads from such a file: restore it with git`,
        { file: o.show ?? file },
      );
    // Read to the cap, not to the size stat gave: a file still growing cannot grow the read.
    const buf = Buffer.alloc(Math.min(max, st.size) + 1);
    let n = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, n, buf.length - n, n);
      if (bytesRead === 0) break;
      n += bytesRead;
      if (n === buf.length) break;
    }
    if (n > max)
      throw new DvError(o.code ?? 'UNSAFE_PATH', `${o.show ?? file} grew past ${max} bytes while dv read it`, { file: o.show ?? file });
    return buf.subarray(0, n);
  } finally {
    await fh.close();
  }
}

/** A control file as UTF-8 text, or undefined when it does not exist. */
export async function readControlFile(file: string, o: ControlFileOptions = {}): Promise<string | undefined> {
  return (await readControlBytes(file, o))?.toString('utf8');
}

/**
 * Replaces (or creates) a control file atomically: temp file in `tmpDir` (or beside it), fsync,
 * rename. An existing target that is not a regular file is refused and left as it is.
 */
export async function writeControlFile(
  file: string,
  data: string | Uint8Array,
  o: ControlFileOptions & { tmpDir?: string; mode?: number } = {},
): Promise<void> {
  await lstatControlFile(file, o);
  if (o.tmpDir && o.root) await checkParents(o.root, join(o.tmpDir, 'x'), o);
  try {
    await writeFileAtomic(file, data, o.tmpDir, o.mode);
  } catch (e) {
    // `.dv` on another file system than the work tree: the temp file goes beside the target.
    if (o.tmpDir && (e as NodeJS.ErrnoException).code === 'EXDEV') await writeFileAtomic(file, data, undefined, o.mode);
    else throw e;
  }
}

/**
 * Checks that a directory dv keeps its own things in (`.dv`, `.dv/cache`, ...) is a real directory
 * when it exists. Returns whether it exists.
 */
export async function checkControlDir(dir: string, o: ControlFileOptions = {}): Promise<boolean> {
  if (o.root) await checkParents(o.root, join(dir, 'x'), o);
  const st = await fsp.lstat(dir).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT' || e.code === 'ENOTDIR') return undefined;
    throw fsError(e, o.show ?? dir);
  });
  if (!st) return false;
  if (!st.isDirectory()) throw refuse(dir, kindOf(st), o);
  return true;
}

/**
 * Checks a directory dv fills itself (`.dv/index`, a store's `packs/`) down to `depth` levels:
 * directories and regular files only, no link, FIFO or device anywhere. The file types come with
 * readdir, so this costs one readdir per directory. Iterative: the data chooses no recursion depth.
 */
export async function checkControlTree(dir: string, depth: number, o: ControlFileOptions = {}): Promise<void> {
  if (!(await checkControlDir(dir, o))) return;
  const todo: [string, number][] = [[dir, depth]];
  for (let next = todo.pop(); next; next = todo.pop()) {
    const [d, left] = next;
    for (const e of await fsp.readdir(d, { withFileTypes: true }).catch((err) => {
      throw fsError(err, d);
    })) {
      const p = join(d, e.name);
      if (e.isDirectory()) {
        if (left > 1) todo.push([p, left - 1]);
        continue;
      }
      if (!e.isFile()) throw refuse(p, kindOf(await fsp.lstat(p)), { ...o, show: o.root ? relative(o.root, p) : p });
    }
  }
}
