/** `dv status --remote`: what the remote lacks of the pointer files' data, and what this clone lacks. */
import { promises as fsp } from 'node:fs';
import { parseRemoteUrl } from '../backend/open.js';
import type { RepoSession } from '../repo/repo.js';
import { openRemote, remoteCacheDir, resolveRemote } from '../repo/remotes.js';
import { RemoteIndex } from '../transfer/remote-index.js';
import { selectTracked } from './commit.js';
import { reachable } from './reach.js';

export interface RemoteStatusResult {
  remote: string;
  url: string;
  /** Everything the pointer files reference is on the remote. */
  upToDate: boolean;
  notPushed: { objects: number; bytes: number };
  /** Objects the pointer files reference that are not in the local store (and whether the remote has them). */
  notFetched: { objects: number; onRemote: number };
}

export async function remoteStatus(s: RepoSession, opts: { remote?: string; paths?: string[]; cwd?: string } = {}): Promise<RemoteStatusResult> {
  const r = resolveRemote(s.config, opts.remote);
  const backend = openRemote(r, s.root);
  try {
    const target = parseRemoteUrl(r.url, s.root);
    // A directory remote is created by the first push: before that it simply holds nothing.
    const fresh = target.kind === 'local' && !(await fsp.stat(target.path).then(() => true, () => false));
    if (!fresh) await backend.check();
    const tracked = await selectTracked(s, opts.paths, opts.cwd ?? s.root);
    const remote = fresh ? RemoteIndex.empty(remoteCacheDir(s.paths, r.name)) : await RemoteIndex.load(backend, remoteCacheDir(s.paths, r.name));
    const { ids, problems } = await reachable(s, [...new Set(tracked.map((t) => t.pointer.snapshot))], { history: false });
    const missing = new Set(problems.filter((p) => p.code === 'OBJECT_MISSING' && p.id).map((p) => p.id!));
    const unpushed = [...ids].filter((id) => !remote.has(id) && !missing.has(id));
    const locs = await s.store.index.getLocations(unpushed);
    const notFetchedOnRemote = [...missing].filter((id) => remote.has(id)).length;
    return {
      remote: r.name,
      url: r.url,
      upToDate: unpushed.length === 0 && [...missing].every((id) => remote.has(id)),
      notPushed: { objects: unpushed.length, bytes: locs.reduce((n, l) => n + (l?.length ?? 0), 0) },
      notFetched: { objects: missing.size, onRemote: notFetchedOnRemote },
    };
  } finally {
    await backend.close?.();
  }
}
