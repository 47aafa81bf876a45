/**
 * `dv exp run -S [FILE:]KEY=VALUE`: parameter values set for one experiment, as DVC's
 * `--set-param`. FILE defaults to params.yaml; KEY is dotted (`train.lr`, `layers.0.units`);
 * VALUE is read as YAML (`0.1` a number, `true` a boolean, `[1, 2]` a list, `adam` a string).
 * A key the file does not have is refused (a typo would otherwise run a useless experiment)
 * unless written `+KEY` (added).
 *
 * Pure but for `applySets`, which rewrites the files in an experiment's own directory (never the
 * user's workspace): YAML keeps its comments and layout, JSON its indentation, TOML is rewritten.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { parse as parseToml, stringify as stringifyToml } from 'smol-toml';
import { DvError } from '../errors.js';
import { yaml } from './yaml.js';
import { lookupParam } from './run.js';
import { DEFAULT_PARAMS_FILE, normalizeRel } from './spec.js';

export interface ParamSet {
  /** As given on the command line. */
  arg: string;
  file: string;
  key: string;
  value: unknown;
  /** `+KEY`: the key may be new. */
  add: boolean;
}

const usage = (arg: string, why: string): DvError =>
  new DvError('USAGE', `-S ${JSON.stringify(arg.slice(0, 200))}: ${why}`, { option: '-S', value: arg });

/** One `-S` argument; USAGE when it is not `[FILE:]KEY=VALUE`. */
export function parseSet(arg: string): ParamSet {
  const eq = arg.indexOf('=');
  if (eq <= 0) throw usage(arg, 'give [FILE:]KEY=VALUE, e.g. -S train.lr=0.1 or -S params.json:train.lr=0.1');
  const left = arg.slice(0, eq);
  const colon = left.lastIndexOf(':');
  let file = colon >= 0 ? left.slice(0, colon) : DEFAULT_PARAMS_FILE;
  let key = colon >= 0 ? left.slice(colon + 1) : left;
  const add = key.startsWith('+');
  if (add) key = key.slice(1);
  if (!/^[^.\s][^\s]*$/.test(key) || key.endsWith('.') || key.includes('..'))
    throw usage(arg, 'the key must be dotted names such as train.lr');
  try {
    file = normalizeRel(file, '-S');
  } catch (e) {
    throw usage(arg, (e as Error).message.replace(/^-S: /, ''));
  }
  let value: unknown;
  try {
    value = yaml().parse(arg.slice(eq + 1));
  } catch {
    throw usage(arg, 'the value is not valid YAML (quote a string that starts with a special character)');
  }
  return { arg, file, key, value: value ?? null, add };
}

type Kind = 'yaml' | 'json' | 'toml';
const kindOf = (file: string): Kind => (/\.json$/i.test(file) ? 'json' : /\.toml$/i.test(file) ? 'toml' : 'yaml');
const path = (key: string): (string | number)[] => key.split('.').map((p) => (/^\d+$/.test(p) ? Number(p) : p));

/** Sets `key` in a plain object document (no prototype keys: `__proto__` is an ordinary name here). */
function setIn(doc: Record<string, unknown>, key: string, value: unknown, s: ParamSet): void {
  const parts = key.split('.');
  let cur: Record<string, unknown> = doc;
  for (const part of parts.slice(0, -1)) {
    const next = Object.hasOwn(cur, part) ? cur[part] : undefined;
    if (next === undefined && s.add) {
      Object.defineProperty(cur, part, { value: {}, enumerable: true, writable: true, configurable: true });
    } else if (next === null || typeof next !== 'object') throw usage(s.arg, `${s.file}: ${part} is not a mapping`);
    cur = cur[part] as Record<string, unknown>;
  }
  Object.defineProperty(cur, parts[parts.length - 1], { value, enumerable: true, writable: true, configurable: true });
}

/** `text` (a params file) with the sets applied; USAGE for a key it lacks (not `+KEY`) or a file that does not parse. */
export function setParams(text: string, file: string, sets: ParamSet[]): string {
  const kind = kindOf(file);
  if (kind === 'yaml') {
    const doc = yaml().parseDocument(text, { uniqueKeys: true });
    if (doc.errors.length > 0) throw usage(sets[0].arg, `${file} is not valid YAML: fix it first`);
    const js = doc.toJS() ?? {};
    for (const s of sets) {
      if (!s.add && lookupParam(js, s.key) === undefined) throw missing(s);
      doc.setIn(path(s.key), s.value);
    }
    return doc.toString({ lineWidth: 0 });
  }
  let obj: Record<string, unknown>;
  try {
    obj = (kind === 'json' ? JSON.parse(text) : parseToml(text)) as Record<string, unknown>;
  } catch {
    throw usage(sets[0].arg, `${file} is not valid ${kind.toUpperCase()}: fix it first`);
  }
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) throw usage(sets[0].arg, `${file} is not a mapping`);
  for (const s of sets) {
    if (!s.add && lookupParam(obj, s.key) === undefined) throw missing(s);
    setIn(obj, s.key, s.value, s);
  }
  if (kind === 'toml') return stringifyToml(obj) + '\n';
  const indent = /^[{[]\s*\n([ \t]+)/.exec(text)?.[1] ?? '';
  return JSON.stringify(obj, null, indent || undefined) + (text.endsWith('\n') ? '\n' : '');
}

const missing = (s: ParamSet): DvError =>
  usage(s.arg, `${s.file} has no key ${s.key}: check the name (\`dv params diff --all\` lists them), or write +${s.key}=... to add it`);

/** The sets grouped by file, in the order first named. */
export function byFile(sets: ParamSet[]): Map<string, ParamSet[]> {
  const m = new Map<string, ParamSet[]>();
  for (const s of sets) m.set(s.file, [...(m.get(s.file) ?? []), s]);
  return m;
}

/** Reads each file under `root`, applies its sets, and returns the new texts (nothing written). */
export async function planSets(root: string, sets: ParamSet[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const [file, group] of byFile(sets)) {
    const text = await fsp.readFile(join(root, file), 'utf8').catch(() => undefined);
    if (text === undefined) throw usage(group[0].arg, `${file} does not exist: name a parameters file of the pipeline`);
    out.set(file, setParams(text, file, group));
  }
  return out;
}
