/**
 * `dv pull`: fetch, then check out — everything a fresh `git clone` needs besides credentials.
 * A path inside a tracked directory (`dv pull data/train/x.png`, `dv pull 'data/train/**'`) is
 * fetched and checked out alone: the workspace takes what the pointer's tree holds at the paths
 * matched and keeps everything else as it is; the rest stays "not fetched" (`dv status`).
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { encodeTree, type Tree } from '../core/tree.js';
import { DvError } from '../errors.js';
import { graft } from '../history/graft.js';
import { treeLoader } from '../history/objects.js';
import { checkLinks } from '../history/tree-check.js';
import type { RepoSession } from '../repo/repo.js';
import type { PathsFetched } from '../transfer/fetch-paths.js';
import { materialize } from '../workspace/materialize.js';
import { findTracked } from '../workspace/pointers.js';
import { WriteThrough } from '../workspace/write-through.js';
import { checkTrackedPath } from '../workspace/safe-path.js';
import { scanPath } from '../workspace/scan.js';
import { checkout, type CheckoutEntry, type CheckoutOptions, type CheckoutResult } from './checkout.js';
import { fetch, type FetchOptions, type FetchResult } from './fetch.js';

export interface PullOptions extends FetchOptions {
  force?: boolean;
  onCheckoutProgress?: CheckoutOptions['onProgress'];
  /** Called once the fetch is done, before the checkout (which may still fail: what was fetched stays). */
  onFetched?: (f: FetchResult) => void;
}

export interface PullResult {
  fetch: FetchResult;
  checkout: CheckoutResult;
}

export async function pull(s: RepoSession, opts: PullOptions = {}): Promise<PullResult> {
  // Large files are written as they arrive (not for all history: older versions are not checked out).
  const stage = opts.allHistory ? undefined : WriteThrough.create(join(s.paths.dvDir, 'tmp'));
  try {
    const f = await fetch(s, { ...opts, stage });
    opts.onFetched?.(f);
    const partial = f.partial ?? [];
    const paths: CheckoutEntry[] = [];
    // Tracked paths named whole (or none named) are checked out as `dv checkout` does.
    if (partial.length === 0 || f.whole) {
      const [named, cwd] = partial.length === 0 ? [opts.paths, opts.cwd] : [f.whole, s.root];
      const c = await checkout(s, { paths: named, cwd, force: opts.force, jobs: opts.jobs, onProgress: opts.onCheckoutProgress, stage });
      paths.push(...c.paths);
    }
    for (const p of partial) paths.push(await restorePaths(s, p, opts));
    return { fetch: f, checkout: { paths } };
  } finally {
    await stage?.dispose();
  }
}

/** Links of the entries taken, with their paths in the tracked directory (walked without recursion). */
async function linksIn(
  load: (id: string) => Promise<Tree>,
  pointerTree: string,
  entries: string[],
): Promise<{ rel: string; target: string }[]> {
  const out: { rel: string; target: string }[] = [];
  const stack: { id: string; rel: string }[] = [];
  for (const path of entries) {
    let id = pointerTree;
    const segs = path.split('/');
    for (let i = 0; i < segs.length; i++) {
      const e = (await load(id)).entries.find((x) => x.name === segs[i]);
      if (!e) break;
      if (i < segs.length - 1) {
        if (e.type !== 'dir') break;
        id = e.id;
      } else if (e.type === 'link') out.push({ rel: path, target: e.target });
      else if (e.type === 'dir') stack.push({ id: e.id, rel: path });
    }
  }
  while (stack.length > 0) {
    const d = stack.pop()!;
    for (const e of (await load(d.id)).entries) {
      if (e.type === 'link') out.push({ rel: `${d.rel}/${e.name}`, target: e.target });
      else if (e.type === 'dir') stack.push({ id: e.id, rel: `${d.rel}/${e.name}` });
    }
  }
  return out;
}

/**
 * Makes the workspace hold what the pointer's tree holds at `p.entries` and leaves the rest of
 * the tracked directory as it is: the target is the workspace's tree grafted with those entries,
 * so materialize touches only them (and refuses to overwrite unsaved changes there, unless forced).
 */
async function restorePaths(s: RepoSession, p: PathsFetched, opts: PullOptions): Promise<CheckoutEntry> {
  const t = (await findTracked(s.root)).find((x) => x.rel === p.rel);
  if (!t) throw new DvError('NOT_TRACKED', `${p.rel} is no longer tracked here: nothing to check out`, { path: p.rel });
  await checkTrackedPath(s.root, t.rel);
  const st = await fsp.lstat(join(s.root, t.rel)).catch(() => undefined);
  let current: string | null = null;
  let overlay = new Map<string, Tree>();
  if (st && !st.isDirectory())
    throw new DvError('UNSAVED_CHANGES', `${t.rel} is not a directory in the workspace but the data to check out is: move it away`, {
      paths: [t.rel],
    });
  if (st) {
    const scan = await scanPath({ root: s.root, rel: t.rel, index: s.index, allTrees: true });
    current = scan.tree;
    overlay = scan.trees;
  }
  const base = current ?? (await s.store.putObject(encodeTree({ entries: [] })));
  const g = await graft(s.store, base, t.pointer.tree, p.entries, overlay);
  await s.store.flush();
  const load = treeLoader(s.store, overlay);
  // Symlinks taken must stay inside the tracked directory when followed through the others.
  await checkLinks(g.tree, await linksIn(load, t.pointer.tree, p.entries), load);
  const r = await materialize({
    root: s.root,
    rel: t.rel,
    kind: 'dir',
    target: g.tree,
    current,
    load,
    store: s.store,
    index: s.index,
    force: opts.force ?? false,
    jobs: opts.jobs,
    onProgress: opts.onCheckoutProgress && ((f, b) => opts.onCheckoutProgress!(f, b, { path: t.rel })),
  });
  return { path: t.rel, snapshot: t.pointer.snapshot, tree: t.pointer.tree, ...r };
}
