/**
 * Makes a tracked path in the workspace match a tree: refuse first if that would destroy content
 * the store does not hold (unless forced: one pass over the differing trees that keeps only the
 * doomed files' ids, checked in batches), then apply while planning: the trees are compared
 * directory by directory (an explicit stack, no recursion), removals and directories are done as
 * they are planned, and files stream to the write pool as fast as its workers take them. So memory
 * holds the directories being compared and the jobs in flight, never the whole plan.
 * Only entries that differ are touched. Every file is written to a temp file
 * beside its target and renamed over it, but for the files of a new directory that holds only
 * files: that directory is built in `.dv/tmp` with its files created in place, and renamed into
 * the workspace whole once its last file is written (write-stage.ts). Every chunk is verified as
 * it is read.
 * What is written is recorded in the index as it completes, in batches: a stat entry per file,
 * and a directory record (DirStat, as scan.ts writes them) for each directory checkout created
 * whole, once all its files are written, so a status right after reads one key per directory.
 * Every directory is entered and created through write-dir.ts (no symlink followed, even one
 * swapped in while checkout runs), and removals never follow a link. A file whose content is
 * right but whose exec bit is not is chmod-ed through its own open descriptor only when it is a
 * regular file with no other hard link (fstat): a hard link would share the inode, and so the
 * mode, with a file outside; such a file is rewritten instead (a new file of dv's own).
 */
import {
  closeSync,
  constants,
  fchmodSync,
  fstatSync,
  openSync,
  promises as fsp,
  renameSync,
  symlinkSync,
  unlinkSync,
  type Stats,
} from 'node:fs';
import { join, posix } from 'node:path';
import type { Tree, TreeEntry, FileEntry } from '../core/tree.js';
import { DvError, fsError } from '../errors.js';
import type { ObjectStore } from '../store/object-store.js';
import type { DirStat, Index, StatEntry } from '../store/index-db.js';
import { tempPathFor } from '../store/atomic.js';
import { dirStatDigest, linkEscapes } from './scan.js';
import type { FileStat } from './walk.js';
import { writeFiles, type FileToWrite } from './write-pool.js';
import type { WriteThrough } from './write-through.js';
import { at, DirCache, removeEntry, type DirHandle } from './write-dir.js';
import { LeafStager } from './write-stage.js';

type Op =
  /** `files`: how many files (and links) go with it, for the count users see. */
  | { op: 'rm'; rel: string; dir: boolean; files: number }
  /** `tree`: a directory the target adds (its tree id); `leaf`: how many files it holds when it holds nothing else. */
  | { op: 'mkdir'; rel: string; tree?: string; leaf?: number }
  | { op: 'write'; rel: string; entry: FileEntry }
  | { op: 'chmod'; rel: string; entry: FileEntry }
  | { op: 'link'; rel: string; target: string }
  /** A directory all of whose entries are created here (tree `id`): it gets a directory record. */
  | { op: 'fresh'; rel: string; id: string; entries: TreeEntry[] }
  /** A workspace file that would be replaced or removed (the refusal pass only). */
  | { op: 'doomed'; rel: string; id: string };

/** A directory to compare (`cur` null: created here, all of `tgt` is new), to create, or (refusal pass) a removed one's files. */
type Frame =
  | { k: 'diff'; cur: string | null; tgt: string; rel: string }
  | { k: 'create'; tgt: string; rel: string }
  | { k: 'doomed'; id: string; rel: string };

export interface MaterializeOptions {
  root: string;
  /** Tracked path relative to the root. */
  rel: string;
  kind: 'dir' | 'file';
  /** Target tree id. */
  target: string;
  /** Current workspace tree (from a hash-only scan), or null when the path does not exist. */
  current: string | null;
  load: (id: string) => Promise<Tree>;
  store: ObjectStore;
  index: Index;
  force: boolean;
  jobs?: number;
  /** Files already written whole by a pull's fetch, renamed into place (write-through.ts). */
  stage?: WriteThrough;
  /** The repository's `.dv/tmp`: a new directory holding only files is built there and renamed into place whole (write-stage.ts). */
  tmp?: string;
  onProgress?: (files: number, bytes: number) => void;
}

export interface MaterializeResult {
  written: number;
  removed: number;
  bytes: number;
}

const sameLeaf = (a: TreeEntry, b: TreeEntry): boolean =>
  (a.type === 'file' && b.type === 'file' && a.id === b.id && a.exec === b.exec) ||
  (a.type === 'link' && b.type === 'link' && a.target === b.target);

export async function materialize(o: MaterializeOptions): Promise<MaterializeResult> {
  // Into nothing (o.current null) nothing can be lost: what is there that is not a directory is
  // refused by the plan itself before any op is done.
  if (!o.force && o.current !== null) await refuseUnsaved(o);
  return apply(o);
}

/** Ids checked against the store at once in the refusal pass. */
const DOOMED_BATCH = 4096;

/** UNSAVED_CHANGES, before anything is written, when a file checkout would replace or remove is not in the store. */
async function refuseUnsaved(o: MaterializeOptions): Promise<void> {
  const unsaved: string[] = [];
  let count = 0;
  let batch: { rel: string; id: string }[] = [];
  const check = async (): Promise<void> => {
    const have = await o.store.hasMany(batch.map((d) => d.id));
    batch.forEach((d, i) => {
      if (have[i]) return;
      count++;
      if (unsaved.length < 1000) unsaved.push(d.rel);
    });
    batch = [];
  };
  for await (const op of planOps(o, true)) {
    if (op.op !== 'doomed') continue;
    batch.push(op);
    if (batch.length >= DOOMED_BATCH) await check();
  }
  await check();
  if (count > 0) {
    const list = unsaved.slice(0, 5).join(', ') + (count > 5 ? ` and ${count - 5} more` : '');
    throw new DvError(
      'UNSAVED_CHANGES',
      `checkout would overwrite uncommitted changes in ${list}: run \`dv commit\` first, or pass --force to discard them`,
      { paths: unsaved },
    );
  }
}

/**
 * The plan, op by op: removals before what replaces them, a directory before what goes in it,
 * names in order within a directory (its files before its subdirectories' contents). With
 * `doomed`, the files that would be replaced or removed are yielded too (walking removed trees).
 */
async function* planOps(o: MaterializeOptions, doomed: boolean): AsyncGenerator<Op> {
  if (o.kind === 'file') {
    yield* fileOps(o, doomed);
    return;
  }
  // The tracked path itself: a directory in the target. Anything else there goes first.
  if (o.current === null) {
    const st = await fsp.lstat(join(o.root, o.rel)).catch(() => undefined);
    if (st && !st.isDirectory()) {
      if (!o.force)
        throw new DvError('UNSAVED_CHANGES', `${o.rel} is not a directory, but the data to check out is: move it away or pass --force`, {
          paths: [o.rel],
        });
      yield { op: 'rm', rel: o.rel, dir: false, files: 1 };
    }
    if (!st || !st.isDirectory()) yield { op: 'mkdir', rel: o.rel };
  }
  const stack: Frame[] = [{ k: 'diff', cur: o.current, tgt: o.target, rel: o.rel }];
  for (let f = stack.pop(); f; f = stack.pop()) {
    if (f.k === 'doomed') {
      for (const e of (await o.load(f.id)).entries) {
        const r = posix.join(f.rel, e.name);
        if (e.type === 'file') yield { op: 'doomed', rel: r, id: e.id };
        else if (e.type === 'dir') stack.push({ k: 'doomed', id: e.id, rel: r });
      }
      continue;
    }
    if (f.k === 'diff' && f.cur === f.tgt) continue;
    const a = f.k === 'diff' && f.cur ? await o.load(f.cur) : undefined;
    const b = await o.load(f.tgt);
    if (!a) yield { op: 'fresh', rel: f.rel, id: f.tgt, entries: b.entries };
    const below: Frame[] = [];
    for (const op of diffDir(o, a?.entries ?? [], b.entries, f.rel, doomed, below)) {
      if (op.op === 'mkdir' && op.tree && o.tmp && !doomed) {
        // Loaded again (from the loader's cache) when its turn comes: here only to know whether it holds only files.
        const t = await o.load(op.tree);
        if (t.entries.length > 0 && t.entries.every((e) => e.type === 'file')) op.leaf = t.entries.length;
      }
      yield op;
    }
    // Subdirectories in name order (the stack pops the last pushed first).
    for (let i = below.length - 1; i >= 0; i--) stack.push(below[i]);
  }
}

/** The ops of one directory (current entries `a`, target `b`); its subdirectories to visit go to `below`. */
function* diffDir(o: MaterializeOptions, a: TreeEntry[], b: TreeEntry[], rel: string, doomed: boolean, below: Frame[]): Generator<Op> {
  const names = new Map<string, [TreeEntry | undefined, TreeEntry | undefined]>();
  for (const e of a) names.set(e.name, [e, undefined]);
  for (const e of b) names.set(e.name, [names.get(e.name)?.[0], e]);
  const gone = function* (e: TreeEntry, r: string): Generator<Op> {
    if (!doomed) return;
    if (e.type === 'file') yield { op: 'doomed', rel: r, id: e.id };
    else if (e.type === 'dir') below.push({ k: 'doomed', id: e.id, rel: r });
  };
  for (const [name, [ea, eb]] of [...names.entries()].sort((x, y) => (x[0] < y[0] ? -1 : 1))) {
    const r = posix.join(rel, name);
    if (ea && eb && sameLeaf(ea, eb)) continue;
    if (ea && eb && ea.type === 'dir' && eb.type === 'dir') {
      below.push({ k: 'diff', cur: ea.id, tgt: eb.id, rel: r });
      continue;
    }
    if (ea && eb && ea.type === 'file' && eb.type === 'file' && ea.id === eb.id) {
      yield { op: 'chmod', rel: r, entry: eb };
      continue;
    }
    if (ea && eb && ea.type === 'file' && eb.type === 'file') {
      // A modified file: the new content is renamed over the old, nothing to remove first.
      yield* gone(ea, r);
      yield { op: 'write', rel: r, entry: eb };
      continue;
    }
    if (ea) {
      yield* gone(ea, r);
      yield { op: 'rm', rel: r, dir: ea.type === 'dir', files: ea.type === 'dir' ? ea.files : 1 };
    }
    if (!eb) continue;
    if (eb.type === 'file') yield { op: 'write', rel: r, entry: eb };
    else if (eb.type === 'dir') {
      // Made now, before any file of this directory is written (the kernel places a directory's
      // files better when the directories are made before the files, as the plan did whole).
      yield { op: 'mkdir', rel: r, tree: eb.id };
      below.push({ k: 'create', tgt: eb.id, rel: r });
    } else {
      const inside = posix.relative(o.rel, r);
      if (linkEscapes(inside, eb.target))
        throw new DvError('UNSAFE_PATH', `refusing symlink ${r} -> ${eb.target}: it points outside ${o.rel}`, {
          path: r,
          target: eb.target,
        });
      yield { op: 'link', rel: r, target: eb.target };
    }
  }
}

/** A tracked single file: both trees hold one entry named after it; map it onto `rel`. */
async function* fileOps(o: MaterializeOptions, doomed: boolean): AsyncGenerator<Op> {
  const tgt = (await o.load(o.target)).entries[0];
  const cur = o.current ? (await o.load(o.current)).entries[0] : undefined;
  if (!tgt || tgt.type !== 'file')
    throw new DvError('BAD_OBJECT', `tree ${o.target.slice(0, 12)} does not hold a single file`, { id: o.target });
  if (cur && sameLeaf(cur, tgt)) return;
  if (cur?.type === 'file' && cur.id === tgt.id) {
    yield { op: 'chmod', rel: o.rel, entry: tgt };
    return;
  }
  if (cur?.type === 'file' && doomed) yield { op: 'doomed', rel: o.rel, id: cur.id };
  yield { op: 'write', rel: o.rel, entry: tgt };
}

/**
 * Sets the exec bit of entry `name` of `dir` through its own descriptor, when it is a regular file
 * of the expected size that no other hard link shares; its stat after, or undefined (rewrite it).
 */
function chmodOwn(dir: DirHandle | undefined, name: string, e: FileEntry): Stats | undefined {
  if (!dir) return undefined;
  let fd: number;
  // O_NONBLOCK: a FIFO swapped in must not hang the open (it then fails the isFile test).
  try {
    fd = openSync(at(dir, name), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return undefined;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || st.nlink !== 1 || st.size !== e.size) return undefined;
    fchmodSync(fd, e.exec ? 0o755 : 0o644);
    return fstatSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** The repository path of the directory holding `rel` ('' for the root). */
const parentOf = (rel: string): string => (rel.includes('/') ? rel.slice(0, rel.lastIndexOf('/')) : '');

/** Stat entries and directory records written at once. */
const RECORD_BATCH = 4096;

/**
 * Owns what checkout records in the index as files are written: a stat entry per file, and the
 * directory record of each directory created whole (no symlinks) once its last file is written:
 * the digest of its files' names and stat data (scan.ts dirStatDigest) and the tree it holds.
 */
class Recorder {
  private stats: [string, StatEntry][] = [];
  private records: [string, DirStat][] = [];
  /** Directories created whole, waiting for their files: rows so far, and how many files are left. */
  private readonly waiting = new Map<string, { rec: Omit<DirStat, 'files'>; rows: { name: string; stats: FileStat }[]; left: number }>();

  private writing: Promise<void> = Promise.resolve();

  constructor(private readonly index: Index) {}

  /** A directory all of whose entries checkout creates. */
  fresh(rel: string, id: string, entries: TreeEntry[]): void {
    if (entries.some((e) => e.type === 'link')) return; // scan records no directory with links
    let size = 0;
    let count = 0;
    const subdirs: DirStat['subdirs'] = [];
    for (const e of entries) {
      if (e.type === 'file') {
        size += e.size;
        count++;
      } else if (e.type === 'dir') {
        size += e.size;
        count += e.files;
        subdirs.push([e.name, e.id, e.size, e.files]);
      }
    }
    const left = entries.length - subdirs.length;
    this.waiting.set(rel, { rec: { subdirs, id, size, count }, rows: [], left });
    if (left === 0) this.done(rel);
  }

  /** A file written (or chmod-ed) with this stat data. */
  written(rel: string, entry: FileEntry, st: { size: number; mtimeMs: number; ino: number }): void {
    this.stats.push([rel, { size: st.size, mtimeMs: st.mtimeMs, ino: st.ino, id: entry.id, chunked: entry.chunked }]);
    const dir = parentOf(rel);
    const w = this.waiting.get(dir);
    if (w) {
      w.rows.push({
        name: posix.basename(rel),
        stats: { size: st.size, mtimeMs: st.mtimeMs, ino: st.ino, mode: entry.exec ? 0o755 : 0o644 },
      });
      if (--w.left === 0) this.done(dir);
    }
    if (this.stats.length >= RECORD_BATCH) this.flushLater();
  }

  private done(dir: string): void {
    const w = this.waiting.get(dir)!;
    this.waiting.delete(dir);
    w.rows.sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0)); // listDir's order
    this.records.push([dir, { files: dirStatDigest(w.rows), ...w.rec }]);
    if (this.records.length >= RECORD_BATCH / 16) this.flushLater();
  }

  /** Writes what was gathered so far behind the writes already started (one at a time, in order). */
  private flushLater(): void {
    const stats = this.stats;
    const records = this.records;
    this.stats = [];
    this.records = [];
    this.writing = this.writing.then(async () => {
      if (stats.length > 0) await this.index.putStats(stats);
      if (records.length > 0) await this.index.putDirs(records);
    });
    this.writing.catch(() => undefined); // surfaces at flush
  }

  /** Writes everything gathered; rethrows a failed write. */
  async flush(): Promise<void> {
    this.flushLater();
    await this.writing;
  }
}

async function apply(o: MaterializeOptions): Promise<MaterializeResult> {
  const res: MaterializeResult = { written: 0, removed: 0, bytes: 0 };
  const abs = (rel: string): string => join(o.root, ...rel.split('/'));
  const rec = new Recorder(o.index);
  const links: { rel: string; target: string }[] = [];
  // Every directory below the tracked path's parent is entered from there, never by path.
  const dirs = new DirCache(o.root, parentOf(o.rel));
  const stager = o.tmp && o.kind === 'dir' ? LeafStager.create(o.tmp) : undefined;
  // Removals and directories as they are planned (a path may turn from file into directory); files stream to the pool.
  async function* files(): AsyncGenerator<FileToWrite> {
    for await (const op of planOps(o, false)) {
      if (op.op === 'write') {
        const f: FileToWrite = { rel: op.rel, path: abs(op.rel), entry: op.entry };
        if (stager?.has(parentOf(op.rel))) f.inPlace = true;
        yield f;
      } else if (op.op === 'link') links.push(op);
      else if (op.op === 'fresh') rec.fresh(op.rel, op.id, op.entries);
      else if (op.op === 'chmod') {
        let st: Stats | undefined;
        try {
          st = chmodOwn(dirs.get(parentOf(op.rel), false), posix.basename(op.rel), op.entry);
        } catch (e) {
          throw fsError(e, abs(op.rel));
        }
        if (!st) yield { rel: op.rel, path: abs(op.rel), entry: op.entry };
        else {
          rec.written(op.rel, op.entry, st);
          res.written++;
          o.onProgress?.(res.written, res.bytes);
        }
      } else if (op.op !== 'doomed') {
        try {
          if (op.op === 'rm') {
            const parent = dirs.get(parentOf(op.rel), false);
            if (parent) removeEntry(parent, posix.basename(op.rel));
            dirs.forget(op.rel);
            res.removed += op.files;
          } else if (!(op.op === 'mkdir' && op.leaf && stager?.open(dirs, op.rel, op.leaf))) dirs.get(op.rel, true);
        } catch (e) {
          throw fsError(e, abs(op.rel));
        }
      }
    }
  }
  try {
    await writeFiles(o.store, dirs, files(), o.stage, (f, w) => {
      res.written++;
      res.bytes += w.size;
      o.onProgress?.(res.written, res.bytes);
      rec.written(f.rel, f.entry, w);
      stager?.written(dirs, parentOf(f.rel));
    });
    for (const l of links) writeLink(dirs, l, abs(l.rel));
    res.written += links.length;
    if (links.length > 0) o.onProgress?.(res.written, res.bytes);
  } finally {
    dirs.close();
    stager?.close();
  }
  await rec.flush();
  return res;
}

/** A symlink, created under a temp name in its verified directory and renamed within it. */
function writeLink(dirs: DirCache, l: { rel: string; target: string }, p: string): void {
  try {
    const dir = dirs.get(parentOf(l.rel), true)!;
    const target = at(dir, posix.basename(l.rel));
    const tmp = tempPathFor(target);
    symlinkSync(l.target, tmp);
    try {
      renameSync(tmp, target);
    } catch (e) {
      try {
        unlinkSync(tmp);
      } catch {
        /* gone */
      }
      throw e;
    }
  } catch (e) {
    throw fsError(e, p);
  }
}
