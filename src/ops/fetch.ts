/** `dv fetch`: bring into the local store what the pointer files (or all history) need from a remote. */
import { DvError } from '../errors.js';
import { pointersAt, resolveCommit } from '../repo/git-revision.js';
import type { RepoSession } from '../repo/repo.js';
import { findTracked } from '../workspace/pointers.js';
import { toRepoRel } from '../workspace/scan.js';
import { fetchObjects, startFetchWorkers, type FetchProgress, type FetchStats } from '../transfer/fetch.js';
import type { FetchPool } from '../transfer/fetch-pool.js';
import type { Tracked } from '../workspace/pointers.js';
import { lockedRuns } from '../pipeline/state.js';
import { type RemoteSession, withRemote } from '../transfer/remote-session.js';
import { saveRunRef } from '../pipeline/run-cache.js';
import { selectTrackedWithin } from '../workspace/tracked.js';
import { fetchPaths, type PathsFetched, type PathTarget } from '../transfer/fetch-paths.js';
import type { WriteThrough } from '../workspace/write-through.js';

export interface FetchOptions {
  remote?: string;
  paths?: string[];
  cwd?: string;
  jobs?: number;
  allHistory?: boolean;
  /** Snapshot ids or prefixes to fetch (ids the remote holds), instead of what pointer files name. */
  snapshots?: string[];
  /** Fetch what the pointer files of this git revision name (`dv fetch --rev HEAD~3`). */
  rev?: string;
  /** Objects and bytes downloaded; of the data asked for (`total`), how much is here (`data`). */
  onProgress?: (p: FetchProgress) => void;
  /** `dv pull`: stage the large files of the snapshots fetched as they arrive (workspace/write-through.ts). */
  stage?: WriteThrough;
}

export interface FetchResult extends FetchStats {
  remote: string;
  url: string;
  snapshots: string[];
  /** Paths inside tracked directories fetched alone (`dv fetch data/train/x.png`, `'data/train/**'`): what each matched. */
  partial?: PathsFetched[];
  /** Beside `partial`: the tracked paths named whole (repository-relative), if any. */
  whole?: string[];
}

/**
 * Named paths split into tracked paths named whole (repository-relative) and paths or patterns
 * inside a tracked directory, which fetch only what they need.
 */
async function splitPartial(s: RepoSession, paths: string[], cwd: string): Promise<{ whole: string[]; partial: PathTarget[] }> {
  const whole: string[] = [];
  const partial: PathTarget[] = [];
  if (paths.length === 0) return { whole, partial };
  for (const { tracked: t, within } of await selectTrackedWithin(s, paths, cwd)) {
    if (!within || t.pointer.kind !== 'dir') whole.push(t.rel);
    else {
      const { snapshot, tree, size, files } = t.pointer;
      partial.push({ rel: t.rel, snapshot, tree, size, files, patterns: within.map((w) => w.slice(t.rel.length + 1)) });
    }
  }
  return { whole, partial };
}

/**
 * Arguments of `dv fetch` that name snapshots rather than paths: 4 to 64 hex characters that
 * are no tracked path. A revision adds what its pointer files name.
 */
async function namedSnapshots(s: RepoSession, opts: FetchOptions): Promise<{ paths: string[]; snapshots?: string[] }> {
  const tracked = new Set((await findTracked(s.root)).map((t) => t.rel));
  const cwd = opts.cwd ?? s.root;
  const paths: string[] = [];
  const snapshots = [...(opts.snapshots ?? [])];
  for (const p of opts.paths ?? []) {
    if (/^[0-9a-fA-F]{4,64}$/.test(p) && !tracked.has(toRepoRel(s.root, cwd, p))) snapshots.push(p);
    else paths.push(p);
  }
  if (opts.rev !== undefined) {
    const commit = await resolveCommit(s.root, opts.rev);
    if (!commit) throw new DvError('USAGE', `dv fetch --rev ${opts.rev}: not a git revision here`, { rev: opts.rev });
    const rels = paths.map((p) => toRepoRel(s.root, cwd, p).replace(/\/+$/, ''));
    for (const p of await pointersAt(s.root, commit)) if (rels.length === 0 || rels.includes(p.rel)) snapshots.push(p.pointer.snapshot);
    if (snapshots.length === 0)
      throw new DvError('NOT_TRACKED', `no pointer file at ${opts.rev}${rels.length ? ` for ${rels.join(', ')}` : ''}: nothing to fetch`, {
        rev: opts.rev,
      });
    return { paths: [], snapshots };
  }
  if (snapshots.length > 0 && paths.length > 0) throw new DvError('USAGE', 'dv fetch: give paths or snapshot ids, not both');
  return { paths, ...(snapshots.length ? { snapshots } : {}) };
}

export async function fetch(s: RepoSession, opts: FetchOptions = {}): Promise<FetchResult> {
  const named = await namedSnapshots(s, opts);
  const { whole, partial } = named.snapshots ? { whole: [], partial: [] } : await splitPartial(s, named.paths, opts.cwd ?? s.root);
  // Only paths inside tracked directories: no snapshot is fetched whole.
  const which = partial.length === 0 ? named : whole.length > 0 ? { paths: whole, cwd: s.root } : { paths: [], snapshots: [] };
  // Started while the remote's indexes are read when the pointers name large files (earlyWorkers):
  // handed to the fetch, which closes them; closed here if it never starts.
  let early: FetchPool | undefined;
  const beforeIndex = async (tracked: Tracked[]): Promise<void> => {
    early = await earlyWorkers(s, tracked);
  };
  try {
    const take = (): FetchPool | undefined => {
      const w = early;
      early = undefined;
      return w;
    };
    return await withRemote(s, { ...opts, ...which, purpose: 'read', beforeIndex }, (r) => fetchWith(s, opts, { partial, whole }, r, take));
  } finally {
    await early?.close();
  }
}

/** Average file size from which a fetch's workers start before the remote's indexes are read. */
const EARLY_FILE = 1024 * 1024;
/** ... and total bytes: below this the workers' start is not worth a thread more while the indexes load. */
const EARLY_BYTES = 64 * 1024 * 1024;

/**
 * The fetch's workers, started now, when the pointer files (from the clone: only a guess) name
 * large files that are not here yet (a pointer whose snapshot object is here was fetched before).
 */
async function earlyWorkers(s: RepoSession, tracked: Tracked[]): Promise<FetchPool | undefined> {
  let size = 0;
  let files = 0;
  for (const t of tracked) {
    if (await s.store.has(t.pointer.snapshot)) continue;
    size += t.pointer.size;
    files += t.pointer.files;
  }
  return files > 0 && size >= EARLY_BYTES && size / files >= EARLY_FILE ? startFetchWorkers(s.store) : undefined;
}

/** The fetch with the remote open: the snapshots named whole, the run records dv.lock names, then the partial paths. */
async function fetchWith(
  s: RepoSession,
  opts: FetchOptions,
  { partial, whole }: { partial: PathTarget[]; whole: string[] },
  { config, jobs, backend, remote, roots }: RemoteSession,
  /** The workers started ahead, if any: taken (and so owned) by the fetch as it starts. */
  take: () => FetchPool | undefined,
): Promise<FetchResult> {
  // Packs deleted by hand (rm -rf .dv/cache) are forgotten, so their objects are fetched again.
  await s.store.forgetLostPacks();
  // The run cache dv.lock names comes along when the remote has it (the leaves: run objects).
  const runs = (await lockedRuns(s.root)).filter((r) => remote.has(r.run));
  const stats = await fetchObjects({
    store: s.store,
    backend,
    remote,
    roots,
    leaves: runs.map((r) => r.run),
    history: opts.allHistory ?? false,
    jobs,
    onProgress: opts.onProgress,
    stage: opts.stage,
    workers: take(),
  });
  for (const r of runs) if (await s.store.has(r.run)) await saveRunRef(s, r.key, r.run);
  if (partial.length === 0) return { remote: config.name, url: config.url, snapshots: roots, ...stats };
  const p = await fetchPaths({ store: s.store, backend, remote, jobs, onProgress: opts.onProgress }, partial);
  for (const w of p.stats.warnings) if (!stats.warnings.includes(w)) stats.warnings.push(w);
  stats.objectsFetched += p.stats.objectsFetched;
  stats.bytesFetched += p.stats.bytesFetched;
  stats.dataFetched += p.stats.dataFetched;
  stats.requests += p.stats.requests;
  return { remote: config.name, url: config.url, snapshots: roots, ...stats, partial: p.fetched, ...(whole.length ? { whole } : {}) };
}
