/**
 * Turns a tracked path in the workspace into trees: walk, stat, look each file up in the
 * stat cache (size + mtime + inode), hash only what the cache cannot vouch for, and build the
 * Merkle trees bottom-up. With a sink, new chunks and trees are stored (add, commit); without,
 * nothing is written but the stat cache (status, diff).
 */
import { promises as fsp, realpathSync, type Stats } from 'node:fs';
import { join, posix, resolve, relative, sep, isAbsolute, basename } from 'node:path';
import { blake3Hex } from '../core/hash.js';
import { encodeTree, sortEntries, badEntryName, type Tree, type TreeEntry } from '../core/tree.js';
import { DvError, fsError } from '../errors.js';
import type { Index, StatEntry } from '../store/index-db.js';
import { hashFiles, type PackSink } from './hash-pool.js';
import { walkTree, type FileStat } from './walk.js';

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
  sink?: PackSink & { putObject(bytes: Buffer): Promise<string> };
  onProgress?: (p: ScanProgress) => void;
}

export interface ScanResult {
  kind: 'dir' | 'file';
  /** Root tree id (for a single file: a tree holding that one entry). */
  tree: string;
  size: number;
  files: number;
  /** Every tree built, by id: an overlay for diffs against the workspace. */
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
  const statUpdates: [string, StatEntry][] = [];
  const repoKey = (rel: string): string => (rel ? `${opts.rel}/${rel}` : opts.rel);

  const fileEntries = async (items: Item[]): Promise<Map<string, TreeEntry>> => {
    const out = new Map<string, TreeEntry>();
    const cached = await opts.index.getStats(items.map((i) => repoKey(i.rel)));
    const hits: { item: Item; c: StatEntry }[] = [];
    const misses: Item[] = [];
    items.forEach((item, i) => {
      const c = cached[i];
      const s = item.stats;
      if (c && c.size === s.size && c.mtimeMs === s.mtimeMs && c.ino === s.ino) hits.push({ item, c });
      else misses.push(item);
    });
    if (opts.sink && hits.length > 0) {
      // The cache says what the file hashes to; the store must still hold it (gc may have run).
      const have = await opts.sink.hasMany(hits.map((h) => h.c.id));
      for (const [i, h] of hits.entries()) {
        if (have[i]) out.set(h.item.rel, entryFor(h.item, h.c.id, h.c.chunked));
        else misses.push(h.item);
      }
    } else {
      for (const h of hits) out.set(h.item.rel, entryFor(h.item, h.c.id, h.c.chunked));
    }
    const now = Date.now();
    const hashed = await hashFiles(
      misses.map((item) => ({ path: join(abs, ...(item.rel ? item.rel.split('/') : [])), size: item.stats.size })),
      {
        sink: opts.sink ?? null,
        onFile: (bytes) => {
          progress.filesHashed++;
          progress.bytesHashed += bytes;
          opts.onProgress?.(progress);
        },
      },
    );
    misses.forEach((item, k) => {
      const r = hashed[k];
      out.set(item.rel, entryFor({ ...item, stats: { ...item.stats, size: r.size } }, r.id, r.chunked));
      if (now - item.stats.mtimeMs > RACY_MS && r.size === item.stats.size) {
        statUpdates.push([
          repoKey(item.rel),
          { size: item.stats.size, mtimeMs: item.stats.mtimeMs, ino: item.stats.ino, id: r.id, chunked: r.chunked },
        ]);
      }
    });
    return out;
  };

  const entryFor = (item: Item, id: string, chunked: boolean): TreeEntry => ({
    type: 'file',
    name: item.rel ? basename(item.rel) : basename(opts.rel),
    size: item.stats.size,
    id,
    chunked,
    exec: isExec(item.stats.mode),
  });

  const storeTree = async (tree: Tree): Promise<string> => {
    const bytes = encodeTree(tree);
    const id = opts.sink ? await opts.sink.putObject(bytes) : blake3Hex(bytes);
    trees.set(id, tree);
    return id;
  };

  let result: ScanResult;
  if (top.isFile()) {
    const files = await fileEntries([{ rel: '', stats: top }]);
    const entry = files.get('')!;
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
    const walked = walkTree(abs);
    for (const w of [...walked.dirs, ...walked.files.map((f) => f.rel), ...walked.links.map((l) => l.rel)]) {
      if (w === '') continue;
      const why = w
        .split('/')
        .map((n) => badEntryName(n))
        .find(Boolean);
      if (why) throw new DvError('UNSAFE_PATH', `cannot track ${opts.rel}/${w}: ${why}`, { path: w });
    }
    const items: Item[] = walked.files;
    const dirs = new Set<string>(walked.dirs);
    const links: Item[] = walked.links;
    progress.filesSeen = items.length + links.length;
    const files = await fileEntries(items);
    const children = new Map<string, TreeEntry[]>();
    for (const d of dirs) children.set(d, []);
    const parentOf = (rel: string): string => (rel.includes('/') ? rel.slice(0, rel.lastIndexOf('/')) : '');
    for (const [rel, e] of files) children.get(parentOf(rel))!.push(e);
    const realTop = links.length > 0 ? realpathSync.native(abs) : abs;
    for (const l of links) {
      const linkPath = join(abs, ...l.rel.split('/'));
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
      if (linkEscapes(l.rel, target) || outside) {
        throw new DvError(
          'UNSAFE_PATH',
          `symlink ${opts.rel}/${l.rel} points outside ${opts.rel} (${target}): dv keeps symlinks only within the tracked directory; replace it with a copy or remove it`,
          { path: l.rel, target },
        );
      }
      children.get(parentOf(l.rel))!.push({ type: 'link', name: basename(l.rel), target });
    }
    // Deepest directories first, so every subtree id is known before its parent is encoded.
    const order = [...dirs].sort((a, b) => b.split('/').length - a.split('/').length || (a < b ? 1 : -1));
    const dirInfo = new Map<string, { id: string; size: number; files: number }>();
    for (const d of order) {
      if (d === '') continue;
      const { id, size, files: n } = await finishDir(children.get(d)!, storeTree);
      dirInfo.set(d, { id, size, files: n });
      children.get(parentOf(d))!.push({ type: 'dir', name: basename(d), id, size, files: n });
    }
    const rootInfo = await finishDir(children.get('')!, storeTree);
    result = {
      kind: 'dir',
      tree: rootInfo.id,
      size: rootInfo.size,
      files: rootInfo.files,
      trees,
      filesHashed: progress.filesHashed,
      bytesHashed: progress.bytesHashed,
      temps: walked.temps,
    };
  } else {
    throw new DvError('USAGE', `${opts.rel} is neither a regular file nor a directory`, { path: opts.rel });
  }
  await opts.index.putStats(statUpdates);
  return result;
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
