import { randomBytes } from 'node:crypto';
import { type Dirent, type Stats, constants as fsc } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { DvError, fsError, isDvError } from '../errors.js';
import type { Backend, GetOptions, Leftovers, RangeSink } from './backend.js';
import { directCopy } from './direct-copy.js';
import { intoView, notRegularError, rangeError, tooLargeError, validateKey, validatePrefix, validateRange } from './keys.js';

/** The piece size of a streamed local range: large reads, one buffer. */
const LOCAL_PIECE = 4 * 1024 * 1024;

/** Marks temp files; '~' is not a key character, so no key can collide with one. */
const TEMP_MARK = '~';
/** A write's temp file beside its target (writeAtomic), and what its name ends with (sweepLeftovers). */
const tempFile = (target: string): string => `${target}${TEMP_MARK}${process.pid}-${randomBytes(6).toString('hex')}.tmp`;
const TEMP_NAME = /~[0-9]+-[0-9a-f]{12}\.tmp$/;
const TRANSIENT_FS = new Set(['EIO', 'ETIMEDOUT', 'ESTALE', 'EAGAIN', 'EBUSY', 'EMFILE', 'ENFILE', 'EHOSTDOWN', 'ECONNRESET']);

export interface LocalBackendOptions {
  /** Create the root directory on the first write instead of failing with REMOTE_NOT_FOUND. */
  create?: boolean;
}

/**
 * A Backend over a directory: key `a/b` is the file `root/a/b`. Writes go to a temp file
 * beside the target, are fsynced and renamed into place, so readers never see a prefix.
 * putFile copies with O_DIRECT where the file system allows it (direct-copy.ts): the bytes reach
 * the disk during the copy, not all at once in the fsync before the rename.
 * Lists yield keys in ascending byte order (callers must not rely on it: not every store does).
 * Only regular files are values: a FIFO, device, socket or symlink under the root is refused
 * without blocking (another user may write the share; see openRegular).
 */
export class LocalBackend implements Backend {
  readonly location: string;
  private readonly root: string;
  private readonly create: boolean;

  constructor(rootDir: string, opts: LocalBackendOptions = {}) {
    this.root = path.resolve(rootDir);
    this.location = this.root;
    this.create = opts.create ?? false;
  }

  /** Creates the root directory (and its parents) if missing. */
  async init(): Promise<void> {
    await fs.mkdir(this.root, { recursive: true }).catch((e) => {
      throw this.classify(e, this.root);
    });
  }

  async check(): Promise<void> {
    let st: Stats;
    try {
      st = await fs.stat(this.root);
    } catch (e) {
      throw this.classify(e, this.root);
    }
    if (!st.isDirectory()) {
      throw new DvError('REMOTE_NOT_FOUND', `remote ${this.root} is not a directory: point the remote at a directory`, {
        location: this.root,
      });
    }
    // Write access is not required: a read-only share is a fine remote to pull from.
    await fs.access(this.root, fsc.R_OK | fsc.X_OK).catch((e) => {
      throw this.classify(e, this.root);
    });
  }

  async put(key: string, data: Uint8Array): Promise<void> {
    validateKey(key);
    await this.writeAtomic(key, async (tmp) => {
      const fh = await fs.open(tmp, 'wx', 0o644);
      try {
        await fh.writeFile(data);
        await fh.sync();
      } finally {
        await fh.close();
      }
    });
  }

  async putFile(key: string, localPath: string): Promise<void> {
    validateKey(key);
    await fs.access(localPath, fsc.R_OK).catch((e) => {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw fsError(e, localPath);
      throw new DvError('PATH_NOT_FOUND', `cannot upload ${localPath}: it does not exist`, { path: localPath }, { cause: e });
    });
    await this.writeAtomic(key, async (tmp) => {
      if (!(await directCopy(localPath, tmp))) await fs.copyFile(localPath, tmp, fsc.COPYFILE_EXCL);
      const fh = await fs.open(tmp, 'r+');
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
    });
  }

  async get(key: string, opts: GetOptions = {}): Promise<Buffer> {
    validateKey(key);
    const fh = await this.openRegular(key);
    try {
      const size = (await fh.stat()).size;
      if (opts.maxBytes !== undefined && size > opts.maxBytes) throw tooLargeError(this.location, key, size, opts.maxBytes);
      // Exactly the size stat gave: a file growing while it is read cannot push past the budget.
      const buf = Buffer.allocUnsafe(size);
      let done = 0;
      while (done < size) {
        const { bytesRead } = await fh.read(buf, done, size - done, done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
      return done === size ? buf : buf.subarray(0, done);
    } catch (e) {
      throw isDvError(e) ? e : this.classify(e, this.file(key));
    } finally {
      await fh.close();
    }
  }

  async getRange(key: string, offset: number, length: number, into?: Uint8Array): Promise<Buffer> {
    validateKey(key);
    validateRange(key, offset, length);
    const buf = into ? intoView(into, length) : Buffer.allocUnsafe(length);
    const fh = await this.openRegular(key);
    try {
      const size = (await fh.stat()).size;
      if (offset + length > size) throw rangeError(this.location, key, offset, length, size);
      let done = 0;
      while (done < length) {
        const { bytesRead } = await fh.read(buf, done, length - done, offset + done);
        if (bytesRead === 0) throw rangeError(this.location, key, offset, length, offset + done);
        done += bytesRead;
      }
      return buf;
    } catch (e) {
      throw isDvError(e) ? e : this.classify(e, this.file(key));
    } finally {
      await fh.close();
    }
  }

  /** As getRange, handed to `sink` in pieces of at most 4 MiB read into one reused buffer. */
  async getRangeTo(key: string, offset: number, length: number, sink: RangeSink): Promise<void> {
    validateKey(key);
    validateRange(key, offset, length);
    const fh = await this.openRegular(key);
    // The sink's own failure is the caller's, passed on as it is (never classified as the remote's).
    let sinkFailed: { e: unknown } | undefined;
    const give = async (piece: Buffer): Promise<void> => {
      try {
        await sink(piece);
      } catch (e) {
        sinkFailed = { e };
        throw e;
      }
    };
    try {
      const size = (await fh.stat()).size;
      if (offset + length > size) throw rangeError(this.location, key, offset, length, size);
      const buf = Buffer.allocUnsafe(Math.min(length, LOCAL_PIECE));
      let done = 0;
      while (done < length) {
        const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, length - done), offset + done);
        if (bytesRead === 0) throw rangeError(this.location, key, offset, length, offset + done);
        done += bytesRead;
        await give(buf.subarray(0, bytesRead));
      }
      if (length === 0) await give(buf);
    } catch (e) {
      throw sinkFailed || isDvError(e) ? e : this.classify(e, this.file(key));
    } finally {
      await fh.close();
    }
  }

  async stat(key: string): Promise<{ size: number } | undefined> {
    validateKey(key);
    try {
      const st = await fs.lstat(this.file(key));
      return st.isFile() ? { size: st.size } : undefined;
    } catch (e) {
      const err = await this.classifyRead(e, key);
      if (isDvError(err, 'OBJECT_MISSING')) return undefined;
      throw err;
    }
  }

  /**
   * Opens a key for reading only if it is a regular file: O_NOFOLLOW refuses a symlink and
   * O_NONBLOCK keeps a FIFO from blocking the open; fstat then refuses anything not a file.
   */
  private async openRegular(key: string): Promise<fs.FileHandle> {
    let fh: fs.FileHandle;
    try {
      fh = await fs.open(this.file(key), fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ELOOP') throw notRegularError(this.location, key, 'a symbolic link');
      throw await this.classifyRead(e, key);
    }
    const st = await fh.stat().catch(async (e) => {
      await fh.close();
      throw this.classify(e, this.file(key));
    });
    if (!st.isFile()) {
      await fh.close();
      if (st.isDirectory()) throw await this.classifyRead(Object.assign(new Error('is a directory'), { code: 'EISDIR' }), key);
      throw notRegularError(this.location, key, st.isFIFO() ? 'a FIFO' : st.isSocket() ? 'a socket' : 'a device or special file');
    }
    return fh;
  }

  async *list(prefix: string): AsyncIterable<{ key: string; size: number }> {
    validatePrefix(prefix);
    await this.check();
    const slash = prefix.lastIndexOf('/');
    const dirKey = prefix.slice(0, slash + 1);
    yield* this.walk(dirKey, prefix.slice(slash + 1));
  }

  /**
   * Removes the temp files of writes that never finished (a killed push: `<key>~<pid>-<hex>.tmp`)
   * whose last change is at least `olderThanMs` old. A write under way changes its temp file as it
   * goes, so a sweep spares it unless it stalled for that long (and then its rename fails: the
   * write is reported, nothing is lost). Directories are walked with a stack, symlinks not followed.
   */
  async sweepLeftovers(olderThanMs: number, dryRun: boolean): Promise<Leftovers> {
    await this.check();
    const found: Leftovers = { files: 0, bytes: 0 };
    const before = Date.now() - olderThanMs;
    const dirs = [this.root];
    for (let dir = dirs.pop(); dir !== undefined; dir = dirs.pop()) {
      for (const d of await this.entries(dir)) {
        const file = path.join(dir, d.name);
        if (d.isDirectory()) dirs.push(file);
        if (!d.isFile() || !TEMP_NAME.test(d.name)) continue;
        const st = await fs.lstat(file).catch(() => undefined);
        if (!st?.isFile() || st.mtimeMs > before) continue;
        if (!dryRun) {
          try {
            await fs.unlink(file);
          } catch (e) {
            if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
            throw this.classify(e, file);
          }
        }
        found.files++;
        found.bytes += st.size;
      }
    }
    return found;
  }

  async delete(key: string): Promise<void> {
    validateKey(key);
    try {
      await fs.unlink(this.file(key));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return;
      throw this.classify(e, this.file(key));
    }
  }

  private file(key: string): string {
    return path.join(this.root, ...key.split('/'));
  }

  /** The entries of directory `dir` ([] when it is gone or not a directory). */
  private async entries(dir: string): Promise<Dirent[]> {
    try {
      return await fs.readdir(dir, { withFileTypes: true });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return [];
      throw this.classify(e, dir);
    }
  }

  /**
   * Yields files under `dirKey` (ending in '/' or empty) whose name starts with `namePrefix`, sorted
   * by key. Depth first with a stack of its own (one sorted listing per level below), not recursion:
   * the directory depth is the remote's, not dv's.
   */
  private async *walk(dirKey: string, namePrefix: string): AsyncGenerator<{ key: string; size: number }> {
    const stack = [{ dirKey, named: await this.sorted(dirKey, namePrefix), next: 0 }];
    while (stack.length > 0) {
      const top = stack[stack.length - 1];
      if (top.next === top.named.length) {
        stack.pop();
        continue;
      }
      const d = top.named[top.next++];
      const key = top.dirKey + d.name;
      if (d.isDirectory()) stack.push({ dirKey: `${key}/`, named: await this.sorted(`${key}/`, ''), next: 0 });
      else if (d.isFile()) {
        try {
          yield { key, size: (await fs.lstat(this.file(key))).size };
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw this.classify(e, this.file(key));
        }
      }
    }
  }

  /** The entries of `dirKey` whose name starts with `namePrefix` (temp files left out), in the byte order of their keys. */
  private async sorted(dirKey: string, namePrefix: string): Promise<Dirent[]> {
    const entries = await this.entries(path.join(this.root, dirKey));
    // Sorting 'name/' for directories gives the byte order of the full keys.
    return entries
      .filter((d) => d.name.startsWith(namePrefix) && !d.name.includes(TEMP_MARK))
      .map((d) => ({ d, sortKey: d.isDirectory() ? `${d.name}/` : d.name }))
      .sort((a, b) => (a.sortKey < b.sortKey ? -1 : a.sortKey > b.sortKey ? 1 : 0))
      .map(({ d }) => d);
  }

  private async writeAtomic(key: string, fill: (tmp: string) => Promise<void>): Promise<void> {
    const target = this.file(key);
    const dir = path.dirname(target);
    const tmp = tempFile(target);
    try {
      try {
        await fill(tmp);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || isDvError(e)) throw e;
        await this.makeDir(dir);
        await fill(tmp);
      }
      await fs.rename(tmp, target);
      await syncDir(dir);
    } catch (e) {
      await fs.rm(tmp, { force: true }).catch(() => undefined);
      throw isDvError(e) ? e : this.classify(e, target);
    }
  }

  private async makeDir(dir: string): Promise<void> {
    if (!this.create) {
      try {
        await fs.stat(this.root);
      } catch (e) {
        throw this.classify(e, this.root);
      }
    }
    await fs.mkdir(dir, { recursive: true });
  }

  /** Read failures: ENOENT/EISDIR/ENOTDIR under an existing root mean the key is absent. */
  private async classifyRead(e: unknown, key: string): Promise<unknown> {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EISDIR' || code === 'ENOTDIR') {
      const rootOk = await fs.stat(this.root).then(
        (s) => s.isDirectory(),
        () => false,
      );
      if (!rootOk) return this.classify(e, this.root);
      return new DvError('OBJECT_MISSING', `${key} is missing from ${this.location}`, { key, location: this.location }, { cause: e });
    }
    return this.classify(e, this.file(key));
  }

  private classify(e: unknown, file: string): unknown {
    if (isDvError(e)) return e;
    const mapped = fsError(e, file);
    if (mapped !== e) return mapped;
    const code = (e as NodeJS.ErrnoException).code ?? '';
    if (file === this.root && (code === 'ENOENT' || code === 'ENOTDIR')) {
      return new DvError(
        'REMOTE_NOT_FOUND',
        `remote directory ${this.root} does not exist: create it or fix the remote's path`,
        { location: this.root },
        { cause: e },
      );
    }
    const transient = TRANSIENT_FS.has(code);
    const what = code === 'ENOTDIR' || code === 'EISDIR' ? "a file and a directory are in each other's way" : (e as Error).message;
    return new DvError('REMOTE_ERROR', `${file}: ${what}${transient ? ': try again' : ''}`, { file, transient }, { cause: e });
  }
}

async function syncDir(dir: string): Promise<void> {
  // Makes the rename durable; some file systems refuse fsync on directories, which is fine.
  const fh = await fs.open(dir, 'r').catch(() => undefined);
  if (!fh) return;
  try {
    await fh.sync();
  } catch {
    // ignore: durability best effort where the file system cannot sync directories
  } finally {
    await fh.close();
  }
}
