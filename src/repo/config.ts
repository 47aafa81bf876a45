/**
 * Configuration at three levels, like git and DVC: repo (`.dv/config`, committed), local
 * (`.dv/config.local`, git-ignored) and global (`$XDG_CONFIG_HOME/dv/config`). Each file is
 * JSON of sections; keys are dotted paths (`core.remote`, `remote.origin.url`, `cache.dir`).
 * Later levels override earlier ones: global < repo < local.
 */
import { promises as fsp } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { parseRemoteUrl } from '../backend/open.js';
import { CHUNKER_V1 } from '../core/chunker.js';
import { COUNT, numberHint, parseNumber, type NumberRule } from '../core/number.js';
import { DvError, fsError } from '../errors.js';
import { writeFileAtomic } from '../store/atomic.js';
import { checkCommittedCacheDir } from './store-trust.js';
import { recordTrust, remoteIdentity } from './remote-trust.js';
import { checkControlDir, readControlFile, writeControlFile } from './control-file.js';

export type { ConfigLevel } from './config-view.js';
import type { ConfigLevel, ConfigView } from './config-view.js';
import type { RepoPaths } from './paths.js';
export type ConfigTree = { [k: string]: string | ConfigTree };

export function globalConfigPath(): string {
  const base = process.env.XDG_CONFIG_HOME || join(homedir(), '.config');
  return join(base, 'dv', 'config');
}

/** The three config files of the repository at `p`, by level: the global file, `.dv/config`, `.dv/config.local`. */
export function configFiles(p: Pick<RepoPaths, 'config' | 'localConfig'>): Record<ConfigLevel, string> {
  return { global: globalConfigPath(), repo: p.config, local: p.localConfig };
}

/** The merged configuration of the repository at `p`: the one way dv loads the three levels (see `Config.load`). */
export function loadRepoConfig(p: Pick<RepoPaths, 'config' | 'localConfig'>, opts: { check?: boolean } = {}): Promise<Config> {
  return Config.load(configFiles(p), opts);
}

/**
 * Reads one level's file. The repository's files (`.dv/config`, `.dv/config.local`) are control
 * files: never read through a link or from a FIFO (src/repo/control-file.ts). The global file is
 * the user's own and may be a link (dotfile managers make them), but must end at a regular file.
 */
export async function readConfigFile(file: string, opts: { followLinks?: boolean } = {}): Promise<ConfigTree> {
  let text: string | undefined;
  if (opts.followLinks) {
    const st = await fsp.stat(file).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT' || e.code === 'ENOTDIR') return undefined;
      throw fsError(e, file);
    });
    if (st && !st.isFile())
      throw new DvError(
        'BAD_CONFIG',
        `${file} is not a regular file: dv reads its config only from one; remove it and run the command again`,
        { file },
      );
    text = st
      ? await fsp.readFile(file, 'utf8').catch((e) => {
          throw fsError(e, file);
        })
      : undefined;
  } else {
    await checkControlDir(dirname(file), { code: 'BAD_CONFIG' });
    text = await readControlFile(file, { code: 'BAD_CONFIG', maxBytes: 1024 * 1024 });
  }
  if (text === undefined) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new DvError('BAD_CONFIG', `${file} is not valid JSON (${(e as Error).message}): fix it by hand or restore it with git`, { file });
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed))
    throw new DvError('BAD_CONFIG', `${file} must hold a JSON object: fix it by hand or restore it with git`, { file });
  const check = (t: Record<string, unknown>, at: string): void => {
    for (const [k, v] of Object.entries(t)) {
      if (typeof v === 'object' && v !== null && !Array.isArray(v)) check(v as Record<string, unknown>, `${at}${k}.`);
      else if (typeof v !== 'string') throw new DvError('BAD_CONFIG', `${file}: value of ${at}${k} must be a string`, { file });
    }
  };
  check(parsed as Record<string, unknown>, '');
  return parsed as ConfigTree;
}

export async function writeConfigFile(file: string, tree: ConfigTree, opts: { followLinks?: boolean } = {}): Promise<void> {
  const text = JSON.stringify(tree, null, 2) + '\n';
  if (opts.followLinks) return writeFileAtomic(file, text);
  await checkControlDir(dirname(file), { code: 'BAD_CONFIG' });
  await writeControlFile(file, text, { code: 'BAD_CONFIG' });
}

const KEY_RE = /^[A-Za-z][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)+$/;

export function checkKey(key: string): string[] {
  if (!KEY_RE.test(key))
    throw new DvError('USAGE', `invalid config key ${JSON.stringify(key)}: use section.name, e.g. core.remote or remote.origin.url`);
  return key.split('.');
}

export function getKey(tree: ConfigTree, key: string): string | undefined {
  let cur: string | ConfigTree | undefined = tree;
  for (const part of checkKey(key)) {
    if (typeof cur !== 'object') return undefined;
    cur = cur[part];
  }
  return typeof cur === 'string' ? cur : undefined;
}

export function setKey(tree: ConfigTree, key: string, value: string | undefined): boolean {
  const parts = checkKey(key);
  let cur = tree;
  const chain: ConfigTree[] = [tree];
  for (const part of parts.slice(0, -1)) {
    const next = cur[part];
    if (next === undefined) {
      if (value === undefined) return false;
      cur[part] = {};
    } else if (typeof next === 'string') {
      throw new DvError('USAGE', `config key ${key}: ${part} is a value, not a section`);
    }
    cur = cur[part] as ConfigTree;
    chain.push(cur);
  }
  const last = parts[parts.length - 1];
  if (value === undefined) {
    if (!(last in cur)) return false;
    delete cur[last];
    // Drop sections left empty, so removing a remote leaves no trace.
    for (let i = chain.length - 1; i > 0 && Object.keys(chain[i]).length === 0; i--) delete chain[i - 1][parts[i - 1]];
    return true;
  }
  cur[last] = value;
  return true;
}

/** Per-remote keys, `remote.<name>.<option>`: everything the local and S3 backends read. */
export const REMOTE_OPTIONS = [
  'url',
  'endpoint',
  'region',
  'profile',
  'pathStyle',
  'checksum',
  'jobs',
  'timeout',
  'sse',
  'sseKmsKeyId',
  'sseBucketKey',
  'objectLockDays',
  'objectLockMode',
] as const;
export const REMOTE_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

interface KeyRule {
  /** What the key accepts, for messages: "give <accepts>". */
  accepts: string;
  ok(value: string): boolean;
  /** Checked by its reader instead (core.format: RepoSession.open says "upgrade dv"). */
  notOnRead?: boolean;
}

const oneOf = (values: string[], why = ''): KeyRule => ({ accepts: values.join(' or ') + why, ok: (v) => values.includes(v) });
const number = (rule: NumberRule, unit = ''): KeyRule => ({
  accepts: numberHint(rule) + unit,
  ok: (v) => parseNumber(v, rule) !== undefined,
});
const nonEmpty = (what: string): KeyRule => ({ accepts: what, ok: (v) => v.trim() !== '' });
const FORMAT = ' (part of the repository format: the value `dv init` wrote)';

/** A path a config value names: `~/x` from the home directory, a relative one from the repository root. */
export function configPath(value: string, root: string): string {
  if (value === '~' || value.startsWith('~/')) return resolve(homedir(), value.slice(2));
  return isAbsolute(value) ? value : resolve(root, value);
}

/** Every key dv reads, and what it accepts. A value dv would ignore or misread is refused. */
const KEYS: Record<string, KeyRule> = {
  'core.format': { ...oneOf(['1'], ' (the only format this dv reads)'), notOnRead: true },
  'core.hash': oneOf(['blake3'], FORMAT),
  'core.chunker': oneOf([CHUNKER_V1.name], FORMAT),
  'core.chunkMin': oneOf([String(CHUNKER_V1.min)], FORMAT),
  'core.chunkAvg': oneOf([String(CHUNKER_V1.avg)], FORMAT),
  'core.chunkMax': oneOf([String(CHUNKER_V1.max)], FORMAT),
  // That the remote exists is checked on set (Config.set) and where it is used (resolveRemote).
  'core.remote': { accepts: 'the name of a configured remote (see `dv remote list`)', ok: (v) => REMOTE_NAME_RE.test(v) },
  // `dv init --no-git` writes false: no .gitignore, no git hints, even inside a git work tree.
  'core.git': oneOf(['true', 'false']),
  'cache.dir': nonEmpty('a directory path'),
  // Refs `dv gc --remote` must keep whole and never repack (retention): comma-separated globs over full ref names.
  'gc.protect': {
    accepts: 'ref globs separated by commas, e.g. refs/tags/release-*',
    ok: (v) => /^[A-Za-z0-9_./*?,-]+$/.test(v.replace(/\s/g, '')),
  },
  'pipeline.env': {
    accepts: 'names of environment variables separated by commas, e.g. CUDA_VISIBLE_DEVICES,OMP_NUM_THREADS',
    ok: (v) => v.split(',').every((n) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(n.trim())),
  },
  // Read from trusted config only (provenance/trust.ts): `set` refuses them in the committed file.
  'attest.key': nonEmpty('the path of an Ed25519 private key file (PEM or OpenSSH; `dv key gen PATH` makes one)'),
  'attest.trustedKeys': nonEmpty('the path of a file of trusted public keys (PEM blocks or ssh-ed25519 lines)'),
  'attest.signCommits': oneOf(['true', 'false']),
};
const REMOTE_KEYS: Record<(typeof REMOTE_OPTIONS)[number], KeyRule> = {
  url: {
    accepts: 'a directory path, file:///path or s3://bucket[/prefix]',
    ok: (v) => {
      try {
        parseRemoteUrl(v);
        return true;
      } catch {
        return false;
      }
    },
  },
  endpoint: { accepts: 'an http:// or https:// URL', ok: (v) => /^https?:\/\/[^\s/]+/.test(v) },
  region: nonEmpty('an S3 region name, e.g. eu-west-1'),
  profile: nonEmpty('an AWS profile name'),
  pathStyle: { accepts: 'true or false', ok: (v) => ['true', 'false', 'yes', 'no', '1', '0'].includes(v) },
  checksum: oneOf(['when_required', 'when_supported']),
  jobs: number({ ...COUNT, max: 256 }),
  // Bounded: a committed config could otherwise make every wait on a hung server last a day.
  timeout: number({ min: 1, whole: false, max: 600 }, ' (seconds)'),
  // S3 server-side encryption, sent on every upload (src/repo/remotes.ts checks the three agree).
  sse: oneOf(['AES256', 'aws:kms']),
  sseKmsKeyId: { accepts: 'a KMS key id, alias or ARN (with sse aws:kms)', ok: (v) => /^[A-Za-z0-9:/_+=.@-]{1,2048}$/.test(v) },
  sseBucketKey: { accepts: 'true or false (with sse aws:kms)', ok: (v) => ['true', 'false'].includes(v) },
  // S3 Object Lock retention on every pack, index and run record pushed (src/repo/remotes.ts remoteObjectLock).
  objectLockDays: number({ min: 1, max: 36_500, whole: true }, ' (days)'),
  objectLockMode: oneOf(['governance', 'compliance']),
};

function ruleFor(key: string): KeyRule | undefined {
  const m = /^remote\.([^.]+)\.([^.]+)$/.exec(key);
  if (m) return Object.hasOwn(REMOTE_KEYS, m[2]) ? REMOTE_KEYS[m[2] as keyof typeof REMOTE_KEYS] : undefined;
  return Object.hasOwn(KEYS, key) ? KEYS[key] : undefined;
}

const show = (v: string): string => (/^\S+$/.test(v) ? v : JSON.stringify(v));

/**
 * Refuses a key dv does not read, or a value it would ignore or misread, before anything is
 * written: USAGE naming the key and what it accepts.
 */
export function checkSetting(key: string, value: string): void {
  checkKey(key);
  const rule = ruleFor(key);
  if (!rule) {
    const remote = /^remote\.([^.]+)\./.exec(key);
    throw new DvError(
      'USAGE',
      remote
        ? `unknown config key ${key}: a remote takes ${REMOTE_OPTIONS.map((o) => `remote.${remote[1]}.${o}`).join(', ')}`
        : `unknown config key ${key}: dv reads core.remote, core.git, cache.dir, gc.protect, pipeline.env, attest.signCommits and remote.NAME.{${REMOTE_OPTIONS.join(',')}}; with --local or --global, attest.key and attest.trustedKeys`,
      { key },
    );
  }
  if (!rule.ok(value)) throw new DvError('USAGE', `${key} ${show(value)}: give ${rule.accepts}`, { key, value });
}

const LEVEL_FLAG: Record<ConfigLevel, string> = { global: ' --global', repo: '', local: ' --local' };

/** A value already in a file that dv would ignore or misread: BAD_CONFIG naming the file and key. */
function checkFile(level: ConfigLevel, file: string, tree: ConfigTree): void {
  for (const [key, value] of flatten(tree)) {
    const rule = ruleFor(key);
    // Keys dv does not know are left alone: a newer dv may have written them.
    if (!rule || rule.notOnRead || rule.ok(value)) continue;
    throw badValue(level, file, key, value, `give ${rule.accepts}`);
  }
}

/** BAD_CONFIG for a value in a file that dv cannot use: names the file and key, and how to fix it. */
export function badValue(level: ConfigLevel, file: string, key: string, value: string, what: string): DvError {
  return new DvError(
    'BAD_CONFIG',
    `${file}: ${key} is ${show(value)}, which dv cannot use: ${what}; fix it with \`dv config${LEVEL_FLAG[level]} ${key} VALUE\` (or --unset it)`,
    { file, key, value },
  );
}

/** Flattens a config tree into dotted keys. */
export function flatten(tree: ConfigTree, prefix = ''): [string, string][] {
  const out: [string, string][] = [];
  for (const [k, v] of Object.entries(tree)) {
    if (typeof v === 'string') out.push([prefix + k, v]);
    else out.push(...flatten(v, `${prefix}${k}.`));
  }
  return out;
}

/** The merged view of the three levels. */
export class Config implements ConfigView {
  constructor(
    readonly levels: Record<ConfigLevel, ConfigTree>,
    readonly files: Record<ConfigLevel, string>,
  ) {}

  /**
   * Reads the three files. A value dv cannot use is BAD_CONFIG naming the file and key, unless
   * `check` is false (`dv config`, so that it can repair the file).
   */
  static async load(files: Record<ConfigLevel, string>, opts: { check?: boolean } = {}): Promise<Config> {
    const levels = {
      global: await readConfigFile(files.global, { followLinks: true }),
      repo: await readConfigFile(files.repo),
      local: await readConfigFile(files.local),
    };
    if (opts.check !== false) for (const level of ['global', 'repo', 'local'] as const) checkFile(level, files[level], levels[level]);
    return new Config(levels, files);
  }

  get(key: string): string | undefined {
    const level = this.levelOf(key);
    return level && getKey(this.levels[level], key);
  }

  /** The level whose value of `key` is in effect. */
  levelOf(key: string): ConfigLevel | undefined {
    return (['local', 'repo', 'global'] as const).find((l) => getKey(this.levels[l], key) !== undefined);
  }

  /** Every key with its effective value. */
  entries(): [string, string][] {
    const m = new Map<string, string>();
    for (const lvl of ['global', 'repo', 'local'] as const) for (const [k, v] of flatten(this.levels[lvl])) m.set(k, v);
    return [...m.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1));
  }

  /**
   * Sets (or with `undefined` removes) a key in one level's file. A key dv does not read, a value
   * it would ignore, or a core.remote naming no remote is USAGE, and nothing is written.
   */
  async set(level: ConfigLevel, key: string, value: string | undefined): Promise<boolean> {
    if (value !== undefined) {
      checkSetting(key, value);
      if (key === 'cache.dir' && level === 'repo') checkCommittedCacheDir(dirname(dirname(this.files.repo)), value);
      if (key.startsWith('attest.') && level === 'repo')
        throw new DvError(
          'USAGE',
          `${key}: the committed .dv/config cannot choose signing or trusted keys (clones would trust it): use \`dv config --local ${key} ${show(value)}\` (or --global)`,
          { key },
        );
      // A key file that is not there would fail every signing command later, far from this line.
      if (key === 'attest.key' || key === 'attest.trustedKeys') {
        const file = configPath(value, dirname(dirname(this.files.repo)));
        const isFile = await fsp.stat(file).then(
          (st) => st.isFile(),
          () => false,
        );
        if (!isFile)
          throw new DvError(
            'USAGE',
            `${key} ${show(value)}: ${file} is not a file: ${key === 'attest.key' ? `make one first (\`dv key gen ${show(value)}\`)` : 'fix the path'}`,
            { key, value },
          );
      }
      if (key === 'core.remote' && this.get(`remote.${value}.url`) === undefined) {
        const names = this.entries().flatMap(([k]) => /^remote\.([^.]+)\.url$/.exec(k)?.[1] ?? []);
        throw new DvError(
          'USAGE',
          `core.remote ${show(value)}: no remote has that name (${names.length ? `remotes: ${names.join(', ')}` : 'none is configured'}): add it first with \`dv remote add ${value} URL\``,
          { key, value },
        );
      }
    }
    const changed = setKey(this.levels[level], key, value);
    if (changed) await writeConfigFile(this.files[level], this.levels[level], { followLinks: level === 'global' });
    // Where the user points a committed remote in this clone is where this clone trusts it to go.
    const remote = /^remote\.([^.]+)\.(?:url|endpoint|objectLockDays|objectLockMode)$/.exec(key);
    // Unsetting one of them too (the remote then goes where the rest says); unsetting the URL leaves no identity.
    if (remote && level === 'repo') {
      const identity = remoteIdentity(this, remote[1]);
      if (identity !== undefined) await recordTrust(this, dirname(this.files.repo), remote[1], identity);
    }
    return changed;
  }
}
