/**
 * `dv checkout`: make tracked paths match their pointer files, or restore any snapshot or tree
 * (by id or unique prefix) and point the pointer file at it. Touches only entries that differ
 * and refuses to destroy content the store does not hold, unless forced.
 */
import { promises as fsp } from 'node:fs';
import { join, posix } from 'node:path';
import { encodeSnapshot } from '../core/snapshot.js';
import { treeStats, type Tree } from '../core/tree.js';
import { DvError } from '../errors.js';
import { gitAuthor, gitState } from '../repo/git.js';
import { VERSION, type RepoSession } from '../repo/repo.js';
import { materialize } from '../workspace/materialize.js';
import { ignoreInGit, readPointer, writePointer } from '../workspace/pointers.js';
import { scanPath, toRepoRel } from '../workspace/scan.js';
import { selectTracked } from './commit.js';
import { resolveTreeish, treeLoader } from './objects.js';
import { logSnapshot } from '../repo/reflog.js';

export interface CheckoutOptions {
  /** Snapshot or tree id (or prefix) to restore; omit to follow the pointer files. */
  target?: string;
  paths?: string[];
  cwd?: string;
  force?: boolean;
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

/** Fails with OBJECT_MISSING before anything is written when the tree is not complete locally. */
async function checkComplete(s: RepoSession, tree: string, load: (id: string) => Promise<Tree>): Promise<void> {
  const missing: string[] = [];
  const walk = async (id: string): Promise<void> => {
    if (!(await s.store.has(id))) { missing.push(id); return; }
    const t = await load(id);
    const files = t.entries.filter((e) => e.type === 'file').map((e) => (e as { id: string }).id);
    const have = await s.store.hasMany(files);
    files.forEach((f, i) => { if (!have[i]) missing.push(f); });
    for (const e of t.entries) if (e.type === 'dir') await walk(e.id);
  };
  await walk(tree);
  if (missing.length > 0) {
    throw new DvError('OBJECT_MISSING', `${missing.length} object(s) of tree ${tree.slice(0, 12)} are not in the local store (first: ${missing[0]}): run \`dv pull\` or \`dv fetch\``, { missing: missing.slice(0, 100) });
  }
}

async function restore(s: RepoSession, rel: string, kind: 'dir' | 'file', tree: string, opts: CheckoutOptions): Promise<{ written: number; removed: number; bytes: number }> {
  const storeLoad = treeLoader(s.store);
  await checkComplete(s, tree, storeLoad);
  const abs = join(s.root, rel);
  const st = await fsp.lstat(abs).catch(() => undefined);
  let current: string | null = null;
  let overlay = new Map<string, Tree>();
  if (st && (st.isFile() || st.isDirectory())) {
    const scan = await scanPath({ root: s.root, rel, index: s.index });
    if (scan.kind === kind) {
      current = scan.tree;
      overlay = scan.trees;
    } else if (!opts.force) {
      throw new DvError('UNSAVED_CHANGES', `${rel} is a ${scan.kind === 'dir' ? 'directory' : 'file'} in the workspace but a ${kind === 'dir' ? 'directory' : 'file'} in the data to check out: move it away or pass --force`, { paths: [rel] });
    } else {
      await fsp.rm(abs, { recursive: true, force: true });
    }
  } else if (st) {
    if (!opts.force) throw new DvError('UNSAVED_CHANGES', `${rel} exists and is not a file or directory: move it away or pass --force`, { paths: [rel] });
    await fsp.rm(abs, { force: true });
  }
  return materialize({ root: s.root, rel, kind, target: tree, current, load: treeLoader(s.store, overlay), store: s.store, index: s.index, force: opts.force ?? false, jobs: opts.jobs, onProgress: opts.onProgress });
}

export async function checkout(s: RepoSession, opts: CheckoutOptions): Promise<CheckoutResult> {
  const cwd = opts.cwd ?? s.root;
  const out: CheckoutEntry[] = [];
  if (!opts.target) {
    for (const t of await selectTracked(s, opts.paths, cwd)) {
      const r = await restore(s, t.rel, t.pointer.kind, t.pointer.tree, opts);
      out.push({ path: t.rel, snapshot: t.pointer.snapshot, tree: t.pointer.tree, ...r });
    }
    return { paths: out };
  }
  const what = await resolveTreeish(s.store, opts.target);
  if ((opts.paths?.length ?? 0) > 1) throw new DvError('USAGE', 'dv checkout <id> takes at most one path');
  let rel: string;
  if (opts.paths && opts.paths.length === 1) {
    rel = toRepoRel(s.root, cwd, opts.paths[0]).replace(/\/+$/, '');
    if (rel.endsWith('.dv')) rel = rel.slice(0, -3);
    if (rel === '' || rel.split('/')[0] === '.dv' || rel.split('/')[0] === '.git') throw new DvError('USAGE', `cannot check out into ${opts.paths[0]}`);
  } else if (what.snapshot) {
    rel = what.snapshot.path;
  } else {
    const all = await selectTracked(s, undefined, cwd);
    if (all.length !== 1) throw new DvError('USAGE', `${opts.target} is a tree: name the path to restore it into, e.g. \`dv checkout ${opts.target} data\``);
    rel = all[0].rel;
  }
  const existing = await readPointer(s.root, rel);
  const kind = what.snapshot?.kind ?? existing?.pointer.kind ?? 'dir';
  const r = await restore(s, rel, kind, what.tree, opts);
  let snapshotId = what.snapshotId;
  let size = what.snapshot?.size;
  let files = what.snapshot?.files;
  if (!snapshotId || what.snapshot?.path !== rel) {
    // A bare tree (or a snapshot restored under another path) gets a snapshot of its own.
    const tree = await treeLoader(s.store)(what.tree);
    const { size: sz, files: n } = treeStats(tree);
    size = sz; files = n;
    snapshotId = await s.store.putObject(encodeSnapshot({
      path: rel, kind, tree: what.tree, parents: existing ? [existing.pointer.snapshot] : [],
      message: `checkout of ${what.id.slice(0, 12)}`, author: await gitAuthor(s.root), time: new Date().toISOString(),
      size, files, lineage: { git: await gitState(s.root), dv: VERSION, meta: {} },
    }));
    await s.store.flush();
    await logSnapshot(s.paths.dvDir, snapshotId, rel);
  }
  await writePointer(s.root, rel, { path: posix.basename(rel), kind, snapshot: snapshotId, tree: what.tree, size: size ?? 0, files: files ?? 0 });
  if (!existing) await ignoreInGit(s.root, rel);
  out.push({ path: rel, snapshot: snapshotId, tree: what.tree, ...r });
  return { paths: out };
}
