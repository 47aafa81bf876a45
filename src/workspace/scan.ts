/**
 * Turns a tracked path in the workspace into trees: walk, stat, look each file up in the
 * stat cache (size + mtime + inode), hash only what the cache cannot vouch for, and build the
 * Merkle trees bottom-up. With a sink, new chunks and trees are stored (add, commit); without,
 * nothing is written but the stat cache and directory records (status, diff).
 *
 * Memory is bounded by the work in flight, not by the file count: the walk goes directory by
 * directory (depth first, names sorted); a directory's entries are held until its tree is
 * encoded, files the cache cannot vouch for wait in one batch for the hashing pool (at most
 * HASH_BATCH_FILES / HASH_BATCH_BYTES), and stat-cache reads and writes go in batches of
 * STAT_BATCH keys. Finished trees are kept (`trees`) only when the store lacks them.
 *
 * A directory whose files' names and stat data match its record in the index (DirStat) is not
 * looked up file by file: its recorded tree is reused by id when its subdirectories match too
 * (and the store holds that tree; with a sink, every file object it names as well), so status
 * and commit cost one key per unchanged directory and re-encode only the trees on changed paths.
 * Records are written only for directories whose every file was vouched for (no racy mtime, no
 * symlink), and are a cache like the stat cache: a mismatch falls back to the per-file path.
 */
import { promises as fsp, realpathSync, type Stats } from 'node:fs';
import { join, posix, resolve, relative, sep, isAbsolute, basename } from 'node:path';
import { blake3Hex } from '../core/hash.js';
import { decodeTree, encodeTree, sortEntries, badEntryName, type Tree, type TreeEntry } from '../core/tree.js';
import { DvError, fsError } from '../errors.js';
import type { DirStat, Index, StatEntry } from '../store/index-db.js';
import { hashFiles, type PackSink } from './hash-pool.js';
import { listDir, type FileStat } from './walk.js';

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
 * Files waiting for the hashing pool, and their bytes: one pool run per batch. Each run starts
 * its workers (about 0.1 s of CPU each), so batches are large: 32,768 queued files hold some
 * 10 MB (paths, stat data, results); bytes only bound how long directories wait for their trees.
 */
const HASH_BATCH_FILES = 32_768;
const HASH_BATCH_BYTES = 1024 * 1024 * 1024;
/** Keys per stat-cache read or write. */
const STAT_BATCH = 4096;

/** A directory being scanned: its entries so far, and how many it still waits for (subdirectories, files being hashed). */
interface Frame {
  abs: string;
  rel: string; // relative to the tracked root, posix ('' for the root)
  parent: Frame | null;
  entries: TreeEntry[];
  waiting: number;
  /** Digest of its files' names and stat data (dirStatDigest), once listed. */
  sig?: string;
  /** Every file vouched for (a stat-cache hit, or hashed with a mtime that is not racy), no symlinks. */
  vouched?: boolean;
  /** The directory cache's record, when its files are as recorded: their entries are then not looked up (yet). */
  cached?: DirStat;
  /** The files, kept while `cached` stands in for them. */
  items?: Item[];
  /** `entries` holds the files' entries, taken from the recorded tree (with a sink, checked against the store). */
  filesKnown?: boolean;
}

/** What a directory's files look like to the stat cache: names, sizes, mtimes, inodes, exec bits. */
function dirStatDigest(files: { name: string; stats: FileStat }[]): string {
  let text = '';
  for (const f of files) text += `${f.name}\0${f.stats.size}\0${f.stats.mtimeMs}\0${f.stats.ino}\0${isExec(f.stats.mode) ? 1 : 0}\n`;
  return blake3Hex(Buffer.from(text, 'utf8'));
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
  const progress: ScanProgress = { filesSeen: 0, filesHashed: 0, bytesHashed: 0 };
  const trees = new Map<string, Tree>();
  const repoKey = (rel: string): string => (rel ? `${opts.rel}/${rel}` : opts.rel);
  const nameOf = (rel: string): string => (rel ? basename(rel) : basename(opts.rel));

  let statUpdates: [string, StatEntry][] = [];
  let dirUpdates: [string, DirStat][] = [];
  const putStats = async (force: boolean): Promise<void> => {
    if (statUpdates.length > 0 && (force || statUpdates.length >= STAT_BATCH)) {
      const batch = statUpdates;
      statUpdates = [];
      await opts.index.putStats(batch);
    }
    if (dirUpdates.length > 0 && (force || dirUpdates.length >= STAT_BATCH / 16)) {
      const batch = dirUpdates;
      dirUpdates = [];
      await opts.index.putDirs(batch);
    }
  };
  const inStore = async (id: string): Promise<boolean> => (await opts.index.getLocations([id]))[0] !== undefined;

  const entryFor = (rel: string, stats: FileStat, id: string, chunked: boolean): TreeEntry => ({
    type: 'file',
    name: nameOf(rel),
    size: stats.size,
    id,
    chunked,
    exec: isExec(stats.mode),
  });

  // Files the stat cache cannot vouch for, waiting to be hashed, with the directory that waits for each.
  let queue: { frame: Frame; item: Item }[] = [];
  let queuedBytes = 0;

  /** Looks `items` (files of `frame`) up in the stat cache: hits become entries, misses wait in the queue. */
  const resolveFiles = async (frame: Frame, items: Item[]): Promise<void> => {
    for (let at = 0; at < items.length; at += STAT_BATCH) {
      const part = items.slice(at, at + STAT_BATCH);
      const cached = await opts.index.getStats(part.map((i) => repoKey(i.rel)));
      const hits: { item: Item; c: StatEntry }[] = [];
      const misses: Item[] = [];
      part.forEach((item, i) => {
        const c = cached[i];
        const s = item.stats;
        if (c && c.size === s.size && c.mtimeMs === s.mtimeMs && c.ino === s.ino) hits.push({ item, c });
        else misses.push(item);
      });
      if (opts.sink && hits.length > 0) {
        // The cache says what the file hashes to; the store must still hold it (gc may have run).
        const have = await opts.sink.hasMany(hits.map((h) => h.c.id));
        for (const [i, h] of hits.entries()) {
          if (have[i]) frame.entries.push(entryFor(h.item.rel, h.item.stats, h.c.id, h.c.chunked));
          else misses.push(h.item);
        }
      } else {
        for (const h of hits) frame.entries.push(entryFor(h.item.rel, h.item.stats, h.c.id, h.c.chunked));
      }
      for (const item of misses) {
        queue.push({ frame, item });
        queuedBytes += item.stats.size;
        frame.waiting++;
      }
    }
  };

  /** Hashes the queued files, and finishes the directories that waited only for them. */
  const hashQueued = async (): Promise<void> => {
    if (queue.length === 0) return;
    const batch = queue;
    queue = [];
    queuedBytes = 0;
    const now = Date.now();
    const hashed = await hashFiles(
      batch.map(({ frame, item }) => ({ path: item.rel ? `${frame.abs}/${basename(item.rel)}` : abs, size: item.stats.size })),
      {
        sink: opts.sink ?? null,
        onFile: (bytes) => {
          progress.filesHashed++;
          progress.bytesHashed += bytes;
          opts.onProgress?.(progress);
        },
      },
    );
    for (let k = 0; k < batch.length; k++) {
      const { frame, item } = batch[k];
      const r = hashed[k];
      frame.entries.push(entryFor(item.rel, { ...item.stats, size: r.size }, r.id, r.chunked));
      if (!(now - item.stats.mtimeMs > RACY_MS && r.size === item.stats.size)) frame.vouched = false;
      else {
        statUpdates.push([
          repoKey(item.rel),
          { size: item.stats.size, mtimeMs: item.stats.mtimeMs, ino: item.stats.ino, id: r.id, chunked: r.chunked },
        ]);
      }
      frame.waiting--;
      await finishReady(frame);
    }
    await putStats(false);
  };

  const storeTree = async (tree: Tree): Promise<string> => {
    const bytes = encodeTree(tree);
    let id: string;
    if (opts.sink) {
      // Stored (pending objects read back from the store): no overlay needed.
      id = await opts.sink.putObject(bytes);
      if (opts.allTrees) trees.set(id, tree);
    } else {
      id = blake3Hex(bytes);
      // Only the trees the store lacks are kept: the rest a diff reads from the store.
      if (opts.allTrees || (await opts.index.getLocations([id]))[0] === undefined) trees.set(id, tree);
    }
    return id;
  };

  /**
   * With a sink, the recorded tree's files must all still be in the store (gc, a dropped corrupt
   * object), as the per-file path checks: true, and its file entries in `f`, when they are.
   */
  const recordedFiles = async (f: Frame, c: DirStat, count: number): Promise<boolean> => {
    const sink = opts.sink!;
    if (!(await sink.hasMany([c.id]))[0]) return false;
    const files = decodeTree(await sink.get(c.id), c.id).entries.filter((e) => e.type === 'file');
    if (files.length !== count) return false;
    const have = await sink.hasMany(files.map((e) => e.id));
    if (!have.every(Boolean)) return false;
    f.entries.push(...files);
    f.filesKnown = true;
    return true;
  };

  let rootInfo: { id: string; size: number; files: number } | undefined;
  /** Encodes `frame` and its ancestors as far as each has nothing left to wait for. */
  const finishReady = async (frame: Frame | null): Promise<void> => {
    for (let f = frame; f && f.waiting === 0; f = f.parent) {
      let info: { id: string; size: number; files: number } | undefined;
      if (f.cached) {
        // Files as recorded: the recorded tree holds, if the subdirectories did not change either
        // and the store has it (a diff reads it from there: no overlay).
        const c = f.cached;
        const subs = subdirRows(sortEntries(f.entries)); // (file entries, when known, are left out)
        const same = subs.length === c.subdirs.length && subs.every((x, i) => x.every((v, k) => v === c.subdirs[i][k]));
        if (same && (f.filesKnown || (await inStore(c.id)))) info = { id: c.id, size: c.size, files: c.count };
        else if (f.filesKnown)
          f.cached = undefined; // a new tree of the recorded files and the new subdirectories
        else {
          // Only a subdirectory changed: now the files are looked up one by one after all.
          f.cached = undefined;
          await resolveFiles(f, f.items ?? []);
          f.items = undefined;
          if (f.waiting > 0) return; // the hashing of its files finishes it
        }
      }
      if (!info) {
        info = await finishDir(f.entries, storeTree);
        if (f.vouched && f.sig !== undefined) {
          const rec: DirStat = { files: f.sig, subdirs: subdirRows(f.entries), id: info.id, size: info.size, count: info.files };
          dirUpdates.push([repoKey(f.rel), rec]);
        }
      }
      f.entries = [];
      if (!f.parent) {
        rootInfo = info;
        return;
      }
      f.parent.entries.push({ type: 'dir', name: basename(f.rel), id: info.id, size: info.size, files: info.files });
      f.parent.waiting--;
    }
  };

  let result: ScanResult;
  const temps: string[] = [];
  if (top.isFile()) {
    const frame: Frame = { abs, rel: '', parent: null, entries: [], waiting: 1 };
    await resolveFiles(frame, [{ rel: '', stats: top }]);
    await hashQueued();
    const entry = frame.entries[0];
    const tree = await storeTree({ entries: [entry] });
    result = {
      kind: 'file',
      tree,
      size: entry.type === 'file' ? entry.size : 0,
      files: 1,
      trees,
      filesHashed: progress.filesHashed,
      bytesHashed: progress.bytesHashed,
      temps: [],
    };
  } else if (top.isDirectory()) {
    let realTop: string | undefined;
    const unsafe = (rel: string): void => {
      const why = badEntryName(basename(rel));
      if (why) throw new DvError('UNSAFE_PATH', `cannot track ${opts.rel}/${rel}: ${why}`, { path: rel });
    };
    // Depth first, names in order (so packs follow the tree); the stack holds directories still to list.
    const todo: Frame[] = [{ abs, rel: '', parent: null, entries: [], waiting: 1 }];
    for (let f = todo.pop(); f; f = todo.pop()) {
      const l = listDir(f.abs);
      const at = (name: string): string => (f.rel ? `${f.rel}/${name}` : name);
      for (const t of l.temps) temps.push(at(t));
      for (const d of l.dirs) unsafe(at(d));
      for (const x of l.files) unsafe(at(x.name));
      for (const x of l.links) unsafe(at(x.name));
      progress.filesSeen += l.files.length + l.links.length;
      for (let k = l.dirs.length - 1; k >= 0; k--) {
        const name = l.dirs[k];
        todo.push({ abs: `${f.abs}/${name}`, rel: at(name), parent: f, entries: [], waiting: 1 });
      }
      f.waiting += l.dirs.length;
      const items = l.files.map((x) => ({ rel: at(x.name), stats: x.stats }));
      f.sig = dirStatDigest(l.files);
      f.vouched = l.links.length === 0;
      // A directory whose files are as recorded needs no lookup per file.
      // (allTrees wants every tree in memory: a recorded one would be missing.)
      const c = f.vouched && !opts.allTrees ? (await opts.index.getDirs([repoKey(f.rel)]))[0] : undefined;
      if (c && c.files === f.sig && (!opts.sink || (await recordedFiles(f, c, l.files.length)))) {
        f.cached = c;
        f.items = items;
      } else await resolveFiles(f, items);
      if (l.links.length > 0) realTop ??= realpathSync.native(abs);
      for (const x of l.links) f.entries.push(await linkEntry(opts.rel, abs, realTop!, at(x.name)));
      f.waiting--; // listed
      await finishReady(f);
      if (queue.length >= HASH_BATCH_FILES || queuedBytes >= HASH_BATCH_BYTES) await hashQueued();
    }
    while (queue.length > 0) await hashQueued();
    if (!rootInfo) throw new Error(`scan of ${opts.rel} ended with directories unfinished`);
    result = {
      kind: 'dir',
      tree: rootInfo.id,
      size: rootInfo.size,
      files: rootInfo.files,
      trees,
      filesHashed: progress.filesHashed,
      bytesHashed: progress.bytesHashed,
      temps,
    };
  } else {
    throw new DvError('USAGE', `${opts.rel} is neither a regular file nor a directory`, { path: opts.rel });
  }
  await putStats(true);
  return result;
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
