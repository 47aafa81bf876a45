/**
 * A pack written with synchronous I/O, for worker threads: objects are appended to a temp file
 * as they come (nothing buffered); `finish()` ends the tar and hands the temp file over to be
 * sealed (`sealPack`: fsync, rename, index) by the main thread, so the worker never waits on the
 * disk. Entry headers are plain ustar, byte-identical to what tar-stream writes for the same
 * entry (tested), so `tar tf` lists every pack.
 *
 * With `direct` (the hash workers), the pack goes through a DirectAppender (direct-append.ts):
 * headers, data and padding are gathered into 1 MiB blocks written with O_DIRECT, off the
 * thread; `finishAsync` then resolves once every byte is in the file. Same bytes either way.
 *
 * `stop` (a worker pool's control, workspace/write-temp.ts: [0] stop requested, [1] files being
 * opened): once stop is requested no new temp file is opened, and the stopper waits for the
 * openings under way, so that the temp files it then removes are all there are (Ctrl-C).
 */
import { closeSync, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { frameSum, type PackEntry } from './pack-index.js';
import { entryName } from './pack.js';
import { FLAG_FRAME } from './codec.js';
import { DirectAppender } from './direct-append.js';

const BLOCK = 512;
const ZEROS = Buffer.alloc(2 * BLOCK);

/** Zero-padded octal in `digits` digits and a space, as tar-stream writes numeric fields. */
function oct(buf: Buffer, value: number, offset: number, digits: number): void {
  buf.write(value.toString(8).padStart(digits, '0') + ' ', offset, digits + 1, 'ascii');
}

/** A ustar header for a regular file `name` (ASCII, < 100 bytes) of `size` bytes, mode 0444, mtime 0. */
export function tarHeader(name: string, size: number): Buffer {
  const h = Buffer.alloc(BLOCK);
  h.write(name, 0, 100, 'ascii');
  oct(h, 0o444, 100, 6);
  oct(h, 0, 108, 6);
  oct(h, 0, 116, 6);
  oct(h, size, 124, 11);
  oct(h, 0, 136, 11);
  h.write('0', 156, 1, 'ascii');
  h.write('ustar\u000000', 257, 8, 'ascii');
  oct(h, 0, 329, 6);
  oct(h, 0, 337, 6);
  let sum = 8 * 32;
  for (let k = 0; k < 148; k++) sum += h[k];
  for (let k = 156; k < BLOCK; k++) sum += h[k];
  oct(h, sum, 148, 6);
  return h;
}

export class SyncPackWriter {
  private fd: number | undefined;
  private app: DirectAppender | undefined;
  private tmp = '';
  private pos = 0;
  private entries: PackEntry[] = [];

  constructor(
    private readonly tmpDir: string,
    readonly target: number,
    private readonly stop?: Int32Array,
    private readonly direct = false,
  ) {}

  get size(): number {
    return this.pos;
  }

  add(id: string, data: Uint8Array, rawSize: number, flags: number): void {
    this.member(entryName(id, flags), data);
    this.entries.push({ id, offset: this.pos + BLOCK, length: data.length, rawSize, flags });
    this.advance(data.length);
  }

  /** Adds one compressed frame holding `members` (their offsets inside the decompressed frame). */
  addFrame(data: Uint8Array, members: { id: string; rawSize: number; inner: number }[]): void {
    this.member(entryName(members[0].id, FLAG_FRAME), data);
    const sum = frameSum(data);
    for (const m of members)
      this.entries.push({
        id: m.id,
        offset: this.pos + BLOCK,
        length: data.length,
        rawSize: m.rawSize,
        flags: FLAG_FRAME,
        inner: m.inner,
        sum,
      });
    this.advance(data.length);
  }

  private member(name: string, data: Uint8Array): void {
    const pad = (BLOCK - (data.length % BLOCK)) % BLOCK;
    if (this.direct) {
      if (!this.app) this.open();
      const app = this.app!;
      app.append(tarHeader(name, data.length));
      app.append(data);
      if (pad) app.append(ZEROS.subarray(0, pad));
      return;
    }
    if (this.fd === undefined) this.open();
    const fd = this.fd!;
    writeAll(fd, tarHeader(name, data.length));
    writeAll(fd, data);
    if (pad) writeAll(fd, ZEROS.subarray(0, pad));
  }

  private open(): void {
    const stop = this.stop;
    // Counted before the stop flag is read: a stopper that set it after this read waits for the file to exist.
    if (stop) Atomics.add(stop, 1, 1);
    try {
      if (stop && Atomics.load(stop, 0) !== 0) throw new Error('stopped: no new temp pack');
      mkdirSync(this.tmpDir, { recursive: true });
      this.tmp = join(this.tmpDir, `wpack-${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}.tmp`);
      this.pos = 0;
      this.entries = [];
      if (this.direct) this.app = new DirectAppender(this.tmp);
      else this.fd = openSync(this.tmp, 'w');
    } finally {
      if (stop) {
        Atomics.sub(stop, 1, 1);
        Atomics.notify(stop, 1);
      }
    }
  }

  private advance(length: number): void {
    this.pos += BLOCK + length + ((BLOCK - (length % BLOCK)) % BLOCK);
  }

  /** Ends the current pack; returns its temp file and entries (undefined when empty). */
  finish(): { tmp: string; size: number; entries: PackEntry[] } | undefined {
    if (this.direct) throw new Error('a direct pack writer ends with finishAsync');
    if (this.fd === undefined) return undefined;
    const fd = this.fd;
    this.fd = undefined;
    try {
      writeAll(fd, ZEROS);
    } finally {
      closeSync(fd);
    }
    return { tmp: this.tmp, size: this.pos + ZEROS.length, entries: this.entries };
  }

  /**
   * Ends the current pack (direct or not); resolves with its temp file and entries once every
   * byte is written (undefined when empty). The next pack may start before it resolves.
   */
  finishAsync(): Promise<{ tmp: string; size: number; entries: PackEntry[] } | undefined> {
    if (!this.direct) return Promise.resolve(this.finish());
    const app = this.app;
    if (!app) return Promise.resolve(undefined);
    this.app = undefined;
    const sealed = { tmp: this.tmp, size: this.pos + ZEROS.length, entries: this.entries };
    try {
      app.append(ZEROS);
    } catch (e) {
      return app.close().then(() => Promise.reject(e));
    }
    return app.close().then(() => sealed);
  }

  /** Drops an unfinished pack (after an error). */
  abort(): void {
    if (this.app) {
      const app = this.app;
      const tmp = this.tmp;
      this.app = undefined;
      void app
        .abort()
        .then(() => rmSync(tmp, { force: true }))
        .catch(() => undefined);
      return;
    }
    if (this.fd === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
    rmSync(this.tmp, { force: true });
  }
}

function writeAll(fd: number, data: Uint8Array): void {
  let off = 0;
  while (off < data.length) off += writeSync(fd, data, off, data.length - off);
}
