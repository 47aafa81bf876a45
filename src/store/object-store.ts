/**
 * The local object store: immutable objects in packs, located through the index, verified by
 * hash on every read. New objects gather in memory until a pack's worth (or `flush()`), then
 * are written as one pack: data first, then its pack index, then the LevelDB index.
 * Framed objects (flag 2) are read through a small cache of decompressed frames: a file's
 * chunks come in order, so each frame is decompressed once, and each object is still verified
 * by the hash of its own slice.
 */
import { promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { blake3Hex } from '../core/hash.js';
import { DvError, fsError } from '../errors.js';
import { decode, decodeFrame, maybeCompress, sliceFrame, FLAG_FRAME, FLAG_RAW } from './codec.js';
import type { Index } from './index-db.js';
import { decodePackIndex, MAX_FRAME_STORED, MAX_OBJECT_BYTES, type ObjectLocation, type PackEntry } from './pack-index.js';
import { PackLocator } from './pack-locator.js';
import { listPackIds, packPaths, sealPack, writePack, type PendingObject } from './pack.js';

export const PACK_TARGET_BYTES = 32 * 1024 * 1024;

export interface StoreStats {
  objectsWritten: number;
  rawBytesWritten: number;
  storedBytesWritten: number;
  packsWritten: number;
}

export class ObjectStore {
  private pending = new Map<string, PendingObject>();
  private pendingBytes = 0;
  // Objects handed to a pack write that is not indexed yet: still readable, never written twice.
  private readonly inFlight = new Map<string, PendingObject>();
  private flushChain: Promise<void> = Promise.resolve();
  private flushesInFlight = 0;
  private flushError: unknown;
  private readonly handles = new Map<string, Promise<FileHandle>>();
  /** Objects found corrupt by this process. */
  readonly corrupt = new Set<string>();
  readonly stats: StoreStats = { objectsWritten: 0, rawBytesWritten: 0, storedBytesWritten: 0, packsWritten: 0 };

  constructor(
    readonly packsDir: string,
    readonly tmpDir: string,
    readonly index: Index,
    readonly packTarget = PACK_TARGET_BYTES,
  ) {}

  /** Registers packs present on disk that the index does not know (another process, a pull, a crash). */
  async syncPacks(): Promise<number> {
    const known = await this.index.knownPacks();
    let added = 0;
    for (const packId of await listPackIds(this.packsDir)) {
      if (known.has(packId)) continue;
      const entries = await this.readPackIndex(packId);
      await this.index.addPack(packId, entries);
      added++;
    }
    return added;
  }

  /**
   * Forgets packs the index knows but the disk no longer holds (a deleted cache directory):
   * their objects read as missing, so a fetch brings them back instead of failing.
   */
  async forgetLostPacks(): Promise<number> {
    const present = new Set(await listPackIds(this.packsDir));
    const lost = new Set([...(await this.index.knownPacks())].filter((p) => !present.has(p)));
    if (lost.size === 0) return 0;
    await this.index.forgetPacks(lost);
    return lost.size;
  }

  /** Reads and verifies a pack index file (its name is the hash of its bytes). */
  async readPackIndex(packId: string): Promise<PackEntry[]> {
    return decodePackIndex(await this.readPackIndexBytes(packId), packId);
  }

  /**
   * A pack index file's entries, each member of a frame this store wrote carrying the frame's sum
   * as recorded then (`PackEntry.sum`): a push checks such frames without decompressing them.
   */
  async readPackEntriesWithSums(packId: string): Promise<PackEntry[]> {
    const entries = await this.readPackIndex(packId);
    // Only a pack with frames has sums: the others cost no index lookup (LevelDB may be let go of meanwhile).
    if (!entries.some((e) => e.flags === FLAG_FRAME)) return entries;
    const sums = (await this.index.frameSums?.(packId)) ?? new Map<number, string>();
    if (sums.size === 0) return entries;
    return entries.map((e) => {
      const sum = e.flags === FLAG_FRAME ? sums.get(e.offset) : undefined;
      return sum ? { ...e, sum } : e;
    });
  }

  /** The bytes of a pack index file, verified against its name (decoded by the caller). */
  async readPackIndexBytes(packId: string): Promise<Buffer> {
    const { idx } = packPaths(this.packsDir, packId);
    const bytes = await fsp.readFile(idx);
    if (blake3Hex(bytes) !== packId)
      throw new DvError('OBJECT_CORRUPT', `pack index ${idx} does not match its name: run \`dv fsck\``, { pack: packId, file: idx });
    return bytes;
  }

  /** Set while a checkout walks its tree: locations come from recent pack indexes first (pack-locator.ts). */
  private locator: PackLocator | undefined;

  /**
   * Locates objects through a few recent pack index files, asking the index only on a miss, until
   * `locateByIndex`; off where the index cannot say which packs hold dropped copies. Returns the locator.
   */
  async locateThroughPacks(): Promise<PackLocator | undefined> {
    const tainted = await this.index.taintedPacks?.();
    if (tainted) this.locator = new PackLocator(this.index, (p) => this.readPackIndexBytes(p), tainted);
    return this.locator;
  }

  locateByIndex(): void {
    this.locator = undefined;
  }

  /** Where each object lies in a pack (undefined: in none; pending objects are not in one yet). */
  locations(ids: string[]): Promise<(ObjectLocation | undefined)[]> {
    return this.locator ? this.locator.getLocations(ids) : this.index.getLocations(ids);
  }

  /** The pack locator in use, if any (a copy it gave out proved corrupt: `distrust` its pack). */
  get packLocator(): PackLocator | undefined {
    return this.locator;
  }

  async hasMany(ids: string[]): Promise<boolean[]> {
    const locs = await this.locations(ids);
    return ids.map((id, i) => locs[i] !== undefined || this.pending.has(id) || this.inFlight.has(id));
  }

  /** The raw size of each object this store holds (undefined: absent), in one index lookup. */
  async sizesOf(ids: string[]): Promise<(number | undefined)[]> {
    const locs = await this.index.getLocations(ids);
    return ids.map((id, i) => locs[i]?.rawSize ?? (this.pending.get(id) ?? this.inFlight.get(id))?.rawSize);
  }

  async has(id: string): Promise<boolean> {
    return (await this.hasMany([id]))[0];
  }

  /** Adds an object the caller knows is absent (`hasMany`); `compress` tries zstd. */
  async put(id: string, raw: Buffer, compress: boolean): Promise<boolean> {
    if (this.pending.has(id) || this.inFlight.has(id)) return false;
    const { data, flags } = compress ? await maybeCompress(raw) : { data: raw, flags: FLAG_RAW };
    if (this.pending.has(id) || this.inFlight.has(id)) return false;
    this.pending.set(id, { id, data, rawSize: raw.length, flags });
    this.pendingBytes += data.length + 512;
    this.stats.objectsWritten++;
    this.stats.rawBytesWritten += raw.length;
    this.stats.storedBytesWritten += data.length;
    if (this.pendingBytes >= this.packTarget) await this.flushInBackground();
    return flags !== FLAG_RAW;
  }

  /** Seals and records a pack written by someone else (a hashing worker): its objects become readable. */
  async sealPack(tmp: string, size: number, entries: PackEntry[]): Promise<void> {
    const { packId } = await sealPack(this.packsDir, this.tmpDir, tmp, size, entries);
    await this.index.addPack(packId, entries);
    this.stats.packsWritten++;
    this.stats.objectsWritten += entries.length;
    const frames = new Set<number>();
    for (const e of entries) {
      this.stats.rawBytesWritten += e.rawSize;
      // The objects of a frame share its bytes: count them once.
      if (e.flags !== FLAG_FRAME || !frames.has(e.offset)) this.stats.storedBytesWritten += e.length;
      if (e.flags === FLAG_FRAME) frames.add(e.offset);
    }
  }

  /** Adds an object exactly as stored elsewhere (already verified by the caller): no recompression. */
  async putStored(id: string, data: Buffer, flags: number, rawSize: number): Promise<void> {
    if (this.pending.has(id) || this.inFlight.has(id)) return;
    this.pending.set(id, { id, data, rawSize, flags });
    this.pendingBytes += data.length + 512;
    this.stats.objectsWritten++;
    this.stats.rawBytesWritten += rawSize;
    this.stats.storedBytesWritten += data.length;
    if (this.pendingBytes >= this.packTarget) await this.flushInBackground();
  }

  /**
   * Adds a compressed frame exactly as stored elsewhere, with the objects it holds (every one
   * already verified by the caller); objects already pending are left out.
   */
  async putFrame(data: Buffer, members: { id: string; rawSize: number; inner: number }[]): Promise<void> {
    const fresh = members.filter((m) => !this.pending.has(m.id) && !this.inFlight.has(m.id));
    if (fresh.length === 0) return;
    for (const m of fresh) {
      this.pending.set(m.id, { id: m.id, data, rawSize: m.rawSize, flags: FLAG_FRAME, inner: m.inner });
      this.stats.objectsWritten++;
      this.stats.rawBytesWritten += m.rawSize;
    }
    this.pendingBytes += data.length + 512;
    this.stats.storedBytesWritten += data.length;
    if (this.pendingBytes >= this.packTarget) await this.flushInBackground();
  }

  /**
   * The stored form of an object on its own (raw or zstd), verified against its id first. A
   * framed object is handed out recompressed alone, never as a slice of its frame.
   */
  async readStored(id: string): Promise<PendingObject> {
    const p = this.pending.get(id) ?? this.inFlight.get(id);
    if (p && p.flags !== FLAG_FRAME) return p;
    const loc = p ? undefined : await this.location(id);
    if (!p && !loc) throw new DvError('OBJECT_MISSING', `object ${id} is not in the local store: run \`dv fetch\` first`, { id });
    if (loc && loc.flags !== FLAG_FRAME) {
      const stored = await this.readRaw(id, loc);
      await this.verify(id, loc, stored);
      return { id, data: stored, flags: loc.flags, rawSize: loc.rawSize };
    }
    const raw = await this.get(id);
    const { data, flags } = await maybeCompress(raw);
    return { id, data, flags, rawSize: raw.length };
  }

  /** The stored bytes of a whole frame and the decompressed frame, for callers that move frames whole. */
  async readFrame(id: string, loc: ObjectLocation): Promise<{ stored: Buffer; frame: Buffer }> {
    const stored = await this.readRaw(id, loc);
    const frame = await decodeFrame(stored).catch(() => undefined);
    if (!frame) return this.corruptAt(id, loc, true);
    return { stored, frame };
  }

  /** Hashes and stores a structured object (tree, manifest, snapshot); returns its id. */
  async putObject(bytes: Buffer): Promise<string> {
    const id = blake3Hex(bytes);
    if (!(await this.has(id))) await this.put(id, bytes, bytes.length > 4096);
    return id;
  }

  /**
   * Starts writing the pending objects as a pack without waiting for it, so hashing goes on
   * while the disk works; waits when a pack is already being written (bounds memory).
   */
  private async flushInBackground(): Promise<void> {
    if (this.flushesInFlight >= 1) await this.flushChain;
    this.flushesInFlight++;
    const run = this.flush();
    void run.then(
      () => this.flushesInFlight--,
      () => this.flushesInFlight--,
    );
    // Errors surface through the chain: the next flush() or close() rethrows them.
    run.catch((e) => {
      this.flushError ??= e;
    });
  }

  /** Writes pending objects as a pack and records them in the index. Flushes run one at a time. */
  async flush(): Promise<void> {
    if (this.flushError) throw this.flushError;
    if (this.pending.size === 0) {
      await this.flushChain;
      if (this.flushError) throw this.flushError;
      return;
    }
    const objects = this.pending;
    this.pending = new Map();
    this.pendingBytes = 0;
    for (const [id, o] of objects) this.inFlight.set(id, o);
    const run = this.flushChain.then(async () => {
      const { packId, entries } = await writePack(this.packsDir, this.tmpDir, [...objects.values()], { sums: true });
      await this.index.addPack(packId, entries);
      for (const id of objects.keys()) this.inFlight.delete(id);
      this.stats.packsWritten++;
    });
    this.flushChain = run.catch(() => undefined);
    return run;
  }

  async location(id: string): Promise<ObjectLocation | undefined> {
    return (await this.index.getLocations([id]))[0];
  }

  /** Reads an object, verifying its hash. Throws OBJECT_MISSING or OBJECT_CORRUPT naming it. */
  async get(id: string): Promise<Buffer> {
    const p = this.pending.get(id) ?? this.inFlight.get(id);
    if (p) return p.flags === FLAG_FRAME ? sliceFrame(await decodeFrame(p.data), p.inner ?? 0, p.rawSize)! : decode(p.data, p.flags);
    const loc = await this.location(id);
    if (!loc)
      throw new DvError(
        'OBJECT_MISSING',
        `object ${id} is not in the local store: run \`dv pull\` or \`dv fetch\` to get it from a remote`,
        { id },
      );
    return this.readAt(id, loc);
  }

  /** Reads the stored bytes of an object at a known location and verifies them. */
  async readAt(id: string, loc: ObjectLocation): Promise<Buffer> {
    if (loc.flags !== FLAG_FRAME) return this.verify(id, loc, await this.readRaw(id, loc));
    const frame = await this.frame(id, loc);
    const raw = frame && sliceFrame(frame, loc.inner, loc.rawSize);
    if (!raw || blake3Hex(raw) !== id) return this.corruptAt(id, loc, !frame);
    return raw;
  }

  private readonly frames = new Map<string, Promise<Buffer | undefined>>();
  /** The decompressed frame at `loc` (undefined when it cannot be decompressed), from a cache of 4. */
  private frame(id: string, loc: ObjectLocation): Promise<Buffer | undefined> {
    const key = `${loc.pack}:${loc.offset}:${loc.length}`;
    let f = this.frames.get(key);
    if (f) {
      this.frames.delete(key);
      this.frames.set(key, f);
      return f;
    }
    f = this.readRaw(id, loc).then((stored) => decodeFrame(stored).catch(() => undefined));
    f.then(
      (v) => {
        if (!v) this.frames.delete(key);
      },
      () => this.frames.delete(key),
    );
    this.frames.set(key, f);
    if (this.frames.size > 4) this.frames.delete(this.frames.keys().next().value as string);
    return f;
  }

  private async readRaw(id: string, loc: ObjectLocation): Promise<Buffer> {
    const file = packPaths(this.packsDir, loc.pack).pack;
    let stored: Buffer;
    try {
      const fh = await this.handle(loc.pack);
      // Check the claimed range against the file before allocating or reading anything.
      const size = await this.packSize(loc.pack, fh);
      if (loc.length > (loc.flags === FLAG_FRAME ? MAX_FRAME_STORED : MAX_OBJECT_BYTES) || loc.offset + loc.length > size) {
        throw new DvError(
          'OBJECT_CORRUPT',
          `object ${id} is said to lie beyond the end of ${file}: run \`dv fsck\` and \`dv pull\` to repair`,
          { id, file },
        );
      }
      stored = Buffer.allocUnsafe(loc.length);
      const { bytesRead } = await fh.read(stored, 0, loc.length, loc.offset);
      if (bytesRead !== loc.length)
        throw new DvError('OBJECT_CORRUPT', `object ${id} in ${file} is truncated: run \`dv fsck\` and \`dv pull\` to repair`, {
          id,
          file,
        });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT')
        throw new DvError('OBJECT_MISSING', `pack ${file} holding object ${id} is gone: run \`dv fsck --rebuild-index\` then \`dv pull\``, {
          id,
          file,
        });
      throw fsError(e, file);
    }
    return stored;
  }

  /**
   * Decodes stored bytes and checks them against the id; returns the raw bytes. A corrupt copy
   * is forgotten by the index at once, so the next fetch or pull brings a good one.
   */
  private async verify(id: string, loc: ObjectLocation, stored: Buffer): Promise<Buffer> {
    let raw: Buffer | undefined;
    try {
      raw = await decode(stored, loc.flags);
    } catch {
      raw = undefined;
    }
    if (raw === undefined || raw.length !== loc.rawSize || blake3Hex(raw) !== id) return this.corruptAt(id, loc, raw === undefined);
    return raw;
  }

  /** Records a corrupt copy and forgets it in the index, then throws OBJECT_CORRUPT naming it. */
  private async corruptAt(id: string, loc: ObjectLocation, undecodable: boolean): Promise<never> {
    const file = packPaths(this.packsDir, loc.pack).pack;
    this.corrupt.add(id);
    const current = (await this.index.getLocations([id]))[0];
    if (current && current.pack === loc.pack && current.offset === loc.offset && current.inner === loc.inner)
      await this.index.dropObjects([id]).catch(() => undefined);
    throw new DvError(
      'OBJECT_CORRUPT',
      `object ${id} in ${file} is corrupt (${undecodable ? 'cannot be decompressed' : 'does not match its hash'}): run \`dv pull\` to fetch a good copy, and \`dv fsck\` to check the rest`,
      { id, file },
    );
  }

  private readonly sizes = new Map<string, number>();
  private async packSize(packId: string, fh: FileHandle): Promise<number> {
    let n = this.sizes.get(packId);
    if (n === undefined) {
      n = (await fh.stat()).size;
      this.sizes.set(packId, n);
    }
    return n;
  }

  private handle(packId: string): Promise<FileHandle> {
    // Promises are cached, so concurrent readers of one pack share one open file.
    let fh = this.handles.get(packId);
    if (!fh) {
      if (this.handles.size >= 64) {
        const [oldId, old] = this.handles.entries().next().value as [string, Promise<FileHandle>];
        this.handles.delete(oldId);
        void old.then(
          (h) => h.close(),
          () => undefined,
        );
      }
      fh = fsp.open(packPaths(this.packsDir, packId).pack, 'r');
      fh.catch(() => this.handles.delete(packId));
      this.handles.set(packId, fh);
    }
    return fh;
  }

  /** Full ids that start with `prefix` (at most `limit`). */
  async idsWithPrefix(prefix: string, limit = 2): Promise<string[]> {
    const found = new Set(await this.index.idsWithPrefix(prefix, limit));
    for (const id of [...this.pending.keys(), ...this.inFlight.keys()]) if (id.startsWith(prefix)) found.add(id);
    return [...found].sort();
  }

  async close(): Promise<void> {
    await this.flush();
    for (const fh of this.handles.values()) await fh.then((h) => h.close()).catch(() => undefined);
    this.handles.clear();
  }
}
