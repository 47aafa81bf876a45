/**
 * Hashes (and, with a store, stores) many files on all cores. Worker threads read, chunk, hash
 * and write new chunks into packs of their own; the main thread only decides which chunks are
 * new (the index plus what other workers already claimed), builds each file's manifest, and
 * records the packs the workers seal. Chunk bytes never cross threads. A file of SPLIT_MIN bytes
 * or more is cut in parts by every worker at once (core/chunker-split.ts): the pool passes each
 * part's exit on as the next part's entry and feeds the file's manifest in part order, so the
 * result is the sequential chunker's, byte for byte.
 */
import { Worker } from 'node:worker_threads';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { availableParallelism } from 'node:os';
import { blake3Hex } from '../core/hash.js';
import { ManifestBuilder } from '../core/manifest.js';
import { fsError } from '../errors.js';
import type { PackEntry } from '../store/pack-index.js';
import { PART } from '../core/chunker-split.js';
import type { ChunkRun, FilePart, FromWorker, ToWorker } from './hash-worker.js';
import type { IngestResult, ObjectSink } from './ingest.js';

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

const BATCH_FILES = 256;
const BATCH_BYTES = 16 * 1024 * 1024;
/** Files of at least this size are cut in parts of PART bytes (the last one shorter) by every worker at once. */
const SPLIT_MIN = 4 * PART;
const partCount = (size: number): number => (size >= SPLIT_MIN ? Math.ceil(size / PART) : 1);

/**
 * Hashes `files` (path and expected size, which only balances the work); resolves with one
 * result per file, in the same order. Every chunk a result names is stored when it resolves.
 */
export async function hashFiles(files: { path: string; size: number }[], opts: PoolOptions): Promise<IngestResult[]> {
  if (files.length === 0) return [];
  const sink = opts.sink;
  const extraParts = files.reduce((n, f) => n + partCount(f.size) - 1, 0);
  const threads = Math.max(1, Math.min(opts.threads ?? availableParallelism(), 8, Math.ceil(files.length / 8) + extraParts));
  const results: IngestResult[] = new Array(files.length);
  const builders = new Map<number, { builder: ManifestBuilder; nodes: { id: string; bytes: Buffer }[] }>();
  const claimed = new Set<string>();
  const emptyId = blake3Hex(Buffer.alloc(0));

  // Jobs of consecutive files (packs stay in file order), bounded in count and bytes so that a
  // few large files still spread over every worker; a large file is one job per part, in order
  // (part k waits for part k - 1's exit, which was handed out earlier, so no worker waits on a
  // part that nobody is cutting).
  let next = 0;
  let nextPart = 0;
  const nextJob = (): ToWorker | undefined => {
    if (next >= files.length) return undefined;
    const parts = partCount(files[next].size);
    if (parts > 1) {
      const k = nextPart++;
      const { path, size } = files[next];
      const part: FilePart = { i: next, path, k, start: k * PART, end: Math.min(size, (k + 1) * PART), size };
      if (nextPart === parts) {
        next++;
        nextPart = 0;
      }
      return { type: 'part', part };
    }
    const job: { i: number; path: string }[] = [];
    let bytes = 0;
    const fits = (): boolean => job.length < BATCH_FILES && (job.length === 0 || bytes + files[next].size <= BATCH_BYTES);
    while (next < files.length && partCount(files[next].size) === 1 && fits()) {
      bytes += files[next].size;
      job.push({ i: next, path: files[next].path });
      next++;
    }
    return { type: 'job', files: job };
  };

  // Parts: where each part's first chunk starts (the previous part's exit), handed to the worker
  // that asks for it; and each split file's runs put back in part order for its manifest.
  const exits = new Map<string, number>();
  const askers = new Map<string, (at: number) => void>();
  const partOrder = new Map<number, { next: number; held: Map<number, { r: ChunkRun; ids: string[] }>; chain: Promise<void> }>();
  const inOrder = (r: ChunkRun, ids: string[]): Promise<void> => {
    if (r.part === undefined) return advance(r, ids);
    let st = partOrder.get(r.i);
    if (!st) {
      st = { next: 0, held: new Map(), chain: Promise.resolve() };
      partOrder.set(r.i, st);
    }
    st.held.set(r.part, { r, ids });
    for (let x = st.held.get(st.next); x; x = st.held.get(st.next)) {
      const ready = x;
      st.held.delete(st.next++);
      st.chain = st.chain.then(() => advance(ready.r, ready.ids));
      if (ready.r.eof) partOrder.delete(r.i);
    }
    return st.chain;
  };

  /** Decides which chunks of these runs are new, and advances each file's manifest. */
  const onIds = async (runs: ChunkRun[]): Promise<number[][]> => {
    const ids = runs.map((r) => {
      if (r.error) throw fsError(Object.assign(new Error(r.error.message), { code: r.error.code }), files[r.i].path);
      const out: string[] = new Array(r.lens.length);
      for (let k = 0; k < r.lens.length; k++) out[k] = Buffer.from(r.ids.buffer, r.ids.byteOffset + k * 32, 32).toString('hex');
      return out;
    });
    const need: number[][] = runs.map(() => []);
    if (sink) {
      const flat = ids.flat();
      const have = await sink.hasMany(flat);
      let k = 0;
      for (let ri = 0; ri < runs.length; ri++) {
        for (const [c, id] of ids[ri].entries()) {
          if (!have[k++] && !claimed.has(id)) {
            claimed.add(id);
            need[ri].push(c);
          }
        }
      }
    }
    for (let ri = 0; ri < runs.length; ri++) await inOrder(runs[ri], ids[ri]);
    return need;
  };

  const advance = async (r: ChunkRun, ids: string[]): Promise<void> => {
    const n = ids.length;
    let b = builders.get(r.i);
    if (!b && r.eof && n <= 1) {
      // The whole file is one chunk (or empty): its id is the chunk id.
      const id = n === 1 ? ids[0] : emptyId;
      if (n === 0 && sink && !claimed.has(id) && !(await sink.hasMany([id]))[0]) {
        claimed.add(id);
        await sink.put(id, Buffer.alloc(0), false);
      }
      results[r.i] = { id, chunked: false, size: r.size };
      opts.onFile?.(r.size);
      return;
    }
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
      builders.set(r.i, b);
    }
    for (let k = 0; k < n; k++) b.builder.add(ids[k], r.lens[k]);
    if (!r.eof) return;
    builders.delete(r.i);
    const fin = b.builder.finish();
    if (sink && b.nodes.length > 0) {
      const have = await sink.hasMany(b.nodes.map((x) => x.id));
      for (let k = 0; k < b.nodes.length; k++) {
        if (!have[k] && !claimed.has(b.nodes[k].id)) {
          claimed.add(b.nodes[k].id);
          await sink.put(b.nodes[k].id, b.nodes[k].bytes, false);
        }
      }
    }
    results[r.i] = { ...fin, size: r.size };
    opts.onFile?.(r.size);
  };

  const workers: Worker[] = [];
  try {
    await Promise.all(
      Array.from({ length: threads }, async () => {
        const w = new Worker(new URL('./hash-worker.js', import.meta.url));
        workers.push(w);
        await new Promise<void>((resolve, reject) => {
          let chain = Promise.resolve();
          const seals: Promise<void>[] = [];
          let failed = false;
          const fail = (e: unknown): void => {
            if (!failed) {
              failed = true;
              reject(e);
            }
          };
          const post = (m: ToWorker): void => w.postMessage(m);
          // The next job is sent as soon as the worker says 'done' (a part is done once cut; its
          // hashing waits for its entry). The end is 'seal' (also without a store: the worker then
          // answers once every run is sent), chained behind every message already received.
          let inFlight = 0;
          let ending = false;
          const feed = (): void => {
            for (let job = inFlight < 1 ? nextJob() : undefined; job; job = inFlight < 1 ? nextJob() : undefined) {
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
          w.on('error', fail);
          w.on('exit', (code) => {
            if (code !== 0) fail(new Error(`hash worker exited with code ${code}`));
            else fail(new Error('hash worker stopped early'));
          });
          w.on('message', (m: FromWorker) => {
            if (m.type === 'done') {
              inFlight--;
              feed();
              return;
            }
            // Entries and exits of parts pass at once, not behind this worker's earlier messages.
            if (m.type === 'entry?' || m.type === 'exit') {
              const key = `${m.i}:${m.type === 'exit' ? m.k + 1 : m.k}`;
              if (m.type === 'entry?') {
                const at = exits.get(key);
                const { i, k } = m;
                if (at === undefined) askers.set(key, (a) => post({ type: 'entry', i, k, at: a }));
                else {
                  exits.delete(key);
                  post({ type: 'entry', i, k, at });
                }
              } else {
                const asker = askers.get(key);
                if (asker) {
                  askers.delete(key);
                  asker(m.at);
                } else exits.set(key, m.at);
              }
              return;
            }
            // Messages are handled one at a time, in order: a file's runs arrive in file order.
            chain = chain
              .then(async () => {
                if (failed) return;
                if (m.type === 'fatal') throw new Error(m.message);
                if (m.type === 'ids') {
                  const need = await onIds(m.runs);
                  if (sink) post({ type: 'need', need });
                } else if (m.type === 'pack') {
                  // Sealing (fsync, rename, index) runs beside the hashing; it is awaited at the end.
                  const seal = sink!.sealPack(m.tmp, m.size, m.entries);
                  seals.push(seal);
                  seal.catch(fail);
                } else if (m.type === 'sealed') {
                  await Promise.all(seals);
                  resolve();
                }
              })
              .catch(fail);
          });
          post(
            sink
              ? { type: 'init', store: true, tmpDir: sink.tmpDir, packTarget: sink.packTarget }
              : { type: 'init', store: false, tmpDir: '', packTarget: 0 },
          );
          feed();
        });
      }),
    );
  } catch (e) {
    await Promise.all(
      workers.map((w) => {
        w.removeAllListeners('exit');
        return w.terminate();
      }),
    );
    // Packs the workers had not finished (a full disk, a vanished file) are deleted, not left to fill the disk.
    if (sink) {
      const mine = `wpack-${process.pid}-`;
      for (const name of await fsp.readdir(sink.tmpDir).catch(() => [] as string[])) {
        if (name.startsWith(mine)) await fsp.rm(join(sink.tmpDir, name), { force: true });
      }
    }
    throw e;
  } finally {
    await Promise.all(
      workers.map((w) => {
        w.removeAllListeners('exit');
        return w.terminate();
      }),
    );
  }
  return results;
}
