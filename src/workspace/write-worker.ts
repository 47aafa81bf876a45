/**
 * Worker thread for checkout: rebuilds files from pack ranges with synchronous I/O, verifying
 * every chunk against its id before a byte reaches the workspace, writing through a temp file
 * beside the target and renaming it over the target. Framed chunks (flag 2) come in file order:
 * each frame is decompressed once, and the file's next frame is read and decompressing (on
 * libuv's pool) while this one's chunks are verified and written. A file a pull's fetch already
 * wrote whole from verified chunks (write-through.ts) is only stamped and renamed into place.
 */
import { parentPort, threadId, workerData } from 'node:worker_threads';
import { closeSync, constants, openSync, readSync, renameSync, fstatSync, unlinkSync, writeSync, fchmodSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { initHash, blake3Hex } from '../core/hash.js';
import { decode, decodeFrame, sliceFrame, FLAG_FRAME, FLAG_RAW } from '../store/codec.js';
import { MAX_FRAME_STORED, MAX_OBJECT_BYTES, type ObjectLocation } from '../store/pack-index.js';
import { workerTempPath } from './write-temp.js';
import { type Placed, type PlaceTarget, placeStaged, verifyDir } from './place-staged.js';

/** A chunk and where it is (the store's one location shape). */
export interface ChunkLoc extends ObjectLocation {
  id: string;
}
/**
 * `dir` names the target's directory through its verified open handle (write-dir.ts: on Linux
 * `/proc/self/fd/<fd>`, shared by every thread of the process); `path` is for messages only.
 */
export interface WriteJobFile extends PlaceTarget {
  chunks: ChunkLoc[];
  /** A file a pull's fetch wrote whole from verified chunks (write-through.ts): renamed into place, no chunks read. */
  staged?: string;
  /** `dir` is a directory checkout is building in `.dv/tmp` (write-stage.ts): the file is created there under its own name. */
  inPlace?: boolean;
}
export type ToWriter = { type: 'job'; packsDir: string; files: WriteJobFile[] };
/** The worker's workerData: its pool's WriteControl (shared with the main thread) and the run token (write-temp.ts). */
export interface WriterData {
  control: Int32Array;
  token: string;
}
export type WrittenFile = Placed;
const tooLong = (path: string, size: number): Error =>
  Object.assign(new Error(`the chunks of ${path} hold more than its declared ${size} bytes`), { code: 'OBJECT_CORRUPT' });

export interface WriteFailure {
  i: number;
  code: string;
  message: string;
  id?: string;
  pack?: string;
}
export type FromWriter = { type: 'done'; written: WrittenFile[]; failed?: WriteFailure } | { type: 'fatal'; message: string };

const port = parentPort!;
const { control, token } = workerData as WriterData;
/** Thrown between chunks once the main thread asked the workers to stop (Ctrl-C). */
const stopped = (): boolean => Atomics.load(control, 0) !== 0;
const packFds = new Map<string, number>();
const packSizes = new Map<string, number>();
let scratch = Buffer.allocUnsafe(1024 * 1024);
const umask = process.umask();

function packFd(packsDir: string, pack: string): number {
  let fd = packFds.get(pack);
  if (fd === undefined) {
    if (packFds.size >= 64) {
      const [old, ofd] = packFds.entries().next().value as [string, number];
      closeSync(ofd);
      packFds.delete(old);
    }
    fd = openSync(join(packsDir, pack.slice(0, 2), `${pack}.pack`), 'r');
    packFds.set(pack, fd);
    packSizes.set(pack, fstatSync(fd).size);
  }
  return fd;
}

/** Decompressed frames by pack:offset:length, the current and the next (undefined: it could not be). */
const frames = new Map<string, Promise<Buffer | undefined>>();
const keyOf = (c: ChunkLoc): string => `${c.pack}:${c.offset}:${c.length}`;

/** The decompressed frame holding `c`, read now and decompressed once. */
function loadFrame(packsDir: string, c: ChunkLoc): Promise<Buffer | undefined> {
  const key = keyOf(c);
  let p = frames.get(key);
  if (p) return p;
  const pfd = packFd(packsDir, c.pack);
  if (c.length > MAX_FRAME_STORED || c.offset + c.length > packSizes.get(c.pack)!) return Promise.resolve(undefined);
  const stored = Buffer.allocUnsafe(c.length);
  let got = 0;
  while (got < c.length) {
    const n = readSync(pfd, stored, got, c.length - got, c.offset + got);
    if (n === 0) break;
    got += n;
  }
  p = got === c.length ? decodeFrame(stored).catch(() => undefined) : Promise.resolve(undefined);
  frames.set(key, p);
  if (frames.size > 3) frames.delete(frames.keys().next().value as string);
  return p;
}

/** Verifies one chunk's raw bytes against its id and appends them to `fd`; returns their length. */
function writeChunk(fd: number, c: ChunkLoc, raw: Buffer | undefined): number {
  if (!raw || raw.length !== c.rawSize || blake3Hex(raw) !== c.id) {
    throw Object.assign(new Error(`object ${c.id} is corrupt`), { code: 'OBJECT_CORRUPT', id: c.id, pack: c.pack });
  }
  let off = 0;
  while (off < raw.length) off += writeSync(fd, raw, off, raw.length - off);
  return raw.length;
}

// A new file of our own: never an existing one, never through a symlink planted at the temp name.
const CREATE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/**
 * Writes one file through a temp file beside its target (see write-temp.ts for why beside),
 * renamed over the target once complete and verified, both named through the directory's
 * verified handle: the rename stays inside that directory. In a staged directory (`inPlace`,
 * dv's own until it is renamed into the workspace whole) the file is created under its name.
 */
async function writeOne(packsDir: string, f: WriteJobFile): Promise<WrittenFile> {
  if (f.staged) return placeStaged(f, f.staged, control);
  const target = join(f.dir, f.name);
  const tmp = f.inPlace ? target : workerTempPath(target, process.pid, token, threadId);
  // Only a file this call created is deleted on failure (in place, the name is not a temp name).
  let created = false;
  // Counted before the stop flag is read: a stopper that sees no file in flight sees no new one start.
  Atomics.add(control, 1, 1);
  let ok = false;
  let st: Stats;
  try {
    if (stopped()) throw Object.assign(new Error('stopped'), { code: 'INTERRUPTED' });
    verifyDir(f);
    const fd = openSync(tmp, CREATE, f.exec ? 0o755 : 0o644);
    created = true;
    try {
      let written = 0;
      let current = '';
      for (let j = 0; j < f.chunks.length; j++) {
        if (stopped()) throw Object.assign(new Error('stopped'), { code: 'INTERRUPTED' });
        const c = f.chunks[j];
        const pfd = packFd(packsDir, c.pack);
        if (c.length > (c.flags === FLAG_FRAME ? MAX_FRAME_STORED : MAX_OBJECT_BYTES) || c.offset + c.length > packSizes.get(c.pack)!) {
          throw Object.assign(new Error(`object ${c.id} is said to lie beyond the end of its pack`), {
            code: 'OBJECT_CORRUPT',
            id: c.id,
            pack: c.pack,
          });
        }
        if (c.flags === FLAG_FRAME) {
          const frame = await loadFrame(packsDir, c);
          const key = keyOf(c);
          if (key !== current) {
            current = key;
            // Read ahead: the next frame (within a few dozen chunks) starts decompressing now.
            for (let k = j + 1; k < Math.min(f.chunks.length, j + 64); k++) {
              const n = f.chunks[k];
              if (n.flags !== FLAG_FRAME || keyOf(n) === key) continue;
              try {
                void loadFrame(packsDir, n);
              } catch {
                /* its own turn reports the error */
              }
              break;
            }
          }
          written += writeChunk(fd, c, frame && sliceFrame(frame, c.inner, c.rawSize));
          if (written > f.size) throw tooLong(f.path, f.size);
          continue;
        }
        if (scratch.length < c.length) scratch = Buffer.allocUnsafe(c.length);
        let got = 0;
        while (got < c.length) {
          const n = readSync(pfd, scratch, got, c.length - got, c.offset + got);
          if (n === 0) break;
          got += n;
        }
        const stored = scratch.subarray(0, got);
        let raw: Buffer | undefined = stored;
        if (got !== c.length) raw = undefined;
        else if (c.flags !== FLAG_RAW) raw = await decode(Buffer.from(stored), c.flags).catch(() => undefined);
        written += writeChunk(fd, c, raw);
        // A file never grows past its declared size, whatever its chunks claim.
        if (written > f.size) throw tooLong(f.path, f.size);
      }
      if (written !== f.size)
        throw Object.assign(new Error(`rebuilt ${written} bytes of ${f.path}, expected ${f.size}`), { code: 'OBJECT_CORRUPT' });
      const mode = f.exec ? 0o755 : 0o644;
      // open() applied the umask; set the mode exactly only when the umask changed it.
      if ((mode & ~umask) !== mode) fchmodSync(fd, mode);
      st = fstatSync(fd);
    } finally {
      closeSync(fd);
    }
    // rename keeps the inode and mtime, so the stat taken before it is the file's.
    if (!f.inPlace) {
      verifyDir(f);
      renameSync(tmp, target);
    }
    ok = true;
  } finally {
    if (!ok && created) {
      try {
        unlinkSync(tmp);
      } catch {
        /* never created, or already gone */
      }
    }
    Atomics.sub(control, 1, 1);
    Atomics.notify(control, 1);
  }
  return { i: f.i, size: st!.size, mtimeMs: st!.mtimeMs, ino: st!.ino };
}

port.on('message', (m: ToWriter) => {
  void (async () => {
    await initHash();
    const written: WrittenFile[] = [];
    for (const f of m.files) {
      try {
        written.push(await writeOne(m.packsDir, f));
      } catch (e) {
        const err = e as NodeJS.ErrnoException & { id?: string; pack?: string };
        port.postMessage({
          type: 'done',
          written,
          failed: { i: f.i, code: err.code ?? 'ERROR', message: err.message, id: err.id, pack: err.pack },
        } satisfies FromWriter);
        return;
      }
    }
    port.postMessage({ type: 'done', written } satisfies FromWriter);
  })().catch((e) => port.postMessage({ type: 'fatal', message: String((e as Error)?.stack ?? e) } satisfies FromWriter));
});
