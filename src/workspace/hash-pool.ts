/**
 * Hashes (and, with a store, stores) many files on all cores. Worker threads read, chunk, hash
 * and write new chunks into packs of their own; the main thread only decides which chunks are
 * new (the index plus what other workers already claimed), builds each file's manifest, and
 * records the packs the workers seal. Chunk bytes never cross threads. A file of SPLIT_MIN bytes
 * or more is cut in parts by every worker at once (core/chunker-split.ts): the workers pass each
 * part's exit on as the next part's entry through shared memory (part-cutter.ts), and the pool
 * feeds the file's manifest in part order, so the result is the sequential chunker's, byte for byte.
 */
import { Worker } from 'node:worker_threads';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { blake3Hex } from '../core/hash.js';
import { ManifestBuilder } from '../core/manifest.js';
import { faultError, fsError } from '../errors.js';
import type { PackEntry } from '../store/pack-index.js';
import { PART } from '../core/chunker-split.js';
import type { ChunkRun, FilePart, FromWorker, ToWorker } from './hash-worker.js';
import type { IngestResult, ObjectSink } from './ingest.js';
import { newWriteControl, releaseWriteControl, type WriteControl } from './write-temp.js';

/** A store the workers can write packs into. */
export interface PackSink extends ObjectSink {
  readonly tmpDir: string;
  readonly packTarget: number;
  /** Makes a pack a worker finished (a temp file) durable, visible and indexed. */
  sealPack(tmp: string, size: number, entries: PackEntry[]): Promise<void>;
}

export interface PoolOptions {
  sink: PackSink | null;
  threads?: number;
  onFile?: (bytes: number) => void;
}

/**
 * A worker keeps little alive (a few MB: its code, one job's runs), so its young generation is
 * kept small: V8's default (a 16 MB semi-space) let each worker's heap sit near 43 MB, 16 MB with
 * this (scavenges of a few short-lived buffers cost next to nothing). Pinned by hash-pool-limits.test.ts.
 */
export const WORKER_LIMITS = { maxYoungGenerationSizeMb: 6 } as const;

const BATCH_FILES = 256;
const BATCH_BYTES = 16 * 1024 * 1024;
/** Files of at least this size are cut in parts of PART bytes (the last one shorter) by every worker at once. */
const SPLIT_MIN = 4 * PART;
const partCount = (size: number): number => (size >= SPLIT_MIN ? Math.ceil(size / PART) : 1);

type FileRef = { path: string; size: number };

/** Owns handing out work: runs of consecutive small files (packs stay in file order), or one part of a large file. */
class JobQueue {
  private next = 0;
  private nextPart = 0;
  private exits: SharedArrayBuffer | undefined;
  constructor(private readonly files: FileRef[]) {}

  // Jobs are bounded in count and bytes so that a few large files still spread over every worker;
  // a large file is one job per part, in order (part k waits for part k - 1's exit, which was handed
  // out earlier, so no worker waits on a part that nobody is cutting).
  take(): ToWorker | undefined {
    const files = this.files;
    if (this.next >= files.length) return undefined;
    const parts = partCount(files[this.next].size);
    if (parts > 1) {
      const k = this.nextPart++;
      const { path, size } = files[this.next];
      // One exit slot per part, shared by the workers that cut them (part-cutter.ts).
      if (k === 0) this.exits = new SharedArrayBuffer(parts * 8);
      const part: FilePart = { i: this.next, path, k, start: k * PART, end: Math.min(size, (k + 1) * PART), size, exits: this.exits! };
      if (this.nextPart === parts) {
        this.next++;
        this.nextPart = 0;
      }
      return { type: 'part', part };
    }
    const job: { i: number; path: string }[] = [];
    let bytes = 0;
    const fits = (): boolean => job.length < BATCH_FILES && (job.length === 0 || bytes + files[this.next].size <= BATCH_BYTES);
    while (this.next < files.length && partCount(files[this.next].size) === 1 && fits()) {
      bytes += files[this.next].size;
      job.push({ i: this.next, path: files[this.next].path });
      this.next++;
    }
    return { type: 'job', files: job };
  }
}

type Builder = { builder: ManifestBuilder; nodes: { id: string; bytes: Buffer }[] };
/** Finished manifest nodes of one file held before they are stored (~10 KB each). */
const NODES_HELD = 16;
type PartState = { next: number; held: Map<number, { r: ChunkRun; ids: string[] }>; chain: Promise<void> };

/** Owns the main thread's side of the result: which chunks are new (claimed), each file's manifest, fed in part order. */
class ManifestAssembler {
  readonly results: IngestResult[];
  private readonly builders = new Map<number, Builder>();
  /**
   * Ids this run stores that the index cannot vouch for yet: chunks in packs not sealed, objects
   * put from here. A sealed pack's chunks leave it (`stored`), so it stays the size of the packs
   * being written, not of the file: a 100 GB file is some 1.6 M chunks, ~160 MB as a Set.
   */
  private readonly claimed = new Set<string>();
  /** Index lookups under way, and the chunks of sealed packs waiting for none to be (`release`). */
  private lookups = 0;
  private toRelease: string[][] = [];
  /** Most ids claimed at once in this run (DV_POOL_STATS; test/workspace/hash-pool-claims.test.ts). */
  mostClaimed = 0;
  private readonly partOrder = new Map<number, PartState>();
  /** Parts' manifest feeding not yet done (a rejected one stays, and fails `fed`). */
  private readonly feeds = new Set<Promise<void>>();
  private readonly emptyId = blake3Hex(Buffer.alloc(0));

  constructor(
    private readonly files: FileRef[],
    private readonly sink: PackSink | null,
    private readonly onFile: ((bytes: number) => void) | undefined,
  ) {
    this.results = new Array(files.length);
  }

  /** Decides which chunks of these runs are new, and advances each file's manifest. */
  async onIds(runs: ChunkRun[]): Promise<number[][]> {
    const ids = runs.map((r) => {
      if (r.error) throw fsError(Object.assign(new Error(r.error.message), { code: r.error.code }), this.files[r.i].path);
      const out: string[] = new Array(r.lens.length);
      for (let k = 0; k < r.lens.length; k++) out[k] = Buffer.from(r.ids.buffer, r.ids.byteOffset + k * 32, 32).toString('hex');
      return out;
    });
    const need: number[][] = runs.map(() => []);
    if (this.sink) {
      this.lookups++;
      try {
        const have = await this.sink.hasMany(ids.flat());
        let k = 0;
        for (let ri = 0; ri < runs.length; ri++) {
          for (const [c, id] of ids[ri].entries()) {
            if (!have[k++] && !this.claimed.has(id)) {
              this.claimed.add(id);
              need[ri].push(c);
            }
          }
        }
      } finally {
        this.lookups--;
      }
      this.release();
    }
    for (let ri = 0; ri < runs.length; ri++) {
      // A part's verdict does not wait for the earlier parts (another worker's) to reach the
      // manifest: its buffer goes back to the cutter sooner. `fed` waits for them at the end.
      if (runs[ri].part === undefined) await this.inOrder(runs[ri], ids[ri]);
      else this.feeding(this.inOrder(runs[ri], ids[ri]));
    }
    return need;
  }

  /** A pack of this run's chunks is sealed and indexed: the index answers for them from now on. */
  stored(entries: PackEntry[]): void {
    this.toRelease.push(entries.map((e) => e.id));
    this.release();
  }

  /**
   * Lets go of the chunks of sealed packs, only while no lookup is under way: one that asked the
   * index before a pack was recorded may answer that its chunks are absent, and must then still
   * find them claimed, or they would be stored twice.
   */
  private release(): void {
    this.mostClaimed = Math.max(this.mostClaimed, this.claimed.size);
    if (this.lookups > 0 || this.toRelease.length === 0) return;
    for (const ids of this.toRelease) for (const id of ids) this.claimed.delete(id);
    this.toRelease = [];
  }

  private feeding(p: Promise<void>): void {
    this.feeds.add(p);
    p.then(
      () => this.feeds.delete(p),
      () => undefined,
    );
  }

  /** Every run handed to `onIds` is in its file's manifest (rejects with the first failure). */
  async fed(): Promise<void> {
    while (this.feeds.size > 0) await Promise.all([...this.feeds]);
  }

  // A split file's runs are put back in part order before they reach its manifest.
  private inOrder(r: ChunkRun, ids: string[]): Promise<void> {
    if (r.part === undefined) return this.advance(r, ids);
    let st = this.partOrder.get(r.i);
    if (!st) {
      st = { next: 0, held: new Map(), chain: Promise.resolve() };
      this.partOrder.set(r.i, st);
    }
    st.held.set(r.part, { r, ids });
    for (let x = st.held.get(st.next); x; x = st.held.get(st.next)) {
      const ready = x;
      st.held.delete(st.next++);
      st.chain = st.chain.then(() => this.advance(ready.r, ready.ids));
      if (ready.r.eof) this.partOrder.delete(r.i);
    }
    return st.chain;
  }

  private async advance(r: ChunkRun, ids: string[]): Promise<void> {
    const n = ids.length;
    let b = this.builders.get(r.i);
    if (!b && r.eof && n <= 1) return this.singleChunk(r, n === 1 ? ids[0] : this.emptyId, n === 0);
    if (!b) {
      const nodes: { id: string; bytes: Buffer }[] = [];
      b = {
        builder: new ManifestBuilder((bytes) => {
          const id = blake3Hex(bytes);
          nodes.push({ id, bytes });
          return id;
        }),
        nodes,
      };
      this.builders.set(r.i, b);
    }
    for (let k = 0; k < n; k++) b.builder.add(ids[k], r.lens[k]);
    // A large file's finished nodes go to the store as they come, not all at its end: a 100 GB
    // file makes ~6,000 of ~10 KB. (Stored before the file's last chunks, as at its end before.)
    if (b.nodes.length >= NODES_HELD) await this.putNew(b.nodes.splice(0));
    if (!r.eof) return;
    this.builders.delete(r.i);
    const fin = b.builder.finish();
    await this.putNew(b.nodes);
    this.results[r.i] = { ...fin, size: r.size };
    this.onFile?.(r.size);
  }

  // The whole file is one chunk (or empty): its id is the chunk id.
  private async singleChunk(r: ChunkRun, id: string, empty: boolean): Promise<void> {
    if (empty && this.sink && !this.claimed.has(id) && !(await this.sink.hasMany([id]))[0]) {
      this.claimed.add(id);
      await this.sink.put(id, Buffer.alloc(0), false);
    }
    this.results[r.i] = { id, chunked: false, size: r.size };
    this.onFile?.(r.size);
  }

  // A finished manifest's nodes are stored from the main thread (they are small), unless stored or claimed.
  private async putNew(nodes: { id: string; bytes: Buffer }[]): Promise<void> {
    if (!this.sink || nodes.length === 0) return;
    const have = await this.sink.hasMany(nodes.map((x) => x.id));
    for (let k = 0; k < nodes.length; k++) {
      if (!have[k] && !this.claimed.has(nodes[k].id)) {
        this.claimed.add(nodes[k].id);
        await this.sink.put(nodes[k].id, nodes[k].bytes, false);
      }
    }
  }
}

interface PoolState {
  jobs: JobQueue;
  assembler: ManifestAssembler;
  sink: PackSink | null;
}

/** A worker of the pool: it lives across runs; `fail` is the current run's, `dead` why it stopped between runs. */
interface PoolWorker {
  w: Worker;
  fail?: (e: unknown) => void;
  dead?: Error;
}

/**
 * Owns one worker's conversation in one run: feeds it jobs, handles its
 * messages in order; resolves once it sealed, and then leaves the worker idle for the next run.
 */
function driveWorker(pw: PoolWorker, pool: PoolState): Promise<void> {
  const { w } = pw;
  const { jobs } = pool;
  return new Promise<void>((resolve, reject) => {
    let chain = Promise.resolve();
    const seals: Promise<void>[] = [];
    let failed = false;
    const done = (): void => {
      w.off('message', onMessage);
      pw.fail = undefined;
    };
    const fail = (e: unknown): void => {
      if (!failed) {
        failed = true;
        done();
        reject(e);
      }
    };
    if (pw.dead) return fail(pw.dead);
    pw.fail = fail;
    const post = (m: ToWorker): void => w.postMessage(m);
    // The next job is sent as soon as the worker says 'done' (a part is done once cut; its
    // hashing waits for its entry). The end is 'seal' (also without a store: the worker then
    // answers once every run is sent), chained behind every message already received.
    let inFlight = 0;
    let ending = false;
    const feed = (): void => {
      for (let job = inFlight < 1 ? jobs.take() : undefined; job; job = inFlight < 1 ? jobs.take() : undefined) {
        inFlight++;
        post(job);
      }
      if (inFlight > 0 || ending) return;
      ending = true;
      chain = chain
        .then(() => {
          if (failed) return;
          post({ type: 'seal' });
        })
        .catch(fail);
    };
    function onMessage(m: FromWorker): void {
      if (m.type === 'done') {
        inFlight--;
        feed();
        return;
      }
      // Messages are handled one at a time, in order: a file's runs arrive in file order.
      chain = chain
        .then(async () => {
          if (failed) return;
          if (await handleInOrder(m, pool, post, seals, fail)) {
            done();
            resolve();
          }
        })
        .catch(fail);
    }
    w.on('message', onMessage);
    feed();
  });
}

/** Owns the ordered messages of a worker (runs of ids, packs to seal, the end); true once the worker sealed. */
async function handleInOrder(
  m: FromWorker,
  pool: PoolState,
  post: (m: ToWorker) => void,
  seals: Promise<void>[],
  fail: (e: unknown) => void,
): Promise<boolean> {
  // A worker writes only its packs, in the store's temp directory: that is the file a write failure names.
  if (m.type === 'fatal') throw fsError(faultError(m), pool.sink?.tmpDir ?? '');
  if (m.type === 'ids') {
    const need = await pool.assembler.onIds(m.runs);
    if (pool.sink) post({ type: 'need', need });
  } else if (m.type === 'pack') {
    // Sealing (fsync, rename, index) runs beside the hashing; it is awaited at the end.
    const seal = pool.sink!.sealPack(m.tmp, m.size, m.entries).then(() => pool.assembler.stored(m.entries));
    seals.push(seal);
    seal.catch(fail);
  } else if (m.type === 'sealed') {
    await Promise.all(seals);
    return true;
  }
  return false;
}

/** Owns stopping the workers (their exit no longer counts as a failure). */
function stopAll(workers: PoolWorker[]): Promise<number[]> {
  return Promise.all(
    workers.map(({ w }) => {
      w.removeAllListeners('exit');
      return w.terminate();
    }),
  );
}

/** Owns the cleanup after a failure: packs the workers had not finished are deleted, not left to fill the disk. */
async function removeUnfinishedPacks(sink: PackSink): Promise<void> {
  const mine = `wpack-${process.pid}-`;
  for (const name of await fsp.readdir(sink.tmpDir).catch(() => [] as string[])) {
    if (name.startsWith(mine)) await fsp.rm(join(sink.tmpDir, name), { force: true });
  }
}

/**
 * One pool of hashing workers for a whole command: started at the first run (about 0.1 s of CPU
 * per worker to load the chunker and BLAKE3), kept idle between runs, stopped by `close`. Each run
 * ends with every worker's pack sealed (so a run's chunks are in the store when it resolves);
 * after a failed run the workers are stopped and the next run starts fresh ones.
 */
export class HashPool {
  private workers: PoolWorker[] = [];
  /** Ctrl-C stops the workers from opening new temp packs (write-temp.ts); one for the pool's life. */
  private stop: WriteControl | undefined;

  constructor(
    private readonly sink: PackSink | null,
    private readonly maxThreads?: number,
  ) {}

  /**
   * Hashes `files` (path and expected size, which only balances the work); resolves with one
   * result per file, in the same order. Every chunk a result names is stored when it resolves.
   */
  async hash(files: FileRef[], onFile?: (bytes: number) => void): Promise<IngestResult[]> {
    if (files.length === 0) return [];
    const sink = this.sink;
    const extraParts = files.reduce((n, f) => n + partCount(f.size) - 1, 0);
    const threads = Math.max(1, Math.min(this.maxThreads ?? availableParallelism(), 8, Math.ceil(files.length / 8) + extraParts));
    while (this.workers.length < threads) this.workers.push(this.start());
    const assembler = new ManifestAssembler(files, sink, onFile);
    const pool: PoolState = { jobs: new JobQueue(files), assembler, sink };
    const elu = process.env.DV_POOL_STATS ? performance.eventLoopUtilization() : undefined;
    try {
      await Promise.all(this.workers.slice(0, threads).map((pw) => driveWorker(pw, pool)));
      await assembler.fed();
      if (elu) {
        const e = performance.eventLoopUtilization(elu);
        process.stderr.write(
          `dv pool stats: main thread busy ${e.active.toFixed(0)} ms, idle ${e.idle.toFixed(0)} ms, at most ${assembler.mostClaimed} ids claimed\n`,
        );
      }
    } catch (e) {
      await this.close();
      // Packs the workers had not finished (a full disk, a vanished file) are deleted, not left to fill the disk.
      if (sink) await removeUnfinishedPacks(sink);
      throw e;
    }
    return assembler.results;
  }

  /** Stops the workers; the pool may run again (with new ones). */
  async close(): Promise<void> {
    const all = this.workers;
    this.workers = [];
    await stopAll(all);
    if (this.stop) releaseWriteControl(this.stop);
    this.stop = undefined;
  }

  private start(): PoolWorker {
    const w = new Worker(new URL('./hash-worker.js', import.meta.url), { resourceLimits: WORKER_LIMITS });
    const pw: PoolWorker = { w };
    // Listeners for the worker's whole life: a worker that dies between runs fails the next one at once.
    const die = (e: Error): void => {
      pw.dead ??= e;
      pw.fail?.(e);
    };
    w.on('error', die);
    w.on('exit', (code) => die(new Error(code !== 0 ? `hash worker exited with code ${code}` : 'hash worker stopped early')));
    const sink = this.sink;
    if (sink) this.stop ??= newWriteControl();
    w.postMessage(
      (sink
        ? { type: 'init', store: true, tmpDir: sink.tmpDir, packTarget: sink.packTarget, stop: this.stop }
        : { type: 'init', store: false, tmpDir: '', packTarget: 0 }) satisfies ToWorker,
    );
    return pw;
  }
}

/** Hashes `files` with a pool of its own (started and stopped for this one run); see HashPool#hash. */
export async function hashFiles(files: FileRef[], opts: PoolOptions): Promise<IngestResult[]> {
  const pool = new HashPool(opts.sink, opts.threads);
  try {
    return await pool.hash(files, opts.onFile);
  } finally {
    await pool.close();
  }
}
