/**
 * The index as a read session sees it (status, diff, ls, cat, push: no writer lock). It shares
 * LevelDB's stat cache and directory records with every other dv (reading them saves re-hashing,
 * writing them helps the next command), but never writes where objects are: packs it finds on
 * disk that LevelDB does not know, packs that are gone, corrupt copies it drops, all stay in
 * memory. So a reader slipping in between two calls of a writer (gc removing a pack, then
 * deleting its files) can never put back a location the writer just took away. What a reader
 * may see is a writer's sequence half done, as any reader racing a writer may: objects stored
 * after it looked read as absent, a pack gc deletes after it looked up a location reads as
 * gone (OBJECT_MISSING, as before), and during `dv fsck --rebuild-index` (clear, then every
 * pack again) the store looks empty for that moment. None of it is written anywhere.
 *
 * When LevelDB stays held by another process for the whole wait (an older dv, a process that
 * was stopped while holding it), the reader tells `onFallback` once, fills memory from the pack
 * indexes on disk and works from there for the rest of the command: the same answers, but with
 * no stat cache every file is read and hashed again. It does the same, silently, when LevelDB
 * cannot be opened at all (a read-only repository, a full disk, a damaged index).
 */
import { DvError } from '../errors.js';
import { MemoryIndex, type DirStat, type Index, type LevelIndex, type StatEntry } from './index-db.js';
import type { HolderNote } from './index-handle.js';
import type { ObjectLocation, PackEntry } from './pack-index.js';

export class ReaderIndex implements Index {
  /** Packs found on disk by this process, dropped corrupt copies, packs known to be gone. */
  private readonly overlay = new MemoryIndex();
  private readonly dropped = new Set<string>();
  private readonly gone = new Set<string>();
  private fallback: Promise<void> | undefined;
  private fellBack = false;

  /**
   * @param load fills an index with every pack on disk (the fallback)
   * @param onFallback told once when LevelDB stayed held, with the holder when its note named one
   */
  constructor(
    readonly level: LevelIndex,
    private readonly load: (into: Index) => Promise<void>,
    private readonly onFallback: (holder: HolderNote | undefined) => void,
  ) {}

  /** False once the command works from memory (LevelDB could not be had). */
  get persistent(): boolean {
    return !this.fellBack;
  }

  /** `fn` on LevelDB, or undefined once LevelDB stayed busy (the caller answers from memory). */
  private async shared<T>(fn: (l: LevelIndex) => Promise<T>): Promise<T | undefined> {
    if (!this.fellBack) {
      try {
        return await fn(this.level);
      } catch (e) {
        // Only a failure to open LevelDB (busy, read-only, full, damaged) names its folder.
        if (!(e instanceof DvError) || (e.data as { dir?: string }).dir !== this.level.handle.dir) throw e;
        this.fallback ??= this.fallBack(e);
      }
    }
    await this.fallback;
    return undefined;
  }

  private async fallBack(e: DvError): Promise<void> {
    this.fellBack = true;
    if (e.code === 'REPO_LOCKED') this.onFallback((e.data as { holder?: HolderNote }).holder);
    await this.load(this.overlay);
    for (const p of this.gone) await this.overlay.forgetPacks(new Set([p]));
  }

  async getLocations(ids: string[]): Promise<(ObjectLocation | undefined)[]> {
    const base = (await this.shared((l) => l.getLocations(ids))) ?? [];
    const mine = await this.overlay.getLocations(ids);
    return ids.map((id, i) => {
      if (this.dropped.has(id)) return undefined;
      const b = base[i];
      return b && !this.gone.has(b.pack) ? b : mine[i];
    });
  }

  addPack(packId: string, entries: PackEntry[]): Promise<void> {
    this.gone.delete(packId);
    return this.overlay.addPack(packId, entries);
  }

  /** The sums LevelDB recorded for the pack; none once working from memory (a push then checks frames in full). */
  async frameSums(packId: string): Promise<Map<number, string>> {
    return (await this.shared((l) => l.frameSums(packId))) ?? new Map();
  }

  async removePack(packId: string, ids: string[]): Promise<void> {
    this.gone.add(packId);
    await this.overlay.removePack(packId, ids);
  }

  async dropObjects(ids: string[]): Promise<void> {
    for (const id of ids) this.dropped.add(id);
    await this.overlay.dropObjects(ids);
  }

  async forgetPacks(packIds: Set<string>): Promise<number> {
    for (const p of packIds) this.gone.add(p);
    return this.overlay.forgetPacks(packIds);
  }

  async knownPacks(): Promise<Set<string>> {
    const out = (await this.shared((l) => l.knownPacks())) ?? new Set<string>();
    for (const p of await this.overlay.knownPacks()) out.add(p);
    for (const p of this.gone) out.delete(p);
    return out;
  }

  async idsWithPrefix(prefix: string, limit: number): Promise<string[]> {
    const found = new Set((await this.shared((l) => l.idsWithPrefix(prefix, limit))) ?? []);
    for (const id of await this.overlay.idsWithPrefix(prefix, limit)) found.add(id);
    for (const id of this.dropped) found.delete(id);
    return [...found].sort().slice(0, Math.max(limit, 0));
  }

  async getStats(paths: string[]): Promise<(StatEntry | undefined)[]> {
    return (await this.shared((l) => l.getStats(paths))) ?? this.overlay.getStats(paths);
  }

  async putStats(entries: [string, StatEntry | undefined][]): Promise<void> {
    if ((await this.shared((l) => l.putStats(entries).then(() => true))) === undefined) await this.overlay.putStats(entries);
  }

  async getDirs(paths: string[]): Promise<(DirStat | undefined)[]> {
    return (await this.shared((l) => l.getDirs(paths))) ?? this.overlay.getDirs(paths);
  }

  async putDirs(entries: [string, DirStat | undefined][]): Promise<void> {
    if ((await this.shared((l) => l.putDirs(entries).then(() => true))) === undefined) await this.overlay.putDirs(entries);
  }

  /** Only what this process holds in memory: clearing LevelDB is a writer's (`dv fsck --rebuild-index`). */
  async clear(): Promise<void> {
    await this.overlay.clear();
    this.dropped.clear();
    this.gone.clear();
  }

  close(): Promise<void> {
    return this.level.close();
  }
}
