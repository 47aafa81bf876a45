/**
 * The worker threads of a fetch: the main thread downloads ranges and hands each range's chunks
 * (stored alone) to the least busy worker, which verifies them and writes them into a pack of its
 * own (fetch-worker.ts); packs come back to be sealed by the main thread, which owns the index.
 * Invariants: a range lies in a slot of the shared ring (fetch-slots.ts: the caller holds the slot
 * until the answer), or its buffer is moved to the worker, not copied, when it owns its memory
 * whole (the caller must not read it afterwards); every request gets one answer or the pool fails them
 * all (a worker that dies rejects what it held); `close()` always ends the threads. A push uses
 * the same workers to verify whole local packs before it copies them (`verifyPack`).
 */
import { promises as fsp } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { PackEntry } from '../store/pack-index.js';
import { enterDownload, leaveDownload } from './heap-headroom.js';
import type { FetchWorkerData, FromFetchWorker, RangeBytes, RangeChunk, SealedPack, ToFetchWorker } from './fetch-worker.js';
import { faultError } from '../errors.js';

export type { RangeChunk, SealedPack } from './fetch-worker.js';

type Done = Extract<FromFetchWorker, { type: 'done' }>;
/** A range's answer: the chunks that failed (index into its chunks, and why), the packs that filled up, the chunks not staged. */
export interface Written {
  bad: Done['bad'];
  sealed: SealedPack[];
  unstaged: number[];
}

interface Slot {
  worker: Worker;
  waiting: Map<number, { resolve: (d: Done) => void; reject: (e: Error) => void }>;
  /** Bytes handed over and not answered yet: the next range goes to the slot with the fewest. */
  load: number;
}

/** Worker threads for a fetch: one per core, at most 4 (the main thread's downloads are the other bound). */
export const fetchThreads = (): number => Math.max(1, Math.min(availableParallelism(), 4));

/**
 * A worker holds one range's chunk list and the chunks it is verifying: little that lives long. V8's
 * default young generation (up to 3 × 16 MiB semi-spaces) grows to fit the garbage of a fast
 * stream of small chunks, which is resident memory per worker; a small one is collected more often
 * for the same work and bounds each worker's heap.
 */
const WORKER_LIMITS = { maxYoungGenerationSizeMb: 4 };

export class FetchPool {
  private readonly slots: Slot[] = [];
  private seq = 0;
  private downloading = false;

  constructor(
    private readonly tmpDir: string,
    packTarget: number,
    threads = fetchThreads(),
    ring?: SharedArrayBuffer,
    /** The main thread downloads what this pool verifies (a fetch): the heap gets room for the socket's garbage meanwhile. */
    download = false,
  ) {
    if (download) this.startDownload();
    for (let k = 0; k < threads; k++) {
      const worker = new Worker(new URL('./fetch-worker.js', import.meta.url), {
        workerData: { tmpDir, packTarget, ring } satisfies FetchWorkerData,
        resourceLimits: WORKER_LIMITS,
      });
      const slot: Slot = { worker, waiting: new Map(), load: 0 };
      worker.on('message', (m: FromFetchWorker) => {
        const w = slot.waiting.get(m.seq);
        if (!w) return;
        slot.waiting.delete(m.seq);
        if (m.type === 'done') w.resolve(m);
        else w.reject(faultError(m));
      });
      const failAll = (e: Error): void => {
        for (const w of slot.waiting.values()) w.reject(e);
        slot.waiting.clear();
      };
      worker.on('error', failAll);
      worker.on('exit', () => failAll(new Error('a fetch worker stopped')));
      this.slots.push(slot);
    }
  }

  /** The main thread starts downloading what this pool verifies: the heap gets its headroom (heap-headroom.ts) until `close`. */
  startDownload(): void {
    if (this.downloading) return;
    enterDownload();
    this.downloading = true;
  }

  private ask(slot: Slot, m: ToFetchWorker, transfer: ArrayBuffer[] = []): Promise<Done> {
    return new Promise<Done>((resolve, reject) => {
      slot.waiting.set(m.seq, { resolve, reject });
      slot.worker.postMessage(m, transfer);
    });
  }

  /**
   * Verifies and writes the chunks of one range (and into their staged files, when they have
   * places: workspace/write-through.ts); answers which failed (index into `chunks`, and why), the
   * packs that filled up meanwhile, and which verified but could not be staged.
   */
  async write(data: Buffer, chunks: RangeChunk[]): Promise<Written> {
    // A buffer that is a view into a shared pool (small Buffers) is copied; one that owns its memory moves.
    const owns = data.byteOffset === 0 && data.byteLength === data.buffer.byteLength && !(data.buffer instanceof SharedArrayBuffer);
    const view = owns ? data : Buffer.from(data);
    return this.range({ data: view }, view.length, chunks, [view.buffer as ArrayBuffer]);
  }

  /**
   * As `write`, for a range lying in a ring of slots at byte `at` (the caller holds that slot until the
   * answer): `ring` when given (shared with the message, not copied), else the ring the pool was made with.
   */
  writeSlot(at: number, length: number, chunks: RangeChunk[], ring?: SharedArrayBuffer): Promise<Written> {
    return this.range({ slot: { at, length, ...(ring ? { ring } : {}) } }, length, chunks);
  }

  private async range(bytes: RangeBytes, length: number, chunks: RangeChunk[], transfer: ArrayBuffer[] = []) {
    const slot = this.slots.reduce((a, b) => (b.load < a.load ? b : a));
    slot.load += length;
    try {
      const r = await this.ask(slot, { type: 'range', seq: ++this.seq, chunks, ...bytes }, transfer);
      return { bad: r.bad, sealed: r.sealed, unstaged: r.unstaged ?? [] };
    } finally {
      slot.load -= length;
    }
  }

  /** Verifies every object of a local pack file in a worker: the first id that does not verify, or undefined. */
  async verifyPack(file: string, entries: PackEntry[]): Promise<string | undefined> {
    const slot = this.slots.reduce((a, b) => (b.load < a.load ? b : a));
    const size = entries.reduce((n, e) => Math.max(n, e.offset + e.length), 0);
    slot.load += size;
    try {
      return (await this.ask(slot, { type: 'verify-pack', seq: ++this.seq, file, entries })).badId;
    } finally {
      slot.load -= size;
    }
  }

  /** Ends every worker's pack: the packs to seal. */
  async finish(): Promise<SealedPack[]> {
    const all = await Promise.all(this.slots.map((s) => this.ask(s, { type: 'finish', seq: ++this.seq })));
    return all.flatMap((d) => d.sealed);
  }

  /**
   * Drops every worker's unfinished pack (after a failure). A worker gives up its O_DIRECT pack
   * once the writes in flight end, after it answered: the temp files go from here, now.
   */
  async abort(): Promise<void> {
    await Promise.allSettled(this.slots.map((s) => this.ask(s, { type: 'abort', seq: ++this.seq })));
    const mine = `wpack-${process.pid}-`;
    for (const name of await fsp.readdir(this.tmpDir).catch(() => [] as string[]))
      if (name.startsWith(mine)) await fsp.rm(join(this.tmpDir, name), { force: true });
  }

  async close(): Promise<void> {
    if (this.downloading) {
      this.downloading = false;
      leaveDownload();
    }
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}
