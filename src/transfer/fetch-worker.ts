/**
 * Worker thread of a fetch (fetch-pool.ts): takes a downloaded range and the chunks stored alone
 * in it, verifies each (decompressed within its bound, then its length and BLAKE3 against its
 * id) and appends the good ones to a pack file of its own (O_DIRECT blocks, store/direct-append.ts),
 * and, in a pull, at their offsets into the staged files of the write-through (workspace/
 * write-through.ts; a chunk whose length is not its place's is not staged, and so says the answer).
 * A chunk that fails is reported back and never written. A pack that reaches its target, and the last one when the
 * main thread says `finish`, goes back to the main thread to be sealed (fsync, rename, index):
 * the worker never touches the index. Invariant: every object in a pack it hands over verified.
 * It also verifies whole local packs before a push sends them as they are (`verify-pack`).
 */
import { closeSync, constants, openSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { blake3Hex, initHash } from '../core/hash.js';
import { decode, FLAG_RAW } from '../store/codec.js';
import type { PackEntry } from '../store/pack-index.js';
import { whenDrained } from '../store/direct-append.js';
import { SyncPackWriter } from '../store/pack-writer.js';
import type { StagePlace } from '../workspace/write-through.js';
import { StagedWrites } from './stage-writes.js';
import { firstBadEntry } from './verify-pack.js';
import { type WorkerFault, workerFault } from '../errors.js';

/** One chunk stored alone in a range: where in the range, and what it must verify to. */
export interface RangeChunk {
  id: string;
  /** Offset in the range buffer. */
  at: number;
  length: number;
  rawSize: number;
  flags: number;
  /** Where else its verified bytes go: the staged files of a pull's write-through (workspace/write-through.ts). */
  to?: StagePlace[];
}
export interface FetchWorkerData {
  tmpDir: string;
  packTarget: number;
  /** The range slots the main thread downloads into (fetch-slots.ts), when it uses them. */
  ring?: SharedArrayBuffer;
}
/**
 * A range's bytes: moved with the message (`data`), or where they lie in a shared ring (`slot`): the
 * one it names (a pool outlives the rings of one batch of reads), else the one the worker was made with.
 */
export type RangeBytes = { data: Uint8Array } | { slot: { at: number; length: number; ring?: SharedArrayBuffer } };
export type ToFetchWorker =
  | ({ type: 'range'; seq: number; chunks: RangeChunk[] } & RangeBytes)
  | { type: 'verify-pack'; seq: number; file: string; entries: PackEntry[] }
  | { type: 'finish'; seq: number }
  | { type: 'abort'; seq: number };
export interface SealedPack {
  tmp: string;
  size: number;
  entries: PackEntry[];
}
export type FromFetchWorker =
  | {
      type: 'done';
      seq: number;
      bad: { k: number; why: string }[];
      sealed: SealedPack[];
      badId?: string;
      /** Chunks that verified and went into the pack but not into all their staged files. */
      unstaged?: number[];
    }
  | ({ type: 'fatal'; seq: number } & WorkerFault);

const port = parentPort!;
const { tmpDir, packTarget, ring } = workerData as FetchWorkerData;
// Packs go to the disk with O_DIRECT (store/direct-append.ts): buffered, a GB of pack cost the kernel
// 0.5–2 s of page-cache work and the sealer's fsync waited for its write-back.
const writer = new SyncPackWriter(tmpDir, packTarget, undefined, true);
const ready = initHash();

/** The chunk's raw bytes when it verifies, else why not. */
async function check(c: RangeChunk, stored: Buffer): Promise<Buffer | string> {
  let raw: Buffer;
  try {
    // The zstd binding reads on its own thread: it gets a copy, never a view of the shared ring.
    raw = await decode(c.flags === FLAG_RAW ? stored : Buffer.from(stored), c.flags);
  } catch {
    return 'cannot be decompressed';
  }
  return raw.length !== c.rawSize || blake3Hex(raw) !== c.id ? 'does not match its hash' : raw;
}

/** Staged files open for writing, oldest first (a few: a pull stages a handful of large files at a time). */
const staged = new Map<string, number>();
const MAX_STAGED_FDS = 16;
// A file of this process's own staging directory: never through a symlink.
const STAGE_OPEN = constants.O_WRONLY | constants.O_CREAT | constants.O_NOFOLLOW;

function stagedFd(path: string): number {
  let fd = staged.get(path);
  if (fd !== undefined) return fd;
  if (staged.size >= MAX_STAGED_FDS) {
    const [old, ofd] = staged.entries().next().value as [string, number];
    staged.delete(old);
    closeSync(ofd);
  }
  fd = openSync(path, STAGE_OPEN, 0o600);
  staged.set(path, fd);
  return fd;
}

function closeStaged(): void {
  for (const fd of staged.values()) closeSync(fd);
  staged.clear();
}

/** The bytes of a range message: a view of the ring or of the buffer that came with it (no copy either way). */
function bytesOf(m: RangeBytes): Buffer {
  if ('data' in m) return Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength);
  const r = m.slot.ring ?? ring;
  if (!r || m.slot.at + m.slot.length > r.byteLength) throw new Error('a range slot outside the ring');
  return Buffer.from(r, m.slot.at, m.slot.length);
}

async function range(seq: number, buf: Buffer, chunks: RangeChunk[]): Promise<FromFetchWorker> {
  await ready;
  const bad: { k: number; why: string }[] = [];
  const unstaged: number[] = [];
  const sealed: SealedPack[] = [];
  // A chunk that is not staged is still stored; its files are not used (checkout writes them from the store).
  const writes = new StagedWrites(stagedFd, (k) => unstaged.push(k));
  for (let k = 0; k < chunks.length; k++) {
    const c = chunks[k];
    const stored = buf.subarray(c.at, c.at + c.length);
    const raw = await check(c, stored);
    if (typeof raw === 'string') {
      bad.push({ k, why: raw });
      continue;
    }
    if (c.to) writes.add(k, raw, c.to);
    writer.add(c.id, stored, c.rawSize, c.flags);
    if (writer.size >= writer.target) {
      const done = await writer.finishAsync();
      if (done) sealed.push(done);
    }
  }
  writes.flush();
  // The pack's blocks waiting for the disk stay within the backlog: the answer frees the range's slot for the next download.
  await whenDrained();
  return { type: 'done', seq, bad, sealed, ...(unstaged.length > 0 ? { unstaged } : {}) };
}

/** Messages run one at a time, in order: a `finish` never overtakes a range still verifying. */
let chain: Promise<void> = Promise.resolve();

port.on('message', (m: ToFetchWorker) => {
  chain = chain.then(() => handle(m));
});

function handle(m: ToFetchWorker): Promise<void> {
  const run = async (): Promise<FromFetchWorker> => {
    if (m.type === 'range') return range(m.seq, bytesOf(m), m.chunks);
    if (m.type === 'verify-pack') {
      await ready;
      const badId = await firstBadEntry(m.file, m.entries);
      return { type: 'done', seq: m.seq, bad: [], sealed: [], ...(badId ? { badId } : {}) };
    }
    // The staged files are done with either way (the worker threads outlive their descriptors otherwise).
    closeStaged();
    if (m.type === 'abort') {
      writer.abort();
      return { type: 'done', seq: m.seq, bad: [], sealed: [] };
    }
    const done = await writer.finishAsync();
    return { type: 'done', seq: m.seq, bad: [], sealed: done ? [done] : [] };
  };
  return run().then(
    (r) => port.postMessage(r),
    (e: unknown) => {
      // A failed write leaves no half pack behind: the main thread stops the fetch.
      try {
        writer.abort();
      } catch {
        // The first error is the one to report.
      }
      port.postMessage({ type: 'fatal', seq: m.seq, ...workerFault(e, 'message') });
    },
  );
}
