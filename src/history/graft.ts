/**
 * Grafting: a tree that is `base` except at some paths, where it takes what `from` has there
 * (or nothing, when `from` has nothing there). This is what `dv commit data/raw/a.csv` records
 * for a path inside a tracked directory: that path's changes alone, as `git commit PATH` does.
 *
 * Invariants: only the trees on the grafted paths are rebuilt (everything else is reused by id);
 * every directory entry on those paths gets its size and file count recomputed from its tree;
 * the walk is iterative and as deep as the paths given, never as deep as the data.
 */
import { encodeTree, sortEntries, treeStats, type DirEntry, type Tree, type TreeEntry } from '../core/tree.js';
import type { ObjectStore } from '../store/object-store.js';
import { treeLoader } from './objects.js';

export interface GraftResult {
  tree: string;
  size: number;
  files: number;
}

const EMPTY: Tree = { entries: [] };

/**
 * The tree `base` with each of `paths` (relative to the tree's root, '/'-separated) replaced by
 * the entry `from` holds there. New trees are put into `store` (not flushed); `overlay` holds
 * trees of `from` that are not in the store yet (a scan's trees).
 */
export async function graft(
  store: ObjectStore,
  base: string,
  from: string,
  paths: string[],
  overlay?: Map<string, Tree>,
): Promise<GraftResult> {
  const load = treeLoader(store, overlay);
  let root = base;
  for (const path of paths) root = await graftOne(store, load, root, from, path.split('/'));
  const stats = treeStats(await load(root));
  return { tree: root, ...stats };
}

/** The entry at `segs` under tree `id`, or undefined. */
async function entryAt(load: (id: string) => Promise<Tree>, id: string, segs: string[]): Promise<TreeEntry | undefined> {
  let tree = await load(id);
  for (let i = 0; i < segs.length; i++) {
    const e = tree.entries.find((x) => x.name === segs[i]);
    if (!e || i === segs.length - 1) return e;
    if (e.type !== 'dir') return undefined;
    tree = await load(e.id);
  }
  return undefined;
}

async function graftOne(
  store: ObjectStore,
  load: (id: string) => Promise<Tree>,
  base: string,
  from: string,
  segs: string[],
): Promise<string> {
  // The trees of `base` along the path; a directory `base` lacks is an empty tree.
  const chain: Tree[] = [await load(base)];
  for (let i = 0; i < segs.length - 1; i++) {
    const e = chain[i].entries.find((x) => x.name === segs[i]);
    chain.push(e?.type === 'dir' ? await load(e.id) : EMPTY);
  }
  let entry: TreeEntry | undefined = await entryAt(load, from, segs);
  // Gone from both: nothing to record (and no empty directories to make on the way).
  if (!entry && !(await entryAt(load, base, segs))) return base;
  let id = base;
  for (let i = segs.length - 1; i >= 0; i--) {
    const others = chain[i].entries.filter((x) => x.name !== segs[i]);
    const tree: Tree = { entries: sortEntries(entry ? [...others, entry] : others) };
    id = await store.putObject(encodeTree(tree));
    if (i === 0) break;
    const stats = treeStats(tree);
    const dir: DirEntry = { type: 'dir', name: segs[i - 1], id, size: stats.size, files: stats.files };
    entry = dir;
  }
  return id;
}
