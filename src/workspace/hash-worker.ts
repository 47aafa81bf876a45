/**
 * Worker thread: reads files with synchronous I/O (cheap inside a worker), cuts them into
 * chunks, hashes them, and — when storing — asks the main thread which chunks are new and
 * writes those into a pack of its own. Chunk bytes never cross threads; only ids do.
 * New chunks of one file are gathered in order into frames of about FRAME_TARGET raw bytes,
 * each compressed as one zstd frame (flag 2) when that saves 10%, else stored raw.
 */
import { parentPort } from 'node:worker_threads';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { nextCut, CHUNKER_V1 } from '../core/chunker.js';
import { initHash, blake3 } from '../core/hash.js';
import { compressFrame, maybeCompress, FLAG_RAW, FLAG_ZSTD, FRAME_TARGET } from '../store/codec.js';
import { SyncPackWriter } from '../store/pack-writer.js';
import type { PackEntry } from '../store/pack-index.js';

export type ToWorker =
  | { type: 'init'; store: boolean; tmpDir: string; packTarget: number }
  | { type: 'job'; files: { i: number; path: string }[] }
  | { type: 'need'; need: number[][] }
  | { type: 'seal' };

/** One file's chunks found in one read: ids (32 bytes each) and lengths; `eof` marks its last piece. */
export interface ChunkRun {
  i: number;
  ids: Uint8Array;
  lens: number[];
  eof: boolean;
  size: number;
  error?: { code?: string; message: string };
}

export type FromWorker =
  | { type: 'ids'; runs: ChunkRun[] }
  | { type: 'pack'; tmp: string; size: number; entries: PackEntry[] }
  | { type: 'done' }
  | { type: 'sealed' }
  | { type: 'fatal'; message: string };

const SLAB = 4 * 1024 * 1024;
const SEGMENT = 8 * 1024 * 1024;
const SMALL = 1024 * 1024;

const port = parentPort!;
let cfg: Extract<ToWorker, { type: 'init' }>;
let writer: SyncPackWriter | undefined;
let needWaiter: ((need: number[][]) => void) | undefined;
const slab = Buffer.allocUnsafe(SLAB);
const segment = Buffer.allocUnsafe(SEGMENT);
const probe = Buffer.allocUnsafe(1);

/**
 * Compression is tried per kind of file (extension) and backs off where it does not pay: after
 * 8 frames in a row that did not compress, only one frame in 4 (about one per 4 MiB) is probed.
 */
const misses = new Map<string, number>();
const probes = new Map<string, number>();
function shouldTry(kind: string): boolean {
  if ((misses.get(kind) ?? 0) < 8) return true;
  const n = (probes.get(kind) ?? 0) + 1;
  probes.set(kind, n);
  return n % 4 === 0;
}

interface Frame { chunks: number[]; raw: number; compressed?: Promise<Buffer | undefined> }

/**
 * Compresses one frame's chunks together. Where this kind of file has missed lately, its first
 * chunk is tried alone and fast first, so random data costs no more than it did per chunk.
 */
async function packFrame(p: Pending, f: Frame): Promise<Buffer | undefined> {
  const slice = (c: number): Buffer => p.buf.subarray(p.offs[c], p.offs[c] + p.run.lens[c]);
  if ((misses.get(p.kind) ?? 0) > 0 && f.chunks.length > 1) {
    if ((await maybeCompress(Buffer.from(slice(f.chunks[0])))).flags === FLAG_RAW) return undefined;
  }
  if (f.chunks.length === 1) {
    const z = await maybeCompress(Buffer.from(slice(f.chunks[0])));
    return z.flags === FLAG_RAW ? undefined : z.data;
  }
  return compressFrame(Buffer.concat(f.chunks.map(slice), f.raw));
}

let queue = Promise.resolve();
port.on('message', (m: ToWorker) => {
  if (m.type === 'need') { needWaiter?.(m.need); needWaiter = undefined; return; }
  queue = queue.then(() => handle(m)).catch((e) => port.postMessage({ type: 'fatal', message: String((e as Error)?.stack ?? e) } satisfies FromWorker));
});

async function handle(m: ToWorker): Promise<void> {
  if (m.type === 'init') {
    cfg = m;
    await initHash();
    if (m.store) writer = new SyncPackWriter(m.tmpDir, m.packTarget);
  } else if (m.type === 'job') {
    await runJob(m.files);
    port.postMessage({ type: 'done' } satisfies FromWorker);
  } else if (m.type === 'seal') {
    sealPack();
    port.postMessage({ type: 'sealed' } satisfies FromWorker);
  }
}

function sealPack(): void {
  const sealed = writer?.finish();
  if (sealed) port.postMessage({ type: 'pack', ...sealed } satisfies FromWorker);
}

function cut(buf: Buffer, start: number, end: number, eof: boolean, lens: number[], ids: Buffer[], offs: number[]): number {
  let pos = start;
  while (pos < end) {
    const n = nextCut(buf, pos, end, eof, CHUNKER_V1);
    if (n <= 0) break;
    ids.push(blake3(buf.subarray(pos, pos + n)));
    lens.push(n);
    offs.push(pos);
    pos += n;
  }
  return pos;
}

interface Pending { run: ChunkRun; offs: number[]; buf: Buffer; kind: string }

/** Sends runs; when storing, waits for the main thread's verdict and writes the new chunks. */
async function emit(pending: Pending[]): Promise<void> {
  if (pending.length === 0) return;
  const runs = pending.map((p) => p.run);
  if (!writer) { port.postMessage({ type: 'ids', runs } satisfies FromWorker); return; }
  const reply = new Promise<number[][]>((r) => (needWaiter = r));
  port.postMessage({ type: 'ids', runs } satisfies FromWorker);
  const need = await reply;
  for (let k = 0; k < pending.length; k++) {
    const p = pending[k];
    const frames: Frame[] = [];
    let cur: Frame | undefined;
    for (const c of need[k]) {
      if (!cur || cur.raw + p.run.lens[c] > FRAME_TARGET) frames.push((cur = { chunks: [], raw: 0 }));
      cur.chunks.push(c);
      cur.raw += p.run.lens[c];
    }
    // Frames compress concurrently (libuv's pool uses the other cores); they are written in order.
    for (const f of frames) {
      if (!shouldTry(p.kind)) continue;
      f.compressed = packFrame(p, f);
      f.compressed.catch(() => undefined);
    }
    for (const f of frames) {
      const data = f.compressed && (await f.compressed);
      if (f.compressed) misses.set(p.kind, data ? 0 : (misses.get(p.kind) ?? 0) + 1);
      const id = (c: number): string => Buffer.from(p.run.ids.buffer, p.run.ids.byteOffset + c * 32, 32).toString('hex');
      if (data && f.chunks.length === 1) {
        writer.add(id(f.chunks[0]), data, f.raw, FLAG_ZSTD);
      } else if (data) {
        let inner = 0;
        writer.addFrame(data, f.chunks.map((c) => {
          const m = { id: id(c), rawSize: p.run.lens[c], inner };
          inner += p.run.lens[c];
          return m;
        }));
      } else {
        for (const c of f.chunks) writer.add(id(c), p.buf.subarray(p.offs[c], p.offs[c] + p.run.lens[c]), p.run.lens[c], FLAG_RAW);
      }
      if (writer.size >= writer.target) sealPack();
    }
  }
}

const extOf = (path: string): string => {
  const base = path.slice(path.lastIndexOf('/') + 1);
  const dot = base.lastIndexOf('.');
  return dot > 0 ? base.slice(dot + 1).toLowerCase() : '';
};

async function runJob(files: { i: number; path: string }[]): Promise<void> {
  let pending: Pending[] = [];
  let used = 0;
  for (const f of files) {
    let fd: number | undefined;
    const kind = extOf(f.path);
    try {
      fd = openSync(f.path, 'r');
      const size = fstatSync(fd).size;
      if (size <= SMALL) {
        if (used + size > SLAB) { await emit(pending); pending = []; used = 0; }
        let got = 0;
        while (got < size) {
          const n = readSync(fd, slab, used + got, size - got, null);
          if (n === 0) break;
          got += n;
        }
        if (got !== size || readSync(fd, probe, 0, 1, null) !== 0) {
          throw Object.assign(new Error(`${f.path} changed while being read: run the command again`), { code: 'EAGAIN' });
        }
        const lens: number[] = [];
        const ids: Buffer[] = [];
        const offs: number[] = [];
        cut(slab, used, used + got, true, lens, ids, offs);
        pending.push({ run: { i: f.i, ids: Buffer.concat(ids), lens, eof: true, size: got }, offs, buf: slab, kind });
        used += got;
      } else {
        await emit(pending);
        pending = [];
        used = 0;
        let end = 0;
        let total = 0;
        let eof = false;
        while (!eof) {
          const n = readSync(fd, segment, end, SEGMENT - end, null);
          if (n === 0) eof = true;
          end += n;
          total += n;
          const lens: number[] = [];
          const ids: Buffer[] = [];
          const offs: number[] = [];
          const pos = cut(segment, 0, end, eof, lens, ids, offs);
          if (lens.length === 0 && !eof) continue;
          await emit([{ run: { i: f.i, ids: Buffer.concat(ids), lens, eof, size: total }, offs, buf: segment, kind }]);
          segment.copyWithin(0, pos, end);
          end -= pos;
        }
      }
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      await emit(pending);
      pending = [];
      used = 0;
      // The main thread fails the whole operation on this; it needs no answer.
      port.postMessage({ type: 'ids', runs: [{ i: f.i, ids: new Uint8Array(0), lens: [], eof: true, size: 0, error: { code: err.code, message: err.message } }] } satisfies FromWorker);
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  }
  await emit(pending);
}
