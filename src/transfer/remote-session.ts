/** What push, fetch and status --remote share: the remote opened, what it holds, what the pointers name. */
import { promises as fsp } from 'node:fs';
import type { Backend } from '../backend/backend.js';
import { parseRemoteUrl } from '../backend/open.js';
import { DvError, fsError } from '../errors.js';
import type { RepoSession } from '../repo/repo.js';
import { checkRemoteCacheDir, openRemote, resolveRemoteRemembered, type RemoteConfig } from '../repo/remotes.js';
import { RemoteIndex } from './remote-index.js';
import { checkRemoteTrust } from '../repo/remote-trust.js';
import { selectTracked } from '../workspace/tracked.js';
import type { Tracked } from '../workspace/pointers.js';

export interface RemoteSession {
  config: RemoteConfig;
  jobs: number;
  backend: Backend;
  /** What the remote holds, from its pack indexes. */
  remote: RemoteIndex;
  /** Snapshots the selected pointer files name. */
  roots: string[];
  /** Loads the remote's indexes again (from the local cache where it can), leaving out `exclude`'s packs. */
  reload: (opts: { lean?: boolean; exclude?: ReadonlySet<string> }) => Promise<RemoteIndex>;
}

export interface RemoteSessionOptions {
  remote?: string;
  paths?: string[];
  cwd?: string;
  jobs?: number;
  /** write: a directory remote is created (as DVC does; a bucket must exist already); read: it must exist. */
  purpose: 'write' | 'read';
  /** Snapshot ids or prefixes (found in the remote's index) to use as roots instead of pointer files. */
  snapshots?: string[];
  /** Load only which ids the remote holds (RemoteIndex lean: memory ~64 bytes an id, no locations): push. */
  lean?: boolean;
  /**
   * Called with the pointer files selected, before the remote's indexes are read: what a fetch
   * starts then (its worker threads) works on the other core while this one reads them.
   */
  beforeIndex?: (tracked: Tracked[]) => Promise<void>;
  /** false: missing pack indexes are read from their own keys, never from index bundles (fsck). */
  bundles?: boolean;
}

/** The full id the remote holds for each snapshot id or prefix; a prefix it lacks is UNKNOWN_ID. */
function remoteIds(remote: RemoteIndex, name: string, args: string[]): string[] {
  return args.map((arg) => {
    const ids = remote.idsWithPrefix(arg.toLowerCase(), 2);
    if (ids.length === 1) return ids[0];
    if (ids.length > 1)
      throw new DvError('AMBIGUOUS_ID', `${arg} matches several objects on remote ${name}: give more characters`, { arg });
    throw new DvError(
      'UNKNOWN_ID',
      `remote ${name} has no object ${arg}: check the id (\`dv log --git\`), or push it from the clone that made it`,
      { arg, remote: name },
    );
  });
}

/** Runs `fn` with the remote open, and closes it whatever happens. */
export async function withRemote<T>(s: RepoSession, o: RemoteSessionOptions, fn: (r: RemoteSession) => Promise<T>): Promise<T> {
  const config = await resolveRemoteRemembered(s.config, s.paths.dvDir, o.remote, o.purpose === 'read');
  // A committed remote that now goes elsewhere than this clone last used is not used (TOFU).
  await checkRemoteTrust(s.config, config.name, s.paths.dvDir);
  const jobs = o.jobs ?? (Number(config.jobs) || 8);
  const target = parseRemoteUrl(config.url, s.root);
  if (target.kind === 'local' && o.purpose === 'write')
    await fsp.mkdir(target.path, { recursive: true }).catch((e) => {
      throw fsError(e, target.path);
    });
  const backend = await openRemote(config, s.root, { create: o.purpose === 'write', retry: { onRetry: s.onRetry } });
  try {
    // A reader's first request is the index listing, which meets what the check would and says it
    // as well (a directory remote's listing runs the check itself; S3's listing is the check's own
    // request with another prefix): a round trip less before the first byte. A writer checks first
    // (a bucket's Object Lock, before anything is sent).
    if (o.purpose === 'write') await backend.check();
    const tracked = o.snapshots ? [] : await selectTracked(s, o.paths, o.cwd ?? s.root);
    await o.beforeIndex?.(tracked);
    const cache = await checkRemoteCacheDir(s.paths, config.name);
    const remote = await RemoteIndex.load(backend, cache, jobs, { lean: o.lean && !o.snapshots, bundles: o.bundles });
    const named = o.snapshots ? remoteIds(remote, config.name, o.snapshots) : tracked.map((t) => t.pointer.snapshot);
    const roots = [...new Set(named)];
    // An index that does not match its name names nothing usable: a writer removes it (its
    // objects are sent again), a reader just does not use it.
    if (o.purpose === 'write') for (const key of remote.damaged) await backend.delete(key).catch(() => undefined);
    const reload = (r: { lean?: boolean; exclude?: ReadonlySet<string> }): Promise<RemoteIndex> =>
      RemoteIndex.load(backend, cache, jobs, r);
    return await fn({ config, jobs, backend, remote, roots, reload });
  } finally {
    await backend.close?.();
  }
}
