/**
 * Makes a tracked path in the workspace match a tree: plan first (what to remove, create,
 * rewrite), refuse if that would destroy content the store does not hold (unless forced),
 * then apply. Only entries that differ are touched. Every file is written to a temp file
 * beside its target and renamed over it; every chunk is verified as it is read.
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
import type { Index, StatEntry } from '../store/index-db.js';
import { tempPathFor } from '../store/atomic.js';
import { linkEscapes } from './scan.js';
import { writeFiles } from './write-pool.js';
import { at, DirCache, removeEntry, type DirHandle } from './write-dir.js';

type Op =
  /** `files`: how many files (and links) go with it, for the count users see. */
  | { op: 'rm'; rel: string; dir: boolean; files: number }
  | { op: 'mkdir'; rel: string }
  | { op: 'write'; rel: string; entry: FileEntry }
  | { op: 'chmod'; rel: string; entry: FileEntry }
  | { op: 'link'; rel: string; target: string };

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
  /** `total`: what this checkout of `path` writes in all (files and links, bytes), known before the first write. */
  onProgress?: (files: number, bytes: number, total: { files: number; bytes: number; path: string }) => void;
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
  const ops: Op[] = [];
  const doomed: { rel: string; id: string }[] = []; // workspace files that would be replaced or removed

  const collectDoomed = async (e: TreeEntry, rel: string): Promise<void> => {
    if (e.type === 'file') doomed.push({ rel, id: e.id });
    else if (e.type === 'dir') for (const c of (await o.load(e.id)).entries) await collectDoomed(c, posix.join(rel, c.name));
  };

  const plan = async (cur: string | null, tgt: string, rel: string): Promise<void> => {
    if (cur === tgt) return;
    const a = cur ? await o.load(cur) : { entries: [] };
    const b = await o.load(tgt);
    const names = new Map<string, [TreeEntry | undefined, TreeEntry | undefined]>();
    for (const e of a.entries) names.set(e.name, [e, undefined]);
    for (const e of b.entries) names.set(e.name, [names.get(e.name)?.[0], e]);
    for (const [name, [ea, eb]] of [...names.entries()].sort((x, y) => (x[0] < y[0] ? -1 : 1))) {
      const r = posix.join(rel, name);
      if (ea && eb && sameLeaf(ea, eb)) continue;
      if (ea && eb && ea.type === 'dir' && eb.type === 'dir') {
        await plan(ea.id, eb.id, r);
        continue;
      }
      if (ea && eb && ea.type === 'file' && eb.type === 'file' && ea.id === eb.id) {
        ops.push({ op: 'chmod', rel: r, entry: eb });
        continue;
      }
      if (ea && eb && ea.type === 'file' && eb.type === 'file') {
        // A modified file: the new content is renamed over the old, nothing to remove first.
        await collectDoomed(ea, r);
        ops.push({ op: 'write', rel: r, entry: eb });
        continue;
      }
      if (ea) {
        await collectDoomed(ea, r);
        ops.push({ op: 'rm', rel: r, dir: ea.type === 'dir', files: ea.type === 'dir' ? ea.files : 1 });
      }
      if (eb) await create(eb, r);
    }
  };

  const create = async (e: TreeEntry, rel: string): Promise<void> => {
    if (e.type === 'file') ops.push({ op: 'write', rel, entry: e });
    else if (e.type === 'link') {
      const inside = o.kind === 'dir' ? posix.relative(o.rel, rel) : posix.basename(rel);
      if (linkEscapes(inside, e.target))
        throw new DvError('UNSAFE_PATH', `refusing symlink ${rel} -> ${e.target}: it points outside ${o.rel}`, {
          path: rel,
          target: e.target,
        });
      ops.push({ op: 'link', rel, target: e.target });
    } else {
      ops.push({ op: 'mkdir', rel });
      for (const c of (await o.load(e.id)).entries) await create(c, posix.join(rel, c.name));
    }
  };

  if (o.kind === 'dir') {
    // The tracked path itself: a directory in the target. Anything else there goes first.
    if (o.current === null) {
      const st = await fsp.lstat(join(o.root, o.rel)).catch(() => undefined);
      if (st && !st.isDirectory()) {
        if (!o.force)
          throw new DvError('UNSAVED_CHANGES', `${o.rel} is not a directory, but the data to check out is: move it away or pass --force`, {
            paths: [o.rel],
          });
        ops.push({ op: 'rm', rel: o.rel, dir: false, files: 1 });
      }
      if (!st || !st.isDirectory()) ops.push({ op: 'mkdir', rel: o.rel });
    }
    await plan(o.current, o.target, o.rel);
  } else {
    // A tracked single file: both trees hold one entry named after it; map it onto `rel`.
    const tgt = (await o.load(o.target)).entries[0];
    const cur = o.current ? (await o.load(o.current)).entries[0] : undefined;
    if (!tgt || tgt.type !== 'file')
      throw new DvError('BAD_OBJECT', `tree ${o.target.slice(0, 12)} does not hold a single file`, { id: o.target });
    if (!cur || !sameLeaf(cur, tgt)) {
      if (cur?.type === 'file' && cur.id === tgt.id) ops.push({ op: 'chmod', rel: o.rel, entry: tgt });
      else {
        if (cur) await collectDoomed(cur, o.rel);
        ops.push({ op: 'write', rel: o.rel, entry: tgt });
      }
    }
  }

  if (!o.force && doomed.length > 0) {
    const have = await o.store.hasMany(doomed.map((d) => d.id));
    const unsaved = doomed.filter((_, i) => !have[i]).map((d) => d.rel);
    if (unsaved.length > 0) {
      const list = unsaved.slice(0, 5).join(', ') + (unsaved.length > 5 ? ` and ${unsaved.length - 5} more` : '');
      throw new DvError(
        'UNSAVED_CHANGES',
        `checkout would overwrite uncommitted changes in ${list}: run \`dv commit\` first, or pass --force to discard them`,
        { paths: unsaved },
      );
    }
  }
  return apply(o, ops);
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

async function apply(o: MaterializeOptions, ops: Op[]): Promise<MaterializeResult> {
  const res: MaterializeResult = { written: 0, removed: 0, bytes: 0 };
  const total = { files: 0, bytes: 0, path: o.rel };
  for (const op of ops)
    if (op.op === 'write' || op.op === 'chmod' || op.op === 'link') {
      total.files++;
      if (op.op === 'write') total.bytes += op.entry.size;
    }
  const abs = (rel: string): string => join(o.root, ...rel.split('/'));
  const stats: [string, StatEntry][] = [];
  // Every directory below the tracked path's parent is entered from there, never by path.
  const dirs = new DirCache(o.root, parentOf(o.rel));
  try {
    // Removals and directories in order (a path may turn from file into directory); then files in parallel.
    const writes: Op[] = [];
    for (const op of ops) {
      try {
        if (op.op === 'rm') {
          const parent = dirs.get(parentOf(op.rel), false);
          if (parent) removeEntry(parent, posix.basename(op.rel));
          dirs.forget(op.rel);
          res.removed += op.files;
        } else if (op.op === 'mkdir') dirs.get(op.rel, true);
        else if (op.op === 'chmod') {
          const st = chmodOwn(dirs.get(parentOf(op.rel), false), posix.basename(op.rel), op.entry);
          if (!st) writes.push({ op: 'write', rel: op.rel, entry: op.entry });
          else {
            stats.push([op.rel, { size: st.size, mtimeMs: st.mtimeMs, ino: st.ino, id: op.entry.id, chunked: op.entry.chunked }]);
            res.written++;
            o.onProgress?.(res.written, res.bytes, total);
          }
        } else writes.push(op);
      } catch (e) {
        throw fsError(e, abs(op.rel));
      }
    }
    const fileWrites = writes.filter((op): op is Extract<Op, { op: 'write' }> => op.op === 'write');
    const done = await writeFiles(
      o.store,
      dirs,
      fileWrites.map((op) => ({ rel: op.rel, path: abs(op.rel), entry: op.entry })),
      (bytes) => {
        res.written++;
        res.bytes += bytes;
        o.onProgress?.(res.written, res.bytes, total);
      },
    );
    for (const d of done) {
      const e = fileWrites[d.i].entry;
      stats.push([fileWrites[d.i].rel, { size: d.size, mtimeMs: d.mtimeMs, ino: d.ino, id: e.id, chunked: e.chunked }]);
    }
    for (const op of writes) {
      if (op.op !== 'link') continue;
      const p = abs(op.rel);
      try {
        // Created under a temp name in the verified directory, renamed within it.
        const dir = dirs.get(parentOf(op.rel), true)!;
        const target = at(dir, posix.basename(op.rel));
        const tmp = tempPathFor(target);
        symlinkSync(op.target, tmp);
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
      res.written++;
      o.onProgress?.(res.written, res.bytes, total);
    }
  } finally {
    dirs.close();
  }
  await o.index.putStats(stats);
  return res;
}
