/**
 * The session an experiment runs in: the user's repository session (its object store, LevelDB
 * index, config and writer lock) over another work tree, the experiment's own directory. So
 * `dv repro` and `dv checkout` run there unchanged, and what they record (outs, run records, run
 * refs) lands in the user's store, while no file of the user's workspace is touched.
 *
 * Invariants: the stat cache is not shared with the user's (its keys are repository-relative
 * paths, so the experiment's files would evict the workspace's and make the next `dv status`
 * hash everything again): the experiment keeps its own, in memory, bounded by MAX_STATS entries
 * (a cache: cleared when full). Object locations go to the real index. Letting the writer lock
 * go while a stage runs is the user's session's own `unlocked`.
 */
import type { DirStat, Index, StatEntry } from '../store/index-db.js';
import type { RepoSession } from '../repo/repo.js';

const MAX_STATS = 200_000;

/** An index whose object calls are `base`'s and whose stat cache is its own, in memory. */
function experimentIndex(base: Index): Index {
  const stats = new Map<string, StatEntry>();
  const dirs = new Map<string, DirStat>();
  const put = <V>(m: Map<string, V>, entries: [string, V | undefined][]): void => {
    if (m.size + entries.length > MAX_STATS) m.clear();
    for (const [k, v] of entries) {
      if (v === undefined) m.delete(k);
      else m.set(k, v);
    }
  };
  return {
    persistent: false,
    getLocations: (ids) => base.getLocations(ids),
    addPack: (p, e) => base.addPack(p, e),
    frameSums: base.frameSums && ((p) => base.frameSums!(p)),
    removePack: (p, ids) => base.removePack(p, ids),
    dropObjects: (ids) => base.dropObjects(ids),
    forgetPacks: (p) => base.forgetPacks(p),
    knownPacks: () => base.knownPacks(),
    idsWithPrefix: (p, n) => base.idsWithPrefix(p, n),
    getStats: async (paths) => paths.map((p) => stats.get(p)),
    putStats: async (entries) => put(stats, entries),
    getDirs: async (paths) => paths.map((p) => dirs.get(p)),
    putDirs: async (entries) => put(dirs, entries),
    clear: async () => {
      stats.clear();
      dirs.clear();
    },
    // The user's session closes the real index.
    close: async () => undefined,
  };
}

/** `s` working in `root` instead of its own work tree (see the header). */
export function sessionAt(s: RepoSession, root: string): RepoSession {
  const view = Object.create(s) as RepoSession;
  Object.defineProperties(view, {
    paths: { value: { ...s.paths, root } },
    index: { value: experimentIndex(s.index) },
    unlocked: { value: <T>(fn: () => Promise<T>): Promise<T> => s.unlocked(fn) },
    close: { value: async () => undefined },
  });
  return view;
}
