/**
 * Turns a tracked path in the workspace into trees: walk, stat, look each file up in the
 * stat cache (size + mtime + inode), hash only what the cache cannot vouch for, and build the
 * Merkle trees bottom-up. With a sink, new chunks and trees are stored (add, commit); without,
 * nothing is written but the stat cache and directory records (status, diff).
 *
 * Memory is bounded by the work in flight, not by the file count: the walk goes directory by
 * directory (depth first, names sorted); a directory's entries are held until its tree is
 * encoded, files the cache cannot vouch for wait in batches for the hashing pool (at most
 * HASH_BATCH_FILES / HASH_BATCH_BYTES; the walk gathers the next batch while the workers hash
 * one), and stat-cache reads and writes go in batches of
 * STAT_BATCH keys. Finished trees are kept (`trees`) only when the store lacks them.
 *
 * A directory whose files' names and stat data match its record in the index (DirStat) is not
 * looked up file by file: its recorded tree is reused by id when its subdirectories match too
 * (and the store holds that tree; with a sink, every file object it names as well), so status
 * and commit cost one key per unchanged directory and re-encode only the trees on changed paths.
 * Records are written only for directories whose every file was vouched for (no racy mtime, no
 * symlink), and are a cache like the stat cache: a mismatch falls back to the per-file path.
 * A scan with a sink stamps its records with the index's generation (`DirStat.complete`): while
 * that holds and the tree is in the store, so is every object under it, and the next writer's
 * scan takes the directory from its record without reading the tree or looking a file up.
 */
import { closeSync, constants as fsc, fstatSync, openSync, promises as fsp, readSync, realpathSync, type Stats } from 'node:fs';
import { join, posix, resolve, relative, sep, isAbsolute, basename } from 'node:path';
import { CHUNKER_V1 } from '../core/chunker.js';
import { blake3Hex } from '../core/hash.js';
import { decodeTree, encodeTree, sortEntries, badEntryName, type Tree, type TreeEntry } from '../core/tree.js';
import { DvError, fsError } from '../errors.js';
import type { DirStat, Index, StatEntry } from '../store/index-db.js';
import { HashPool, type PackSink } from './hash-pool.js';
import type { IngestResult } from './ingest.js';
import { STAT_FIELDS } from './lstat-row.js';
import { fileStat, listDirStats, type FileStat } from './walk.js';

export interface ScanProgress {
  filesSeen: number;
  filesHashed: number;
  bytesHashed: number;
}

export interface ScanOptions {
  /** Repository root (absolute). */
  root: string;
  /** Tracked path relative to the root, '/'-separated. */
  rel: string;
  index: Index;
  /** Where to store new objects; omit to only hash. */
  sink?: PackSink & { putObject(bytes: Buffer): Promise<string>; get(id: string): Promise<Buffer> };
  onProgress?: (p: ScanProgress) => void;
  /** Keep every tree built in `trees` (default: only those the store lacks). */
  allTrees?: boolean;
  /** Files per hashing batch (default HASH_BATCH_FILES; tests use a few to make many batches). */
  batchFiles?: number;
  /**
   * The hashing pool, owned by the caller (one for the scans of a command that snapshots several
   * paths: its workers start once); its sink must store where `sink` does. Else the scan starts
   * and stops its own.
   */
  pool?: HashPool;
}

export interface ScanResult {
  kind: 'dir' | 'file';
  /** Root tree id (for a single file: a tree holding that one entry). */
  tree: string;
  size: number;
  files: number;
  /** Trees built that the store lacks (every tree with `allTrees`), by id: an overlay for diffs against the workspace. */
  trees: Map<string, Tree>;
  filesHashed: number;
  bytesHashed: number;
  /** Checkout temp files the walk skipped (relative to the tracked path). */
  temps: string[];
}

// A file modified within this window of our stat could change again without changing its
// mtime (coarse kernel clocks): such "racily clean" entries are not cached.
const RACY_MS = 20;

interface Item {
  rel: string; // relative to the tracked root, posix
  stats: FileStat;
}

/** A directory's regular files as listed (walk.ts DirStats): names, and STAT_FIELDS numbers each. */
interface Files {
  names: string[];
  stats: Float64Array;
}

/** The files of `f` as scan items (paths relative to the tracked root): built only for directories looked up file by file. */
function itemsOf(f: Frame, files: Files): Item[] {
  return files.names.map((name, k) => ({ rel: f.rel ? `${f.rel}/${name}` : name, stats: fileStat(files.stats, k) }));
}

function isExec(mode: number): boolean {
  return (mode & 0o111) !== 0;
}

/** Checks that a symlink at `linkRel` (inside the tracked root) with `target` stays inside it. */
export function linkEscapes(linkRel: string, target: string): boolean {
  if (isAbsolute(target) || target.startsWith('/')) return true;
  const resolved = posix.normalize(posix.join(posix.dirname(linkRel), target));
  return resolved === '..' || resolved.startsWith('../');
}

/**
 * Files waiting for the hashing pool, and their bytes: one pool run per batch (the workers live
 * for the whole scan). A run ends with every worker's pack sealed, so batches are not small:
 * 8,192 queued files hold some 2.5 MB (paths, stat data, results), and the directories waiting
 * for them their entries; all of it lives through a batch and dies together, and the JS heap
 * grows with it. Two batches are alive at once, one being hashed and the next being gathered
 * (hashQueued): at 16,384 each, `dv add` of 300,000 files peaked some 25 MB higher for the same
 * CPU time. Bytes only bound how long directories wait for their trees.
 */
const HASH_BATCH_FILES = 8192;
const HASH_BATCH_BYTES = 1024 * 1024 * 1024;
/** Progress is told once per this many files hashed (a power of two), and at the end of each batch. */
const PROGRESS_EVERY = 64;
/** Keys per stat-cache read or write. */
const STAT_BATCH = 4096;
/**
 * A name badEntryName has nothing against (ASCII, no `/`, `\` or NUL, not `.`/`..`, not taken for
 * `.git` or `.dv`: those start with a dot or hold `~`, at most 255 bytes): the full check is
 * skipped for it, since it runs once per file of every status.
 */
const PLAIN_NAME = /^[A-Za-z0-9_+=,@-][A-Za-z0-9._+=,@-]{0,254}$/;

/** A directory being scanned: its entries so far, and how many it still waits for (subdirectories, files being hashed). */
interface Frame {
  abs: string;
  rel: string; // relative to the tracked root, posix ('' for the root)
  parent: Frame | null;
  entries: TreeEntry[];
  waiting: number;
  /** Digest of its files' names and stat data (dirStatDigest), once listed. */
  sig?: string;
  /** Its record, read with its siblings' when the parent was listed (null: none); undefined: not read yet. */
  record?: DirStat | null;
  /** Whether the store held the record's tree when the parent was listed (one lookup for all siblings). */
  recordInStore?: boolean;
  /** Every file vouched for (a stat-cache hit, or hashed with a mtime that is not racy), no symlinks. */
  vouched?: boolean;
  /** The directory cache's record, when its files are as recorded: their entries are then not looked up (yet). */
  cached?: DirStat;
  /** The files as listed, kept while `cached` stands in for them. */
  files?: Files;
  /** `entries` holds the files' entries, taken from the recorded tree (with a sink, checked against the store). */
  filesKnown?: boolean;
}

/**
 * What a directory's files look like to the stat cache: names, sizes, mtimes, inodes, exec bits,
 * in name order. The BLAKE3 of: the file count, then per file its size, mtimeMs, inode and exec
 * bit (0/1), each a float64 in this machine's byte order (the index is a cache of this machine),
 * then the names joined by NUL (which no name holds) in UTF-8. Numbers as bytes, not as text:
 * formatting a fractional mtime was most of the digest's cost.
 */
export function dirStatDigest(files: { name: string; stats: FileStat }[]): string {
  const stats = new Float64Array(files.length * STAT_FIELDS);
  for (const [k, f] of files.entries()) stats.set([f.stats.size, f.stats.mtimeMs, f.stats.ino, f.stats.mode], k * STAT_FIELDS);
  return filesDigest({ names: files.map((f) => f.name), stats });
}

/** dirStatDigest of a listing's columns. */
function filesDigest(files: Files): string {
  const n = files.names.length;
  const nums = new Float64Array(1 + n * 4);
  nums[0] = n;
  const st = files.stats;
  for (let k = 0, i = 1, at = 0; k < n; k++, i += 4, at += STAT_FIELDS) {
    nums[i] = st[at];
    nums[i + 1] = st[at + 1];
    nums[i + 2] = st[at + 2];
    nums[i + 3] = isExec(st[at + 3]) ? 1 : 0;
  }
  return blake3Hex(
    Buffer.concat([Buffer.from(nums.buffer, nums.byteOffset, nums.byteLength), Buffer.from(files.names.join('\0'), 'utf8')]),
  );
}

const subdirRows = (entries: TreeEntry[]): DirStat['subdirs'] =>
  entries.flatMap((e) => (e.type === 'dir' ? [[e.name, e.id, e.size, e.files] as DirStat['subdirs'][number]] : []));

export async function scanPath(opts: ScanOptions): Promise<ScanResult> {
  const abs = join(opts.root, ...opts.rel.split('/'));
  let top: Stats;
  try {
    top = await fsp.lstat(abs);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT')
      throw new DvError('PATH_NOT_FOUND', `${opts.rel} does not exist`, { path: opts.rel });
    throw fsError(e, abs);
  }
  if (!top.isFile() && !top.isDirectory())
    throw new DvError('USAGE', `${opts.rel} is neither a regular file nor a directory`, { path: opts.rel });
  const scan = new Scan(opts, abs);
  try {
    // With a sink, records stamped with the index's generation vouch for every object under them.
    if (opts.sink) scan.gen = await opts.index.generation?.();
    scan.statsLikely = (await opts.index.mayHaveStatsUnder?.(opts.rel)) ?? true;
    const result = top.isFile() ? await scan.file(top) : await scan.directory();
    await scan.putStats(true);
    return result;
  } finally {
    await scan.settle();
    if (!opts.pool) await scan.pool.close();
  }
}

/** A file waiting to be hashed, with the directory that waits for it. */
interface Queued {
  frame: Frame;
  item: Item;
}

/** Files handed to the pool, when (`now`), and their results to come. */
interface Batch {
  batch: Queued[];
  now: number;
  hashed: Promise<IngestResult[]>;
}

interface DirInfo {
  id: string;
  size: number;
  files: number;
}

/** One scan of a tracked path: its stat-cache traffic, hashing queue and the trees it builds. */
class Scan {
  readonly progress: ScanProgress = { filesSeen: 0, filesHashed: 0, bytesHashed: 0 };
  /** Trees built that the store lacks (all of them with `allTrees`). */
  readonly trees = new Map<string, Tree>();
  private statUpdates: [string, StatEntry][] = [];
  private dirUpdates: [string, DirStat][] = [];
  /** Files the stat cache cannot vouch for, waiting to be hashed, with the directory that waits for each. */
  private queue: Queued[] = [];
  private queuedBytes = 0;
  /** The batch the pool is hashing while the walk goes on. */
  private hashing: Batch | undefined;
  private rootInfo: DirInfo | undefined;
  /** One pool of hashing workers for the whole scan (started at the first batch), or the caller's. */
  readonly pool: HashPool;
  /**
   * The index generation when a scan with a sink started: every tree it finishes is complete in
   * the store (each file found there or stored), and its record says so (`DirStat.complete`).
   */
  gen: string | undefined;
  /** False when the index holds no stat entry under the tracked path (a first add): every lookup would miss, so none is made. */
  statsLikely = true;

  constructor(
    private readonly opts: ScanOptions,
    private readonly abs: string,
  ) {
    this.pool = opts.pool ?? new HashPool(opts.sink ?? null);
  }

  private repoKey(rel: string): string {
    return rel ? `${this.opts.rel}/${rel}` : this.opts.rel;
  }

  private entryFor(rel: string, stats: FileStat, id: string, chunked: boolean): TreeEntry {
    const name = rel ? basename(rel) : basename(this.opts.rel);
    return { type: 'file', name, size: stats.size, id, chunked, exec: isExec(stats.mode) };
  }

  /** Writes the stat and directory records gathered so far, in batches (all of them with `force`). */
  async putStats(force: boolean): Promise<void> {
    if (this.statUpdates.length > 0 && (force || this.statUpdates.length >= STAT_BATCH)) {
      const batch = this.statUpdates;
      this.statUpdates = [];
      await this.opts.index.putStats(batch);
    }
    if (this.dirUpdates.length > 0 && (force || this.dirUpdates.length >= STAT_BATCH / 16)) {
      const batch = this.dirUpdates;
      this.dirUpdates = [];
      await this.opts.index.putDirs(batch);
    }
  }

  /** Whether the record vouches that its tree and everything under it are still in the store. */
  private isComplete(c: DirStat): boolean {
    return this.gen !== undefined && c.complete === this.gen;
  }

  /**
   * A stamped record whose tree is in the store: then so is everything under it. (Records are
   * written while the trees they name may still wait in memory for a pack, and a killed dv loses
   * those; pending objects are written in the order they were put, children before parents and
   * after the chunks the workers sealed, so a tree that made it to the store has everything below.)
   */
  private async completeInStore(f: Frame, c: DirStat): Promise<boolean> {
    return this.isComplete(c) && (f.recordInStore ?? (await this.inStore(c.id)));
  }

  private async inStore(id: string): Promise<boolean> {
    return (await this.opts.index.getLocations([id]))[0] !== undefined;
  }

  /** Looks `items` (files of `frame`) up in the stat cache: hits become entries, misses wait in the queue. */
  private async resolveFiles(frame: Frame, items: Item[]): Promise<void> {
    for (let at = 0; at < items.length; at += STAT_BATCH) {
      const part = items.slice(at, at + STAT_BATCH);
      const cached = this.statsLikely ? await this.opts.index.getStats(part.map((i) => this.repoKey(i.rel))) : [];
      const hits: { item: Item; c: StatEntry }[] = [];
      const misses: Item[] = [];
      part.forEach((item, i) => {
        const c = cached[i];
        const s = item.stats;
        if (c && c.size === s.size && c.mtimeMs === s.mtimeMs && c.ino === s.ino) hits.push({ item, c });
        else misses.push(item);
      });
      // The cache says what the file hashes to; with a sink the store must still hold it (gc may have run).
      const have = this.opts.sink && hits.length > 0 ? await this.opts.sink.hasMany(hits.map((h) => h.c.id)) : undefined;
      for (const [i, h] of hits.entries()) {
        if (!have || have[i]) frame.entries.push(this.entryFor(h.item.rel, h.item.stats, h.c.id, h.c.chunked));
        else misses.push(h.item);
      }
      for (const item of misses) {
        this.queue.push({ frame, item });
        this.queuedBytes += item.stats.size;
        frame.waiting++;
      }
    }
  }

  /** Whether the queue is large enough to hash now. */
  private get queueFull(): boolean {
    return this.queue.length >= (this.opts.batchFiles ?? HASH_BATCH_FILES) || this.queuedBytes >= HASH_BATCH_BYTES;
  }

  /**
   * Hands the queued files to the pool and then finishes the directories that waited for the
   * batch before them, once it is hashed: the walk and the finishing of one batch run on this
   * thread while the workers hash the next, so neither waits for the other. At most one batch is
   * being hashed (the pool runs one at a time) and one gathered.
   */
  private async hashQueued(): Promise<void> {
    const prev = this.hashing;
    this.hashing = undefined;
    const hashed = prev ? await prev.hashed : undefined;
    if (this.queue.length > 0) this.hashing = this.startBatch();
    if (prev) await this.finishBatch(prev, hashed!);
  }

  /** Whether files are queued or being hashed. */
  private get busy(): boolean {
    return this.queue.length > 0 || this.hashing !== undefined;
  }

  /** Waits for the batch being hashed, if any (after a failure elsewhere: its packs are sealed, not left half written). */
  async settle(): Promise<void> {
    await this.hashing?.hashed.catch(() => undefined);
  }

  private startBatch(): Batch {
    const batch = this.queue;
    this.queue = [];
    this.queuedBytes = 0;
    // (Before the files are read: a file whose mtime is older than this was not written while read.)
    const now = Date.now();
    const files = batch.map(({ frame, item }) => ({
      path: item.rel ? `${frame.abs}/${basename(item.rel)}` : this.abs,
      size: item.stats.size,
    }));
    const onFile = (bytes: number): void => {
      this.progress.filesHashed++;
      this.progress.bytesHashed += bytes;
      if ((this.progress.filesHashed & (PROGRESS_EVERY - 1)) === 0) this.opts.onProgress?.(this.progress);
    };
    const here = !this.opts.sink ? hashSmallHere(files, onFile) : undefined;
    const hashed = here ? Promise.resolve(here) : this.pool.hash(files, onFile);
    // Awaited by the next hashQueued (or settle); a failure surfaces there, not as an unhandled rejection.
    hashed.catch(() => undefined);
    return { batch, now, hashed };
  }

  /** Records the hashed files of `b` and finishes the directories that waited only for them. */
  private async finishBatch(b: Batch, hashed: IngestResult[]): Promise<void> {
    const { batch, now } = b;
    this.opts.onProgress?.(this.progress);
    for (let k = 0; k < batch.length; k++) {
      const { frame, item } = batch[k];
      const r = hashed[k];
      frame.entries.push(this.entryFor(item.rel, { ...item.stats, size: r.size }, r.id, r.chunked));
      if (!(now - item.stats.mtimeMs > RACY_MS && r.size === item.stats.size)) frame.vouched = false;
      else {
        const { size, mtimeMs, ino } = item.stats;
        this.statUpdates.push([this.repoKey(item.rel), { size, mtimeMs, ino, id: r.id, chunked: r.chunked }]);
      }
      frame.waiting--;
      await this.finishReady(frame);
    }
    await this.putStats(false);
  }

  private async storeTree(tree: Tree): Promise<string> {
    const bytes = encodeTree(tree);
    if (this.opts.sink) {
      // Stored (pending objects read back from the store): no overlay needed.
      const id = await this.opts.sink.putObject(bytes);
      if (this.opts.allTrees) this.trees.set(id, tree);
      return id;
    }
    const id = blake3Hex(bytes);
    // Only the trees the store lacks are kept: the rest a diff reads from the store.
    if (this.opts.allTrees || !(await this.inStore(id))) this.trees.set(id, tree);
    return id;
  }

  /**
   * With a sink, the recorded tree's files must all still be in the store (gc, a dropped corrupt
   * object), as the per-file path checks: true, and its file entries in `f`, when they are.
   */
  private async recordedFiles(f: Frame, c: DirStat, count: number): Promise<boolean> {
    const sink = this.opts.sink!;
    if (!(await sink.hasMany([c.id]))[0]) return false;
    const files = decodeTree(await sink.get(c.id), c.id).entries.filter((e) => e.type === 'file');
    if (files.length !== count) return false;
    const have = await sink.hasMany(files.map((e) => e.id));
    if (!have.every(Boolean)) return false;
    f.entries.push(...files);
    f.filesKnown = true;
    return true;
  }

  /**
   * A directory whose files are as recorded: the recorded tree, if its subdirectories did not
   * change either and the store has it (a diff reads it from there: no overlay). Otherwise the
   * record is dropped, and 'waiting' when its files must now be looked up and hashed one by one.
   */
  private async fromRecord(f: Frame): Promise<DirInfo | 'waiting' | undefined> {
    const c = f.cached!;
    const subs = subdirRows(sortEntries(f.entries)); // (file entries, when known, are left out)
    const same = subs.length === c.subdirs.length && subs.every((x, i) => x.every((v, k) => v === c.subdirs[i][k]));
    if (same && (f.filesKnown || (f.recordInStore ?? (await this.inStore(c.id))))) {
      // Verified now, file by file, with subdirectories that are complete: stamped, so the next scan need not.
      if (this.gen !== undefined && c.complete !== this.gen) this.dirUpdates.push([this.repoKey(f.rel), { ...c, complete: this.gen }]);
      return { id: c.id, size: c.size, files: c.count };
    }
    f.cached = undefined;
    if (!f.filesKnown && this.isComplete(c)) {
      // A subdirectory changed: the files are the recorded tree's (all in the store), one read instead of a lookup each.
      f.entries.push(...decodeTree(await this.opts.sink!.get(c.id), c.id).entries.filter((e) => e.type === 'file'));
      f.filesKnown = true;
    }
    if (f.filesKnown) return undefined; // a new tree of the recorded files and the new subdirectories
    // Only a subdirectory changed: now the files are looked up one by one after all.
    if (f.files) await this.resolveFiles(f, itemsOf(f, f.files));
    f.files = undefined;
    return f.waiting > 0 ? 'waiting' : undefined; // the hashing of its files finishes it
  }

  /** Encodes `frame` and its ancestors as far as each has nothing left to wait for. */
  private async finishReady(frame: Frame | null): Promise<void> {
    for (let f = frame; f && f.waiting === 0; f = f.parent) {
      let info = f.cached ? await this.fromRecord(f) : undefined;
      if (info === 'waiting') return;
      if (!info) {
        info = await finishDir(f.entries, (t) => this.storeTree(t));
        if (f.vouched && f.sig !== undefined) {
          const rec: DirStat = { files: f.sig, subdirs: subdirRows(f.entries), id: info.id, size: info.size, count: info.files };
          if (this.gen !== undefined) rec.complete = this.gen;
          this.dirUpdates.push([this.repoKey(f.rel), rec]);
        }
      }
      f.entries = [];
      if (!f.parent) {
        this.rootInfo = info;
        return;
      }
      f.parent.entries.push({ type: 'dir', name: basename(f.rel), id: info.id, size: info.size, files: info.files });
      f.parent.waiting--;
    }
  }

  private result(kind: 'file' | 'dir', info: DirInfo, temps: string[]): ScanResult {
    const { filesHashed, bytesHashed } = this.progress;
    return { kind, tree: info.id, size: info.size, files: info.files, trees: this.trees, filesHashed, bytesHashed, temps };
  }

  /** A tracked path that is one file: a tree of that one entry. */
  async file(top: Stats): Promise<ScanResult> {
    const frame: Frame = { abs: this.abs, rel: '', parent: null, entries: [], waiting: 1 };
    await this.resolveFiles(frame, [{ rel: '', stats: top }]);
    while (this.busy) await this.hashQueued();
    const entry = frame.entries[0];
    const tree = await this.storeTree({ entries: [entry] });
    return this.result('file', { id: tree, size: entry.type === 'file' ? entry.size : 0, files: 1 }, []);
  }

  /** A tracked directory: depth first, names in order (so packs follow the tree). */
  async directory(): Promise<ScanResult> {
    const temps: string[] = [];
    const realTop = { path: undefined as string | undefined };
    // The stack holds directories still to list.
    const todo: Frame[] = [{ abs: this.abs, rel: '', parent: null, entries: [], waiting: 1 }];
    for (let f = todo.pop(); f; f = todo.pop()) {
      await this.listFrame(f, todo, temps, realTop);
      if (this.queueFull) await this.hashQueued();
    }
    while (this.busy) await this.hashQueued();
    if (!this.rootInfo) throw new Error(`scan of ${this.opts.rel} ended with directories unfinished`);
    return this.result('dir', this.rootInfo, temps);
  }

  /** Lists one directory: its subdirectories onto `todo`, its files resolved (or taken from its record), its links. */
  private async listFrame(f: Frame, todo: Frame[], temps: string[], realTop: { path?: string }): Promise<void> {
    const l = listDirStats(f.abs);
    const at = (name: string): string => (f.rel ? `${f.rel}/${name}` : name);
    // (The path is only built for the error: this runs once per file of every status.)
    const unsafe = (name: string): void => {
      const why = badEntryName(name);
      if (why) throw new DvError('UNSAFE_PATH', `cannot track ${this.opts.rel}/${at(name)}: ${why}`, { path: at(name) });
    };
    for (const t of l.temps) temps.push(at(t));
    for (const d of l.dirs) unsafe(d);
    for (const name of l.names) if (!PLAIN_NAME.test(name)) unsafe(name);
    for (const x of l.links) unsafe(x.name);
    this.progress.filesSeen += l.names.length + l.links.length;
    // The subdirectories' records, and whether the store has their trees, in one read each per
    // STAT_BATCH (not one per directory), unless allTrees wants none.
    const records: (DirStat | undefined)[] = [];
    const inStore: boolean[] = [];
    for (let k = 0; k < l.dirs.length && !this.opts.allTrees; k += STAT_BATCH) {
      const part = await this.opts.index.getDirs(l.dirs.slice(k, k + STAT_BATCH).map((d) => this.repoKey(at(d))));
      const ids = part.flatMap((r) => (r ? [r.id] : []));
      const locs = ids.length > 0 ? await this.opts.index.getLocations(ids) : [];
      let j = 0;
      for (const r of part) {
        records.push(r);
        inStore.push(r !== undefined && locs[j++] !== undefined);
      }
    }
    for (let k = l.dirs.length - 1; k >= 0; k--) {
      const name = l.dirs[k];
      const record = records[k] ?? null;
      todo.push({
        abs: `${f.abs}/${name}`,
        rel: at(name),
        parent: f,
        entries: [],
        waiting: 1,
        record,
        recordInStore: record ? inStore[k] : undefined,
      });
    }
    f.waiting += l.dirs.length;
    const files: Files = { names: l.names, stats: l.stats };
    f.sig = filesDigest(files);
    f.vouched = l.links.length === 0;
    // A directory whose files are as recorded needs no lookup per file.
    // (allTrees wants every tree in memory: a recorded one would be missing.)
    const c =
      !f.vouched || this.opts.allTrees
        ? undefined
        : f.record !== undefined
          ? (f.record ?? undefined)
          : (await this.opts.index.getDirs([this.repoKey(f.rel)]))[0];
    f.record = undefined;
    if (
      c &&
      c.files === f.sig &&
      (!this.opts.sink || (await this.completeInStore(f, c)) || (await this.recordedFiles(f, c, l.names.length)))
    ) {
      f.cached = c;
      f.files = files;
    } else await this.resolveFiles(f, itemsOf(f, files));
    if (l.links.length > 0) realTop.path ??= realpathSync.native(this.abs);
    for (const x of l.links) f.entries.push(await linkEntry(this.opts.rel, this.abs, realTop.path!, at(x.name)));
    f.waiting--; // listed
    await this.finishReady(f);
  }
}

/** At most this many files the stat cache missed are hashed on this thread when each is one chunk: cheaper than starting a worker. */
const HERE_FILES = 64;

/**
 * Without a sink (status, diff), a few small files (a status after an edit or two) are hashed
 * here: a file of at most the chunker's minimum is one chunk (core/chunker.ts nextCut), and its
 * id is the BLAKE3 of its bytes, as the workers give it. Undefined, and the pool does it all as
 * before, when any file is larger, not a regular file, unreadable, or changes size while read.
 */
function hashSmallHere(files: { path: string; size: number }[], onFile: (bytes: number) => void): IngestResult[] | undefined {
  const max = CHUNKER_V1.min;
  if (files.length > HERE_FILES || files.some((f) => f.size > max)) return undefined;
  const out: IngestResult[] = [];
  const buf = Buffer.allocUnsafe(max + 1);
  for (const f of files) {
    let fd: number | undefined;
    try {
      fd = openSync(f.path, fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK);
      const st = fstatSync(fd);
      if (!st.isFile() || st.size > max) return undefined;
      let got = 0;
      for (let n = 1; n > 0 && got <= st.size; got += n) n = readSync(fd, buf, got, max + 1 - got, null);
      if (got !== st.size) return undefined;
      out.push({ id: blake3Hex(buf.subarray(0, got)), chunked: false, size: got });
    } catch {
      return undefined;
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  }
  for (const r of out) onFile(r.size);
  return out;
}

/** The tree entry of the symlink `rel` (inside the tracked directory `abs`), or UNSAFE_PATH when it leads outside. */
async function linkEntry(tracked: string, abs: string, realTop: string, rel: string): Promise<TreeEntry> {
  const linkPath = join(abs, ...rel.split('/'));
  const target = await fsp.readlink(linkPath);
  // Lexically, and where the link resolves, really: chained links (z -> ., x -> z/z/../..)
  // can escape although each step looks harmless.
  const real = (() => {
    try {
      return realpathSync.native(linkPath);
    } catch {
      return undefined;
    }
  })();
  const outside = real !== undefined && real !== realTop && !real.startsWith(realTop + sep);
  if (linkEscapes(rel, target) || outside) {
    throw new DvError(
      'UNSAFE_PATH',
      `symlink ${tracked}/${rel} points outside ${tracked} (${target}): dv keeps symlinks only within the tracked directory; replace it with a copy or remove it`,
      { path: rel, target },
    );
  }
  return { type: 'link', name: basename(rel), target };
}

async function finishDir(
  entries: TreeEntry[],
  storeTree: (t: Tree) => Promise<string>,
): Promise<{ id: string; size: number; files: number }> {
  sortEntries(entries);
  let size = 0;
  let files = 0;
  for (const e of entries) {
    if (e.type === 'file') {
      size += e.size;
      files++;
    } else if (e.type === 'dir') {
      size += e.size;
      files += e.files;
    } else files++;
  }
  const id = await storeTree({ entries });
  return { id, size, files };
}

/** Repo-relative posix path of `p` (resolved from `cwd`), or PATH_OUTSIDE_REPO. */
export function toRepoRel(root: string, cwd: string, p: string): string {
  const absPath = resolve(cwd, p);
  const rel = relative(root, absPath);
  if (rel === '') return '';
  if (rel.startsWith('..') || isAbsolute(rel))
    throw new DvError('PATH_OUTSIDE_REPO', `${p} is outside the repository ${root}`, { path: p });
  return rel.split(sep).join('/');
}
