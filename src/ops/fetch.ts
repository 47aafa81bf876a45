/** `dv fetch`: bring into the local store what the pointer files (or all history) need from a remote. */
import type { RepoSession } from '../repo/repo.js';
import { openRemote, remoteCacheDir, resolveRemote } from '../repo/remotes.js';
import { fetchObjects, type FetchStats } from '../transfer/fetch.js';
import { RemoteIndex } from '../transfer/remote-index.js';
import { selectTracked } from './commit.js';
import { lockedRuns } from './pipeline.js';
import { saveRunRef } from './outs.js';

export interface FetchOptions {
  remote?: string;
  paths?: string[];
  cwd?: string;
  jobs?: number;
  allHistory?: boolean;
  onProgress?: (p: { objects: number; bytes: number }) => void;
}

export interface FetchResult extends FetchStats {
  remote: string;
  url: string;
  snapshots: string[];
}

export async function fetch(s: RepoSession, opts: FetchOptions = {}): Promise<FetchResult> {
  const r = resolveRemote(s.config, opts.remote);
  const jobs = opts.jobs ?? (Number(r.jobs) || 8);
  const backend = openRemote(r, s.root);
  try {
    await backend.check();
    const tracked = await selectTracked(s, opts.paths, opts.cwd ?? s.root);
    const roots = [...new Set(tracked.map((t) => t.pointer.snapshot))];
    const remote = await RemoteIndex.load(backend, remoteCacheDir(s.paths, r.name), jobs);
    // The run cache dv.lock names comes along when the remote has it (the leaves: run objects).
    const runs = (await lockedRuns(s.root)).filter((r) => remote.has(r.run));
    const stats = await fetchObjects({ store: s.store, backend, remote, roots, leaves: runs.map((r) => r.run), history: opts.allHistory ?? false, jobs, onProgress: opts.onProgress });
    for (const r of runs) if (await s.store.has(r.run)) await saveRunRef(s, r.key, r.run);
    return { remote: r.name, url: r.url, snapshots: roots, ...stats };
  } finally {
    await backend.close?.();
  }
}
