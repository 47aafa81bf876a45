/**
 * Worker thread: reads files with synchronous I/O (cheap inside a worker), cuts them into
 * chunks, hashes them, and — when storing — asks the main thread which chunks are new and
 * writes those into a pack of its own. Chunk bytes never cross threads; only ids do.
 * New chunks of one file are gathered in order into frames of about FRAME_TARGET raw bytes,
 * each compressed as one zstd frame (flag 2) when that saves 10%, else stored raw.
 */
import { parentPort, threadId } from 'node:worker_threads';
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { nextCut, CHUNKER_V1 } from '../core/chunker.js';
import { WasmChunker } from '../core/chunker-wasm.js';
import { PART, scanCandidates, type CutFn } from '../core/chunker-split.js';
import { initHash, blake3 } from '../core/hash.js';
import { compressFrame, maybeCompress, FLAG_RAW, FLAG_ZSTD, FRAME_TARGET } from '../store/codec.js';
import { SyncPackWriter } from '../store/pack-writer.js';
import { directStats, whenDrained } from '../store/direct-append.js';
import type { PackEntry } from '../store/pack-index.js';
import { PART_CANDS, PART_READ, PartCutter, SLOTS, type FilePart } from './part-cutter.js';
import { type WorkerFault, workerFault } from '../errors.js';

export type { FilePart } from './part-cutter.js';

export type ToWorker =
  | { type: 'init'; store: boolean; tmpDir: string; packTarget: number; stop?: Int32Array }
  | { type: 'job'; files: { i: number; path: string }[] }
  | { type: 'part'; part: FilePart }
  | { type: 'need'; need: number[][] }
  | { type: 'seal' };

/** One file's chunks found in one read: ids (32 bytes each) and lengths; `eof` marks its last piece. */
export interface ChunkRun {
  i: number;
  ids: Uint8Array;
  lens: number[];
  eof: boolean;
  size: number;
  /** For a file cut in parts: which part (runs of parts may arrive out of order). */
  part?: number;
  error?: { code?: string; message: string };
}

export type FromWorker =
  | { type: 'ids'; runs: ChunkRun[] }
  | { type: 'pack'; tmp: string; size: number; entries: PackEntry[] }
  | { type: 'done' }
  | { type: 'sealed' }
  | ({ type: 'fatal' } & WorkerFault);

const SLAB = 4 * 1024 * 1024;
const SEGMENT = 8 * 1024 * 1024;
const SMALL = 1024 * 1024;

const port = parentPort!;
let writer: SyncPackWriter | undefined;
// Replies to 'ids' come in the order the runs were sent; two parts may be waiting for theirs.
const needWaiters: ((need: number[][]) => void)[] = [];

// Read buffers live in the WebAssembly chunker's memory, so the gear loop reads them in place;
// without WebAssembly (or with DV_CHUNKER=js, for tests and benchmarks) the JS reference runs.
const wasm = process.env.DV_CHUNKER === 'js' ? undefined : WasmChunker.create(SLAB + SEGMENT + SLOTS * (PART_READ + PART_CANDS * 4 + 16));
const alloc = (n: number): Buffer => (wasm ? wasm.alloc(n) : Buffer.allocUnsafe(n));
const slab = alloc(SLAB);
const segment = alloc(SEGMENT);
const probe = Buffer.allocUnsafe(1);
const seqCut: CutFn = wasm ? (b, s, e, eof, p) => wasm.nextCut(b, s, e, eof, p) : nextCut;
const scan = wasm ? (b: Uint8Array, lo: number, hi: number, out: Uint32Array) => wasm.scan(b, lo, hi, out) : scanCandidates;

/**
 * Compression is tried per kind of file (extension) and backs off where it does not pay: after
 * MISSES_TO_BACK_OFF frames in a row that did not compress, one frame is probed after PROBE_EVERY
 * bytes of that kind, and the gap doubles with every probe up to MAX_PROBE_GAP; a frame that
 * compresses ends the back-off. Each probe is a zstd call that maps and zeroes a context: at one
 * per 4 MiB, an add of 2 GiB of random data spent ~0.3 s of system time on them (2.92 s against
 * 2.61 s, median of six).
 */
const MISSES_TO_BACK_OFF = 8;
const PROBE_EVERY = 4 << 20;
/** At most this much of a kind goes untried: a compressible stretch after random data is found within it. */
const MAX_PROBE_GAP = 64 << 20;
/** Where one kind of file stands: frames missed in a row, bytes since the last probe, the gap to the next. */
interface KindState {
  misses: number;
  sinceProbe: number;
  gap: number;
}
const kinds = new Map<string, KindState>();
const kindOf = (kind: string): KindState => {
  const k = kinds.get(kind) ?? { misses: 0, sinceProbe: 0, gap: PROBE_EVERY };
  kinds.set(kind, k);
  return k;
};
const missesOf = (kind: string): number => kinds.get(kind)?.misses ?? 0;
/** Probes after back-off so far (DV_POOL_STATS; test/workspace/compress-backoff.test.ts). */
let probes = 0;
/** Counts one answer of a try: a frame that compressed ends the kind's run of misses and its back-off. */
function answered(kind: string, compressed: boolean): void {
  const k = kindOf(kind);
  k.misses = compressed ? 0 : k.misses + 1;
  if (compressed) k.gap = PROBE_EVERY;
}
function shouldTry(kind: string, bytes: number): boolean {
  const k = kindOf(kind);
  if (k.misses < MISSES_TO_BACK_OFF) return true;
  k.sinceProbe += bytes;
  if (k.sinceProbe < k.gap) return false;
  k.sinceProbe = 0;
  k.gap = Math.min(2 * k.gap, MAX_PROBE_GAP);
  probes++;
  return true;
}

/**
 * Tries of each kind whose answer has not come: counted as possible misses, so a job of small
 * files does not start hundreds of tries (one per file) before the first answers say the kind
 * does not compress. Each call of the zstd binding makes a context of 3.5 MiB, mapped and zeroed
 * anew (cli/launch-flags.ts): 20,000 random files made ~700 calls, ~0.5 s of system time.
 */
const trying = new Map<string, Promise<void>[]>();
/** Frames tried so far (DV_POOL_STATS; test/workspace/compress-backoff.test.ts). */
let tries = 0;
function tried(kind: string, compressed: Promise<Buffer | undefined>): void {
  tries++;
  const list = trying.get(kind) ?? [];
  trying.set(kind, list);
  const answer: Promise<void> = compressed
    .then(
      (data) => answered(kind, data !== undefined),
      () => undefined,
    )
    .then(() => {
      list.splice(list.indexOf(answer), 1);
    });
  list.push(answer);
}
/** Waits while the tries under way could still make this kind back off (answers come within a frame's compression). */
async function settleTries(kind: string): Promise<void> {
  for (;;) {
    const pending = trying.get(kind) ?? [];
    const m = missesOf(kind);
    if (m >= MISSES_TO_BACK_OFF || m + pending.length < MISSES_TO_BACK_OFF) return;
    await pending[0];
  }
}

interface Frame {
  chunks: number[];
  raw: number;
}

/**
 * Writes run in order behind compressions, so chunking the next segment overlaps compressing
 * this one. Deferred writes hold copies of their bytes; at most MAX_DEFERRED are waiting.
 */
const MAX_DEFERRED = 3;
let tasks: Promise<void>[] = [];
let chain: Promise<void> = Promise.resolve();
/** Deferred writes not yet done: with none, a frame that is not compressed is written at once, without a copy. */
let deferred = 0;
function later(task: () => Promise<void>): void {
  deferred++;
  chain = chain.then(task).finally(() => {
    deferred--;
  });
  chain.catch(() => undefined);
  tasks.push(chain);
}

/**
 * Copies of large frames being compressed, reused: a fresh buffer of 1 MiB or more is a fresh
 * mapping (glibc's mmap threshold, cli/launch-flags.ts), so each 2 MiB frame cost 512 page faults
 * and a munmap; at a CSV's 90 MB per worker that was ~0.2 s of its time. A copy is handed back
 * once its frame is written (the pack writer copies what it is given); more than FRAME_COPIES_KEPT
 * are left to the collector, and so is a frame larger than FRAME_TARGET (a chunk size from a
 * repo's config). A smaller frame (one small file's) gets a copy of its own size from the heap:
 * a job of small files has hundreds in flight.
 */
const FRAME_COPIES_KEPT = MAX_DEFERRED + 2;
const POOLED_FRAME = FRAME_TARGET / 2;
const frameCopies: Buffer[] = [];
function frameCopy(parts: Buffer[], total: number): Buffer {
  if (total < POOLED_FRAME || total > FRAME_TARGET) return Buffer.concat(parts, total);
  const into = frameCopies.pop() ?? Buffer.allocUnsafeSlow(FRAME_TARGET);
  let at = 0;
  for (const p of parts) at += p.copy(into, at);
  return into.subarray(0, total);
}
function frameWritten(copy: Buffer): void {
  if (copy.buffer.byteLength === FRAME_TARGET && frameCopies.length < FRAME_COPIES_KEPT)
    frameCopies.push(Buffer.from(copy.buffer, 0, FRAME_TARGET));
}

/** Waits until every deferred write is done (before a job ends); rethrows the first failure. */
async function drain(): Promise<void> {
  const all = chain;
  tasks = [];
  await all;
}

/** Writes one frame: compressed as a frame (or alone for one chunk), else its chunks raw. */
function writeFrame(ids: string[], lens: number[], bytes: Buffer, data: Buffer | undefined): void {
  if (data && ids.length === 1) writer!.add(ids[0], data, lens[0], FLAG_ZSTD);
  else if (data) {
    let inner = 0;
    writer!.addFrame(
      data,
      ids.map((id, k) => {
        const m = { id, rawSize: lens[k], inner };
        inner += lens[k];
        return m;
      }),
    );
  } else {
    let at = 0;
    ids.forEach((id, k) => {
      writer!.add(id, bytes.subarray(at, at + lens[k]), lens[k], FLAG_RAW);
      at += lens[k];
    });
  }
  if (writer!.size >= writer!.target) sealPack();
}

let queue = Promise.resolve();
port.on('message', (m: ToWorker) => {
  if (m.type === 'need') {
    needWaiters.shift()?.(m.need);
    return;
  }
  queue = queue
    .then(() => handle(m))
    // The errno code goes along: a full disk under a worker's pack is NO_SPACE, not an unexpected error.
    .catch((e) => port.postMessage({ type: 'fatal', ...workerFault(e, 'stack') } satisfies FromWorker));
});

// DV_POOL_STATS=1: each worker prints where its time went at every seal (benchmarks/bigfile.ts).
let elu: EventLoopUtilization | undefined;
const needStats = { n: 0, ms: 0 };
function poolStats(since: EventLoopUtilization): string {
  const e = performance.eventLoopUtilization(since);
  const verdict = (needStats.ms / Math.max(1, needStats.n)).toFixed(1);
  return (
    `worker ${threadId} busy ${e.active.toFixed(0)} ms, idle ${e.idle.toFixed(0)} ms (${parts.stats()}; ` +
    `waited ${directStats.waitMs.toFixed(0)} ms for the disk ${directStats.waits} times, ${directStats.blocks} write blocks; ` +
    `${needStats.n} verdicts, ${verdict} ms from ids to verdict; ${probes} probes; ${tries} compression tries)`
  );
}

async function handle(m: ToWorker): Promise<void> {
  if (m.type === 'init') {
    if (process.env.DV_POOL_STATS) elu = performance.eventLoopUtilization();
    await initHash();
    if (m.store) writer = new SyncPackWriter(m.tmpDir, m.packTarget, m.stop, true);
  } else if (m.type === 'job') {
    await runJob(m.files);
    port.postMessage({ type: 'done' } satisfies FromWorker);
  } else if (m.type === 'part') {
    await parts.run(m.part);
    port.postMessage({ type: 'done' } satisfies FromWorker);
  } else if (m.type === 'seal') {
    await parts.idle();
    await writes;
    await drain();
    sealPack();
    const all = sealing;
    sealing = [];
    await Promise.all(all);
    if (elu) process.stderr.write(`dv pool stats: ${poolStats(elu)}\n`);
    port.postMessage({ type: 'sealed' } satisfies FromWorker);
  }
}

/** Packs being finished (their last writes in flight); each is handed to the main thread once written. */
let sealing: Promise<void>[] = [];
function sealPack(): void {
  if (!writer) return;
  const done = writer.finishAsync().then((sealed) => {
    if (sealed) port.postMessage({ type: 'pack', ...sealed } satisfies FromWorker);
  });
  done.catch(() => undefined);
  sealing.push(done);
}

function cut(buf: Buffer, start: number, end: number, eof: boolean, lens: number[], ids: Buffer[], offs: number[]): number {
  let pos = start;
  while (pos < end) {
    const n = seqCut(buf, pos, end, eof, CHUNKER_V1);
    if (n <= 0) break;
    ids.push(blake3(buf.subarray(pos, pos + n)));
    lens.push(n);
    offs.push(pos);
    pos += n;
  }
  return pos;
}

interface Pending {
  run: ChunkRun;
  offs: number[];
  buf: Buffer;
  kind: string;
}

/**
 * The chunk writes of every run sent so far, in the order the runs were sent (verdicts come in
 * that order too); rejected from the first failure on, which `seal` then reports.
 */
let writes: Promise<void> = Promise.resolve();

/**
 * Sends runs; when storing, the returned promise resolves once the main thread's verdict came
 * and the new chunks are written: until then the runs' buffer must stay as it is. It is not
 * awaited by a job of small files (the slab's other half takes the next files meanwhile).
 */
function emit(pending: Pending[]): Promise<void> {
  if (pending.length === 0) return Promise.resolve();
  const runs = pending.map((p) => p.run);
  if (!writer) {
    port.postMessage({ type: 'ids', runs } satisfies FromWorker);
    return Promise.resolve();
  }
  const reply = new Promise<number[][]>((r) => needWaiters.push(r));
  port.postMessage({ type: 'ids', runs } satisfies FromWorker);
  const t0 = performance.now();
  const timed = reply.then((need) => {
    needStats.n++;
    needStats.ms += performance.now() - t0;
    return need;
  });
  const done = writes.then(async () => writeNew(pending, await timed));
  done.catch(() => undefined);
  writes = done;
  return done;
}

/**
 * A part of a large file (part-cutter.ts) lets two parts' bytes queue for the disk, not the usual
 * BACKLOG: its new chunks are then copied into write blocks at once and its buffer goes back to
 * the cutter, which cuts the next part while the disk writes this one. With BACKLOG the worker sat
 * waiting for the disk between every part (1.6 s per worker of an 8 GiB add); this costs at most
 * 12 MiB more of blocks per worker, and only while a large file is being added.
 */
const PART_BACKLOG = 2 * PART;

/** Writes the chunks of `pending` the main thread found new (`need`: their indexes per run). */
async function writeNew(pending: Pending[], need: number[][]): Promise<void> {
  for (let k = 0; k < pending.length; k++) {
    const p = pending[k];
    const backlog = p.run.part === undefined ? undefined : PART_BACKLOG;
    const frames: Frame[] = [];
    let cur: Frame | undefined;
    for (const c of need[k]) {
      if (!cur || cur.raw + p.run.lens[c] > FRAME_TARGET) {
        cur = { chunks: [], raw: 0 };
        frames.push(cur);
      }
      cur.chunks.push(c);
      cur.raw += p.run.lens[c];
    }
    const slice = (c: number): Buffer => p.buf.subarray(p.offs[c], p.offs[c] + p.run.lens[c]);
    const idOf = (c: number): string => Buffer.from(p.run.ids.buffer, p.run.ids.byteOffset + c * 32, 32).toString('hex');
    for (const f of frames) {
      const ids = f.chunks.map(idOf);
      const lens = f.chunks.map((c) => p.run.lens[c]);
      await settleTries(p.kind);
      let tryIt = shouldTry(p.kind, f.raw);
      // Where this kind of file missed lately, a frame's first chunk is tried alone first: random
      // data then costs a 64 KiB probe, not a whole frame.
      if (
        tryIt &&
        missesOf(p.kind) > 0 &&
        f.chunks.length > 1 &&
        (await maybeCompress(Buffer.from(slice(f.chunks[0])))).flags === FLAG_RAW
      ) {
        answered(p.kind, false);
        tryIt = false;
      }
      if (!tryIt && deferred === 0) {
        for (const [j, c] of f.chunks.entries()) {
          // The disk sets the pace: wait (without blocking the thread) while this thread's writes queue up.
          const drained = whenDrained(backlog);
          if (drained) await drained;
          writer!.add(ids[j], slice(c), lens[j], FLAG_RAW);
        }
        if (writer!.size >= writer!.target) sealPack();
        continue;
      }
      // A copy: the read buffer is reused for the next segment while this one compresses.
      const bytes = frameCopy(f.chunks.map(slice), f.raw);
      const compressed = !tryIt
        ? Promise.resolve(undefined)
        : f.chunks.length === 1
          ? maybeCompress(bytes).then((z) => (z.flags === FLAG_RAW ? undefined : z.data))
          : compressFrame(bytes);
      compressed.catch(() => undefined);
      if (tryIt) tried(p.kind, compressed);
      later(async () => {
        const data = await compressed;
        await whenDrained(backlog);
        writeFrame(ids, lens, bytes, data);
        frameWritten(bytes);
      });
    }
  }
  while (tasks.length > MAX_DEFERRED) await tasks.shift();
}

/**
 * The slab in two halves for jobs of small files: one half is read and cut while the chunks in
 * the other wait for the main thread's verdict (`emit`), so a worker does not idle for every
 * round trip. A half is reused once its chunks are written (`halfBusy`). Files of up to SMALL
 * bytes fit a half.
 */
const HALF = SLAB / 2;
const halves = [slab.subarray(0, HALF), slab.subarray(HALF)];
const halfBusy: Promise<void>[] = [Promise.resolve(), Promise.resolve()];
let half = 0;

/** Sends `pending` (read into the current half) without waiting for the verdict, and moves on to the other half. */
function handOff(pending: Pending[]): void {
  if (pending.length === 0) return;
  halfBusy[half] = emit(pending);
  half ^= 1;
}

const extOf = (path: string): string => {
  const base = path.slice(path.lastIndexOf('/') + 1);
  const dot = base.lastIndexOf('.');
  return dot > 0 ? base.slice(dot + 1).toLowerCase() : '';
};

async function runJob(files: { i: number; path: string }[]): Promise<void> {
  let pending: Pending[] = [];
  let used = 0;
  let buf = halves[half];
  await halfBusy[half];
  /** Hands the current half off and waits until the other one is free. */
  const nextHalf = async (): Promise<void> => {
    handOff(pending);
    pending = [];
    used = 0;
    buf = halves[half];
    await halfBusy[half];
  };
  for (const f of files) {
    let fd: number | undefined;
    const kind = extOf(f.path);
    try {
      fd = openSync(f.path, 'r');
      const size = fstatSync(fd).size;
      if (size <= SMALL) {
        if (used + size > HALF) await nextHalf();
        let got = 0;
        while (got < size) {
          const n = readSync(fd, buf, used + got, size - got, null);
          if (n === 0) break;
          got += n;
        }
        if (got !== size || readSync(fd, probe, 0, 1, null) !== 0) {
          throw Object.assign(new Error(`${f.path} changed while being read: run the command again`), { code: 'EAGAIN' });
        }
        const lens: number[] = [];
        const ids: Buffer[] = [];
        const offs: number[] = [];
        cut(buf, used, used + got, true, lens, ids, offs);
        pending.push({ run: { i: f.i, ids: Buffer.concat(ids), lens, eof: true, size: got }, offs, buf, kind });
        used += got;
      } else {
        if (pending.length > 0) await nextHalf();
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
      if (pending.length > 0) await nextHalf();
      // The main thread fails the whole operation on this; it needs no answer.
      port.postMessage({
        type: 'ids',
        runs: [{ i: f.i, ids: new Uint8Array(0), lens: [], eof: true, size: 0, error: { code: err.code, message: err.message } }],
      } satisfies FromWorker);
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  }
  // The job is done once its runs are sent: the next job fills the other half meanwhile.
  handOff(pending);
  await drain();
}

// The large-file path: parts of one file cut by every worker at once (part-cutter.ts).
const parts = new PartCutter({
  alloc,
  seqCut,
  scan,
  hash: blake3,
  emit,
  kindOf: extOf,
  // The main thread fails the whole operation on this; it needs no answer.
  fail: (i, k, err) =>
    port.postMessage({
      type: 'ids',
      runs: [{ i, part: k, ids: new Uint8Array(0), lens: [], eof: true, size: 0, error: { code: err.code, message: err.message } }],
    } satisfies FromWorker),
});
