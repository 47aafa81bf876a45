/** `dv fetch`: bring into the local store what the pointer files (or all history) need from a remote. */
import type { RepoSession } from '../repo/repo.js';
import { fetchObjects, type FetchStats } from '../transfer/fetch.js';
import { lockedRuns } from './pipeline.js';
import { withRemote } from './remote-session.js';
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
  return withRemote(s, { ...opts, purpose: 'read' }, async ({ config, jobs, backend, remote, roots }) => {
    // Packs deleted by hand (rm -rf .dv/cache) are forgotten, so their objects are fetched again.
    await s.store.forgetLostPacks();
    // The run cache dv.lock names comes along when the remote has it (the leaves: run objects).
    const runs = (await lockedRuns(s.root)).filter((r) => remote.has(r.run));
    const stats = await fetchObjects({ store: s.store, backend, remote, roots, leaves: runs.map((r) => r.run), history: opts.allHistory ?? false, jobs, onProgress: opts.onProgress });
    for (const r of runs) if (await s.store.has(r.run)) await saveRunRef(s, r.key, r.run);
    return { remote: config.name, url: config.url, snapshots: roots, ...stats };
  });
}
