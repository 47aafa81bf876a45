/**
 * Repositories that share one cache directory (`cache.dir`) register in `<cache>/repos/`, one
 * small file per repository naming its root. `dv gc` in any of them then collects with the roots
 * of all of them (their pointer files, git refs, snapshot logs and dv.lock runs), holding each
 * one's writer lock, so no repository loses data another one still names.
 */
import { promises as fsp, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { blake3Hex } from '../core/hash.js';
import { fsError } from '../errors.js';
import { writeFileAtomic } from '../store/atomic.js';
import { loadRepoConfig } from './config.js';
import { repoPaths, type RepoPaths } from './paths.js';
import { readControlFile } from './control-file.js';
import { configuredCacheDir } from './store-trust.js';

const DIR = 'repos';

const real = (p: string): string => {
  try {
    return realpathSync.native(p);
  } catch {
    return p;
  }
};
const entryFile = (paths: RepoPaths): string => join(paths.cacheDir, DIR, `${blake3Hex(Buffer.from(real(paths.root))).slice(0, 24)}.json`);

/** Records this repository as a user of its (shared) cache; cheap when already recorded. */
export async function registerRepo(paths: RepoPaths): Promise<void> {
  const file = entryFile(paths);
  if (
    await fsp.stat(file).then(
      () => true,
      () => false,
    )
  )
    return;
  await fsp.mkdir(join(paths.cacheDir, DIR), { recursive: true }).catch((e) => {
    throw fsError(e, join(paths.cacheDir, DIR));
  });
  await writeFileAtomic(file, `${JSON.stringify({ root: real(paths.root) })}\n`, paths.tmpDir);
}

export interface SharingRepo {
  root: string;
  paths: RepoPaths;
}

/**
 * The other repositories registered in this cache that still use it. Registrations of
 * repositories that are gone, or that moved to another cache, are returned as `stale`.
 */
export async function sharingRepos(self: RepoPaths): Promise<{ repos: SharingRepo[]; stale: string[] }> {
  const dir = join(self.cacheDir, DIR);
  const names = await fsp.readdir(dir).catch(() => [] as string[]);
  const repos: SharingRepo[] = [];
  const stale: string[] = [];
  const cache = real(self.cacheDir);
  for (const name of names.filter((n) => /^[0-9a-f]{24}\.json$/.test(n)).sort()) {
    const file = join(dir, name);
    let root: string | undefined;
    try {
      const v = JSON.parse((await readControlFile(file, { code: 'BAD_CONFIG', maxBytes: 64 * 1024 })) ?? '') as { root?: unknown };
      root = typeof v.root === 'string' ? v.root : undefined;
    } catch {
      root = undefined;
    }
    if (root === undefined) {
      stale.push(file);
      continue;
    }
    if (real(root) === real(self.root)) continue;
    const base = repoPaths(root);
    // A repository that is gone (no .dv/config) needs no config read.
    const exists = await fsp.stat(base.config).then(
      () => true,
      () => false,
    );
    // Unchecked: only cache.dir matters here, and a value that repository cannot use (say a bad
    // remote.NAME.jobs) must not get it dropped as stale, and its data collected.
    const config = exists ? await loadRepoConfig(base, { check: false }).catch(() => undefined) : undefined;
    // A cache.dir that repository's own dv refuses (committed, outside it) is not this cache.
    const cacheDir = config
      ? await configuredCacheDir(config, root).then(
          (d) => d ?? null,
          () => undefined,
        )
      : undefined;
    const paths = cacheDir === undefined ? undefined : repoPaths(root, cacheDir ?? undefined);
    if (!paths || real(paths.cacheDir) !== cache) {
      stale.push(file);
      continue;
    }
    repos.push({ root, paths });
  }
  return { repos, stale };
}
