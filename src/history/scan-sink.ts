/**
 * The store as a scan's sink (`dv add`, `dv commit`): the scan's own objects (trees, manifests)
 * are written in packs of at most SCAN_PACK_RAW_BYTES raw bytes, not held until the store's pack
 * target. At a million small files a scan makes some 140 MB of trees; zstd compresses each into
 * native memory, and with the store's 32 MB pack target (one pack pending, one being written)
 * they held up to 54 MB (heaptrack) of a 300 MB budget. Chunks are not affected: the hashing
 * workers write them into packs of their own.
 *
 * Invariant: every call goes to the store unchanged, in the same order; only flushes are added,
 * and a flush writes the pending objects in the order they were put (children before parents).
 */
import type { ObjectStore } from '../store/object-store.js';
import type { PackEntry } from '../store/pack-index.js';
import type { ScanOptions } from '../workspace/scan.js';

/** Raw bytes of a scan's own objects after which they are written as a pack (compressed trees: a few MB). */
export const SCAN_PACK_RAW_BYTES = 16 * 1024 * 1024;

export class ScanSink implements NonNullable<ScanOptions['sink']> {
  /** Raw bytes put since the last flush. */
  private unflushed = 0;
  /** Packs this sink flushed (for tests). */
  flushes = 0;

  constructor(
    private readonly store: ObjectStore,
    private readonly limit = SCAN_PACK_RAW_BYTES,
  ) {}

  get tmpDir(): string {
    return this.store.tmpDir;
  }

  get packTarget(): number {
    return this.store.packTarget;
  }

  hasMany(ids: string[]): Promise<boolean[]> {
    return this.store.hasMany(ids);
  }

  get(id: string): Promise<Buffer> {
    return this.store.get(id);
  }

  sealPack(tmp: string, size: number, entries: PackEntry[]): Promise<void> {
    return this.store.sealPack(tmp, size, entries);
  }

  async put(id: string, raw: Buffer, compress: boolean): Promise<boolean> {
    const compressed = await this.store.put(id, raw, compress);
    await this.grew(raw.length);
    return compressed;
  }

  async putObject(bytes: Buffer): Promise<string> {
    const id = await this.store.putObject(bytes);
    await this.grew(bytes.length);
    return id;
  }

  private async grew(bytes: number): Promise<void> {
    this.unflushed += bytes;
    if (this.unflushed < this.limit) return;
    this.unflushed = 0;
    this.flushes++;
    await this.store.flush();
  }
}
