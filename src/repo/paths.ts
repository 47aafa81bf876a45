/**
 * Where a repository keeps its things: the `.dv` directory, its config files, the object store
 * (`cache.dir`, default `.dv/cache`), the index, temp space and the lock. Pure: no I/O.
 */
import { isAbsolute, join, resolve } from 'node:path';

export const DV_DIR = '.dv';

export interface RepoPaths {
  root: string;
  dvDir: string;
  config: string;
  localConfig: string;
  cacheDir: string;
  packsDir: string;
  indexDir: string;
  tmpDir: string;
  lock: string;
}

export function repoPaths(root: string, cacheDir?: string): RepoPaths {
  const dvDir = join(root, DV_DIR);
  const cache = cacheDir ? (isAbsolute(cacheDir) ? cacheDir : resolve(root, cacheDir)) : join(dvDir, 'cache');
  return {
    root,
    dvDir,
    config: join(dvDir, 'config'),
    localConfig: join(dvDir, 'config.local'),
    cacheDir: cache,
    packsDir: join(cache, 'packs'),
    indexDir: join(dvDir, 'index'),
    tmpDir: join(cache, 'tmp'),
    lock: join(dvDir, 'lock'),
  };
}
