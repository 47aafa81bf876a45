/**
 * Trust on first use for remotes the committed `.dv/config` defines, like SSH known hosts: a
 * commit that changes a remote's URL (or S3 endpoint) must not make the next `dv push` (or the
 * pre-push hook) send this clone's data somewhere else. This clone records, per remote, where it
 * last sent or fetched data (`.dv/remotes/trusted.json`, ignored by git with the rest of
 * `.dv/remotes/`). A committed remote is used when it still goes where the record says; the first
 * use of one this clone has no record of is trusted and recorded; one that changed is refused
 * with REMOTE_UNTRUSTED until the user confirms it with `dv remote trust NAME`. Remotes from
 * trusted config (`.dv/config.local`, the global file) need no record, and a URL the user sets in
 * this clone (`dv remote add`, `dv config remote.NAME.url`) is recorded as trusted then.
 */
import { join } from 'node:path';
import { DvError } from '../errors.js';
import { readControlFile, writeControlFile } from './control-file.js';
import type { ConfigLevel } from './config.js';

const FILE = 'trusted.json';

/** What the trust check needs of a Config (a structural type: config.ts imports this module). */
export interface TrustConfig {
  get(key: string): string | undefined;
  levelOf(key: string): ConfigLevel | undefined;
}

const trustFile = (dvDir: string): string => join(dvDir, 'remotes', FILE);

/** Where remote `name` sends data: its URL, and its S3 endpoint when it has one. */
export function remoteIdentity(config: TrustConfig, name: string): string | undefined {
  const url = config.get(`remote.${name}.url`);
  if (url === undefined) return undefined;
  const endpoint = config.get(`remote.${name}.endpoint`);
  return endpoint === undefined ? url : `${url} (endpoint ${endpoint})`;
}

/** Whether where remote `name` goes comes (in part) from the committed config. */
export function isCommitted(config: TrustConfig, name: string): boolean {
  return config.levelOf(`remote.${name}.url`) === 'repo' || config.levelOf(`remote.${name}.endpoint`) === 'repo';
}

async function readTrusted(dvDir: string): Promise<Record<string, string>> {
  const text = await readControlFile(trustFile(dvDir), { code: 'BAD_CONFIG', maxBytes: 1024 * 1024 });
  if (text === undefined) return {};
  try {
    const o = JSON.parse(text) as unknown;
    if (o && typeof o === 'object' && !Array.isArray(o)) return Object.fromEntries(Object.entries(o).filter(([, v]) => typeof v === 'string')) as Record<string, string>;
  } catch {
    // fall through
  }
  throw new DvError('BAD_CONFIG', `${trustFile(dvDir)} is damaged: remove it, then confirm each remote with \`dv remote trust NAME\``, { file: trustFile(dvDir) });
}

/** Records that remote `name` may send and fetch data at `identity`. */
export async function recordTrust(dvDir: string, name: string, identity: string): Promise<void> {
  const all = await readTrusted(dvDir);
  if (all[name] === identity) return;
  all[name] = identity;
  await writeControlFile(trustFile(dvDir), JSON.stringify(all, null, 2) + '\n', { code: 'BAD_CONFIG' });
}

/**
 * Refuses a committed remote whose URL or endpoint changed since this clone recorded it
 * (REMOTE_UNTRUSTED, naming both); records it on first use.
 */
export async function checkRemoteTrust(config: TrustConfig, name: string, dvDir: string): Promise<void> {
  if (!isCommitted(config, name)) return;
  const now = remoteIdentity(config, name);
  if (now === undefined) return;
  const was = (await readTrusted(dvDir))[name];
  if (was === now) return;
  if (was === undefined) return recordTrust(dvDir, name, now);
  throw new DvError('REMOTE_UNTRUSTED', `remote ${name} in the committed .dv/config changed from ${was} to ${now} since this clone last used it, so dv sends and fetches no data there: check the change (\`git log -p .dv/config\`), then confirm it with \`dv remote trust ${name}\``, { remote: name, was, now });
}
