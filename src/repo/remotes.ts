/**
 * Remotes as configured in `.dv/config` (so a `git clone` knows them): `remote.<name>.url` and
 * per-remote options, `core.remote` for the default. Credentials never live here: they come
 * from the standard AWS chain (environment, shared config/credentials files, profiles).
 */
import { promises as fsp } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Backend } from '../backend/backend.js';
import type { RetryOptions } from '../backend/retry.js';
import type { S3ObjectLock, S3Sse } from '../backend/s3.js';
import { openBackend, parseRemoteUrl } from '../backend/open.js';
import { DvError } from '../errors.js';
import { badValue, checkSetting, getKey, REMOTE_NAME_RE, REMOTE_OPTIONS, type Config, type ConfigLevel } from './config.js';
import type { RepoPaths } from './paths.js';
import { isCommitted, recordTrust, remoteIdentity } from './remote-trust.js';
import { checkControlDir, lstatControlFile, readControlFile, writeControlFile } from './control-file.js';

export { REMOTE_OPTIONS };
export type RemoteOption = (typeof REMOTE_OPTIONS)[number];

export interface RemoteConfig {
  name: string;
  url: string;
  endpoint?: string;
  region?: string;
  profile?: string;
  pathStyle?: string;
  checksum?: string;
  jobs?: string;
  timeout?: string;
  /** S3 server-side encryption: AES256 or aws:kms, the KMS key, and whether to use an S3 Bucket Key. */
  sse?: string;
  sseKmsKeyId?: string;
  sseBucketKey?: string;
  /** S3 Object Lock: retention in days of every pack, index and run record pushed, and its mode (governance by default). */
  objectLockDays?: string;
  objectLockMode?: string;
  isDefault: boolean;
}

export function checkRemoteName(name: string): string {
  if (!REMOTE_NAME_RE.test(name))
    throw new DvError('USAGE', `invalid remote name ${JSON.stringify(name)}: use letters, digits, '-' and '_'`);
  return name;
}

export function listRemotes(config: Config): RemoteConfig[] {
  const names = new Set<string>();
  for (const [k] of config.entries()) {
    const m = /^remote\.([^.]+)\.url$/.exec(k);
    if (m) names.add(m[1]);
  }
  const def = config.get('core.remote');
  return [...names].sort().map((name) => {
    const r: RemoteConfig = { name, url: config.get(`remote.${name}.url`)!, isDefault: name === def };
    for (const o of REMOTE_OPTIONS) {
      const v = config.get(`remote.${name}.${o}`);
      if (v !== undefined && o !== 'url') r[o] = v;
    }
    return r;
  });
}

/** The remote named, or the default one, or the only one. */
export function resolveRemote(config: Config, name?: string): RemoteConfig {
  const all = listRemotes(config);
  if (name) {
    const r = all.find((x) => x.name === name);
    if (!r)
      throw new DvError(
        'NO_REMOTE',
        `no remote named ${JSON.stringify(name)}: see \`dv remote list\`, or add it with \`dv remote add ${name} URL\``,
        { name },
      );
    return r;
  }
  const named = config.get('core.remote');
  if (named !== undefined && !all.some((x) => x.name === named)) {
    // Never fall back to another remote: data would go where the user did not say.
    const level = config.levelOf('core.remote')!;
    throw badValue(
      level,
      config.files[level],
      'core.remote',
      named,
      `no remote has that name (${all.length ? `remotes: ${all.map((x) => x.name).join(', ')}` : 'none is configured'})`,
    );
  }
  const def = all.find((x) => x.isDefault) ?? (all.length === 1 ? all[0] : undefined);
  if (!def) {
    throw new DvError(
      'NO_REMOTE',
      all.length === 0
        ? 'no remote configured: add one with `dv remote add origin /path/or/s3://bucket/prefix --default`'
        : `several remotes and no default: pass -r NAME or run \`dv remote default NAME\``,
    );
  }
  return def;
}

/** `.dv/remotes/last-used.json`: git-ignored with the rest of `.dv/remotes/`; no remote name has a dot, so no cache dir collides. */
const lastUsedFile = (dvDir: string): string => join(dvDir, 'remotes', 'last-used.json');

/** The remote this clone last used, as recorded, or undefined when there is no usable record. */
async function lastUsedRemote(dvDir: string): Promise<RemoteConfig | undefined> {
  const text = await readControlFile(lastUsedFile(dvDir), { code: 'BAD_CONFIG', maxBytes: 64 * 1024 }).catch(() => undefined);
  if (text === undefined) return undefined;
  try {
    const o = JSON.parse(text) as Record<string, unknown>;
    if (typeof o.name !== 'string' || typeof o.url !== 'string' || !REMOTE_NAME_RE.test(o.name)) return undefined;
    parseRemoteUrl(o.url);
    const r: RemoteConfig = { name: o.name, url: o.url, isDefault: true };
    for (const k of REMOTE_OPTIONS) {
      const v = o[k];
      if (k === 'url' || typeof v !== 'string') continue;
      // Checked as a config value would be: the record is this clone's own, but a file all the same.
      checkSetting(`remote.${o.name}.${k}`, v);
      r[k] = v;
    }
    return r;
  } catch {
    return undefined;
  }
}

/**
 * resolveRemote, remembering what it resolved. A commit made before `dv remote add` has no remote
 * in its `.dv/config` (nor may `.dv/config.local` name one): with no remote named and none
 * configured at all, the remote this clone last used is used again (the hooks' `dv pull` after
 * `git checkout` of such a commit). Never when a remote is configured, and never to write (`read`
 * false: push): data goes where the config says.
 */
export async function resolveRemoteRemembered(config: Config, dvDir: string, name?: string, read = true): Promise<RemoteConfig> {
  let r: RemoteConfig;
  try {
    r = resolveRemote(config, name);
  } catch (e) {
    // Only to read from: data is sent only to a remote the configuration names (push, pre-push).
    const none = read && e instanceof DvError && e.code === 'NO_REMOTE' && name === undefined && listRemotes(config).length === 0;
    const last = none ? await lastUsedRemote(dvDir) : undefined;
    if (!last) throw e;
    return last;
  }
  const record = JSON.stringify(r, null, 2) + '\n';
  const file = lastUsedFile(dvDir);
  // A convenience for later: a record that cannot be written never fails the command using the remote.
  const was = await readControlFile(file, { code: 'BAD_CONFIG', maxBytes: 64 * 1024 }).catch(() => undefined);
  if (was !== record)
    await checkControlDir(join(dvDir, 'remotes'))
      .then(() => fsp.mkdir(join(dvDir, 'remotes'), { recursive: true }))
      .then(() => writeControlFile(file, record, { code: 'BAD_CONFIG' }))
      .catch(() => undefined);
  return r;
}

/**
 * The server-side encryption every upload to the remote asks for, or undefined for none. The
 * values were checked one by one when set (config.ts); here that they go together: a KMS key or a
 * bucket key means nothing without `sse aws:kms`, and dv never uploads with a setting S3 would
 * ignore or refuse halfway through a push.
 */
export function remoteSse(r: Pick<RemoteConfig, 'name' | 'sse' | 'sseKmsKeyId' | 'sseBucketKey'>): S3Sse | undefined {
  const kmsOnly = r.sseKmsKeyId !== undefined ? 'sseKmsKeyId' : r.sseBucketKey !== undefined ? 'sseBucketKey' : undefined;
  if (kmsOnly && r.sse !== 'aws:kms')
    throw new DvError(
      'USAGE',
      `remote.${r.name}.${kmsOnly} needs remote.${r.name}.sse aws:kms (it is ${r.sse ?? 'not set'}): set it with \`dv config remote.${r.name}.sse aws:kms\``,
      { remote: r.name },
    );
  if (r.sse === undefined) return undefined;
  if (r.sse !== 'AES256' && r.sse !== 'aws:kms')
    throw new DvError('USAGE', `remote.${r.name}.sse ${JSON.stringify(r.sse)}: give AES256 or aws:kms`, { remote: r.name });
  return { mode: r.sse, kmsKeyId: r.sseKmsKeyId, bucketKey: r.sseBucketKey === undefined ? undefined : r.sseBucketKey === 'true' };
}

/** What Object Lock retains: the data and what names it (transfer/layout.ts), never gc's marks under `gc/`. */
const LOCKED_PREFIXES = ['packs/', 'index/', 'runs/'] as const;

/** The Object Lock retention every upload of data to the remote carries, or undefined for none. */
export function remoteObjectLock(r: Pick<RemoteConfig, 'name' | 'objectLockDays' | 'objectLockMode'>): S3ObjectLock | undefined {
  if (r.objectLockDays === undefined) {
    if (r.objectLockMode !== undefined)
      throw new DvError(
        'USAGE',
        `remote.${r.name}.objectLockMode needs remote.${r.name}.objectLockDays: set it with \`dv config remote.${r.name}.objectLockDays N\``,
        { remote: r.name },
      );
    return undefined;
  }
  const days = Number(r.objectLockDays);
  if (!Number.isInteger(days) || days < 1 || days > 36_500)
    throw new DvError('USAGE', `remote.${r.name}.objectLockDays ${JSON.stringify(r.objectLockDays)}: give whole days from 1 to 36500`, {
      remote: r.name,
    });
  const mode = r.objectLockMode ?? 'governance';
  if (mode !== 'governance' && mode !== 'compliance')
    throw new DvError('USAGE', `remote.${r.name}.objectLockMode ${JSON.stringify(mode)}: give governance or compliance`, {
      remote: r.name,
    });
  return {
    mode: mode === 'compliance' ? 'COMPLIANCE' : 'GOVERNANCE',
    days,
    prefixes: LOCKED_PREFIXES,
    setting: `remote.${r.name}.objectLockDays`,
  };
}

/** Opens the backend of a remote, with its options from the config. */
export function openRemote(r: RemoteConfig, root: string, opts: { create?: boolean; retry?: RetryOptions } = {}): Promise<Backend> {
  const bool = (v: string | undefined): boolean | undefined => (v === undefined ? undefined : v === 'true' || v === '1' || v === 'yes');
  const checksum = r.checksum === undefined ? undefined : r.checksum === 'when_supported' ? 'when_supported' : 'when_required';
  const sse = remoteSse(r);
  const objectLock = remoteObjectLock(r);
  if (objectLock && parseRemoteUrl(r.url, root).kind !== 's3')
    throw new DvError('USAGE', `remote.${r.name}.objectLockDays is for S3 remotes; ${r.name} is a directory`, { remote: r.name });
  if (sse && parseRemoteUrl(r.url, root).kind !== 's3')
    throw new DvError(
      'USAGE',
      `remote.${r.name}.sse is for S3 remotes; ${r.name} is a directory: remove it with \`dv config --unset remote.${r.name}.sse\``,
      {
        remote: r.name,
      },
    );
  return openBackend(r.url, {
    cwd: root,
    create: opts.create,
    retry: opts.retry,
    s3: {
      endpoint: r.endpoint,
      region: r.region,
      profile: r.profile,
      forcePathStyle: bool(r.pathStyle),
      checksum,
      timeoutMs: r.timeout ? Number(r.timeout) * 1000 : undefined,
      sse,
      objectLock,
    },
  });
}

export function remoteCacheDir(paths: RepoPaths, name: string): string {
  return join(paths.dvDir, 'remotes', name);
}

/**
 * The remote's index cache (`.dv/remotes/NAME/`), checked before dv reads or writes it: a real
 * directory holding regular files only. A clone may carry links there (to another directory, to
 * `/dev/zero`), and dv never follows a link for its own files. Returns the directory.
 */
export async function checkRemoteCacheDir(paths: RepoPaths, name: string): Promise<string> {
  const dir = remoteCacheDir(paths, name);
  const o = { root: paths.root, code: 'BAD_CONFIG' as const };
  if (!(await checkControlDir(dir, o))) return dir;
  for (const f of await fsp.readdir(dir)) await lstatControlFile(join(dir, f), o);
  return dir;
}

export async function addRemote(
  config: Config,
  level: ConfigLevel,
  name: string,
  url: string,
  options: Partial<Record<RemoteOption, string>>,
  makeDefault: boolean,
): Promise<void> {
  checkRemoteName(name);
  parseRemoteUrl(url);
  // Every value checked before the first is written: a refused option leaves no half-added remote.
  for (const [k, v] of Object.entries(options)) if (v !== undefined) checkSetting(`remote.${name}.${k}`, v);
  if (remoteSse({ name, ...options }) && parseRemoteUrl(url).kind !== 's3')
    throw new DvError('USAGE', `--sse is for S3 remotes: ${url} is a directory`, { url });
  if (remoteObjectLock({ name, ...options }) && parseRemoteUrl(url).kind !== 's3')
    throw new DvError('USAGE', `--object-lock-days is for S3 remotes: ${url} is a directory`, { url });
  if (config.get(`remote.${name}.url`) !== undefined)
    throw new DvError('USAGE', `remote ${name} exists already: remove it first, or change it with \`dv config remote.${name}.url URL\``);
  await config.set(level, `remote.${name}.url`, url);
  for (const [k, v] of Object.entries(options)) if (v !== undefined) await config.set(level, `remote.${name}.${k}`, v);
  if (makeDefault || listRemotes(config).length === 1) await config.set(level, 'core.remote', name);
}

export async function removeRemote(config: Config, name: string): Promise<void> {
  let found = false;
  for (const level of ['repo', 'local', 'global'] as const) {
    for (const o of REMOTE_OPTIONS) if (await config.set(level, `remote.${name}.${o}`, undefined)) found = true;
    if (getKey(config.levels[level], 'core.remote') === name) await config.set(level, 'core.remote', undefined);
  }
  if (!found) throw new DvError('NO_REMOTE', `no remote named ${JSON.stringify(name)}`, { name });
  // A removed remote is not used again as "the remote this clone last used".
  const dvDir = dirname(config.files.local);
  if ((await lastUsedRemote(dvDir))?.name === name) await fsp.rm(lastUsedFile(dvDir), { force: true });
}

/**
 * `dv remote trust [NAME]`: confirms that the remote (default: the default one) may send and
 * fetch data where the config now points it, after REMOTE_UNTRUSTED (src/repo/remote-trust.ts).
 */
export async function trustRemote(
  config: Config,
  dvDir: string,
  name?: string,
): Promise<{ name: string; identity: string; committed: boolean }> {
  const r = resolveRemote(config, name);
  const identity = remoteIdentity(config, r.name)!;
  await recordTrust(config, dvDir, r.name, identity);
  return { name: r.name, identity, committed: isCommitted(config, r.name) };
}
