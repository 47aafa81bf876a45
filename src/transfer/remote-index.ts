/**
 * What a remote holds, from its own pack indexes: listed with one paginated LIST, downloaded
 * once each, verified against their names, and cached under `.dv/remotes/<name>/`. Each read
 * is capped by its listed size (and MAX_INDEX_BYTES); an index too large, unreadable within its
 * budget or malformed is ignored with a warning, so one bad index cannot stop every pull.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import pLimit from 'p-limit';
import type { Backend } from '../backend/backend.js';
import { blake3Hex } from '../core/hash.js';
import { writeFileAtomic } from '../store/atomic.js';
import { DvError } from '../errors.js';
import { decodePackIndex, IDX_ENTRY, type ObjectLocation, type PackEntry } from '../store/pack-index.js';
import { INDEX_PREFIX, packIdOfIndexKey, remoteIndexKey } from './layout.js';
import { IdTable } from './id-table.js';
import { BUNDLE_WORTH, bundlesRead, indexesFromBundles, isRefusedContent } from './remote-bundles.js';
import { type FrameMember, type Kept, LocationTable } from './location-table.js';

export type { FrameMember };

/** No pack index dv writes comes near this (1.3 million objects); a remote listing a bigger one is refused. */
export const MAX_INDEX_BYTES = 64 * 1024 * 1024;
/** At most this many indexes, and this many bytes of them, are read from one remote (a 100 GB dataset of 1M files needs ~2,000 and ~60 MB). */
// Each listed key costs ~200 bytes until the listing ends; 200k indexes (200k pushes, or a repack
// away from it) stay within ~40 MB, and a listing that never ends fails in seconds.
const MAX_INDEXES = 200_000;
const MAX_TOTAL_INDEX_BYTES = 2 * 1024 * 1024 * 1024;
/** A lean index is made ready for at most this many ids before it is read (more grow it): ~69 MB, whatever a listing claims. */
const LEAN_PRESIZE = 1 << 20;
/** The smallest budget for an index read: a listing that says 0 bytes still lets the header through. */
const IDX_HEADER_BYTES = 64;

/** Keys of any name an index/ listing reads: junk keys without end are refused too. */
const MAX_INDEX_KEYS = 2 * MAX_INDEXES;

/**
 * The pack indexes a remote lists, with their sizes (in listing order) and the bytes they add up to
 * (each counted up to MAX_INDEX_BYTES); a listing past MAX_INDEXES indexes, MAX_TOTAL_INDEX_BYTES
 * bytes or MAX_INDEX_KEYS keys is refused: pages that never end, or more than any real store.
 */
async function listIndexes(backend: Backend): Promise<{ listed: string[]; sizes: Map<string, number>; total: number }> {
  const listed: string[] = [];
  const sizes = new Map<string, number>();
  let total = 0;
  let keys = 0;
  for await (const { key, size } of backend.list(INDEX_PREFIX)) {
    const packId = packIdOfIndexKey(key);
    keys++;
    if (packId) {
      listed.push(packId);
      sizes.set(packId, size);
      total += Math.min(size, MAX_INDEX_BYTES);
    }
    if (listed.length > MAX_INDEXES || total > MAX_TOTAL_INDEX_BYTES || keys > MAX_INDEX_KEYS) {
      const what =
        keys > MAX_INDEX_KEYS
          ? `${MAX_INDEX_KEYS} keys under ${INDEX_PREFIX}`
          : listed.length > MAX_INDEXES
            ? `${MAX_INDEXES} pack indexes`
            : `${MAX_TOTAL_INDEX_BYTES} bytes of pack indexes`;
      throw new DvError(
        'REMOTE_ERROR',
        `${backend.location} lists more than ${what}: more than dv reads from a remote; it is damaged or hostile: check its URL with \`dv remote list\``,
        { location: backend.location, transient: false },
      );
    }
  }
  return { listed, sizes, total };
}

/** The key of the frame at `offset` in `pack`. */
export const frameKey = (pack: string, offset: number): string => `${pack}:${offset}`;

export class RemoteIndex {
  /** Where every object lies (rows on disk, a table of row numbers in memory: location-table.ts), alternates included. */
  readonly objects: LocationTable;
  readonly packs = new Set<string>();
  private readonly counts = new Map<string, number>();
  /** Requests made to refresh this index (LIST pages are not counted separately). */
  downloaded = 0;
  /**
   * Index keys whose bytes do not match their name (an upload cut short on a store without
   * atomic PUTs): ignored, so their objects count as absent and a push sends them again.
   */
  readonly damaged: string[] = [];
  /** Indexes refused for their size or shape (ignored: their objects count as absent), for the user to see. */
  readonly warnings: string[] = [];
  /**
   * Index bundles skipped (malformed, refused, unreachable): a fetch shows them, but they name no
   * refused index (`warnings`): the indexes they would have brought were read one by one.
   */
  readonly bundleWarnings: string[] = [];
  /** Packs this process uploaded (recordUpload), in order: what the push's index bundles hold. */
  readonly uploaded: string[] = [];

  private constructor(
    /** Where the remote's pack indexes are cached (`<packId>.idx`) and its bundles marked read. */
    readonly cacheDir: string,
    /**
     * A lean index (push): only which ids the remote holds, in an IdTable (about 64 bytes an id,
     * off the heap); `objects` stays empty.
     */
    private readonly lean?: IdTable,
  ) {
    this.objects = new LocationTable(cacheDir);
  }

  /** What a remote that does not exist yet holds: nothing. */
  static empty(cacheDir: string): RemoteIndex {
    return new RemoteIndex(cacheDir);
  }

  /**
   * Lists the remote's indexes, downloads the ones not cached yet, and loads them all but those of
   * `exclude` (packs a remote gc marked: a push counts their objects as absent and sends them).
   */
  static async load(
    backend: Backend,
    cacheDir: string,
    jobs = 8,
    /** `bundles: false`: every missing index read from its own key (fsck checks the keys themselves). */
    opts: { lean?: boolean; exclude?: ReadonlySet<string>; bundles?: boolean } = {},
  ): Promise<RemoteIndex> {
    await fsp.mkdir(cacheDir, { recursive: true });
    const names = await fsp.readdir(cacheDir);
    const cached = new Set(names.filter((f) => /^[0-9a-f]{64}\.idx$/.test(f)).map((f) => f.slice(0, 64)));
    const { listed, sizes, total } = await listIndexes(backend);
    // A lean table is sized for the ids the listed indexes can hold (up to LEAN_PRESIZE): growing it
    // by doubling would hold the old and the new table at once, half again the memory, at the end.
    const ri = new RemoteIndex(cacheDir, opts.lean ? new IdTable(Math.min(Math.ceil(total / IDX_ENTRY), LEAN_PRESIZE)) : undefined);
    // Many indexes missing (a fresh clone): the remote's bundles bring them in a few GETs.
    const need = new Map(listed.filter((p) => !cached.has(p)).map((p) => [p, sizes.get(p) ?? 0]));
    if (opts.bundles !== false && need.size >= BUNDLE_WORTH) {
      const from = await indexesFromBundles(backend, cacheDir, need, bundlesRead(names), ri.bundleWarnings, cached.size === 0);
      for (const p of from.got) cached.add(p);
      ri.downloaded += from.requests;
    }
    const limit = pLimit(jobs);
    // Rows kept in the table's spill file until every download ends (then added in listing order), not decoded rows.
    const loaded = new Map<string, { kept: Kept; rows: number }>();
    await Promise.all(
      listed.map((packId) =>
        limit(async () => {
          let bytes: Buffer | undefined;
          if (cached.has(packId)) {
            bytes = await fsp.readFile(join(cacheDir, `${packId}.idx`));
            if (blake3Hex(bytes) !== packId) bytes = undefined;
          }
          if (!bytes) {
            const key = remoteIndexKey(packId);
            // Read within a budget: the listed size (the body is cut off past it), never above the cap.
            const listedSize = sizes.get(packId) ?? 0;
            if (listedSize > MAX_INDEX_BYTES) {
              ri.warnings.push(
                `${backend.location}: ${key} is listed at ${listedSize} bytes, more than a pack index can be (${MAX_INDEX_BYTES}): ignored`,
              );
              return;
            }
            try {
              bytes = await backend.get(key, { maxBytes: Math.max(listedSize, IDX_HEADER_BYTES) });
            } catch (e) {
              // Listed, then gone (a remote gc removed it meanwhile): its pack is going too, so its objects count as absent.
              if (e instanceof DvError && e.code === 'OBJECT_MISSING') return;
              if (!(e instanceof DvError && isRefusedContent(e))) throw e;
              ri.warnings.push(`${e.message}: ignored`);
              return;
            }
            ri.downloaded++;
            if (blake3Hex(bytes) !== packId) {
              ri.damaged.push(key);
              return;
            }
            await writeFileAtomic(join(cacheDir, `${packId}.idx`), bytes);
          }
          let entries: PackEntry[];
          try {
            entries = decodePackIndex(bytes, packId);
          } catch (e) {
            // Well named but malformed: whoever wrote it meant harm or had a bug; its objects count as absent.
            if (!(e instanceof DvError)) throw e;
            ri.warnings.push(`${backend.location}: ${e.message}: ignored`);
            return;
          }
          if (opts.exclude?.has(packId)) return;
          // Lean: which copy comes first does not matter, and no pack's entries wait for the others.
          if (ri.lean) ri.addPack(packId, bytes, entries);
          else loaded.set(packId, { kept: ri.objects.keep(packId, bytes), rows: entries.length });
        }),
      ),
    );
    // Added in listing order, not download order: which copy of an object is tried first is stable.
    ri.objects.reserve([...loaded.values()].reduce((n, l) => n + l.rows, 0));
    for (const packId of listed) {
      const got = loaded.get(packId);
      if (got) ri.addKept(packId, got.kept, got.rows);
    }
    // Indexes the remote no longer lists (removed by a remote gc) are forgotten.
    const live = new Set(listed);
    for (const packId of cached) if (!live.has(packId)) await fsp.rm(join(cacheDir, `${packId}.idx`), { force: true });
    return ri;
  }

  /** Whether this is a lean index (only which ids the remote holds). */
  get isLean(): boolean {
    return this.lean !== undefined;
  }

  /** Adds what the (validated) index `bytes` of `packId` lists: its ids only when lean. */
  private addPack(packId: string, bytes: Buffer, entries: PackEntry[]): void {
    if (!this.lean) {
      this.addIndex(packId, bytes, entries.length);
      return;
    }
    this.packs.add(packId);
    this.counts.set(packId, (this.counts.get(packId) ?? 0) + entries.length);
    for (const e of entries) this.lean.add(e.id);
  }

  private addIndex(packId: string, bytes: Buffer, rows: number): void {
    this.addKept(packId, this.objects.keep(packId, bytes), rows);
  }

  private addKept(packId: string, kept: Kept, rows: number): void {
    this.packs.add(packId);
    this.counts.set(packId, (this.counts.get(packId) ?? 0) + rows);
    this.objects.add(packId, kept);
  }

  /** Every object of the remote frame at `offset` in `pack`, so a fetched frame can be kept whole. */
  frameMembers(pack: string, offset: number): FrameMember[] {
    return this.objects.frameMembers(pack, offset);
  }

  /**
   * Records a pack this process uploaded, and caches its index. A lean index (a push) records the
   * pack but not its ids: a push plans each id once and never asks about what it sent, and the
   * ids of a first push would grow the table to the whole dataset.
   */
  async recordUpload(packId: string, idxBytes: Buffer, entries: PackEntry[]): Promise<void> {
    await writeFileAtomic(join(this.cacheDir, `${packId}.idx`), idxBytes);
    this.uploaded.push(packId);
    if (this.lean) {
      this.packs.add(packId);
      this.counts.set(packId, (this.counts.get(packId) ?? 0) + entries.length);
    } else this.addIndex(packId, idxBytes, entries.length);
  }

  /** How many objects the index of `packId` lists. */
  listedIn(packId: string): number {
    return this.counts.get(packId) ?? 0;
  }

  /** Forgets every copy of `ids` (found damaged): to this process they are absent, so a push sends them. */
  forget(ids: Iterable<string>): void {
    if (this.lean) throw new Error('a lean remote index cannot forget objects (repair loads it whole)');
    for (const id of ids) this.objects.delete(id);
  }

  /** Every copy the remote's indexes list for `id`, the preferred one first. */
  copies(id: string): ObjectLocation[] {
    return this.objects.copies(id);
  }

  has(id: string): boolean {
    return this.lean ? this.lean.has(id) : this.objects.has(id);
  }

  /** Ids the remote holds that start with `prefix` (lowercase hex), at most `max` of them. */
  idsWithPrefix(prefix: string, max: number): string[] {
    if (this.lean) throw new Error('a lean remote index does not list ids');
    const found: string[] = [];
    for (const id of this.objects.keys()) {
      if (!id.startsWith(prefix)) continue;
      found.push(id);
      if (found.length >= max) break;
    }
    return found;
  }
}
