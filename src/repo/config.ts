/**
 * Configuration at three levels, like git and DVC: repo (`.dv/config`, committed), local
 * (`.dv/config.local`, git-ignored) and global (`$XDG_CONFIG_HOME/dv/config`). Each file is
 * JSON of sections; keys are dotted paths (`core.remote`, `remote.origin.url`, `cache.dir`).
 * Later levels override earlier ones: global < repo < local.
 */
import { promises as fsp } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { DvError, fsError } from '../errors.js';
import { writeFileAtomic } from '../store/atomic.js';

export type ConfigLevel = 'global' | 'repo' | 'local';
export type ConfigTree = { [k: string]: string | ConfigTree };

export function globalConfigPath(): string {
  const base = process.env.XDG_CONFIG_HOME || join(homedir(), '.config');
  return join(base, 'dv', 'config');
}

export async function readConfigFile(file: string): Promise<ConfigTree> {
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw fsError(e, file);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new DvError('BAD_CONFIG', `${file} is not valid JSON (${(e as Error).message}): fix it by hand or restore it with git`, { file });
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new DvError('BAD_CONFIG', `${file} must hold a JSON object: fix it by hand or restore it with git`, { file });
  const check = (t: Record<string, unknown>, at: string): void => {
    for (const [k, v] of Object.entries(t)) {
      if (typeof v === 'object' && v !== null && !Array.isArray(v)) check(v as Record<string, unknown>, `${at}${k}.`);
      else if (typeof v !== 'string') throw new DvError('BAD_CONFIG', `${file}: value of ${at}${k} must be a string`, { file });
    }
  };
  check(parsed as Record<string, unknown>, '');
  return parsed as ConfigTree;
}

export async function writeConfigFile(file: string, tree: ConfigTree): Promise<void> {
  await writeFileAtomic(file, JSON.stringify(tree, null, 2) + '\n');
}

const KEY_RE = /^[A-Za-z][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)+$/;

export function checkKey(key: string): string[] {
  if (!KEY_RE.test(key)) throw new DvError('USAGE', `invalid config key ${JSON.stringify(key)}: use section.name, e.g. core.remote or remote.origin.url`);
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
export class Config {
  constructor(readonly levels: Record<ConfigLevel, ConfigTree>, readonly files: Record<ConfigLevel, string>) {}

  static async load(files: Record<ConfigLevel, string>): Promise<Config> {
    return new Config(
      { global: await readConfigFile(files.global), repo: await readConfigFile(files.repo), local: await readConfigFile(files.local) },
      files,
    );
  }

  get(key: string): string | undefined {
    return getKey(this.levels.local, key) ?? getKey(this.levels.repo, key) ?? getKey(this.levels.global, key);
  }

  /** Every key with its effective value. */
  entries(): [string, string][] {
    const m = new Map<string, string>();
    for (const lvl of ['global', 'repo', 'local'] as const) for (const [k, v] of flatten(this.levels[lvl])) m.set(k, v);
    return [...m.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1));
  }

  async set(level: ConfigLevel, key: string, value: string | undefined): Promise<boolean> {
    const changed = setKey(this.levels[level], key, value);
    if (changed) await writeConfigFile(this.files[level], this.levels[level]);
    return changed;
  }
}
