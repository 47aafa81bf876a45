/**
 * `dv checkout`: make tracked paths match their pointer files, or restore any snapshot or tree
 * (by id or unique prefix) and point the pointer file at it. Touches only entries that differ
 * and refuses to destroy content the store does not hold, unless forced.
 */
import { promises as fsp } from 'node:fs';
import { dirname, join, posix, basename } from 'node:path';
import { encodeSnapshot } from '../core/snapshot.js';
import { encodeTree, treeStats, type Tree, type TreeEntry } from '../core/tree.js';
import { DvError } from '../errors.js';
import { gitAuthor, gitState } from '../repo/git.js';
import { VERSION, type RepoSession } from '../repo/repo.js';
import { materialize } from '../workspace/materialize.js';
import {
  checkPointerSnapshots,
  findTracked,
  ignoreInGit,
  readPointer,
  shellArg as quote,
  usesGit,
  writePointer,
} from '../workspace/pointers.js';
import { scanPath, toRepoRel, type ScanResult } from '../workspace/scan.js';
import { selectTracked } from './commit.js';
import { refuseGitTracked } from './add.js';
import { checkTrackedPath } from '../workspace/safe-path.js';
import { processAlive } from '../repo/lock.js';
import { deadWorkerTemp } from '../workspace/write-temp.js';
import { removeRepoPath } from '../workspace/write-dir.js';
import { resolveTreeish, treeLoader } from './objects.js';
import { logSnapshot } from '../repo/reflog.js';

export interface CheckoutOptions {
  /** Snapshot or tree id (or prefix) to restore; omit to follow the pointer files. */
  target?: string;
  paths?: string[];
  cwd?: string;
  force?: boolean;
  /** With `target` and a path that is not tracked: start tracking it (refused otherwise, NOT_TRACKED). */
  new?: boolean;
  jobs?: number;
  onProgress?: (files: number, bytes: number) => void;
}

export interface CheckoutEntry {
  path: string;
  snapshot: string;
  tree: string;
  written: number;
  removed: number;
  bytes: number;
}

export interface CheckoutResult {
  paths: CheckoutEntry[];
}

/** The longest path (bytes, from the tracked path) a checkout plans for: Linux's PATH_MAX. */
const MAX_PATH = 4096;

/**
 * Fails with OBJECT_MISSING before anything is written when the tree is not complete locally,
 * and with UNSAFE_PATH when one of its symlinks leads outside it (see `checkLinks`).
 */
async function checkComplete(s: RepoSession, tree: string, load: (id: string) => Promise<Tree>): Promise<void> {
  const missing: string[] = [];
  const links: { rel: string; target: string }[] = [];
  const walk = async (id: string, rel: string): Promise<void> => {
    // No file system takes a path this long (Linux: 4096 bytes), and a tree that nests deeper
    // would cost memory quadratic in its depth to plan: refused before anything is written.
    if (Buffer.byteLength(rel) > MAX_PATH) {
      const shown = `${rel.slice(0, 60)}...${rel.slice(-60)}`;
      throw new DvError(
        'PATH_TOO_LONG',
        `tree ${tree.slice(0, 12)} holds a path longer than ${MAX_PATH} bytes (${shown}): no file system can hold it; nothing was written`,
        { id: tree },
      );
    }
    if (!(await s.store.has(id))) {
      missing.push(id);
      return;
    }
    const t = await load(id);
    const files = t.entries.filter((e) => e.type === 'file').map((e) => (e as { id: string }).id);
    const have = await s.store.hasMany(files);
    files.forEach((f, i) => {
      if (!have[i]) missing.push(f);
    });
    for (const e of t.entries) {
      if (e.type === 'dir') await walk(e.id, rel ? `${rel}/${e.name}` : e.name);
      else if (e.type === 'link') links.push({ rel: rel ? `${rel}/${e.name}` : e.name, target: e.target });
    }
  };
  await walk(tree, '');
  if (missing.length > 0) {
    throw new DvError(
      'OBJECT_MISSING',
      `${missing.length} object(s) of tree ${tree.slice(0, 12)} are not in the local store (first: ${missing[0]}): run \`dv pull\` or \`dv fetch\``,
      { missing: missing.slice(0, 100) },
    );
  }
  await checkLinks(tree, links, load);
}

/**
 * UNSAFE_PATH unless every symlink of `tree` stays inside it when followed the way the kernel
 * will, through the tree's own symlinks: `x -> z/z/../..` with `z -> .` looks inside to a purely
 * lexical check but leads two levels up.
 */
async function checkLinks(tree: string, links: { rel: string; target: string }[], load: (id: string) => Promise<Tree>): Promise<void> {
  if (links.length === 0) return;
  const dirs = new Map<string, Map<string, TreeEntry>>();
  const entriesOf = async (id: string): Promise<Map<string, TreeEntry>> => {
    let m = dirs.get(id);
    if (!m) dirs.set(id, (m = new Map((await load(id)).entries.map((e) => [e.name, e]))));
    return m;
  };
  const entryAt = async (parts: string[]): Promise<TreeEntry | undefined> => {
    let id = tree;
    let e: TreeEntry | undefined;
    for (let i = 0; i < parts.length; i++) {
      e = (await entriesOf(id)).get(parts[i]);
      if (!e || (i < parts.length - 1 && e.type !== 'dir')) return undefined;
      if (e.type === 'dir') id = e.id;
    }
    return e;
  };
  // The path `target` leads to from directory `base`, or 'out' when it leaves the tree; a cycle
  // cannot lead anywhere (the kernel stops it with ELOOP), so it counts as inside.
  const follow = async (base: string[], target: string, depth: number): Promise<string[] | 'out' | 'loop'> => {
    if (target.startsWith('/')) return 'out';
    const cur = [...base];
    for (const part of target.split('/')) {
      if (part === '' || part === '.') continue;
      if (part === '..') {
        if (cur.length === 0) return 'out';
        cur.pop();
        continue;
      }
      cur.push(part);
      const e = await entryAt(cur);
      if (e?.type === 'link') {
        if (depth >= 40) return 'loop';
        const r = await follow(cur.slice(0, -1), e.target, depth + 1);
        if (r === 'out' || r === 'loop') return r;
        cur.splice(0, cur.length, ...r);
      }
    }
    return cur;
  };
  for (const l of links) {
    if ((await follow(l.rel.split('/').slice(0, -1), l.target, 0)) === 'out') {
      throw new DvError(
        'UNSAFE_PATH',
        `refusing symlink ${l.rel} -> ${l.target} in tree ${tree.slice(0, 12)}: followed through the tree's other symlinks it leads outside the tracked directory`,
        { path: l.rel, target: l.target },
      );
    }
  }
}

// Temp files a killed checkout may have left beside its targets: `.<name>.<pid>.<t>.<n>.tmp`
// (symlinks, single-threaded writers) and the write workers' (write-temp.ts), which the walk skips.
const LEFTOVER = /^\.(.+)\.(\d+)\.[0-9a-z]+\.[0-9a-z]+\.tmp$/s;

/** Temp files of this process are in use; those of a process that is gone are leftovers. */
const processGone = (pid: number): boolean => pid !== process.pid && !processAlive(pid);

/** Workspace paths (relative to the root) of temp files that dead dv processes left in `scan`. */
function leftoverTemps(scan: ScanResult, rel: string): string[] {
  const out: string[] = [];
  for (const t of scan.temps) if (deadWorkerTemp(basename(t))) out.push(`${rel}/${t}`);
  const walk = (id: string, dir: string): void => {
    for (const e of scan.trees.get(id)?.entries ?? []) {
      const m = LEFTOVER.exec(e.name);
      if (e.type === 'file' && m && processGone(Number(m[2]))) out.push(`${dir}/${e.name}`);
      else if (e.type === 'dir') walk(e.id, `${dir}/${e.name}`);
    }
  };
  if (scan.kind === 'dir') walk(scan.tree, rel);
  return out;
}

/** Removes temp files of dead dv processes beside a tracked single file. */
async function removeLeftoversBeside(root: string, rel: string): Promise<void> {
  const dir = dirname(join(root, rel));
  const name = basename(rel);
  for (const f of await fsp.readdir(dir).catch(() => [] as string[])) {
    const m = LEFTOVER.exec(f);
    const w = deadWorkerTemp(f);
    if ((m && m[1] === name && processGone(Number(m[2]))) || (w && (w[1] === name || w[1] === undefined)))
      removeRepoPath(root, posix.join(posix.dirname(rel), f));
  }
}

async function restore(
  s: RepoSession,
  rel: string,
  kind: 'dir' | 'file',
  tree: string,
  opts: CheckoutOptions,
): Promise<{ written: number; removed: number; bytes: number }> {
  await checkTrackedPath(s.root, rel);
  const storeLoad = treeLoader(s.store);
  await checkComplete(s, tree, storeLoad);
  const abs = join(s.root, rel);
  const st = await fsp.lstat(abs).catch(() => undefined);
  let current: string | null = null;
  let overlay = new Map<string, Tree>();
  // Files deleted here because the path is of the other kind (counted with materialize's).
  let replaced = 0;
  if (kind === 'file') await removeLeftoversBeside(s.root, rel);
  if (st && (st.isFile() || st.isDirectory())) {
    let scan = await scanPath({ root: s.root, rel, index: s.index, allTrees: true });
    // A checkout killed mid-write leaves temp files: they are ours, not uncommitted user data.
    const temps = leftoverTemps(scan, rel);
    if (temps.length > 0) {
      for (const t of temps) removeRepoPath(s.root, t);
      scan = await scanPath({ root: s.root, rel, index: s.index, allTrees: true });
    }
    if (scan.kind === kind) {
      current = scan.tree;
      overlay = scan.trees;
    } else if (!opts.force) {
      throw new DvError(
        'UNSAVED_CHANGES',
        `${rel} is a ${scan.kind === 'dir' ? 'directory' : 'file'} in the workspace but a ${kind === 'dir' ? 'directory' : 'file'} in the data to check out: move it away or pass --force`,
        { paths: [rel] },
      );
    } else {
      removeRepoPath(s.root, rel);
      replaced = scan.files;
    }
  } else if (st) {
    if (!opts.force)
      throw new DvError('UNSAVED_CHANGES', `${rel} exists and is not a file or directory: move it away or pass --force`, { paths: [rel] });
    removeRepoPath(s.root, rel);
    replaced = 1;
  }
  const r = await materialize({
    root: s.root,
    rel,
    kind,
    target: tree,
    current,
    load: treeLoader(s.store, overlay),
    store: s.store,
    index: s.index,
    force: opts.force ?? false,
    jobs: opts.jobs,
    onProgress: opts.onProgress,
  });
  return { ...r, removed: r.removed + replaced };
}

/** PARTIAL: what was restored, and one line on what was not (the codes say why: 22 missing data, 16 unsaved changes). */
export function partialCheckout(done: CheckoutEntry[], failed: { path: string; code: string; message: string }[]): DvError {
  const rest =
    failed.length > 1
      ? `; also ${failed
          .slice(1)
          .map((f) => `${f.path} (${f.code})`)
          .join(', ')}`
      : '';
  const msg = `${done.length} of ${done.length + failed.length} paths checked out; ${failed[0].path}: ${failed[0].message}${rest}`;
  return new DvError('PARTIAL', msg, { paths: done, failed });
}

/** Edit distance (Levenshtein) of two short strings. */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length];
}

/**
 * `rel` has no pointer file: restoring into it starts tracking a new path. Refused inside (or
 * around) a tracked path; refused too, as a likely typo, when `refuse` (a path named without
 * `--new`), with the nearest tracked path as a suggestion.
 */
async function checkNewPath(s: RepoSession, rel: string, what: 'snapshot' | 'tree', id: string, refuse: boolean): Promise<void> {
  const tracked = await findTracked(s.root);
  const outer = tracked.find((t) => rel.startsWith(t.rel + '/'));
  if (outer)
    throw new DvError(
      'USAGE',
      `${rel} is inside ${outer.rel}, which dv tracks: restore the whole of it (\`dv checkout ${id.slice(0, 12)} ${outer.rel}\`) or a path outside it`,
      { path: rel },
    );
  const inner = tracked.find((t) => t.rel.startsWith(rel + '/'));
  if (inner)
    throw new DvError('USAGE', `${rel} contains ${inner.rel}, which dv tracks on its own: restore into another path`, { path: rel });
  if (!refuse) {
    // Starting to track a path git tracks would have it tracked twice.
    if (await usesGit(s)) await refuseGitTracked(s.root, rel, `dv checkout ${id.slice(0, 12)} ${quote(rel)} --new`);
    return;
  }
  let near: string | undefined;
  let best = Math.max(2, Math.floor(rel.length / 3)) + 1;
  for (const t of tracked) {
    const d = distance(rel, t.rel);
    if (d < best) {
      best = d;
      near = t.rel;
    }
  }
  throw new DvError(
    'NOT_TRACKED',
    `${rel} is not tracked${near ? ` (did you mean ${near}?)` : ''}: to restore ${what} ${id.slice(0, 12)} as a new tracked path ${rel}, pass --new`,
    { path: rel, ...(near ? { suggestion: near } : {}) },
  );
}

export async function checkout(s: RepoSession, opts: CheckoutOptions): Promise<CheckoutResult> {
  const cwd = opts.cwd ?? s.root;
  const out: CheckoutEntry[] = [];
  if (!opts.target) {
    // Every path that can be restored is: one with missing data or unsaved changes does not
    // stop the others, and the command then fails PARTIAL naming what was left.
    const tracked = await selectTracked(s, opts.paths, cwd);
    const failed: { path: string; code: string; message: string }[] = [];
    let first: DvError | undefined;
    for (const t of tracked) {
      try {
        await checkPointerSnapshots(s.store, [t], { required: true });
        const r = await restore(s, t.rel, t.pointer.kind, t.pointer.tree, opts);
        out.push({ path: t.rel, snapshot: t.pointer.snapshot, tree: t.pointer.tree, ...r });
      } catch (e) {
        if (!(e instanceof DvError) || e.code === 'INTERRUPTED' || e.code === 'NO_SPACE') throw e;
        first ??= e;
        failed.push({ path: t.rel, code: e.code, message: e.message });
      }
    }
    if (first && out.length === 0) throw first;
    if (first) throw partialCheckout(out, failed);
    return { paths: out };
  }
  const what = await resolveTreeish(s.store, opts.target);
  if ((opts.paths?.length ?? 0) > 1) throw new DvError('USAGE', 'dv checkout <id> takes at most one path');
  let rel: string;
  if (opts.paths && opts.paths.length === 1) {
    rel = toRepoRel(s.root, cwd, opts.paths[0]).replace(/\/+$/, '');
    if (rel.endsWith('.dv')) rel = rel.slice(0, -3);
    if (rel === '' || rel.split('/')[0] === '.dv' || rel.split('/').includes('.git'))
      throw new DvError('USAGE', `cannot check out into ${opts.paths[0]}`);
  } else if (what.snapshot) {
    rel = what.snapshot.path;
  } else {
    const all = await selectTracked(s, undefined, cwd);
    if (all.length !== 1)
      throw new DvError('USAGE', `${opts.target} is a tree: name the path to restore it into, e.g. \`dv checkout ${opts.target} data\``);
    rel = all[0].rel;
  }
  await checkTrackedPath(s.root, rel);
  const existing = await readPointer(s.root, rel);
  if (!existing) await checkNewPath(s, rel, what.snapshot ? 'snapshot' : 'tree', what.id, Boolean(opts.paths?.length) && !opts.new);
  const kind = what.snapshot?.kind ?? existing?.pointer.kind ?? 'dir';
  // A file's tree is one entry named after the file: under another name, the entry is renamed
  // (else the restored file would never match its pointer).
  let treeId = what.tree;
  if (kind === 'file') {
    const t = await treeLoader(s.store)(what.tree);
    if (t.entries.length === 1 && t.entries[0].name !== posix.basename(rel)) {
      treeId = await s.store.putObject(encodeTree({ entries: [{ ...t.entries[0], name: posix.basename(rel) }] }));
      await s.store.flush();
    }
  }
  if (!existing && !opts.force) {
    // Starting to track a path: what is there now is the user's, in no snapshot of it; only
    // content identical to what is restored (an out dv repro restores) may stay without --force.
    const abs = join(s.root, rel);
    const st = await fsp.lstat(abs).catch(() => undefined);
    const empty = !st || (st.isDirectory() && (await fsp.readdir(abs)).length === 0);
    if (!empty && (!(st!.isFile() || st!.isDirectory()) || (await scanPath({ root: s.root, rel, index: s.index })).tree !== treeId)) {
      throw new DvError(
        'UNSAVED_CHANGES',
        `${rel} exists and dv does not track it: restoring ${what.snapshot ? 'snapshot' : 'tree'} ${what.id.slice(0, 12)} there would replace it; move it away, or pass --force to replace it`,
        { paths: [rel] },
      );
    }
  }

  const r = await restore(s, rel, kind, treeId, opts);
  let snapshotId = what.snapshotId;
  let size = what.snapshot?.size;
  let files = what.snapshot?.files;
  if (!snapshotId || what.snapshot?.path !== rel || treeId !== what.tree) {
    // A bare tree (or a snapshot restored under another path) gets a snapshot of its own.
    const tree = await treeLoader(s.store)(treeId);
    const { size: sz, files: n } = treeStats(tree);
    size = sz;
    files = n;
    snapshotId = await s.store.putObject(
      encodeSnapshot({
        path: rel,
        kind,
        tree: treeId,
        parents: existing ? [existing.pointer.snapshot] : [],
        message: `checkout of ${what.id.slice(0, 12)}`,
        author: await gitAuthor(s.root),
        time: new Date().toISOString(),
        size,
        files,
        lineage: { git: await gitState(s.root), dv: VERSION, meta: {} },
      }),
    );
    await s.store.flush();
    await logSnapshot(s.paths.dvDir, snapshotId, rel);
  }
  await writePointer(s.root, rel, {
    path: posix.basename(rel),
    kind,
    snapshot: snapshotId,
    tree: treeId,
    size: size ?? 0,
    files: files ?? 0,
  });
  if (!existing && (await usesGit(s))) await ignoreInGit(s.root, rel);
  out.push({ path: rel, snapshot: snapshotId, tree: treeId, ...r });
  return { paths: out };
}
