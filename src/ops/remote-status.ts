/**
 * `dv status --remote`: what the remote lacks of the pointer files' data, and what this clone lacks.
 * A remote that does not exist (a directory not created yet) fails REMOTE_NOT_FOUND, as `dv pull` does.
 */
import type { RepoSession } from '../repo/repo.js';
import { reachable } from '../history/reach.js';
import { withRemote } from '../transfer/remote-session.js';

export interface RemoteStatusResult {
  remote: string;
  url: string;
  /** Everything the pointer files reference is on the remote. */
  upToDate: boolean;
  notPushed: { objects: number; bytes: number };
  /** Objects the pointer files reference that are not in the local store (and whether the remote has them). */
  notFetched: { objects: number; onRemote: number };
}

export async function remoteStatus(
  s: RepoSession,
  opts: { remote?: string; paths?: string[]; cwd?: string } = {},
): Promise<RemoteStatusResult> {
  return withRemote(s, { ...opts, purpose: 'read' }, async ({ config, remote, roots }) => {
    const { ids, problems } = await reachable(s, roots, { history: false });
    const missing = new Set(problems.filter((p) => p.code === 'OBJECT_MISSING' && p.id).map((p) => p.id!));
    const unpushed = [...ids].filter((id) => !remote.has(id) && !missing.has(id));
    const locs = await s.store.index.getLocations(unpushed);
    const notFetchedOnRemote = [...missing].filter((id) => remote.has(id)).length;
    return {
      remote: config.name,
      url: config.url,
      upToDate: unpushed.length === 0 && [...missing].every((id) => remote.has(id)),
      notPushed: { objects: unpushed.length, bytes: locs.reduce((n, l) => n + (l?.length ?? 0), 0) },
      notFetched: { objects: missing.size, onRemote: notFetchedOnRemote },
    };
  });
}
