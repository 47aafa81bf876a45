/**
 * A partial fetch: of one tracked directory, only what some paths or patterns inside it need.
 * The trees on the way down are fetched level by level (each alone, nothing below it), then the
 * entries that match are fetched whole (a directory with all it holds, a file's manifest and
 * chunks) through fetchObjects, which verifies and size-checks everything as a full fetch does.
 *
 * Invariants: every tree read is held to what its parent (or the pointer file) declares
 * (core/declared.ts), so a lying tree is refused as soon as it is read; the walk is iterative,
 * breadth first, one fetch per level, and only descends where a pattern can still match, so a
 * literal path costs its depth in trees; matching is linear (core/glob.ts).
 */
import { DeclaredLedger } from '../core/declared.js';
import { isGlob, matchPath } from '../core/glob.js';
import { decodeSnapshot } from '../core/snapshot.js';
import { decodeTree, type Tree, type TreeEntry } from '../core/tree.js';
import { DvError } from '../errors.js';
import type { Backend } from '../backend/backend.js';
import type { ObjectStore } from '../store/object-store.js';
import { fetchObjects, type FetchInput, type FetchProgress, type FetchStats } from './fetch.js';
import type { RemoteIndex } from './remote-index.js';

export interface PathTarget {
  /** The tracked directory, for messages. */
  rel: string;
  snapshot: string;
  tree: string;
  size: number;
  files: number;
  /** Paths or patterns relative to the tracked directory, '/'-separated. */
  patterns: string[];
}

export interface PathsFetched {
  rel: string;
  /** Entries fetched whole, relative to the tracked directory, in path order. */
  entries: string[];
}

interface Ctx {
  store: ObjectStore;
  backend: Backend;
  remote: RemoteIndex;
  jobs: number;
  stats: FetchStats;
  onProgress?: (p: FetchProgress) => void;
}

const add = (a: FetchStats, b: FetchStats): void => {
  a.objectsFetched += b.objectsFetched;
  a.bytesFetched += b.bytesFetched;
  a.dataFetched += b.dataFetched;
  a.requests += b.requests;
  for (const w of b.warnings) if (!a.warnings.includes(w)) a.warnings.push(w);
};

/** Objects fetched alone (trees on the way, the snapshot), nothing they name. */
async function fetchAlone(c: Ctx, ids: string[]): Promise<void> {
  const have = await c.store.hasMany(ids);
  const leaves = ids.filter((_, k) => !have[k]);
  if (leaves.length === 0) return;
  add(c.stats, await fetchObjects({ ...c, roots: [], leaves, history: false, onProgress: c.onProgress }));
}

/** Fetches what `t.patterns` need; returns the entries matched (an empty pattern list matches nothing). */
export async function fetchPaths(c: Omit<Ctx, 'stats'>, targets: PathTarget[]): Promise<{ stats: FetchStats; fetched: PathsFetched[] }> {
  const ctx: Ctx = { ...c, stats: { warnings: [], objectsFetched: 0, bytesFetched: 0, dataFetched: 0, requests: 0 } };
  const out: PathsFetched[] = [];
  for (const t of targets) out.push(await fetchTarget(ctx, t));
  return { stats: ctx.stats, fetched: out };
}

interface Dir {
  id: string;
  path: string[];
}

async function fetchTarget(c: Ctx, t: PathTarget): Promise<PathsFetched> {
  const ledger = new DeclaredLedger({ files: false });
  ledger.claim(t.tree, 'tree', { size: t.size, files: t.files }, `pointer file ${t.rel}.dv`);
  await fetchAlone(c, [t.snapshot, t.tree]);
  // The pointer's tree must be its snapshot's (SECURITY.md, promise 5).
  if (decodeSnapshot(await c.store.get(t.snapshot), t.snapshot).tree !== t.tree)
    throw new DvError('BAD_POINTER', `${t.rel}.dv: its tree is not its snapshot's; restore it with \`git checkout -- ${t.rel}.dv\``, {
      file: `${t.rel}.dv`,
    });
  const pats = t.patterns.map((p) => p.split('/').filter((x) => x !== '' && x !== '.'));
  for (const p of pats)
    if (p.includes('..')) throw new DvError('USAGE', `${t.rel}/${p.join('/')}: a path may not contain ".."`, { path: p.join('/') });
  const load = async (id: string): Promise<Tree> => {
    const tree = decodeTree(await c.store.get(id), id);
    ledger.tree(id, tree);
    return tree;
  };
  const wanted = new Map<string, TreeEntry>();
  const matched = new Set<number>();
  let level: Dir[] = [{ id: t.tree, path: [] }];
  // One round per depth: the trees of this level are fetched together, then matched.
  while (level.length > 0) {
    await fetchAlone(
      c,
      level.map((d) => d.id),
    );
    const next: Dir[] = [];
    for (const d of level) {
      for (const e of (await load(d.id)).entries) {
        const path = [...d.path, e.name];
        const hits = pats.flatMap((p, k) => (matchPath(p, path) ? [k] : []));
        if (hits.length > 0) {
          // Fetched whole: nothing below a match is walked.
          wanted.set(path.join('/'), e);
          for (const k of hits) matched.add(k);
        } else if (e.type === 'dir' && pats.some((p) => matchPath(p, path, true))) next.push({ id: e.id, path });
      }
    }
    level = next;
  }
  pats.forEach((p, k) => {
    if (matched.has(k)) return;
    const s = p.join('/');
    throw new DvError(
      'PATH_NOT_FOUND',
      `${t.rel}/${s} ${isGlob(s) ? 'matches nothing' : 'is not'} in the version ${t.rel}.dv names: check the path (\`dv ls :${t.rel}\`)`,
      { path: `${t.rel}/${s}` },
    );
  });
  const entries = [...wanted.keys()].sort();
  const from = entries.flatMap((k): NonNullable<FetchInput['from']> => {
    const e = wanted.get(k)!;
    if (e.type === 'dir') return [{ id: e.id, kind: 'tree', size: e.size, files: e.files }];
    if (e.type === 'file') return [{ id: e.id, kind: e.chunked ? 'manifest' : 'chunk', size: e.size }];
    return [];
  });
  if (from.length > 0) add(c.stats, await fetchObjects({ ...c, roots: [], from, history: false, onProgress: c.onProgress }));
  return { rel: t.rel, entries };
}
