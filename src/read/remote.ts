/**
 * Opens the remote a reader falls back to: the named one or the default, checked against this
 * clone's trust record (a committed URL that changed is not used), its pack indexes listed and
 * loaded through the cache under `.dv/remotes/<name>/` as fetch does. Nothing else is written.
 */
import { DvError } from '../errors.js';
import { checkRemoteTrust } from '../repo/remote-trust.js';
import { checkRemoteCacheDir, openRemote, resolveRemote } from '../repo/remotes.js';
import type { RepoSession } from '../repo/repo.js';
import { RemoteIndex } from '../transfer/remote-index.js';
import type { RemoteHandle } from './source.js';

export async function connectRemote(s: RepoSession, name?: string): Promise<RemoteHandle> {
  let config: ReturnType<typeof resolveRemote>;
  try {
    config = resolveRemote(s.config, name);
  } catch (e) {
    if (!(e instanceof DvError) || e.code !== 'NO_REMOTE') throw e;
    throw new DvError('NO_REMOTE', `the data is not in the local store and there is no remote to read it from: ${e.message}`, e.data);
  }
  await checkRemoteTrust(s.config, config.name, s.paths.dvDir);
  const backend = await openRemote(config, s.root, { create: false });
  try {
    await backend.check();
    const cache = await checkRemoteCacheDir(s.paths, config.name);
    const index = await RemoteIndex.load(backend, cache, Number(config.jobs) || 8);
    return { name: config.name, backend, index };
  } catch (e) {
    await backend.close?.();
    throw e;
  }
}
