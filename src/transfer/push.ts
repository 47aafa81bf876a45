/**
 * Sends objects the remote lacks, packed: objects are read from the local store (verified, so
 * nothing corrupt leaves), grouped into packs (chunks in file order, then structured objects),
 * and each pack is uploaded before its index. Uploads run in parallel, bounded by `jobs`.
 * A frame (flag 2) travels whole when the remote lacks every object in it; otherwise its
 * objects travel one by one, each recompressed alone.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import pLimit from 'p-limit';
import type { Backend } from '../backend/backend.js';
import type { ObjectStore } from '../store/object-store.js';
import { IDX_ENTRY, packIndexRows, type PackEntry } from '../store/pack-index.js';
import type { IdList } from './id-table.js';
import { NO_PACK, PushPlan } from './push-plan.js';
import { FLAG_FRAME } from '../store/codec.js';
import type { ObjectLocation } from '../store/pack-index.js';
import { DvError, fsError } from '../errors.js';
import { packPaths, writePack, type PendingObject } from '../store/pack.js';
import { remoteIndexKey, remotePackKey } from './layout.js';
import type { RemoteIndex } from './remote-index.js';
import { checkRemoteCopies } from './remote-check.js';
import { noteWrites } from './written-keys.js';
import { FetchPool } from './fetch-pool.js';
import { guardPush } from './remote-gc-marks.js';
import { writeBundlesOrWarn } from './remote-bundles.js';

export const REMOTE_PACK_TARGET = 16 * 1024 * 1024;

export interface PushInput {
  store: ObjectStore;
  backend: Backend;
  remote: RemoteIndex;
  /** What to send, planned as reachability was walked (ops/push.ts); or `ids` and `meta`. */
  plan?: PushPlan;
  /** Object ids in upload order; `meta` marks structured objects (packed apart from chunks). */
  ids?: Iterable<string>;
  meta?: Set<string>;
  /** Objects the caller already found on the remote and left out of `ids`: counted as already there. */
  alreadyThere?: number;
  tmpDir: string;
  jobs: number;
  packTarget?: number;
  /**
   * Read and verify the remote's copies of `ids` first; those with no good copy are sent again in
   * a fresh pack, and indexes that list nothing rightly are removed after (dv push --repair).
   */
  repair?: boolean;
  /**
   * The thread that verifies whole local packs, started by the caller before its plan was walked
   * (`startVerifier`), so the thread's start overlaps the walk; the caller closes it. Without it,
   * one is started when whole packs are to be sent.
   */
  verifier?: FetchPool;
  onProgress?: (p: PushProgress) => void;
}

/**
 * Starts the thread that verifies whole local packs before they are copied: one verifying thread,
 * as a second one (its isolate, its allocator arena) cost ~40 MB of peak RSS at 1 M files and no
 * time there (the copies, not the hashing, bound a push of whole packs). Its start (~150 ms of
 * module loading on the other core) is worth beginning before a push's plan is walked.
 */
export const startVerifier = (tmpDir: string): FetchPool => new FetchPool(tmpDir, REMOTE_PACK_TARGET, 1);

export interface PushProgress {
  objects: number;
  bytes: number;
  totalObjects: number;
  totalBytes: number;
}

export interface PushStats {
  objectsSent: number;
  bytesSent: number;
  packsSent: number;
  alreadyThere: number;
  /** repair only: objects whose remote copies were all damaged (sent again), and what was found. */
  repaired?: number;
  warnings?: string[];
}

/** Local packs smaller than this travel repacked together with other small ones, not as they are. */
const SMALL_PACK = 4 * 1024 * 1024;
export async function pushObjects(i: PushInput): Promise<PushStats> {
  const before = i.remote.uploaded.length;
  const stats = await send(i);
  return withBundles(i, stats, i.remote.uploaded.slice(before));
}

/** Uploads the index bundles of the packs this push sent (remote-bundles.ts); a remote's refusal is a warning. */
async function withBundles(i: PushInput, stats: PushStats, packIds: string[]): Promise<PushStats> {
  const { warning } = await writeBundlesOrWarn(i.backend, i.remote.cacheDir, packIds, 'the index bundle of this push');
  return warning ? { ...stats, warnings: [...(stats.warnings ?? []), warning] } : stats;
}

async function send(i: PushInput): Promise<PushStats> {
  // A lean index knows no copies: its push is guarded against a remote gc by ops/push.ts (guardLeanPush).
  if (!i.repair) return i.remote.isLean ? pushMissing(i) : pushGuarded(i);
  const ids = [...(i.plan?.ids() ?? i.ids ?? [])];
  const check = await checkRemoteCopies(i.backend, i.remote, ids, i.jobs);
  i.remote.forget(check.bad);
  const written = new Set<string>();
  const alreadyThere = i.plan?.alreadyThere ?? i.alreadyThere;
  const stats = await pushMissing({ ...i, plan: undefined, ids, alreadyThere, backend: noteWrites(i.backend, written) });
  // Data first, then the removal of indexes that named only damage: their objects are listed again
  // (unless the pack was just sent again whole under its own name: its index is good now).
  for (const key of check.badIndexes) if (!written.has(key)) await i.backend.delete(key);
  return { ...stats, repaired: check.bad.length, warnings: check.warnings };
}

/** pushMissing, safe against a concurrent `dv gc --remote`: what gc marked or removed meanwhile is sent again. */
async function pushGuarded(i: PushInput): Promise<PushStats> {
  const written = new Set<string>();
  const backend = noteWrites(i.backend, written);
  let total: PushStats | undefined;
  return guardPush(
    i.backend,
    i.remote,
    [...new Set(i.plan?.ids() ?? i.ids ?? [])],
    async (ids) => {
      const s = await pushMissing({ ...i, plan: undefined, ids, alreadyThere: i.plan?.alreadyThere ?? i.alreadyThere, backend });
      if (!total) total = s;
      else {
        total.objectsSent += s.objectsSent;
        total.bytesSent += s.bytesSent;
        total.packsSent += s.packsSent;
        total.alreadyThere = Math.max(0, total.alreadyThere - s.objectsSent);
      }
      return total;
    },
    written,
  );
}

/** Owns the counting of one pack sent: the stats and the progress reported. */
function countSent(i: PushInput, stats: PushStats, progress: PushProgress, entries: PackEntry[], bytes: number): void {
  stats.packsSent++;
  stats.objectsSent += entries.length;
  stats.bytesSent += bytes;
  progress.objects += entries.length;
  progress.bytes += storedBytes(entries);
  i.onProgress?.(progress);
}

/**
 * Owns counting the stored bytes of objects of one pack: the members of a frame share its bytes
 * (one offset and length in the pack index), so a frame counts once.
 */
class PackBytes {
  private readonly frames = new Set<number>();
  total = 0;

  /** Counts one object; answers the bytes it added (0 for a frame already counted). */
  add(flags: number, offset: number, length: number): number {
    if (flags === FLAG_FRAME) {
      if (this.frames.has(offset)) return 0;
      this.frames.add(offset);
    }
    this.total += length;
    return length;
  }
}

/** The stored bytes of `entries` (one pack's), a frame counted once. */
function storedBytes(entries: PackEntry[]): number {
  const bytes = new PackBytes();
  for (const e of entries) bytes.add(e.flags, e.offset, e.length);
  return bytes.total;
}

/** A local pack that travels as it is; its index is read again when it is sent (not kept meanwhile). */
type WholePack = { packId: string; packNo: number; objects: number };

/** Ids looked up in the local index at once: a batch's locations are the only per-object values on the heap. */
const LOOKUP_BATCH = 8192;

/** The planned ids of `list` from `start`, at most LOOKUP_BATCH, leaving out those `skip` says (by tag). */
function slice(list: IdList, start: number, skip?: (tag: number) => boolean): string[] {
  const ids: string[] = [];
  for (let k = start; k < Math.min(list.length, start + LOOKUP_BATCH); k++) if (!skip?.(list.tag(k))) ids.push(list.id(k));
  return ids;
}

/** Where the planned objects lie: local packs by number (the ids' tags), planned objects and their stored bytes in each. */
interface Located {
  packs: string[];
  perPack: number[];
  bytes: number;
  /** From a scan of the pack indexes: how many objects each pack lists, and the stored bytes of its planned ones. */
  listed?: number[];
  stored?: number[];
}

/**
 * Owns finding where each planned object lies, batch by batch: its tag becomes the number of its
 * local pack in `packs` (NO_PACK when the index does not know it: it is read, and refused, alone).
 * A plan of a good share of the store (a first push) is located by reading the local pack indexes
 * instead (`locateByScan`).
 */
async function locate(i: PushInput, plan: PushPlan): Promise<Located> {
  const scanned = await locateByScan(i, plan);
  if (scanned) return scanned;
  const packs: string[] = [];
  const numbers = new Map<string, number>();
  const perPack: number[] = [];
  const stored: PackBytes[] = [];
  let bytes = 0;
  for (const list of [plan.data, plan.meta]) {
    for (let start = 0; start < list.length; start += LOOKUP_BATCH) {
      const locs = await i.store.index.getLocations(slice(list, start));
      locs.forEach((l, j) => {
        if (!l) return;
        let n = numbers.get(l.pack);
        if (n === undefined) {
          n = packs.length;
          packs.push(l.pack);
          numbers.set(l.pack, n);
          perPack.push(0);
          stored.push(new PackBytes());
        }
        perPack[n]++;
        list.setTag(start + j, n);
        bytes += stored[n].add(l.flags, l.offset, l.length);
      });
    }
  }
  return { packs, perPack, bytes };
}

/**
 * A plan is located by scanning the local pack indexes when it holds at least one id for every
 * SCAN_SHARE objects they list: reading a row in place costs a small fraction of a lookup.
 */
const SCAN_SHARE = 16;

/**
 * Locates the plan by reading every local pack index the index knows, row by row in place (each
 * verified against its name), or undefined when the plan is too small a share of them for that
 * to pay, or an index cannot be read (the lookups then say what is wrong). Point lookups of
 * scattered ids in LevelDB touch every block of its tables, which it maps into memory: at
 * 1,000,000 objects ~120 MB of a push's resident memory. The pack indexes are read into buffers
 * one at a time (~330 KB for a pack of 7,000 objects). An object in two packs goes with the first.
 */
async function locateByScan(i: PushInput, plan: PushPlan): Promise<Located | undefined> {
  const packs = [...(await i.store.index.knownPacks())];
  let rows = 0;
  for (const p of packs) {
    const st = await fsp.stat(packPaths(i.store.packsDir, p).idx).catch(() => undefined);
    if (!st) return undefined;
    rows += st.size / IDX_ENTRY;
  }
  if (plan.size * SCAN_SHARE < rows) return undefined;
  const perPack = new Array<number>(packs.length).fill(0);
  const listed = new Array<number>(packs.length).fill(0);
  const stored = new Array<number>(packs.length).fill(0);
  let bytes = 0;
  for (let n = 0; n < packs.length; n++) {
    const idx = await i.store.readPackIndexBytes(packs[n]).catch(() => undefined);
    if (!idx) return undefined;
    const { header, size, count } = packIndexRows(idx, packs[n]);
    listed[n] = count;
    const counted = new PackBytes();
    for (let at = header; at < idx.length; at += size) {
      if (!plan.tagBytes(idx, at, n)) continue;
      perPack[n]++;
      // The row's flags, offset and length (pack-index.ts).
      bytes += counted.add(idx[at + 46], idx.readUIntBE(at + 32, 6), idx.readUInt32BE(at + 38));
    }
    stored[n] = counted.total;
  }
  return { packs, perPack, bytes, listed, stored };
}

/**
 * OBJECT_MISSING before anything is sent when planned objects are in no local pack (a partial
 * clone pushing to a remote that lacks them). The reachability walk of a push does not ask the
 * store about chunks (ops/push.ts): locating the plan finds the missing ones, and the few found
 * are confirmed against the index.
 */
async function refuseMissing(i: PushInput, plan: PushPlan): Promise<void> {
  const missing: { id: string; what: string }[] = [];
  let count = 0;
  for (const [list, what] of [
    [plan.data, 'chunk'],
    [plan.meta, 'object'],
  ] as const) {
    let batch: string[] = [];
    const check = async (): Promise<void> => {
      const have = batch.length > 0 ? await i.store.hasMany(batch) : [];
      batch.forEach((id, k) => {
        if (have[k]) return;
        count++;
        if (missing.length < 20) missing.push({ id, what });
      });
      batch = [];
    };
    for (let k = 0; k < list.length; k++) {
      if (list.tag(k) !== NO_PACK) continue;
      batch.push(list.id(k));
      if (batch.length >= LOOKUP_BATCH) await check();
    }
    await check();
  }
  if (count === 0) return;
  const more = count > 1 ? ` (and ${count - 1} more)` : '';
  throw new DvError(
    'OBJECT_MISSING',
    `cannot push: ${missing[0].what} ${missing[0].id}: missing${more}; run \`dv fsck\`, or \`dv fetch\` from a remote that has it`,
    { problems: missing.map((m) => ({ code: 'OBJECT_MISSING', id: m.id, message: `${m.what} ${m.id}: missing` })) },
  );
}

/**
 * Owns choosing the local packs that travel as they are: those whose every object the remote lacks
 * (a first push), unless small ones would travel better packed together.
 */
async function wholePacks(i: PushInput, plan: PushPlan, at: Located): Promise<WholePack[]> {
  const { packs, perPack, listed, stored } = at;
  let whole: (WholePack & { stored: number })[] = [];
  for (let n = 0; n < packs.length; n++) {
    if (listed && stored) {
      // Scanned: every object the pack lists is planned and tagged with it.
      if (perPack[n] > 0 && perPack[n] === listed[n]) whole.push({ packId: packs[n], packNo: n, objects: listed[n], stored: stored[n] });
      continue;
    }
    const entries = await i.store.readPackIndex(packs[n]).catch(() => undefined);
    if (entries && entries.length === perPack[n] && entries.every((e) => plan.has(e.id)))
      whole.push({ packId: packs[n], packNo: n, objects: entries.length, stored: storedBytes(entries) });
  }
  // Small local packs (one per `dv add` or `dv commit` of a few files) are packed together
  // instead: ten small commits pushed at once make one remote pack, not ten.
  const small = whole.filter((w) => w.stored < SMALL_PACK);
  if (small.length > 1) whole = whole.filter((w) => w.stored >= SMALL_PACK);
  return whole;
}

/**
 * Owns sending whole local packs: each pack's objects verified in a worker thread, then the file
 * copied as it is (`putFile`: an O_DIRECT copy into a directory remote, fsynced before its
 * rename; an upload to S3), then its index, once the copy is durable. A copy, not a hard link: a
 * remote must not share inodes with the store, or damage to one file (a stray write, a disk error,
 * a chmod) would be damage to both, and the remote would be no second copy at all.
 */
async function sendWholePacks(i: PushInput, whole: WholePack[], stats: PushStats, progress: PushProgress, halt: Halt): Promise<void> {
  // Two packs at a time, each verified, copied and indexed in its slot, so one slot's verification
  // overlaps the other's copy. An S3 upload of a pack under the multipart threshold holds it in
  // memory (four at once doubled a push's peak RSS); packs verified ahead of free slots cost
  // memory too: at 1,000,000 small files a push peaked at 421–431 MB with 1 or 3 ahead and 312 MB
  // with none, for the same time (11.9–13.9 s).
  const slots = pLimit(Math.max(1, Math.min(i.jobs, 2)));
  const pool = i.verifier ?? startVerifier(i.tmpDir);
  // After a failure (here or in the other sender) no further pack starts; those under way finish or fail on their own.
  try {
    const sends = whole.map((w) =>
      slots(async () => {
        if (halt.stopped) return;
        const paths = packPaths(i.store.packsDir, w.packId);
        // Read again rather than kept since the choice: only the packs in flight have their entries on the heap.
        const entries = await i.store.readPackEntriesWithSums(w.packId);
        if (entries.length !== w.objects) throw new DvError('OBJECT_CORRUPT', `the index of ${paths.pack} changed during the push`);
        const bad = await pool.verifyPack(paths.pack, entries).catch((e: unknown) => {
          throw fsError(e, paths.pack);
        });
        if (bad !== undefined) {
          throw new DvError(
            'OBJECT_CORRUPT',
            `object ${bad} in ${paths.pack} is corrupt: not pushing it; run \`dv fsck\`, then \`dv pull\` from a remote with a good copy`,
            { id: bad, file: paths.pack },
          );
        }
        if (halt.stopped) return;
        await i.backend.putFile(remotePackKey(w.packId), paths.pack);
        const idxBytes = await fsp.readFile(paths.idx);
        await i.backend.put(remoteIndexKey(w.packId), idxBytes);
        await i.remote.recordUpload(w.packId, idxBytes, entries);
        countSent(i, stats, progress, entries, (await fsp.stat(paths.pack)).size);
      }).catch((e: unknown) => {
        halt.stop(e);
        throw e;
      }),
    );
    await settleAll(sends);
  } finally {
    if (pool !== i.verifier) await pool.close();
  }
}

/** Shared by the two senders of one push (whole packs, fresh packs): the first failure in either stops both. */
class Halt {
  stopped = false;
  reason: unknown;

  /** Keeps the first failure. */
  stop(e: unknown): void {
    if (this.stopped) return;
    this.stopped = true;
    this.reason = e;
  }
}

/** Waits for every promise to settle (nothing keeps writing once this returns), then throws the first failure. */
async function settleAll(all: Promise<unknown>[]): Promise<void> {
  const failed = (await Promise.allSettled(all)).find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
}

async function pushMissing(i: PushInput): Promise<PushStats> {
  const plan =
    i.plan ??
    PushPlan.of(
      i.ids ?? [],
      (id) => i.meta?.has(id) ?? false,
      (id) => i.remote.has(id),
    );
  const alreadyThere = i.plan ? plan.alreadyThere : (i.alreadyThere ?? 0) + plan.alreadyThere;
  const stats: PushStats = { objectsSent: 0, bytesSent: 0, packsSent: 0, alreadyThere };
  if (plan.size === 0) return stats;
  const located = await locate(i, plan);
  await refuseMissing(i, plan);
  const { packs, bytes } = located;
  const progress: PushProgress = { objects: 0, bytes: 0, totalObjects: plan.size, totalBytes: bytes };

  // A local pack whose every object the remote lacks (a first push) travels as it is, after
  // each object in it is verified: no re-reading object by object, no repacking.
  const whole = await wholePacks(i, plan, located);
  const moved = new Uint8Array(packs.length);
  for (const w of whole) moved[w.packNo] = 1;
  // The rest is packed afresh meanwhile: the main thread reads and packs it while the verifying
  // thread and the copies work on the whole packs (at 20,000 small files the trees and manifests
  // took ~250 ms after the whole packs had gone).
  const halt = new Halt();
  await settleAll([
    whole.length > 0 ? sendWholePacks(i, whole, stats, progress, halt) : Promise.resolve(),
    new PackUploader(i, stats, progress, halt).send([plan.data, plan.meta], (tag) => tag !== NO_PACK && moved[tag] === 1),
  ]);
  return stats;
}

/** Owns building fresh packs in an outbox and uploading them, at most `jobs` at once and `jobs` ahead on disk. */
class PackUploader {
  private readonly outbox: string;
  private readonly limit: ReturnType<typeof pLimit>;
  private readonly inflight = new Set<Promise<void>>();
  private readonly frames: FrameReader;

  constructor(
    private readonly i: PushInput,
    private readonly stats: PushStats,
    private readonly progress: PushProgress,
    private readonly halt: Halt,
  ) {
    this.outbox = join(i.tmpDir, `outbox-${process.pid}-${Date.now().toString(36)}`);
    this.limit = pLimit(Math.max(1, i.jobs));
    this.frames = new FrameReader(i);
  }

  /**
   * Packs and sends every list in order (up to the pack target each), but for the ids `skip` names
   * by tag (sent whole already); throws the first failure (its own, or the other sender's: `halt`).
   */
  async send(lists: IdList[], skip: (tag: number) => boolean): Promise<void> {
    const target = this.i.packTarget ?? REMOTE_PACK_TARGET;
    try {
      for (const list of lists) {
        let batch: PendingObject[] = [];
        let size = 0;
        for (let start = 0; start < list.length && !this.halt.stopped; start += LOOKUP_BATCH) {
          const ids = slice(list, start, skip);
          const locs = ids.length > 0 ? await this.i.store.index.getLocations(ids) : [];
          for (let j = 0; j < ids.length && !this.halt.stopped; j++) {
            const id = ids[j];
            const loc = locs[j];
            const frame = loc?.flags === FLAG_FRAME ? await this.frames.whole(id, loc) : undefined;
            if (frame) {
              batch.push(...frame);
              if (frame.length > 0) size += frame[0].data.length + 512;
            } else {
              const o = await this.i.store.readStored(id);
              batch.push(o);
              size += o.data.length + 512;
            }
            if (size >= target) {
              await this.dispatch(batch);
              batch = [];
              size = 0;
            }
          }
        }
        if (batch.length > 0 && !this.halt.stopped) await this.dispatch(batch);
      }
      await Promise.all(this.inflight);
    } catch (e) {
      this.halt.stop(e);
      throw e;
    } finally {
      await Promise.allSettled(this.inflight);
      await fsp.rm(this.outbox, { recursive: true, force: true });
    }
    if (this.halt.stopped) throw this.halt.reason;
  }

  private async dispatch(batch: PendingObject[]): Promise<void> {
    const i = this.i;
    const { packId, entries, bytes } = await writePack(this.outbox, i.tmpDir, batch);
    const paths = packPaths(this.outbox, packId);
    const task = this.limit(async () => {
      if (this.halt.stopped) return;
      try {
        await i.backend.putFile(remotePackKey(packId), paths.pack);
        const idxBytes = await fsp.readFile(paths.idx);
        await i.backend.put(remoteIndexKey(packId), idxBytes);
        await i.remote.recordUpload(packId, idxBytes, entries);
        countSent(i, this.stats, this.progress, entries, bytes);
      } catch (e) {
        this.halt.stop(e);
      } finally {
        await fsp.rm(paths.pack, { force: true });
        await fsp.rm(paths.idx, { force: true });
      }
    });
    this.inflight.add(task);
    void task.finally(() => this.inflight.delete(task));
    // Bound the packs waiting on disk: build at most `jobs` ahead of the uploads.
    while (this.inflight.size > i.jobs && !this.halt.stopped) await Promise.race(this.inflight);
  }
}

/** Local pack indexes FrameReader keeps (most recently used): the plan goes directory by directory, so a few packs at a time. */
const FRAME_PACKS_KEPT = 8;

/** Owns telling whether a local frame travels whole: the remote must lack every object in it (by pack index). */
class FrameReader {
  /** The framed objects of recently read local packs, by frame offset. */
  private readonly packFrames = new Map<string, Promise<Map<number, PackEntry[]>>>();
  private readonly framesSent = new Set<string>();

  constructor(private readonly i: PushInput) {}

  private framesOf(pack: string): Promise<Map<number, PackEntry[]>> {
    let frames = this.packFrames.get(pack);
    if (frames) this.packFrames.delete(pack);
    else
      frames = this.i.store.readPackIndex(pack).then((entries) => {
        const byOffset = new Map<number, PackEntry[]>();
        for (const e of entries) {
          if (e.flags !== FLAG_FRAME) continue;
          const members = byOffset.get(e.offset);
          if (members) members.push(e);
          else byOffset.set(e.offset, [e]);
        }
        return byOffset;
      });
    this.packFrames.set(pack, frames);
    if (this.packFrames.size > FRAME_PACKS_KEPT) this.packFrames.delete(this.packFrames.keys().next().value!);
    return frames;
  }

  /** The frame's objects to send (verified), [] if already sent, undefined if its objects must travel one by one. */
  async whole(id: string, loc: ObjectLocation): Promise<PendingObject[] | undefined> {
    const i = this.i;
    const key = `${loc.pack}:${loc.offset}`;
    if (this.framesSent.has(key)) return [];
    const members = (await this.framesOf(loc.pack)).get(loc.offset) ?? [];
    if (members.length === 0 || members.some((m) => i.remote.has(m.id))) return undefined;
    const { stored } = await i.store.readFrame(id, loc);
    for (const m of members) await i.store.readAt(m.id, { ...loc, rawSize: m.rawSize, inner: m.inner ?? 0 });
    this.framesSent.add(key);
    return members.map((m) => ({ id: m.id, data: stored, rawSize: m.rawSize, flags: FLAG_FRAME, inner: m.inner ?? 0 }));
  }
}
