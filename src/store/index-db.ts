/**
 * The index: a cache in LevelDB (classic-level) of where each object lives and of what each
 * workspace file hashed to (path + size + mtime + inode → file id). It can always be rebuilt
 * from the pack indexes (`dv fsck --rebuild-index`). Beside the stat cache of files it keeps one
 * of directories (`DirStat`): what a directory's files' stat data summed up to, and the tree it
 * gave, so a scan of an unchanged directory reads one key instead of one per file.
 * LevelDB admits one process at a time: each call opens it if need be and it is let go when
 * idle (index-handle.ts), so other dv processes get turns; a reader that still cannot get it
 * works from a MemoryIndex filled from the pack indexes (reader-index.ts).
 */
import { randomBytes } from 'node:crypto';
import { IndexHandle, type HandleOptions } from './index-handle.js';
import { decodeFrameSums, encodeFrameSums, locationIn, type ObjectLocation, type PackEntry } from './pack-index.js';

export interface StatEntry {
  size: number;
  mtimeMs: number;
  ino: number;
  id: string;
  chunked: boolean;
}

/**
 * A directory as a scan last saw it: `files` is the digest of its files' names and stat data
 * (size, mtime, inode, exec bit), `subdirs` its subdirectories' entries, and `id`/`size`/`count`
 * the tree they made. Holds only when every file was vouched for (no racy mtime).
 */
export interface DirStat {
  files: string;
  subdirs: [name: string, id: string, size: number, files: number][];
  id: string;
  size: number;
  count: number;
  /**
   * The index generation (`Index#generation`) at which every object the tree names, down to the
   * last chunk, was in the store: a writer's scan that finds it unchanged need not look them up.
   */
  complete?: string;
}

export interface Index {
  /** False for the in-memory fallback: nothing written to it outlives the process. */
  readonly persistent: boolean;
  getLocations(ids: string[]): Promise<(ObjectLocation | undefined)[]>;
  /** Records a pack's objects, and the sums of its frames where its entries carry them (`PackEntry.sum`). */
  addPack(packId: string, entries: PackEntry[]): Promise<void>;
  /**
   * The sums of a pack's frames as recorded by `addPack` (frame offset → sum): empty for a pack
   * recorded without them (written by an older dv, fetched, or after a rebuild). Absent where the
   * index keeps none.
   */
  frameSums?(packId: string): Promise<Map<number, string>>;
  removePack(packId: string, ids: string[]): Promise<void>;
  /** Forgets where objects live (a corrupt copy): they read as missing until fetched again. */
  dropObjects(ids: string[]): Promise<void>;
  /** Forgets packs that are gone from disk, and every object located in them (a scan). */
  forgetPacks(packIds: Set<string>): Promise<number>;
  knownPacks(): Promise<Set<string>>;
  idsWithPrefix(prefix: string, limit: number): Promise<string[]>;
  getStats(paths: string[]): Promise<(StatEntry | undefined)[]>;
  /**
   * False when no path at or below `rel` can have a stat entry (a first `dv add` of it): a scan
   * then skips a lookup per file that could only miss. Absent where the index cannot tell.
   */
  mayHaveStatsUnder?(rel: string): Promise<boolean>;
  putStats(entries: [string, StatEntry | undefined][]): Promise<void>;
  getDirs(paths: string[]): Promise<(DirStat | undefined)[]>;
  putDirs(entries: [string, DirStat | undefined][]): Promise<void>;
  /**
   * A token that changes whenever objects may have left the index (removePack, dropObjects,
   * forgetPacks, clear): while it stays the same, whatever was in the store still is. Absent
   * where the index cannot tell (a reader's view): callers then look objects up one by one.
   */
  generation?(): Promise<string>;
  /**
   * Packs some of whose objects were dropped as corrupt (`dropObjects`): their pack index still
   * lists those copies, so it is no guide to what the store holds (store/pack-locator.ts).
   * Absent where the index cannot tell: callers then ask it object by object.
   */
  taintedPacks?(): Promise<Set<string>>;
  clear(): Promise<void>;
  close(): Promise<void>;
}

const OBJ = 'o:';
/** A pack the index knows; its value holds the sums of the frames it wrote (empty when none). */
const PACK = 'p:';
const STAT = 's:';
const DIR = 'd:';
const GEN = 'g:';
const TAINT = 't:';

/** A fresh generation token: random, so one taken after `clear` never equals one before it. */
const newGeneration = (): string => randomBytes(12).toString('hex');

/** A stored DirStat, or undefined when it is not one (an older or damaged value: a cache miss). */
function decodeDir(v: Buffer | undefined): DirStat | undefined {
  if (!v) return undefined;
  try {
    const d = JSON.parse(v.toString('utf8')) as DirStat;
    return typeof d.files === 'string' && typeof d.id === 'string' && Array.isArray(d.subdirs) ? d : undefined;
  } catch {
    return undefined;
  }
}

/** 47 bytes, or 51 with `inner` for a framed object (values written before frames are 47 bytes). */
function encodeLoc(l: ObjectLocation): Buffer {
  const b = Buffer.alloc(l.inner ? 51 : 47);
  b.write(l.pack, 0, 32, 'hex');
  b.writeUIntBE(l.offset, 32, 6);
  b.writeUInt32BE(l.length, 38);
  b.writeUInt32BE(l.rawSize, 42);
  b.writeUInt8(l.flags, 46);
  if (l.inner) b.writeUInt32BE(l.inner, 47);
  return b;
}

function decodeLoc(b: Buffer): ObjectLocation {
  return {
    pack: b.toString('hex', 0, 32),
    offset: b.readUIntBE(32, 6),
    length: b.readUInt32BE(38),
    rawSize: b.readUInt32BE(42),
    flags: b.readUInt8(46),
    inner: b.length >= 51 ? b.readUInt32BE(47) : 0,
  };
}

/**
 * The index in LevelDB, through a handle opened on demand and let go when idle (index-handle.ts).
 * Each method is one `use` of the handle, so each is atomic against other processes (a
 * read-then-delete in `removePack`, the scan of `forgetPacks`), while between two calls another
 * dv may have the index. That is safe because only a writer (who holds `.dv/lock`, one at a time)
 * changes where objects are (a read session keeps such changes in memory: reader-index.ts);
 * readers write only the stat cache and directory records, caches whose every entry is checked
 * against the file system (size, mtime, inode; a directory's digest) and the store before use,
 * so a writer's sequence of calls (look up, write a pack, record it) sees no change it did not make
 * to object locations, and at worst a stat entry it did not write, which is as true as its own.
 */
export class LevelIndex implements Index {
  readonly persistent = true;
  readonly handle: IndexHandle;

  constructor(opts: HandleOptions) {
    this.handle = new IndexHandle(opts);
  }

  /** Lets go of LevelDB at once (`dv repro` while a stage's command runs); the next call opens it again. */
  pause(): Promise<void> {
    return this.handle.pause();
  }

  async getLocations(ids: string[]): Promise<(ObjectLocation | undefined)[]> {
    if (ids.length === 0) return [];
    const vals = await this.handle.use((db) => db.getMany(ids.map((id) => OBJ + id)));
    return vals.map((v) => (v ? decodeLoc(v) : undefined));
  }

  async addPack(packId: string, entries: PackEntry[]): Promise<void> {
    await this.handle.use(async (db) => {
      const batch = db.batch();
      for (const e of entries) batch.put(OBJ + e.id, encodeLoc(locationIn(packId, e)));
      batch.put(PACK + packId, encodeFrameSums(entries));
      await batch.write();
    });
  }

  async frameSums(packId: string): Promise<Map<number, string>> {
    return decodeFrameSums(await this.handle.use((db) => db.get(PACK + packId)));
  }

  async removePack(packId: string, ids: string[]): Promise<void> {
    await this.handle.use(async (db) => {
      const current = ids.length > 0 ? await db.getMany(ids.map((id) => OBJ + id)) : [];
      const batch = db.batch();
      ids.forEach((id, i) => {
        const v = current[i];
        if (v && decodeLoc(v).pack === packId) batch.del(OBJ + id);
      });
      batch.del(PACK + packId);
      batch.put(GEN, Buffer.from(newGeneration()));
      await batch.write();
    });
  }

  async dropObjects(ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    const gen = { type: 'put' as const, key: GEN, value: Buffer.from(newGeneration()) };
    await this.handle.use(async (db) => {
      // The packs that held them are marked in the same batch: their pack indexes still list them.
      const current = await db.getMany(ids.map((id) => OBJ + id));
      const packs = new Set(current.flatMap((v) => (v ? [decodeLoc(v).pack] : [])));
      const taints = [...packs].map((p) => ({ type: 'put' as const, key: TAINT + p, value: Buffer.alloc(0) }));
      await db.batch([...ids.map((id) => ({ type: 'del' as const, key: OBJ + id })), ...taints, gen]);
    });
  }

  taintedPacks(): Promise<Set<string>> {
    return this.handle.use(async (db) => {
      const out = new Set<string>();
      for await (const k of db.keys({ gte: TAINT, lt: TAINT + '\xff' })) out.add(k.slice(TAINT.length));
      return out;
    });
  }

  forgetPacks(packIds: Set<string>): Promise<number> {
    if (packIds.size === 0) return Promise.resolve(0);
    return this.handle.use(async (db) => {
      const batch = db.batch();
      let n = 0;
      for await (const [k, v] of db.iterator({ gte: OBJ, lt: OBJ + '\xff' })) {
        if (packIds.has(decodeLoc(v).pack)) {
          batch.del(k);
          n++;
        }
      }
      for (const p of packIds) batch.del(PACK + p);
      batch.put(GEN, Buffer.from(newGeneration()));
      await batch.write();
      return n;
    });
  }

  knownPacks(): Promise<Set<string>> {
    return this.handle.use(async (db) => {
      const out = new Set<string>();
      for await (const k of db.keys({ gte: PACK, lt: PACK + '\xff' })) out.add(k.slice(PACK.length));
      return out;
    });
  }

  idsWithPrefix(prefix: string, limit: number): Promise<string[]> {
    return this.handle.use(async (db) => {
      const out: string[] = [];
      for await (const k of db.keys({ gte: OBJ + prefix, lt: OBJ + prefix + '\xff', limit })) out.push(k.slice(OBJ.length));
      return out;
    });
  }

  async getStats(paths: string[]): Promise<(StatEntry | undefined)[]> {
    if (paths.length === 0) return [];
    const vals = await this.handle.use((db) => db.getMany(paths.map((p) => STAT + p)));
    return vals.map((v) => (v ? (JSON.parse(v.toString('utf8')) as StatEntry) : undefined));
  }

  mayHaveStatsUnder(rel: string): Promise<boolean> {
    // Keys from `rel` up to `rel0`: `rel` itself, `rel/...` ('/' sorts just before '0'), and a few siblings such as `rel-x`.
    return this.handle.use(async (db) => (await db.keys({ gte: STAT + rel, lt: `${STAT}${rel}0`, limit: 1 }).all()).length > 0);
  }

  async putStats(entries: [string, StatEntry | undefined][]): Promise<void> {
    if (entries.length === 0) return;
    await this.handle.use(async (db) => {
      const batch = db.batch();
      for (const [p, s] of entries) {
        if (s) batch.put(STAT + p, Buffer.from(JSON.stringify(s)));
        else batch.del(STAT + p);
      }
      await batch.write();
    });
  }

  async getDirs(paths: string[]): Promise<(DirStat | undefined)[]> {
    if (paths.length === 0) return [];
    return (await this.handle.use((db) => db.getMany(paths.map((p) => DIR + p)))).map(decodeDir);
  }

  async putDirs(entries: [string, DirStat | undefined][]): Promise<void> {
    if (entries.length === 0) return;
    await this.handle.use(async (db) => {
      const batch = db.batch();
      for (const [p, d] of entries) {
        if (d) batch.put(DIR + p, Buffer.from(JSON.stringify(d)));
        else batch.del(DIR + p);
      }
      await batch.write();
    });
  }

  async generation(): Promise<string> {
    return this.handle.use(async (db) => {
      const v = await db.get(GEN);
      if (v) return v.toString('utf8');
      // An index from before generations: one is started now (records carry none yet).
      const g = newGeneration();
      await db.put(GEN, Buffer.from(g));
      return g;
    });
  }

  async clear(): Promise<void> {
    await this.handle.use(async (db) => {
      await db.clear();
      await db.put(GEN, Buffer.from(newGeneration()));
    });
  }

  close(): Promise<void> {
    return this.handle.close();
  }
}

/** An index held in memory, filled from pack indexes: for readers while another process writes. */
export class MemoryIndex implements Index {
  readonly persistent = false;
  private readonly objs = new Map<string, ObjectLocation>();
  private readonly packs = new Set<string>();
  private readonly stats = new Map<string, StatEntry>();
  private readonly dirs = new Map<string, DirStat>();
  private gen = newGeneration();

  async getLocations(ids: string[]): Promise<(ObjectLocation | undefined)[]> {
    return ids.map((id) => this.objs.get(id));
  }
  async addPack(packId: string, entries: PackEntry[]): Promise<void> {
    for (const e of entries) this.objs.set(e.id, locationIn(packId, e));
    this.packs.add(packId);
  }
  async removePack(packId: string, ids: string[]): Promise<void> {
    for (const id of ids) if (this.objs.get(id)?.pack === packId) this.objs.delete(id);
    this.packs.delete(packId);
    this.gen = newGeneration();
  }
  private readonly tainted = new Set<string>();
  async dropObjects(ids: string[]): Promise<void> {
    for (const id of ids) {
      const l = this.objs.get(id);
      if (l) this.tainted.add(l.pack);
      this.objs.delete(id);
    }
    this.gen = newGeneration();
  }
  async taintedPacks(): Promise<Set<string>> {
    return new Set(this.tainted);
  }
  async forgetPacks(packIds: Set<string>): Promise<number> {
    let n = 0;
    for (const [id, l] of this.objs)
      if (packIds.has(l.pack)) {
        this.objs.delete(id);
        n++;
      }
    for (const p of packIds) this.packs.delete(p);
    this.gen = newGeneration();
    return n;
  }
  async generation(): Promise<string> {
    return this.gen;
  }
  async knownPacks(): Promise<Set<string>> {
    return new Set(this.packs);
  }
  async idsWithPrefix(prefix: string, limit: number): Promise<string[]> {
    const out: string[] = [];
    for (const id of this.objs.keys()) if (id.startsWith(prefix) && out.push(id) >= limit) break;
    return out.sort();
  }
  async getStats(paths: string[]): Promise<(StatEntry | undefined)[]> {
    return paths.map((p) => this.stats.get(p));
  }
  async putStats(entries: [string, StatEntry | undefined][]): Promise<void> {
    for (const [p, s] of entries)
      if (s) this.stats.set(p, s);
      else this.stats.delete(p);
  }
  async getDirs(paths: string[]): Promise<(DirStat | undefined)[]> {
    return paths.map((p) => this.dirs.get(p));
  }
  async putDirs(entries: [string, DirStat | undefined][]): Promise<void> {
    for (const [p, d] of entries)
      if (d) this.dirs.set(p, d);
      else this.dirs.delete(p);
  }
  async clear(): Promise<void> {
    this.gen = newGeneration();
    this.dirs.clear();
    this.objs.clear();
    this.packs.clear();
    this.stats.clear();
  }
  async close(): Promise<void> {}
}
