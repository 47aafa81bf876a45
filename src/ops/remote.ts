/**
 * `dv remote add|list|remove|default|trust`: the remotes of the configuration
 * (src/repo/remotes.ts), for both front doors. None takes the writer lock: each changes one
 * config file, written temp + rename. Options are strings as stored (`jobs: '4'`).
 */
import { DvError } from '../errors.js';
import { type Config, loadRepoConfig } from '../repo/config.js';
import { findRoot, repoPaths } from '../repo/repo.js';
import {
  addRemote,
  checkRemoteName,
  listRemotes,
  removeRemote,
  trustRemote,
  type RemoteConfig,
  type RemoteOption,
} from '../repo/remotes.js';

export type { RemoteConfig, RemoteOption } from '../repo/remotes.js';

/** Where to look for the repository. */
export interface RemoteWhere {
  cwd: string;
}

export interface RemoteAddOptions extends RemoteWhere, Partial<Record<Exclude<RemoteOption, 'url'>, string>> {
  name: string;
  /** A directory path, `file://` URL or `s3://bucket[/prefix]`. */
  url: string;
  /** Make it the default remote (the first remote becomes the default anyway). */
  default?: boolean;
  /** Store it in `.dv/config.local` (this clone only) instead of the committed `.dv/config`. */
  local?: boolean;
}

async function load(cwd: string): Promise<{ config: Config; dvDir: string }> {
  const p = repoPaths(await findRoot(cwd));
  return { config: await loadRepoConfig(p), dvDir: p.dvDir };
}

/** Adds a remote; every value is checked before the first is written. */
export async function remoteAdd(opts: RemoteAddOptions): Promise<RemoteConfig> {
  const { cwd, name, url, default: makeDefault, local, ...options } = opts;
  const { config } = await load(cwd);
  await addRemote(config, local ? 'local' : 'repo', name, url, options, Boolean(makeDefault));
  return listRemotes(config).find((r) => r.name === name)!;
}

/** Configured remotes, sorted by name; `isDefault` marks the default one. */
export async function remoteList(opts: RemoteWhere): Promise<RemoteConfig[]> {
  return listRemotes((await load(opts.cwd)).config);
}

/** Removes a remote from every level of the configuration (its data stays where it is). */
export async function remoteRemove(opts: RemoteWhere & { name: string }): Promise<void> {
  await removeRemote((await load(opts.cwd)).config, opts.name);
}

/** The default remote (`core.remote`), after making `name` the default when given. */
export async function remoteDefault(opts: RemoteWhere & { name?: string }): Promise<{ default: string | null }> {
  const { config } = await load(opts.cwd);
  if (opts.name === undefined) return { default: config.get('core.remote') ?? null };
  checkRemoteName(opts.name);
  if (!listRemotes(config).some((r) => r.name === opts.name))
    throw new DvError('NO_REMOTE', `no remote named ${JSON.stringify(opts.name)}: see \`dv remote list\``);
  await config.set('repo', 'core.remote', opts.name);
  return { default: opts.name };
}

/**
 * Confirms where a remote of the committed `.dv/config` now goes, after its URL or endpoint
 * changed (REMOTE_UNTRUSTED). Default: the default remote.
 */
export async function remoteTrust(opts: RemoteWhere & { name?: string }): Promise<{ name: string; identity: string; committed: boolean }> {
  const { config, dvDir } = await load(opts.cwd);
  return trustRemote(config, dvDir, opts.name);
}
