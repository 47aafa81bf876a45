/**
 * `dv remote add|list|remove|default|trust`: the remotes of the configuration
 * (src/repo/remotes.ts), for both front doors. None takes the writer lock: each changes one
 * config file, written temp + rename. Options are strings as stored (`jobs: '4'`).
 */
import { isAbsolute, relative } from 'node:path';
import { parseRemoteUrl } from '../backend/open.js';
import { DvError, isDvError } from '../errors.js';
import { checkSetting, type Config, loadRepoConfig } from '../repo/config.js';
import { findRoot, repoPaths } from '../repo/repo.js';
import {
  addRemote,
  checkRemoteName,
  listRemotes,
  openRemote,
  remoteObjectLock,
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

async function load(cwd: string): Promise<{ config: Config; dvDir: string; root: string }> {
  const p = repoPaths(await findRoot(cwd));
  return { config: await loadRepoConfig(p), dvDir: p.dvDir, root: p.root };
}

/**
 * With `--object-lock-days`: asks the bucket whether it has Object Lock enabled (the one remote
 * option checked against the remote when added: without it every push would fail), USAGE if not.
 */
async function checkObjectLock(r: RemoteConfig, root: string): Promise<void> {
  checkRemoteName(r.name);
  for (const o of ['objectLockDays', 'objectLockMode'] as const) if (r[o] !== undefined) checkSetting(`remote.${r.name}.${o}`, r[o]);
  if (!remoteObjectLock(r)) return;
  if (parseRemoteUrl(r.url, root).kind !== 's3')
    throw new DvError('USAGE', `--object-lock-days is for S3 remotes: ${r.url} is a directory`, { url: r.url });
  const backend = await openRemote(r, root);
  try {
    await backend.check();
  } catch (e) {
    if (!isDvError(e) || e.data.objectLock !== 'disabled') throw e;
    throw new DvError(
      'USAGE',
      `--object-lock-days: bucket ${String(e.data.bucket)} does not have Object Lock enabled: use a bucket created with it ` +
        '(aws s3api create-bucket --object-lock-enabled-for-bucket), or add the remote without --object-lock-days',
      { ...e.data, option: '--object-lock-days' },
    );
  } finally {
    await backend.close?.();
  }
}

/**
 * Adds a remote; every value is checked before the first is written (Object Lock: against the bucket
 * too). A relative directory is taken from where the command ran, as a shell user means it, and
 * kept relative to the repository root, where dv resolves it; `directory` is where it resolves.
 */
export async function remoteAdd(opts: RemoteAddOptions): Promise<RemoteConfig & { directory?: string }> {
  const { cwd, name, url: given, default: makeDefault, local, ...options } = opts;
  const { config, root } = await load(cwd);
  const parsed = parseRemoteUrl(given, cwd);
  const relativeDir = parsed.kind === 'local' && !isAbsolute(given) && !/^file:/i.test(given);
  const url = relativeDir ? relative(root, parsed.path) || '.' : given;
  if (options.objectLockDays !== undefined || options.objectLockMode !== undefined)
    await checkObjectLock({ name, url, ...options, isDefault: false }, root);
  await addRemote(config, local ? 'local' : 'repo', name, url, options, Boolean(makeDefault));
  const added = listRemotes(config).find((r) => r.name === name)!;
  return parsed.kind === 'local' ? { ...added, directory: parsed.path } : added;
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
