/**
 * Where the local store may be, and whether dv may delete in it. A committed `.dv/config` comes
 * from whoever wrote the repository, so its `cache.dir` counts only inside the repository; a
 * cache elsewhere is set in trusted config (`.dv/config.local`, the global file). A store carries
 * dv's marker file (`dv-store`), written when dv first writes to it; `dv gc` deletes only in a
 * store with the marker that is not a directory remote. Stores of older dv versions get the
 * marker the first time this dv opens them to write, unless they look like a directory remote
 * (an `index/` beside `packs/`, or a configured remote's directory).
 */
import { promises as fsp, realpathSync } from 'node:fs';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { parseRemoteUrl } from '../backend/open.js';
import { DvError, fsError } from '../errors.js';
import { checkControlDir, lstatControlFile, writeControlFile } from './control-file.js';
import type { ConfigView } from './config-view.js';

export const STORE_MARKER = 'dv-store';
const MARKER_TEXT = '{"dv":"store","format":1}\n';

/** Whether `abs` is strictly inside `root`, and not in its `.git`. */
function insideRepo(root: string, abs: string): boolean {
  const rel = relative(root, abs);
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) return false;
  return rel.split(sep)[0].toLowerCase() !== '.git';
}

/**
 * The cache directory the config chooses (absolute), or undefined for the default `.dv/cache`.
 * A value from the committed `.dv/config` outside the repository, or reached through a symlink
 * inside it, is BAD_CONFIG saying how to set it for this clone.
 */
export async function configuredCacheDir(config: ConfigView, root: string): Promise<string | undefined> {
  const value = config.get('cache.dir');
  if (value === undefined) return undefined;
  const abs = isAbsolute(value) ? resolve(value) : resolve(root, value);
  if (config.levelOf('cache.dir') !== 'repo') return abs;
  if (!insideRepo(root, abs)) {
    throw new DvError(
      'BAD_CONFIG',
      `${config.files.repo}: cache.dir is ${JSON.stringify(value)}, outside the repository; the committed config cannot choose where dv writes and deletes outside it: if that is your cache, set it for this clone with \`dv config --local cache.dir ${JSON.stringify(value)}\` and remove it from .dv/config with \`dv config --unset cache.dir\``,
      { file: config.files.repo, key: 'cache.dir', value },
    );
  }
  await checkControlDir(abs, { root, code: 'BAD_CONFIG', show: `cache.dir ${value}` });
  return abs;
}

/** Refuses a committed cache.dir outside the repository at `dv config` time (USAGE, nothing written). */
export function checkCommittedCacheDir(root: string, value: string): void {
  const abs = isAbsolute(value) ? resolve(value) : resolve(root, value);
  if (!insideRepo(root, abs)) {
    throw new DvError(
      'USAGE',
      `cache.dir ${JSON.stringify(value)} is outside the repository: the committed .dv/config may only name a cache inside it (clones would not trust it); set it for this clone with \`dv config --local cache.dir ${JSON.stringify(value)}\` (or --global)`,
      { key: 'cache.dir', value },
    );
  }
}

const real = (p: string): string => {
  try {
    return realpathSync.native(p);
  } catch {
    return resolve(p);
  }
};
const within = (a: string, b: string): boolean => a === b || a.startsWith(b.endsWith(sep) ? b : b + sep);

/** The configured directory remote that the cache is, holds or lies in, if any. */
function remoteAt(cacheDir: string, config: ConfigView, root: string): { name: string; path: string } | undefined {
  const cache = real(cacheDir);
  for (const [key, url] of config.entries()) {
    const m = /^remote\.([^.]+)\.url$/.exec(key);
    if (!m) continue;
    let target: ReturnType<typeof parseRemoteUrl>;
    try {
      target = parseRemoteUrl(url, root);
    } catch {
      continue;
    }
    if (target.kind !== 'local') continue;
    const dir = real(target.path);
    if (within(cache, dir) || within(dir, cache)) return { name: m[1], path: target.path };
  }
  return undefined;
}

/** A directory remote keeps its pack indexes in `index/`; a dv store never has one there. */
async function looksLikeRemote(cacheDir: string): Promise<boolean> {
  return fsp.lstat(join(cacheDir, 'index')).then(
    (st) => st.isDirectory(),
    () => false,
  );
}

/**
 * Writes the marker into a store dv is about to write to, when it lacks one (a new store, or one
 * an older dv made). Left out for a directory that looks like a remote: gc will refuse it.
 */
export async function markStore(cacheDir: string, config: ConfigView, root: string): Promise<void> {
  const marker = join(cacheDir, STORE_MARKER);
  if (await lstatControlFile(marker, { code: 'BAD_CONFIG' })) return;
  if (remoteAt(cacheDir, config, root) || (await looksLikeRemote(cacheDir))) return;
  await fsp.mkdir(cacheDir, { recursive: true }).catch((e) => {
    throw fsError(e, cacheDir);
  });
  await writeControlFile(marker, MARKER_TEXT, { code: 'BAD_CONFIG' });
}

/** Refuses, before gc deletes anything, a store without dv's marker or one that is a directory remote. */
export async function checkStoreForGc(cacheDir: string, config: ConfigView, root: string): Promise<void> {
  const remote = remoteAt(cacheDir, config, root);
  if (remote) {
    throw new DvError(
      'BAD_CONFIG',
      `the local store ${cacheDir} is (or overlaps) the directory of remote ${remote.name} (${remote.path}): dv gc never deletes in a remote; point cache.dir elsewhere with \`dv config --local cache.dir DIR\``,
      { cacheDir, remote: remote.name },
    );
  }
  if (!(await lstatControlFile(join(cacheDir, STORE_MARKER), { code: 'BAD_CONFIG' }))) {
    throw new DvError(
      'BAD_CONFIG',
      `${cacheDir} has no dv store marker (${STORE_MARKER}), so dv gc deletes nothing there: it does not look like a store dv made (a directory remote has an index/ directory); point cache.dir at your dv cache with \`dv config --local cache.dir DIR\``,
      { cacheDir },
    );
  }
}
