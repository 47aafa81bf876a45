/**
 * Brings objects from a remote into the local store, breadth first from root snapshots:
 * snapshots, then trees level by level, then manifests; the chunks they name are fetched in
 * batches as they are named (FETCH_BATCH; each planned while the one before downloads, one
 * downloading at a time), so what the walk holds grows with the trees and
 * manifests, never with the chunks: a chunk keeps no record, the store's index (or the workers'
 * packs not sealed yet) says whether it is here, and each naming of it is held to its real size
 * (core/declared.ts checkChunk). Missing objects are located
 * through the remote's pack indexes and read with ranged GETs that merge neighbours (up to 16 MiB,
 * at most 32 MiB in flight; where the backend streams ranges, runs of chunks stored alone of up to
 * 64 MiB, a whole pack, in one GET through fixed slots: fetch-stream.ts); every object is verified
 * by hash before it is stored, chunks in worker threads (fetch-pool.ts) so the main thread only downloads. Nothing read from the remote is trusted:
 * tree entries are validated when decoded, sizes are bounded, and every declared size (snapshot,
 * directory, file, manifest child) must match what lies below it (core/declared.ts), checked
 * before the bytes below are downloaded. A remote frame (flag 2) is read once however many of
 * its objects are wanted, decompressed within its header's bound, and kept whole when every
 * object in it verifies (else the wanted objects are stored one by one). A copy that fails to
 * verify is read again through another index listing the object, with a warning.
 */
import pLimit from 'p-limit';
import type { Backend } from '../backend/backend.js';
import { blake3Hex } from '../core/hash.js';
import { checkChunk, DeclaredLedger } from '../core/declared.js';
import { decodeManifest, MAX_MANIFEST_BYTES } from '../core/manifest.js';
import { decodeSnapshot } from '../core/snapshot.js';
import { decodeTree } from '../core/tree.js';
import { DvError } from '../errors.js';
import { decode, decodeFrame, sliceFrame, FLAG_FRAME } from '../store/codec.js';
import { MAX_FRAME_STORED } from '../store/pack-index.js';
import type { ObjectStore } from '../store/object-store.js';
import { remoteIndexKey, remotePackKey } from './layout.js';
import type { ObjectLocation } from '../store/pack-index.js';
import { frameKey, type RemoteIndex } from './remote-index.js';
import { FetchPool, fetchThreads, type RangeChunk, type SealedPack } from './fetch-pool.js';
import { RangeSlots } from './fetch-slots.js';
import { streamRange, type StreamBatch } from './fetch-stream.js';
import { ChunkWants, type Want, WantList } from './want-list.js';
import type { WriteThrough } from '../workspace/write-through.js';

export interface FetchInput {
  store: ObjectStore;
  backend: Backend;
  remote: RemoteIndex;
  roots: string[];
  /** Objects wanted as they are, without following anything they name (run records). */
  leaves?: string[];
  /** Trees, manifests and chunks to fetch with all they name, as their parents declare them (a partial fetch). */
  from?: { id: string; kind: 'tree' | 'manifest' | 'chunk'; size: number; files?: number }[];
  /** Follow snapshot parents (all history), not only the snapshots named. */
  history: boolean;
  jobs: number;
  /** Objects planned and read at once (FETCH_BATCH unless given: tests make it small). */
  batch?: number;
  /** A pull's write-through: the large files of the trees fetched are staged as their chunks arrive (workspace/write-through.ts). */
  stage?: WriteThrough;
  /** Workers started ahead for large files' chunks (startFetchWorkers): this fetch uses and closes them. */
  workers?: FetchPool;
  onProgress?: (p: FetchProgress) => void;
}

/**
 * Where a fetch is: objects and stored bytes downloaded, and of the data asked for (`total`: the
 * bytes its snapshots, or the paths of a partial fetch, declare) how much is here (`data`: chunks
 * found in the store, seen before, or downloaded), so a bar has a total before the chunks come.
 * `total` grows as snapshots are read (all history: each parent adds its own).
 */
export interface FetchProgress {
  objects: number;
  bytes: number;
  data: number;
  total: number;
}

export interface FetchStats {
  /** Damage found on the remote and worked around (bad index entries, ignored indexes). */
  warnings: string[];
  objectsFetched: number;
  bytesFetched: number;
  /** Raw bytes of the chunks downloaded (what counts towards FetchProgress.data). */
  dataFetched: number;
  requests: number;
  /** The most objects planned and read at once (bounded by FetchInput.batch). */
  largestBatch?: number;
}

const MAX_OBJECT = 64 * 1024 * 1024;
/**
 * Neighbours merge into ranges of up to 16 MiB: a large file's chunks lie in pack order, and a few
 * large GETs cost servers far less than many small ones (moto_server copies the object per ranged
 * GET; 4 MiB ranges made a 1 GiB pull from it 4× slower than rclone's whole-object GETs).
 */
const MAX_RANGE = 16 * 1024 * 1024;
const MAX_GAP = 64 * 1024;
/** Bytes of ranges downloaded and not yet stored that hold no chunk stored alone (trees, manifests, frames), across all reads in flight. */
const MAX_IN_FLIGHT = 32 * 1024 * 1024;
/**
 * Ranges holding chunks stored alone are read into this many fixed slots of MAX_RANGE bytes
 * (fetch-slots.ts), shared with the fetch workers: what bounds their memory. A slot is held from
 * the request until a worker has written its chunks, so with 3 one range is processed while two download.
 */
const RANGE_SLOTS = 3;
/**
 * Where the backend streams ranges, chunks stored alone are read with one GET per run of up to
 * 64 MiB (a whole pack: 32 MiB) through STREAMS + 2 slots of 8 MiB: fewer, larger requests for the
 * server, less memory here. A chunk larger than half a slot is read the other way. Four streams
 * (48 MiB of slots) for large chunks: s3rver spends less CPU a GiB on four GETs at once than on
 * two (it shares the machine's cores with dv), and a 4 × 256 MiB pull from it took a median of
 * 4.12 s against 4.38 (six alternating runs of each; 4.17 against 4.40 and 4.22 against 4.36 in
 * two other sets), for 19 MB more peak memory. Small chunks keep two (SMALL_STREAMS).
 */
const MAX_STREAM = 64 * 1024 * 1024;
/**
 * A level of the walk is fetched in batches of at most this many objects: what is planned and read
 * at once (units, locations, the workers' chunk lists) is bounded by the batch, not by the level,
 * whose wants can be every file of the dataset. The fetch workers and their packs outlive the batches.
 */
export const FETCH_BATCH = 8192;
/**
 * A batch of trees and manifests also stops at this many bytes as the remote's index lists them:
 * a level of a thousand directories of a thousand files each is 130 MB of trees.
 */
const STRUCTURE_BATCH_BYTES = 16 * 1024 * 1024;
const STREAM_SLOT = 8 * 1024 * 1024;
const MAX_STREAMS = 4;
const SMALL_STREAMS = 2;
/**
 * Small chunks (a fetch's first batch of chunks declares less than this on average: many small
 * files) are fetched with one worker thread, stream slots of SMALL_SLOT and no extra heap headroom
 * (fetch-pool.ts `download`), for the whole fetch: verifying a few KiB a chunk leaves a second
 * worker idle while the main thread walks, looks chunks up and reads, and ranges of small chunks
 * gain nothing from large slots. Measured on a fetch of 1 M files of 1-8 KiB: peak RSS in its
 * steady state 260-265 MB against 340-370 MB with two workers, 8 MiB slots and the headroom.
 */
const SMALL_CHUNK = 64 * 1024;
const SMALL_SLOT = 2 * 1024 * 1024;

export async function fetchObjects(input: FetchInput): Promise<FetchStats> {
  const outer = input.onProgress;
  // The downloads report their own counts; this walk adds what it accounted for and the total.
  const i: FetchInput = { ...input, onProgress: outer && ((p) => outer({ ...p, data: tally.have + p.data, total: tally.total })) };
  const stats: FetchStats = {
    warnings: [...i.remote.warnings, ...i.remote.bundleWarnings],
    objectsFetched: 0,
    bytesFetched: 0,
    dataFetched: 0,
    requests: 0,
  };
  // Data accounted for without a download (chunks here already, chunks and subtrees seen before), and data asked for.
  const tally = { have: 0, total: (i.from ?? []).reduce((n, f) => n + f.size, 0) };
  const report = (): void =>
    outer?.({ objects: stats.objectsFetched, bytes: stats.bytesFetched, data: tally.have + stats.dataFetched, total: tally.total });
  // Declared sizes of trees and manifests held to account, memoised by id: the walk never expands a
  // shared subtree twice (ledger.visit). Chunks keep no record (a million files are a million chunks):
  // each naming is held to the chunk's real size when its batch is fetched (ChunkWants, flushChunks).
  const ledger = new DeclaredLedger({ files: true, chunks: false });
  // The fetch workers, kept from batch to batch so their packs fill up (sealed at the end, or when full).
  const workers: Workers = { unsealed: new Map(), ...(i.workers ? { pool: i.workers, early: true } : {}) };
  const walk: Walk = { ledger, tally, stats, workers, chunks: new ChunkWants(), flushed: 0 };
  const asked = 'the paths asked for';
  let level = new WantList();
  try {
    // Inside: a refused claim still closes the workers started ahead.
    for (const f of i.from ?? []) if (f.kind !== 'chunk') ledger.claim(f.id, f.kind, { size: f.size, files: f.files }, asked);
    for (const id of i.roots) level.push(ledger.ref(id), 'snapshot');
    for (const f of i.from ?? []) {
      if (f.kind === 'chunk') await wantChunk(i, walk, f.id, f.size, asked);
      else level.push(ledger.ref(f.id), f.kind);
    }
    for (const id of i.leaves ?? []) await wantChunk(i, walk, id, undefined, 'a leaf');
    while (level.length > 0) {
      level = await fetchLevel(i, level, walk);
      report();
    }
    await flushChunks(i, walk);
    await chunksDownloaded(walk);
    report();
    await finishWorkers(i, workers);
  } finally {
    // A failure leaves no download running behind it (its own failure is not the one to report).
    await walk.downloading?.done.catch(() => undefined);
    await closeWorkers(workers);
  }
  await i.store.flush();
  return stats;
}

/** The fetch workers of one fetch: made by the first batch that has chunks stored alone to verify. */
interface Workers {
  pool?: FetchPool;
  /** `pool` was started ahead, for large files' chunks (startFetchWorkers): replaced if the chunks turn out small. */
  early?: boolean;
  /** The range slots the last batch read into, kept for the next (fetch-slots.ts). */
  slots?: RangeSlots;
  /** The chunks are small (SMALL_CHUNK): decided by the first batch of chunks. */
  small?: boolean;
  /**
   * Chunks the workers verified into packs not sealed yet (not in the store's index), with their
   * sizes: found here, a chunk named again is not read again. Bounded by the packs open (one per
   * worker): a pack's chunks leave when it is sealed.
   */
  unsealed: Map<string, number>;
}

/** What the walk holds from level to level. */
interface Walk {
  ledger: DeclaredLedger;
  tally: { have: number; total: number };
  stats: FetchStats;
  workers: Workers;
  /** Chunks named and not fetched yet: at most a batch. */
  chunks: ChunkWants;
  /** Batches of chunks flushed so far (the first ones are smaller: chunkBatchFull). */
  flushed: number;
  /**
   * The batch of chunks downloading while the walk names the next (awaited before the next batch
   * downloads, before a level's trees and manifests are read, and at the end), and the chunks it
   * brings with their declared sizes: the next batch counts those as here.
   */
  downloading?: { done: Promise<void>; ids: Map<string, number | undefined> };
}

/** Seals the workers' last packs. */
async function finishWorkers(i: FetchInput, workers: Workers): Promise<void> {
  if (!workers.pool) return;
  const last = await workers.pool.finish();
  await Promise.all(last.map((p) => i.store.sealPack(p.tmp, p.size, p.entries)));
  workers.unsealed.clear();
}

/** Ends the worker threads (after a failure, their unfinished packs are dropped first). */
async function closeWorkers(workers: Workers): Promise<void> {
  const pool = workers.pool;
  if (!pool) return;
  workers.pool = undefined;
  try {
    await pool.abort();
  } finally {
    await pool.close();
  }
}

const batchOf = (i: FetchInput): number => Math.max(1, i.batch ?? FETCH_BATCH);

/**
 * A batch of chunks that declare SMALL_CHUNK or more on average (a large file's) holds up to this
 * many times FETCH_BATCH: one batch downloads at a time, so between two the downloads drain to the
 * last pack; what a batch plans is some 200 bytes a chunk, little beside the bytes those chunks
 * bring. Not when the caller set `batch`.
 */
const LARGE_BATCH = 4;

/**
 * The first batches of chunks are smaller (FIRST_CHUNK_BATCH, then four times as many each time up
 * to the batch): the first bytes come once a few chunks are planned (a batch of 8,192 took ~90 ms
 * of the main thread before any byte of a 1 GiB pull), and each batch is planned while the one
 * before downloads. Not smaller still: a batch downloads with at most MAX_STREAMS packs at once
 * and ends with one, so batches of a pack or two (512 and 1,024 chunks) downloaded at half speed.
 */
const FIRST_CHUNK_BATCH = 2048;

/** Whether the batch of chunks named so far is full. */
function chunkBatchFull(i: FetchInput, walk: Walk): boolean {
  const c = walk.chunks;
  if (i.batch !== undefined) return c.length >= batchOf(i);
  const large = c.declared >= c.length * SMALL_CHUNK;
  const most = FETCH_BATCH * (large ? LARGE_BATCH : 1);
  return c.length >= Math.min(most, FIRST_CHUNK_BATCH * 4 ** Math.min(walk.flushed, 8));
}

/** Waits for the batch of chunks downloading, if any (its failure is the fetch's). */
async function chunksDownloaded(walk: Walk): Promise<void> {
  const d = walk.downloading;
  if (!d) return;
  await d.done;
  if (walk.downloading === d) walk.downloading = undefined;
}

/**
 * A naming of chunk `id` with the size `by` declares: wanted in the next batch of chunks (fetched
 * when it is full). A chunk named again in the same batch is wanted once; its claims must agree.
 */
async function wantChunk(i: FetchInput, walk: Walk, id: string, size: number | undefined, by: string): Promise<void> {
  if (size !== undefined) walk.ledger.namedChunk(id, size, by);
  const c = walk.chunks;
  const k = c.add(id, size, by);
  if (k >= 0) {
    const first = c.sizes[k];
    if (first !== undefined) checkChunk(id, size, by, first, c.by[k]);
    // Fetched once: this naming's bytes are accounted for without a download.
    walk.tally.have += size ?? 0;
    return;
  }
  if (chunkBatchFull(i, walk)) await flushChunks(i, walk);
}

/**
 * Plans the batch of chunks named and starts its download once the batch before has downloaded
 * (walk.downloading; not awaited here: the walk names the next batch meanwhile). A chunk here
 * already (in the store, or in a pack the workers have not sealed yet) is held to its real size,
 * one the batch before brings to the size it declared (that download verifies it); one the remote
 * lists must have a copy of the declared size (checked before a byte is downloaded; the download
 * verifies the copy's size and hash). A chunk the batch before brings without a declared size (a
 * leaf) has no size to hold this naming to until it is here: that batch is awaited first (a
 * remote's index may list a false size, so a listed copy's size is no proof).
 */
async function flushChunks(i: FetchInput, walk: Walk): Promise<void> {
  const c = walk.chunks;
  if (c.length === 0) return;
  walk.chunks = new ChunkWants();
  walk.flushed++;
  const unsized = walk.downloading?.ids;
  if (unsized && c.ids.some((id) => unsized.has(id) && unsized.get(id) === undefined)) await chunksDownloaded(walk);
  // Read before the index: a pack sealed meanwhile leaves this list only once the index has its chunks.
  const unsealed = c.ids.map((id) => walk.workers.unsealed.get(id));
  const sizes = await i.store.sizesOf(c.ids);
  const coming = walk.downloading?.ids;
  const wants: Want[] = [];
  c.ids.forEach((id, k) => {
    const claimed = c.sizes[k];
    const size = sizes[k] ?? unsealed[k] ?? coming?.get(id);
    if (size !== undefined) {
      checkChunk(id, claimed, c.by[k], size);
      walk.tally.have += size;
      return;
    }
    // Any listed copy of the declared size will do (a bad index's copy may come first).
    const copies = i.remote.copies(id);
    if (claimed !== undefined && copies.length > 0 && !copies.some((x) => x.rawSize === claimed))
      checkChunk(id, claimed, c.by[k], copies[0].rawSize);
    wants.push({ id, kind: 'chunk', size: claimed, copies });
  });
  // One batch downloads at a time: they share the workers' ring of slots.
  await chunksDownloaded(walk);
  const done = download(i, wants, walk.stats, walk.workers);
  // Its failure is seen where it is awaited; until then it is not an unhandled rejection.
  done.catch(() => undefined);
  walk.downloading = { done, ids: new Map(wants.map((w) => [w.id, w.size])) };
}

/**
 * Fetches one level of the walk's trees, manifests and snapshots in batches of FETCH_BATCH objects
 * (each downloaded, verified and decoded before the next is planned) and answers the level below;
 * the chunks they name go to the batch of chunks.
 */
async function fetchLevel(i: FetchInput, level: WantList, walk: Walk): Promise<WantList> {
  const { ledger, tally, stats } = walk;
  const next = new WantList();
  const most = batchOf(i);
  for (let k = 0; k < level.length; ) {
    // The next `most` objects not seen before (a shared subtree: its bytes are accounted for without a walk).
    const batch: Want[] = [];
    for (let bytes = 0; k < level.length && batch.length < most && bytes < STRUCTURE_BATCH_BYTES; k++) {
      const ref = level.ref(k);
      const kind = level.kind(k);
      if (!ledger.visit(ref)) {
        if (kind !== 'snapshot') tally.have += ledger.claimed(ref) ?? 0;
        continue;
      }
      const id = ledger.id(ref);
      batch.push({ id, kind });
      bytes += i.remote.copies(id)[0]?.rawSize ?? 0;
    }
    const sizes = await i.store.sizesOf(batch.map((w) => w.id));
    const missing = batch.filter((_, k) => sizes[k] === undefined);
    // Trees and manifests are read through the same slots as chunks: after the batch downloading.
    if (missing.length > 0) await chunksDownloaded(walk);
    await download(i, missing, stats, walk.workers);
    for (const w of batch) {
      const bytes = await i.store.get(w.id).catch(async (e) => {
        // A corrupt local copy was just forgotten by the index: fetch a good one.
        if (!(e instanceof DvError && e.code === 'OBJECT_CORRUPT')) throw e;
        await chunksDownloaded(walk);
        await download(i, [w], stats, walk.workers);
        return i.store.get(w.id);
      });
      if (w.kind === 'snapshot') {
        const s = decodeSnapshot(bytes, w.id);
        ledger.claim(s.tree, 'tree', { size: s.size, files: s.files }, `snapshot ${w.id.slice(0, 12)}`);
        tally.total += s.size;
        next.push(ledger.ref(s.tree), 'tree');
        if (i.history) for (const p of s.parents) next.push(ledger.ref(p), 'snapshot');
      } else if (w.kind === 'tree') {
        const tree = decodeTree(bytes, w.id);
        ledger.tree(w.id, tree);
        const by = `tree ${w.id.slice(0, 12)}`;
        for (const e of tree.entries) {
          if (e.type === 'dir') next.push(ledger.ref(e.id), 'tree');
          if (e.type !== 'file') continue;
          // Staged before any chunk of it can arrive.
          i.stage?.file(e.id, e.size, e.chunked);
          if (e.chunked) next.push(ledger.ref(e.id), 'manifest');
          else await wantChunk(i, walk, e.id, e.size, by);
        }
      } else {
        const node = decodeManifest(bytes, w.id);
        ledger.manifest(w.id, node);
        i.stage?.manifest(w.id, node);
        const by = `file manifest ${w.id.slice(0, 12)}`;
        for (const c of node.children) {
          if (node.level > 0) next.push(ledger.ref(c.id), 'manifest');
          else await wantChunk(i, walk, c.id, c.size, by);
        }
      }
    }
  }
  return next;
}

/** What one read brings: objects, or a frame with the wanted objects in it. */
interface Unit {
  offset: number;
  length: number;
  objects: { id: string; loc: ObjectLocation }[];
  /** Raw bytes of the chunks wanted from it (trees and manifests are not data). */
  data: number;
}
interface Range {
  pack: string;
  start: number;
  end: number;
  units: Unit[];
  /** Read with one streamed GET through the stream slots (fetch-stream.ts): chunks stored alone only. */
  stream?: boolean;
}

type Tried = Map<string, Set<string>>;
/** A copy whose read went wrong: the unit it was in, the pack, and why. */
type Damage = { unit: Unit; pack: string; error: unknown };

/**
 * Owns choosing a copy to read: one another index lists, since a copy that failed to verify is not
 * read again; for a chunk of declared `size`, one of that size (the read verifies it has it).
 */
const pickCopy = (i: FetchInput, tried: Tried, w: Want): ObjectLocation | undefined => {
  const size = w.kind === 'chunk' ? w.size : undefined;
  return (w.copies ?? i.remote.copies(w.id)).find(
    (l) => (size === undefined || l.rawSize === size) && !tried.get(w.id)?.has(frameKey(l.pack, l.offset)),
  );
};

/**
 * Owns planning what to read, by pack: one unit per object stored alone, one per frame however many
 * of its objects are wanted. Refuses objects the index says are too large, and objects no index lists.
 */
function planUnits(i: FetchInput, wants: Want[], tried: Tried): Map<string, Unit[]> {
  const byPack = new Map<string, Unit[]>();
  const frames = new Map<string, Unit>();
  const absent: string[] = [];
  for (const w of wants) {
    const { id, kind } = w;
    const loc = pickCopy(i, tried, w);
    if (!loc) {
      absent.push(id);
      continue;
    }
    const most = kind === 'manifest' ? MAX_MANIFEST_BYTES : MAX_OBJECT;
    if (loc.length > (loc.flags === FLAG_FRAME ? MAX_FRAME_STORED : most) || loc.rawSize > most) {
      throw new DvError('BAD_OBJECT', `the remote index says ${kind} ${id} is ${loc.rawSize} bytes: refusing an object this large`, { id });
    }
    let list = byPack.get(loc.pack);
    if (!list) {
      list = [];
      byPack.set(loc.pack, list);
    }
    const data = kind === 'chunk' ? loc.rawSize : 0;
    if (loc.flags !== FLAG_FRAME) {
      list.push({ offset: loc.offset, length: loc.length, objects: [{ id, loc }], data });
      continue;
    }
    const key = frameKey(loc.pack, loc.offset);
    const unit = frames.get(key);
    if (unit) {
      unit.objects.push({ id, loc });
      unit.data += data;
      continue;
    }
    const fresh: Unit = { offset: loc.offset, length: loc.length, objects: [{ id, loc }], data };
    frames.set(key, fresh);
    list.push(fresh);
  }
  if (absent.length > 0) refuseAbsent(i, absent);
  return byPack;
}

/** Owns the refusal of objects no usable index lists. */
function refuseAbsent(i: FetchInput, absent: string[]): never {
  if (i.remote.warnings.length > 0) {
    // Likely listed by an index that was refused: say so rather than blame the pusher.
    throw new DvError(
      'BAD_OBJECT',
      `${absent.length} object(s) are in no usable index on ${i.backend.location} (first: ${absent[0]}), and ${i.remote.warnings.length} index(es) there were refused: ${i.remote.warnings[0]}`,
      { missing: absent.slice(0, 100), warnings: i.remote.warnings.slice(0, 10) },
    );
  }
  throw new DvError(
    'OBJECT_MISSING',
    `${absent.length} object(s) are neither here nor on ${i.backend.location} (first: ${absent[0]}): push them from the clone that has them`,
    { missing: absent.slice(0, 100) },
  );
}

/**
 * Owns merging each pack's units (sorted by offset) into ranged reads: close neighbours, bounded in
 * size; units `streamable` says yes to merge among themselves into larger streamed reads.
 */
function mergeRanges(byPack: Map<string, Unit[]>, streamable: (u: Unit) => boolean = () => false): Range[] {
  const ranges: Range[] = [];
  for (const [pack, list] of byPack) {
    list.sort((a, b) => a.offset - b.offset);
    const cur: { plain?: Range; stream?: Range } = {};
    for (const u of list) {
      const stream = streamable(u);
      const [kind, max] = stream ? (['stream', MAX_STREAM] as const) : (['plain', MAX_RANGE] as const);
      const r = cur[kind];
      const end = u.offset + u.length;
      if (r && u.offset - r.end <= MAX_GAP && end - r.start <= max && u.offset >= r.end) {
        r.end = end;
        r.units.push(u);
      } else {
        cur[kind] = { pack, start: u.offset, end, units: [u], ...(stream ? { stream } : {}) };
        ranges.push(cur[kind]!);
      }
    }
  }
  return ranges;
}

const isDamage = (e: unknown): boolean => e instanceof DvError && e.code === 'OBJECT_CORRUPT';

/** Owns bounding the bytes in flight: a read waits until its range fits (one range always may go). */
class ByteBudget {
  private used = 0;
  private waiting: (() => void)[] = [];

  constructor(private readonly max: number) {}

  async take(bytes: number): Promise<number> {
    const n = Math.min(bytes, this.max);
    while (this.used > 0 && this.used + n > this.max) await new Promise<void>((r) => this.waiting.push(r));
    this.used += n;
    return n;
  }

  give(n: number): void {
    this.used -= n;
    for (const wake of this.waiting.splice(0)) wake();
  }
}

/**
 * Owns reading ranges, `jobs` at once, and storing what verifies: chunks stored alone go to the
 * fetch pool's worker threads, which verify them and write them into packs of their own (sealed
 * here as they fill and at the end); structured objects and frames are verified here and go
 * through the store. Damaged copies are collected, any other error stops the reads.
 */
class RangeReader {
  /** The range slots' memory of this batch of reads, named in each message to the fetch's workers. */
  private ring: SharedArrayBuffer | undefined;
  private readonly seals: Promise<void>[] = [];
  private failure: unknown;
  /** Units whose copy was damaged (an index listing an object at a wrong place, or a bad pack). */
  readonly bad: Damage[] = [];

  constructor(
    private readonly i: FetchInput,
    /** The chunks wanted, with their declared sizes. */
    private readonly chunks: ReadonlyMap<string, number | undefined>,
    private readonly stats: FetchStats,
    private readonly workers: Workers,
  ) {}

  /**
   * Reads every range; throws the first failure (of a read, a worker or a seal) once all have stopped.
   * The workers' packs stay open for the next batch (fetchObjects seals the last ones, or drops them after a failure).
   */
  async readAll(ranges: Range[]): Promise<void> {
    const limit = pLimit(Math.max(1, this.i.jobs));
    const budget = new ByteBudget(MAX_IN_FLIGHT);
    const streamed = ranges.filter((r) => r.stream);
    const most = Math.min(this.workers.small ? SMALL_STREAMS : MAX_STREAMS, Math.max(1, this.i.jobs));
    const streams = Math.min(most, streamed.length);
    // The workers share one ring: the stream slots when there are streams (other ranges then move their own buffers).
    // Sized for the most streams, not this batch's: a batch of fewer ranges reuses it.
    const ring = streamed.length > 0 ? this.slotsOf(most + 2, streamSlot(this.workers)) : undefined;
    const fits = ring ? [] : ranges.filter((r) => r.end - r.start <= MAX_RANGE && this.aloneIn(r).length > 0);
    const eligible = new Set(fits);
    const slots =
      fits.length > 0 ? this.slotsOf(Math.min(RANGE_SLOTS, fits.length), Math.max(...fits.map((r) => r.end - r.start))) : undefined;
    const streamLimit = pLimit(Math.max(1, streams));
    const read = async (r: Range): Promise<void> => {
      if (ring && r.stream) return streamLimit(() => this.stream(r, ring));
      if (slots && eligible.has(r)) {
        const k = await slots.take();
        try {
          await this.read(r, { slots, k });
        } finally {
          slots.give(k);
        }
        return;
      }
      const held = await budget.take(r.end - r.start);
      try {
        await this.read(r);
      } finally {
        budget.give(held);
      }
    };
    this.ring = ring?.ring ?? slots?.ring;
    // Streams run beside the other reads, under their own limit (each holds a slot, not a place among `jobs`).
    await Promise.all(ranges.map((r) => (r.stream ? read(r) : limit(() => read(r)))));
    const sealed = await Promise.allSettled(this.seals);
    this.failure ??= sealed.find((x): x is PromiseRejectedResult => x.status === 'rejected')?.reason;
    if (this.failure) throw this.failure;
  }

  /**
   * A ring of `count` slots of at least `size` bytes: the last one made, when it is that large (every
   * slot is free between batches). A ring the workers have seen lives until both threads collect their
   * views of it, so a fresh ring per batch held a few hundred MB of them at once.
   */
  private slotsOf(count: number, size: number): RangeSlots {
    const old = this.workers.slots;
    if (old && old.count === count && old.size >= size) return old;
    this.workers.slots = new RangeSlots(count, size);
    return this.workers.slots;
  }

  /** Reads one range with a streamed GET (fetch-stream.ts); units not handed to a worker when the copy proves damaged are damage. */
  private async stream(r: Range, ring: RangeSlots): Promise<void> {
    const { i, stats } = this;
    if (this.failure) return;
    const progress = { handed: 0 };
    const process = async (b: StreamBatch): Promise<void> => {
      if (this.failure) throw this.failure;
      const alone = b.units.map(({ index, at }) => {
        const unit = r.units[index];
        const { id, loc } = unit.objects[0];
        return { unit, chunk: { id, at, length: unit.length, rawSize: loc.rawSize, flags: loc.flags } };
      });
      await this.writeAlone(r.pack, { at: ring.offset(b.k), length: b.filled }, alone);
      i.onProgress?.({ objects: stats.objectsFetched, bytes: stats.bytesFetched, data: stats.dataFetched, total: 0 });
    };
    try {
      await streamRange(
        { backend: i.backend, key: remotePackKey(r.pack), start: r.start, end: r.end, units: r.units, slots: ring, process },
        progress,
      );
      stats.requests++;
      if (progress.handed < r.units.length) throw new Error('a streamed range ended before its last object');
    } catch (e) {
      if (!isDamage(e)) {
        this.failure ??= e;
        return;
      }
      stats.requests++;
      for (const unit of r.units.slice(progress.handed)) this.bad.push({ unit, pack: r.pack, error: e });
    }
  }

  private seal(p: SealedPack): void {
    const unsealed = this.workers.unsealed;
    // Its chunks are in the store's index once sealed: found there from then on.
    const sealed = async (): Promise<void> => {
      await this.i.store.sealPack(p.tmp, p.size, p.entries);
      for (const e of p.entries) unsealed.delete(e.id);
    };
    this.seals.push(sealed());
  }

  /** The units of a range that are chunks stored alone (the workers' part). */
  private aloneIn(r: Range): Unit[] {
    return r.units.filter((u) => u.objects[0].loc.flags !== FLAG_FRAME && this.chunks.has(u.objects[0].id));
  }

  /** Reads one range, into slot `at.k` when given (held by the caller until this returns), and stores what it holds. */
  private async read(r: Range, at?: { slots: RangeSlots; k: number }): Promise<void> {
    const { i, stats } = this;
    if (this.failure) return;
    try {
      let data: Buffer;
      try {
        const length = r.end - r.start;
        data = await i.backend.getRange(remotePackKey(r.pack), r.start, length, at?.slots.view(at.k));
        // A backend (or wrapper) that ignored the slot returned its own buffer: the bytes go into the slot.
        if (at && data.buffer !== at.slots.ring) {
          const view = at.slots.view(at.k);
          view.set(data);
          data = view.subarray(0, length);
        }
      } catch (e) {
        if (!isDamage(e)) throw e;
        for (const unit of r.units) this.bad.push({ unit, pack: r.pack, error: e });
        return;
      }
      stats.requests++;
      const alone: { unit: Unit; chunk: RangeChunk }[] = [];
      for (const u of r.units) {
        if (this.failure) return;
        const { id, loc } = u.objects[0];
        if (loc.flags !== FLAG_FRAME && this.chunks.has(id)) {
          alone.push({ unit: u, chunk: { id, at: u.offset - r.start, length: u.length, rawSize: loc.rawSize, flags: loc.flags } });
          continue;
        }
        try {
          await this.storeUnit(r.pack, u, data.subarray(u.offset - r.start, u.offset - r.start + u.length));
        } catch (e) {
          if (!isDamage(e)) throw e;
          this.bad.push({ unit: u, pack: r.pack, error: e });
          continue;
        }
        this.count(u);
      }
      // Last: the range's buffer moves to a worker thread (or its slot is read there) and is not readable here afterwards.
      if (alone.length > 0 && !this.failure)
        await this.writeAlone(r.pack, at ? { at: at.slots.offset(at.k), length: data.length } : data, alone);
      // `data` of the downloads only; fetchObjects adds what it accounted for and the total.
      i.onProgress?.({ objects: stats.objectsFetched, bytes: stats.bytesFetched, data: stats.dataFetched, total: 0 });
    } catch (e) {
      this.failure ??= e;
    }
  }

  private count(u: Unit): void {
    this.stats.objectsFetched += u.objects.length;
    this.stats.bytesFetched += u.length;
    this.stats.dataFetched += u.data;
  }

  /** Chunks stored alone: verified and packed by a worker; the ones that fail are damage. */
  private async writeAlone(
    pack: string,
    data: Buffer | { at: number; length: number },
    alone: { unit: Unit; chunk: RangeChunk }[],
  ): Promise<void> {
    const pool = workerPool(this.i, this.workers);
    const stage = this.i.stage;
    const chunks = alone.map((a) => ({ ...a.chunk, to: stage?.route(a.chunk.id) }));
    const { bad, sealed, unstaged } = Buffer.isBuffer(data)
      ? await pool.write(data, chunks)
      : await pool.writeSlot(data.at, data.length, chunks, this.ring);
    for (const p of sealed) this.seal(p);
    const why = new Map(bad.map((b) => [b.k, b.why]));
    if (stage) for (const [k, c] of chunks.entries()) stage.settle(c.id, why.has(k) ? 'bad' : unstaged.includes(k) ? 'unstaged' : 'ok');
    alone.forEach(({ unit }, k) => {
      const w = why.get(k);
      if (w === undefined) {
        this.count(unit);
        this.workers.unsealed.set(unit.objects[0].id, unit.objects[0].loc.rawSize);
      } else this.bad.push({ unit, pack, error: damaged(this.i, unit.objects[0].id, pack, w) });
    });
  }

  // One unit's bytes, verified: a frame, or a structured object into the store. Copied first: the view may be of a shared slot.
  private async storeUnit(pack: string, u: Unit, view: Buffer): Promise<void> {
    const { id, loc } = u.objects[0];
    const own = Buffer.from(view);
    if (loc.flags === FLAG_FRAME) return storeFrame(this.i, pack, u, own);
    await verifyObject(this.i, pack, id, loc, own);
    await this.i.store.putStored(id, own, loc.flags, loc.rawSize);
  }
}

/**
 * Owns the second try after damaged copies: each object is marked as tried at that copy and wanted
 * again through another index that lists it (with a warning naming the wrong index), or the damage is thrown.
 */
function wantAgain(i: FetchInput, bad: Damage[], tried: Tried, chunks: ReadonlyMap<string, number | undefined>, stats: FetchStats): Want[] {
  const again: Want[] = [];
  for (const { unit, pack, error } of bad) {
    for (const { id } of unit.objects) {
      let t = tried.get(id);
      if (!t) {
        t = new Set();
        tried.set(id, t);
      }
      t.add(frameKey(pack, unit.offset));
      const w: Want = chunks.has(id) ? { id, kind: 'chunk', size: chunks.get(id) } : { id, kind: 'tree' };
      if (!pickCopy(i, tried, w)) throw error;
      again.push(w);
      const msg = `${i.backend.location}: the index of pack ${pack.slice(0, 12)} lists object ${id.slice(0, 12)} at a place that does not hold it; another copy was used (the remote needs repair: ${remoteIndexKey(pack)} is wrong)`;
      if (!stats.warnings.includes(msg)) stats.warnings.push(msg);
    }
  }
  return again;
}

/**
 * Downloads objects with merged ranged GETs and verifies each. Chunks stored alone are verified
 * and written into pack files by worker threads as their ranges arrive (fetch-pool.ts; sealed here
 * at the end, or every pack's worth), so memory holds only the ranges in flight (MAX_IN_FLIGHT);
 * structured objects, read again by the walk, and frames go through the store's buffer.
 */
async function download(i: FetchInput, wants: Want[], stats: FetchStats, workers: Workers, tried: Tried = new Map()): Promise<void> {
  if (wants.length === 0) return;
  stats.largestBatch = Math.max(stats.largestBatch ?? 0, wants.length);
  const chunks = new Map(wants.filter((w) => w.kind === 'chunk').map((w) => [w.id, w.size]));
  workers.small ??= smallChunks(chunks);
  if (workers.small === true && workers.early) await dropEarly(workers);
  const streams = i.backend.getRangeTo !== undefined;
  const alone = (u: Unit): boolean => u.objects[0].loc.flags !== FLAG_FRAME && chunks.has(u.objects[0].id);
  const slot = streamSlot(workers);
  const ranges = mergeRanges(planUnits(i, wants, tried), (u) => streams && alone(u) && u.length <= slot / 2);
  // The workers start before the first GET, not with its bytes: each spends ~0.2 s loading its
  // modules, which then overlaps the downloads instead of delaying the first range's chunks.
  if (ranges.some((r) => r.units.some(alone))) workerPool(i, workers);
  const reader = new RangeReader(i, chunks, stats, workers);
  await reader.readAll(ranges);
  if (reader.bad.length === 0) return;
  // Damaged copies: each object is tried again through another index that lists it, if any.
  await download(i, wantAgain(i, reader.bad, tried, chunks, stats), stats, workers, tried);
}

/** The fetch's workers, made once: one for small chunks, else one per core (at most 4). */
function workerPool(i: FetchInput, workers: Workers): FetchPool {
  const small = workers.small === true;
  workers.pool ??= new FetchPool(i.store.tmpDir, i.store.packTarget, small ? 1 : fetchThreads(), undefined, !small);
  if (workers.early) workers.pool.startDownload();
  return workers.pool;
}

/** The workers started ahead guessed large files wrongly: closed, so the small chunks get their own settings. */
async function dropEarly(workers: Workers): Promise<void> {
  const pool = workers.pool;
  workers.pool = undefined;
  workers.early = false;
  await pool?.close();
}

/**
 * A fetch's workers for the chunks of large files, started ahead (FetchInput.workers): each spends
 * ~0.15-0.2 s loading its modules, which then overlaps the serial start of a fetch (the remote's
 * indexes, the trees) on the idle core instead of the downloads, when both cores are busy. The
 * heap's download headroom waits for the first download (workerPool), not the indexes' reading.
 */
export const startFetchWorkers = (store: ObjectStore): FetchPool => new FetchPool(store.tmpDir, store.packTarget, fetchThreads());

/** Whether the chunks wanted declare less than SMALL_CHUNK on average (undefined: no declared chunk to tell). */
function smallChunks(chunks: ReadonlyMap<string, number | undefined>): boolean | undefined {
  let sum = 0;
  let n = 0;
  for (const size of chunks.values()) {
    if (size === undefined) continue;
    sum += size;
    n++;
  }
  return n > 0 ? sum / n < SMALL_CHUNK : undefined;
}

const streamSlot = (workers: Workers): number => (workers.small ? SMALL_SLOT : STREAM_SLOT);

const damaged = (i: FetchInput, id: string, pack: string, why: string): DvError =>
  new DvError('OBJECT_CORRUPT', `object ${id} from ${i.backend.location} ${why}: the remote copy is damaged`, { id, pack });

/** Verifies one object read from a remote (stored alone, not in a frame). */
async function verifyObject(i: FetchInput, pack: string, id: string, loc: ObjectLocation, stored: Buffer): Promise<void> {
  let raw: Buffer;
  try {
    raw = await decode(stored, loc.flags);
  } catch {
    throw damaged(i, id, pack, 'cannot be decompressed');
  }
  if (raw.length !== loc.rawSize || blake3Hex(raw) !== id) throw damaged(i, id, pack, 'does not match its hash');
}

/**
 * Decompresses a remote frame once and verifies the wanted objects. When every object of the
 * frame (as the remote's index lists them) verifies, the frame is stored whole with the ones not
 * here yet; otherwise the wanted objects are stored one by one.
 */
async function storeFrame(i: FetchInput, pack: string, u: Unit, stored: Buffer): Promise<void> {
  const frame = await decodeFrame(stored).catch(() => undefined);
  if (!frame) throw damaged(i, u.objects[0].id, pack, 'cannot be decompressed');
  const good = (m: { id: string; rawSize: number; inner: number }): Buffer | undefined => {
    const raw = sliceFrame(frame, m.inner, m.rawSize);
    return raw && blake3Hex(raw) === m.id ? raw : undefined;
  };
  const wanted = u.objects.map(({ id, loc }) => ({ id, raw: good({ id, rawSize: loc.rawSize, inner: loc.inner }) }));
  const bad = wanted.find((w) => !w.raw);
  if (bad) throw damaged(i, bad.id, pack, 'does not match its hash');
  const members = i.remote.frameMembers(pack, u.offset);
  if (members.length > 0 && members.every((m) => good(m))) {
    const here = await i.store.hasMany(members.map((m) => m.id));
    await i.store.putFrame(
      stored,
      members.filter((_, k) => !here[k]),
    );
  } else {
    for (const w of wanted) await i.store.put(w.id, w.raw!, true);
  }
}
