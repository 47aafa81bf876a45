/**
 * `dv config`: read and write the three configuration levels (src/repo/config.ts). With a level
 * named (`global`, `local`, `repo`), reads see that file alone, as in git; without one, reads
 * see the merged view and writes go to the committed `.dv/config`.
 *
 * Files are loaded unchecked: a value dv cannot use must not stop `dv config` from showing or
 * fixing it (every value written is checked by `Config.set`). The global level works outside a
 * repository; the others need one (NOT_A_REPO).
 */
import { DvError } from '../errors.js';
import { type Config, flatten, getKey, loadRepoConfig, type ConfigLevel } from '../repo/config.js';
import { findRoot, repoPaths } from '../repo/repo.js';

export type { ConfigLevel } from '../repo/config.js';

export interface ConfigOptions {
  /** Where to look for the repository. */
  cwd: string;
  /** One file alone; default: the merged view for reads, `repo` (`.dv/config`) for writes. */
  level?: ConfigLevel;
}

async function load(opts: ConfigOptions): Promise<Config> {
  if (opts.level === 'global') {
    // The global file needs no repository; a repository's files still count for checks
    // (`core.remote` must name a remote that exists somewhere).
    const root = await findRoot(opts.cwd).catch(() => undefined);
    const p = root ? repoPaths(root) : { config: '/nonexistent/.dv/config', localConfig: '/nonexistent/.dv/config.local' };
    return loadRepoConfig(p, { check: false });
  }
  return loadRepoConfig(repoPaths(await findRoot(opts.cwd)), { check: false });
}

/** Every key with its value, sorted by key: of one level, or the merged view. */
export async function configList(opts: ConfigOptions): Promise<Record<string, string>> {
  const config = await load(opts);
  const entries = opts.level ? flatten(config.levels[opts.level]).sort((a, b) => (a[0] < b[0] ? -1 : 1)) : config.entries();
  return Object.fromEntries(entries);
}

/** The value of `key` (undefined when not set): of one level, or the merged view. */
export async function configGet(opts: ConfigOptions & { key: string }): Promise<string | undefined> {
  const config = await load(opts);
  return opts.level ? getKey(config.levels[opts.level], opts.key) : config.get(opts.key);
}

/** Sets `key` at `level` (default `repo`); a key dv does not read or a value it cannot use is USAGE. */
export async function configSet(opts: ConfigOptions & { key: string; value: string }): Promise<void> {
  await (await load(opts)).set(opts.level ?? 'repo', opts.key, opts.value);
}

/** Removes `key` from `level` (default `repo`); USAGE when it is not set there. */
export async function configUnset(opts: ConfigOptions & { key: string }): Promise<void> {
  const level = opts.level ?? 'repo';
  if (!(await (await load(opts)).set(level, opts.key, undefined)))
    throw new DvError('USAGE', `${opts.key} is not set in the ${level} config`);
}
