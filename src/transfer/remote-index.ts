/**
 * What a remote holds, from its own pack indexes: listed with one paginated LIST, downloaded
 * once each, verified against their names, and cached under `.dv/remotes/<name>/`.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import pLimit from 'p-limit';
import type { Backend } from '../backend/backend.js';
import { blake3Hex } from '../core/hash.js';
import { writeFileAtomic } from '../store/atomic.js';
import { decodePackIndex, type PackEntry } from '../store/pack-index.js';
import { FLAG_FRAME } from '../store/codec.js';
import { INDEX_PREFIX, packIdOfIndexKey, remoteIndexKey } from './layout.js';

export interface RemoteLoc {
  pack: string;
  offset: number;
  length: number;
  rawSize: number;
  flags: number;
  /** Offset inside the decompressed frame (flag 2). */
  inner: number;
}

/** One object of a remote frame. */
export interface FrameMember { id: string; rawSize: number; inner: number }

/** The key of the frame at `offset` in `pack`. */
export const frameKey = (pack: string, offset: number): string => `${pack}:${offset}`;

export class RemoteIndex {
  readonly objects = new Map<string, RemoteLoc>();
  readonly packs = new Set<string>();
  /** Every object of each remote frame (pack:offset), so a fetched frame can be kept whole. */
  readonly frames = new Map<string, FrameMember[]>();
  /** Requests made to refresh this index (LIST pages are not counted separately). */
  downloaded = 0;
  /**
   * Index keys whose bytes do not match their name (an upload cut short on a store without
   * atomic PUTs): ignored, so their objects count as absent and a push sends them again.
   */
  readonly damaged: string[] = [];

  private constructor(private readonly cacheDir: string) {}

  /** What a remote that does not exist yet holds: nothing. */
  static empty(cacheDir: string): RemoteIndex {
    return new RemoteIndex(cacheDir);
  }

  /** Lists the remote's indexes, downloads the ones not cached yet, and loads them all. */
  static async load(backend: Backend, cacheDir: string, jobs = 8): Promise<RemoteIndex> {
    const ri = new RemoteIndex(cacheDir);
    await fsp.mkdir(cacheDir, { recursive: true });
    const listed: string[] = [];
    for await (const { key } of backend.list(INDEX_PREFIX)) {
      const packId = packIdOfIndexKey(key);
      if (packId) listed.push(packId);
    }
    const cached = new Set((await fsp.readdir(cacheDir)).filter((f) => /^[0-9a-f]{64}\.idx$/.test(f)).map((f) => f.slice(0, 64)));
    const limit = pLimit(jobs);
    await Promise.all(listed.map((packId) => limit(async () => {
      let bytes: Buffer | undefined;
      if (cached.has(packId)) {
        bytes = await fsp.readFile(join(cacheDir, `${packId}.idx`));
        if (blake3Hex(bytes) !== packId) bytes = undefined;
      }
      if (!bytes) {
        bytes = await backend.get(remoteIndexKey(packId));
        ri.downloaded++;
        if (blake3Hex(bytes) !== packId) {
          ri.damaged.push(remoteIndexKey(packId));
          return;
        }
        await writeFileAtomic(join(cacheDir, `${packId}.idx`), bytes);
      }
      ri.addPack(packId, decodePackIndex(bytes, packId));
    })));
    // Indexes the remote no longer lists (removed by a remote gc) are forgotten.
    const live = new Set(listed);
    for (const packId of cached) if (!live.has(packId)) await fsp.rm(join(cacheDir, `${packId}.idx`), { force: true });
    return ri;
  }

  addPack(packId: string, entries: PackEntry[]): void {
    this.packs.add(packId);
    for (const e of entries) {
      if (!this.objects.has(e.id)) this.objects.set(e.id, { pack: packId, offset: e.offset, length: e.length, rawSize: e.rawSize, flags: e.flags, inner: e.inner ?? 0 });
      if (e.flags !== FLAG_FRAME) continue;
      const key = frameKey(packId, e.offset);
      let members = this.frames.get(key);
      if (!members) this.frames.set(key, (members = []));
      members.push({ id: e.id, rawSize: e.rawSize, inner: e.inner ?? 0 });
    }
  }

  /** Records a pack this process uploaded, and caches its index. */
  async recordUpload(packId: string, idxBytes: Buffer, entries: PackEntry[]): Promise<void> {
    await writeFileAtomic(join(this.cacheDir, `${packId}.idx`), idxBytes);
    this.addPack(packId, entries);
  }

  has(id: string): boolean {
    return this.objects.has(id);
  }

  /** Ids the remote holds that start with `prefix` (lowercase hex), at most `max` of them. */
  idsWithPrefix(prefix: string, max: number): string[] {
    const found: string[] = [];
    for (const id of this.objects.keys()) {
      if (!id.startsWith(prefix)) continue;
      found.push(id);
      if (found.length >= max) break;
    }
    return found;
  }
}
