/**
 * `dv.yaml`, the pipeline definition (committed): stages with a shell command, the paths it
 * reads (deps), the parameter keys it reads (params) and the paths it writes (outs).
 *
 *   stages:
 *     train:
 *       cmd: python3 train.py
 *       deps: [train.py, data/prepared]
 *       params: [train.lr, config.json:seed]     # key (in params.yaml) or file:key
 *       outs: [model.pkl]
 *
 * Pure: parse, validate and edit the text; no I/O.
 */
import { posix } from 'node:path';
import { yaml } from './yaml.js';
import { DvError } from '../errors.js';

export const SPEC_FILE = 'dv.yaml';
export const DEFAULT_PARAMS_FILE = 'params.yaml';

export interface ParamRef {
  file: string;
  /** Dotted key inside the file, e.g. `train.lr`. */
  key: string;
}

export interface StageSpec {
  name: string;
  /** One shell string, run by `sh -c` from the repository root. */
  cmd: string;
  deps: string[];
  params: ParamRef[];
  outs: string[];
}

export interface PipelineSpec {
  /** In file order. */
  stages: StageSpec[];
}

const NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;
const STAGE_KEYS = new Set(['cmd', 'deps', 'params', 'outs', 'desc']);

export function invalid(message: string, data: Record<string, unknown> = {}): DvError {
  return new DvError('PIPELINE_INVALID', message, data);
}

export function checkStageName(name: string, where = SPEC_FILE): string {
  if (!NAME_RE.test(name)) throw invalid(`${where}: stage name ${JSON.stringify(name)} must be letters, digits, '_', '.' or '-'`, { stage: name });
  return name;
}

/**
 * A repository-relative, '/'-separated path without `.`, `..`, leading `./` or trailing `/`.
 * Refuses absolute paths, paths leaving the repository, and paths inside `.dv` or `.git`.
 */
export function normalizeRel(p: string, where: string): string {
  if (typeof p !== 'string' || p.trim() === '') throw invalid(`${where}: empty path`);
  if (p.includes('\0')) throw invalid(`${where}: path contains NUL`);
  if (posix.isAbsolute(p) || /^[A-Za-z]:[\\/]/.test(p)) throw invalid(`${where}: ${p} is absolute: give a path relative to the repository root`, { path: p });
  const n = posix.normalize(p.replace(/\\/g, '/')).replace(/\/+$/, '');
  if (n === '.' || n === '') throw invalid(`${where}: ${p} is the repository root: name a file or directory inside it`, { path: p });
  if (n === '..' || n.startsWith('../')) throw invalid(`${where}: ${p} is outside the repository`, { path: p });
  const first = n.split('/')[0];
  if (first === '.dv' || first === '.git') throw invalid(`${where}: ${p} is inside ${first}`, { path: p });
  return n;
}

/** `file:key` or `key` (in params.yaml). The file part ends at the last ':'. */
export function parseParamRef(s: string, where: string): ParamRef {
  if (typeof s !== 'string' || s.trim() === '') throw invalid(`${where}: empty parameter`);
  const i = s.lastIndexOf(':');
  const file = i >= 0 ? normalizeRel(s.slice(0, i), where) : DEFAULT_PARAMS_FILE;
  const key = (i >= 0 ? s.slice(i + 1) : s).trim();
  if (!/^[^.\s][^\s]*$/.test(key) || key.endsWith('.') || key.includes('..')) throw invalid(`${where}: parameter ${JSON.stringify(s)} must be KEY or FILE:KEY, with a dotted KEY such as train.lr`, { param: s });
  return { file, key };
}

export function formatParamRef(p: ParamRef): string {
  return p.file === DEFAULT_PARAMS_FILE ? p.key : `${p.file}:${p.key}`;
}

function strings(v: unknown, where: string): string[] {
  if (v === undefined || v === null) return [];
  if (typeof v === 'string') return [v];
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw invalid(`${where} must be a list of paths`);
  return v;
}

function params(v: unknown, where: string): ParamRef[] {
  if (v === undefined || v === null) return [];
  const list = typeof v === 'string' ? [v] : v;
  if (!Array.isArray(list)) throw invalid(`${where} must be a list of KEY or FILE:KEY`);
  const out: ParamRef[] = [];
  for (const item of list) {
    if (typeof item === 'string') out.push(parseParamRef(item, where));
    else if (item && typeof item === 'object' && !Array.isArray(item)) {
      // DVC's form: `- params.yaml: [train.lr, train.epochs]`.
      for (const [file, keys] of Object.entries(item)) {
        for (const k of strings(keys, `${where}.${file}`)) out.push(parseParamRef(`${file}:${k}`, where));
      }
    } else throw invalid(`${where} must be a list of KEY or FILE:KEY`);
  }
  return out;
}

function yamlError(e: unknown, file: string): DvError {
  const y = e as { message?: string; linePos?: { line: number; col: number }[] };
  const at = y.linePos?.[0] ? `line ${y.linePos[0].line}: ` : '';
  return invalid(`${file}: ${at}${String(y.message ?? e).split('\n')[0]}: fix the YAML`, { file });
}

/** Parses YAML text strictly (duplicate keys are errors). */
export function parseYaml(text: string, file: string): unknown {
  const doc = yaml().parseDocument(text, { uniqueKeys: true });
  if (doc.errors.length > 0) throw yamlError(doc.errors[0], file);
  return doc.toJS();
}

/** Parses and validates `dv.yaml` text (the DAG is checked separately, by `buildDag`). */
export function parseSpec(text: string, file = SPEC_FILE): PipelineSpec {
  const o = parseYaml(text, file) as { stages?: unknown } | null;
  if (o === null || o === undefined) return { stages: [] };
  if (typeof o !== 'object' || Array.isArray(o)) throw invalid(`${file}: expected a mapping with a "stages" key`, { file });
  for (const k of Object.keys(o)) if (k !== 'stages') throw invalid(`${file}: unknown top-level key ${JSON.stringify(k)} (only "stages")`, { file });
  const st = o.stages;
  if (st === undefined || st === null) return { stages: [] };
  if (typeof st !== 'object' || Array.isArray(st)) throw invalid(`${file}: "stages" must map stage names to stages`, { file });
  const stages: StageSpec[] = [];
  for (const [name, raw] of Object.entries(st as Record<string, unknown>)) {
    const where = `${file}: stage ${name}`;
    checkStageName(name, file);
    if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw invalid(`${where} must be a mapping with cmd, deps, params, outs`, { stage: name });
    const r = raw as Record<string, unknown>;
    for (const k of Object.keys(r)) if (!STAGE_KEYS.has(k)) throw invalid(`${where}: unknown key ${JSON.stringify(k)} (expected cmd, deps, params, outs)`, { stage: name });
    if (typeof r.cmd !== 'string' || r.cmd.trim() === '') throw invalid(`${where}: cmd must be a non-empty shell command`, { stage: name });
    const deps = strings(r.deps, `${where}: deps`).map((p) => normalizeRel(p, `${where}: deps`));
    const outs = strings(r.outs, `${where}: outs`).map((p) => normalizeRel(p, `${where}: outs`));
    stages.push({ name, cmd: r.cmd, deps: [...new Set(deps)], params: dedupeParams(params(r.params, `${where}: params`)), outs: [...new Set(outs)] });
  }
  return { stages };
}

function dedupeParams(ps: ParamRef[]): ParamRef[] {
  const seen = new Set<string>();
  return ps.filter((p) => { const k = `${p.file}\0${p.key}`; return !seen.has(k) && (seen.add(k), true); });
}

/** `text` (the current dv.yaml, or '') with stage `s` added or replaced; comments are kept. */
export function setStage(text: string, s: StageSpec): string {
  const doc = text.trim() === '' ? new (yaml().Document)({ stages: {} }) : yaml().parseDocument(text, { uniqueKeys: true });
  if (doc.errors.length > 0) throw yamlError(doc.errors[0], SPEC_FILE);
  if (!doc.contents || !yaml().isMap(doc.contents)) doc.contents = doc.createNode({ stages: {} }) as typeof doc.contents;
  if (!yaml().isMap(doc.get('stages'))) doc.set('stages', doc.createNode({}));
  const node: Record<string, unknown> = { cmd: s.cmd };
  if (s.deps.length) node.deps = s.deps;
  if (s.params.length) node.params = s.params.map(formatParamRef);
  if (s.outs.length) node.outs = s.outs;
  doc.setIn(['stages', s.name], doc.createNode(node));
  return doc.toString({ lineWidth: 0 });
}
