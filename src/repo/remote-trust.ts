/**
 * Trust on first use for remotes the committed `.dv/config` defines, like SSH known hosts: a
 * commit that changes a remote's URL (or S3 endpoint), or adds a remote and makes it the default,
 * must not make the next `dv push` (or the pre-push hook) send this clone's data somewhere else.
 * This clone records where each committed remote goes (`.dv/remotes/trusted.json`, ignored by git
 * with the rest of `.dv/remotes/`). The first time it uses a remote (no record file yet) it trusts
 * the committed remotes as they are then, all of them. Afterwards a committed remote is used only
 * where the record says: one that changed, or one added since, is refused with REMOTE_UNTRUSTED
 * until the user confirms it with `dv remote trust NAME`. Remotes from trusted config
 * (`.dv/config.local`, the global file) need no record, and a URL the user sets in this clone
 * (`dv remote add`, `dv config remote.NAME.url`) is recorded as trusted then.
 */
import { join } from 'node:path';
import { DvError } from '../errors.js';
import { readControlFile, writeControlFile } from './control-file.js';
import type { ConfigLevel } from './config-view.js';

const FILE = 'trusted.json';

/** What the trust check needs of a Config (a structural type: config.ts imports this module). */
export interface TrustConfig {
  get(key: string): string | undefined;
  levelOf(key: string): ConfigLevel | undefined;
  entries(): [string, string][];
}

const trustFile = (dvDir: string): string => join(dvDir, 'remotes', FILE);

/**
 * Where remote `name` sends data: its URL, its S3 endpoint when it has one, and the S3 Object Lock
 * retention its uploads get when they get one (data nobody can delete for years is a commitment a
 * commit must not make silently).
 */
export function remoteIdentity(config: TrustConfig, name: string): string | undefined {
  const url = config.get(`remote.${name}.url`);
  if (url === undefined) return undefined;
  const endpoint = config.get(`remote.${name}.endpoint`);
  const days = config.get(`remote.${name}.objectLockDays`);
  const lock = days === undefined ? '' : ` (object lock ${config.get(`remote.${name}.objectLockMode`) ?? 'governance'} ${days}d)`;
  return (endpoint === undefined ? url : `${url} (endpoint ${endpoint})`) + lock;
}

/** The keys remoteIdentity reads. */
export const IDENTITY_KEYS = ['url', 'endpoint', 'objectLockDays', 'objectLockMode'] as const;

/** Whether where remote `name` goes comes (in part) from the committed config. */
export function isCommitted(config: TrustConfig, name: string): boolean {
  return IDENTITY_KEYS.some((k) => config.levelOf(`remote.${name}.${k}`) === 'repo');
}

async function readTrusted(dvDir: string): Promise<Record<string, string> | undefined> {
  const text = await readControlFile(trustFile(dvDir), { code: 'BAD_CONFIG', maxBytes: 1024 * 1024 });
  if (text === undefined) return undefined;
  try {
    const o = JSON.parse(text) as unknown;
    if (o && typeof o === 'object' && !Array.isArray(o))
      return Object.fromEntries(Object.entries(o).filter(([, v]) => typeof v === 'string')) as Record<string, string>;
  } catch {
    // fall through
  }
  throw new DvError('BAD_CONFIG', `${trustFile(dvDir)} is damaged: remove it, then confirm each remote with \`dv remote trust NAME\``, {
    file: trustFile(dvDir),
  });
}

const writeTrusted = (dvDir: string, all: Record<string, string>): Promise<void> =>
  writeControlFile(trustFile(dvDir), JSON.stringify(all, null, 2) + '\n', { code: 'BAD_CONFIG' });

/** The records; on this clone's first use of a remote, every committed remote as it is now (written). */
async function trustedOrSeed(config: TrustConfig, dvDir: string): Promise<Record<string, string>> {
  const have = await readTrusted(dvDir);
  if (have) return have;
  const seed: Record<string, string> = {};
  for (const [key] of config.entries()) {
    const name = /^remote\.([^.]+)\.url$/.exec(key)?.[1];
    const identity = name === undefined ? undefined : remoteIdentity(config, name);
    if (name !== undefined && identity !== undefined && isCommitted(config, name)) seed[name] = identity;
  }
  await writeTrusted(dvDir, seed);
  return seed;
}

/** Records that remote `name` may send and fetch data at `identity`. */
export async function recordTrust(config: TrustConfig, dvDir: string, name: string, identity: string): Promise<void> {
  const all = await trustedOrSeed(config, dvDir);
  if (all[name] === identity) return;
  all[name] = identity;
  await writeTrusted(dvDir, all);
}

/**
 * Refuses a committed remote that goes elsewhere than this clone recorded, or that it has no
 * record of (added by a commit since): REMOTE_UNTRUSTED naming both ends and the command to confirm.
 */
export async function checkRemoteTrust(config: TrustConfig, name: string, dvDir: string): Promise<void> {
  if (!isCommitted(config, name)) return;
  const now = remoteIdentity(config, name);
  if (now === undefined) return;
  const was = (await trustedOrSeed(config, dvDir))[name];
  if (was === now) return;
  const confirm = `check the change (\`git log -p .dv/config\`), then confirm it with \`dv remote trust ${name}\``;
  if (was === undefined) {
    throw new DvError(
      'REMOTE_UNTRUSTED',
      `remote ${name} (${now}) was added to the committed .dv/config after this clone last used its remotes, so dv sends and fetches no data there: ${confirm}`,
      { remote: name, now },
    );
  }
  throw new DvError(
    'REMOTE_UNTRUSTED',
    `remote ${name} in the committed .dv/config changed from ${was} to ${now} since this clone last used it, so dv sends and fetches no data there: ${confirm}`,
    { remote: name, was, now },
  );
}
