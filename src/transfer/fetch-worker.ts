/**
 * Worker thread of a fetch (fetch-pool.ts): takes a downloaded range and the chunks stored alone
 * in it, verifies each (decompressed within its bound, then its length and BLAKE3 against its
 * id) and appends the good ones to a pack file of its own with synchronous I/O. A chunk that fails
 * is reported back and never written. A pack that reaches its target, and the last one when the
 * main thread says `finish`, goes back to the main thread to be sealed (fsync, rename, index):
 * the worker never touches the index. Invariant: every object in a pack it hands over verified.
 * It also verifies whole local packs before a push sends them as they are (`verify-pack`).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { blake3Hex, initHash } from '../core/hash.js';
import { decode, FLAG_RAW } from '../store/codec.js';
import type { PackEntry } from '../store/pack-index.js';
import { SyncPackWriter } from '../store/pack-writer.js';
import { firstBadEntry } from './verify-pack.js';

/** One chunk stored alone in a range: where in the range, and what it must verify to. */
export interface RangeChunk {
  id: string;
  /** Offset in the range buffer. */
  at: number;
  length: number;
  rawSize: number;
  flags: number;
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
  | { type: 'done'; seq: number; bad: { k: number; why: string }[]; sealed: SealedPack[]; badId?: string }
  | { type: 'fatal'; seq: number; message: string; code?: string };

const port = parentPort!;
const { tmpDir, packTarget, ring } = workerData as FetchWorkerData;
const writer = new SyncPackWriter(tmpDir, packTarget);
const ready = initHash();

/** Why a chunk does not verify, or undefined when it does. */
async function check(c: RangeChunk, stored: Buffer): Promise<string | undefined> {
  let raw: Buffer;
  try {
    // The zstd binding reads on its own thread: it gets a copy, never a view of the shared ring.
    raw = await decode(c.flags === FLAG_RAW ? stored : Buffer.from(stored), c.flags);
  } catch {
    return 'cannot be decompressed';
  }
  return raw.length !== c.rawSize || blake3Hex(raw) !== c.id ? 'does not match its hash' : undefined;
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
  const sealed: SealedPack[] = [];
  for (let k = 0; k < chunks.length; k++) {
    const c = chunks[k];
    const stored = buf.subarray(c.at, c.at + c.length);
    const why = await check(c, stored);
    if (why) {
      bad.push({ k, why });
      continue;
    }
    writer.add(c.id, stored, c.rawSize, c.flags);
    if (writer.size >= writer.target) {
      const done = writer.finish();
      if (done) sealed.push(done);
    }
  }
  return { type: 'done', seq, bad, sealed };
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
    if (m.type === 'abort') {
      writer.abort();
      return { type: 'done', seq: m.seq, bad: [], sealed: [] };
    }
    const done = writer.finish();
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
      const err = e as NodeJS.ErrnoException;
      port.postMessage({ type: 'fatal', seq: m.seq, message: err?.message ?? String(e), code: err?.code });
    },
  );
}
