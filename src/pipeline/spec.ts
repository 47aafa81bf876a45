/**
 * `dv.yaml`, the pipeline definition (committed): stages with a shell command, the paths it
 * reads (deps), the parameter keys it reads (params) and the paths it writes (outs).
 *
 *   stages:
 *     train:
 *       cmd: python3 train.py
 *       wdir: src                                # optional: run there; paths below are relative to it
 *       deps: [train.py, data/prepared]
 *       params: [train.lr, config.json:seed]     # key (in params.yaml) or file:key
 *       outs: [model.pkl]
 *       metrics: [metrics.json]                  # optional: outs whose values status and lineage show
 *       # or, kept in git (not cached, not an out, not git-ignored), as DVC writes it:
 *       #   metrics: [{ metrics.json: { cache: false } }]
 *       plots: [logs/loss.csv]                   # optional: outs drawn by `dv plots` (pipeline/plots.ts)
 *   plots: [{ logs/loss.csv: { x: epoch, y: loss } }]  # optional: data files to draw, and how
 *
 * Pure: parse, validate and edit the text; no I/O.
 */
import { posix } from 'node:path';
import { yaml } from './yaml.js';
import { mergePlots, parsePlots, type PlotDef } from './plots.js';
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
  /** One shell string, run by `sh -c` from the repository root (or from `wdir`). */
  cmd: string;
  /**
   * The directory the command runs in, from the repository root (absent: the root). In dv.yaml
   * deps, outs and parameter files are written relative to it; here they are from the root.
   */
  wdir?: string;
  deps: string[];
  params: ParamRef[];
  outs: string[];
  /** Outs that are metrics files (JSON or YAML): also in `outs`; `dv status` and `dv lineage` show their values. */
  metrics?: string[];
  /** Metrics files kept in git (`cache: false`, `dv stage add -M`): in `metrics` but not in `outs`, so dv never tracks them. */
  uncached?: string[];
  /**
   * The stage's `plots:` as dv.yaml names them (`dv stage add --plots`, `--plots-no-cache`): a
   * cached one is also in `outs`; their drawing options live in PipelineSpec.plots.
   */
  plots?: { path: string; cache: boolean }[];
}

/** The files a stage writes that git keeps, not dv: `cache: false` metrics and plots. */
export function keptInGit(s: StageSpec): string[] {
  return [...new Set([...(s.uncached ?? []), ...(s.plots ?? []).filter((p) => !p.cache).map((p) => p.path)])];
}

export interface PipelineSpec {
  /** In file order. */
  stages: StageSpec[];
  /** `plots:` at the top level and under stages, one per data file (pipeline/plots.ts); absent when none. */
  plots?: PlotDef[];
}

const NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;
const STAGE_KEYS = new Set(['cmd', 'wdir', 'deps', 'params', 'outs', 'metrics', 'plots', 'desc']);

export function invalid(message: string, data: Record<string, unknown> = {}): DvError {
  return new DvError('PIPELINE_INVALID', message, data);
}

export function checkStageName(name: string, where = SPEC_FILE): string {
  if (!NAME_RE.test(name))
    throw invalid(`${where}: stage name ${JSON.stringify(name)} must be letters, digits, '_', '.' or '-'`, { stage: name });
  return name;
}

/**
 * A repository-relative, '/'-separated path without `.`, `..`, leading `./` or trailing `/`.
 * Refuses absolute paths, paths leaving the repository, and paths inside `.dv` or `.git`.
 */
export function normalizeRel(p: string, where: string): string {
  if (typeof p !== 'string' || p.trim() === '') throw invalid(`${where}: empty path`);
  if (p.includes('\0')) throw invalid(`${where}: path contains NUL`);
  if (posix.isAbsolute(p) || /^[A-Za-z]:[\\/]/.test(p))
    throw invalid(`${where}: ${p} is absolute: give a path relative to the repository root`, { path: p });
  const n = posix.normalize(p.replace(/\\/g, '/')).replace(/\/+$/, '');
  if (n === '.' || n === '') throw invalid(`${where}: ${p} is the repository root: name a file or directory inside it`, { path: p });
  if (n === '..' || n.startsWith('../')) throw invalid(`${where}: ${p} is outside the repository`, { path: p });
  const first = n.split('/')[0];
  if (first === '.dv' || first === '.git') throw invalid(`${where}: ${p} is inside ${first}`, { path: p });
  return n;
}

/** `wdir/p` from the repository root (p as written in dv.yaml, relative to wdir). */
export function fromWdir(wdir: string | undefined, p: string, where: string): string {
  if (!wdir) return normalizeRel(p, where);
  if (typeof p !== 'string' || p.trim() === '') throw invalid(`${where}: empty path`);
  if (posix.isAbsolute(p)) throw invalid(`${where}: ${p} is absolute: give a path relative to wdir ${wdir}`, { path: p });
  return normalizeRel(posix.join(wdir, p.replace(/\\/g, '/')), where);
}

/** A path from the repository root, as dv.yaml writes it for a stage with `wdir`. */
export function toWdir(wdir: string | undefined, p: string): string {
  return wdir ? posix.relative(wdir, p) || '.' : p;
}

/** `file:key` or `key` (in params.yaml). The file part ends at the last ':'; relative to `wdir`. */
export function parseParamRef(s: string, where: string, wdir?: string): ParamRef {
  if (typeof s !== 'string' || s.trim() === '') throw invalid(`${where}: empty parameter`);
  const i = s.lastIndexOf(':');
  const file = fromWdir(wdir, i >= 0 ? s.slice(0, i) : DEFAULT_PARAMS_FILE, where);
  const key = (i >= 0 ? s.slice(i + 1) : s).trim();
  if (key.includes(',')) throw invalid(`${where}: parameter ${JSON.stringify(s)} names several keys: list each on its own`, { param: s });
  if (!/^[^.\s][^\s]*$/.test(key) || key.endsWith('.') || key.includes('..'))
    throw invalid(`${where}: parameter ${JSON.stringify(s)} must be KEY or FILE:KEY, with a dotted KEY such as train.lr`, { param: s });
  return { file, key };
}

/**
 * A `-p` argument as DVC reads it: `KEY`, `FILE:KEY`, or several keys of one file separated by
 * commas (`train.lr,train.epochs`, `config.json:seed,lr`).
 */
export function parseParamRefs(s: string, where: string, wdir?: string): ParamRef[] {
  if (typeof s !== 'string') throw invalid(`${where}: empty parameter`);
  const i = s.lastIndexOf(':');
  const file = i >= 0 ? s.slice(0, i + 1) : '';
  const keys = (i >= 0 ? s.slice(i + 1) : s).split(',');
  if (keys.some((k) => k.trim() === '')) throw invalid(`${where}: parameter ${JSON.stringify(s)} has an empty key`, { param: s });
  return keys.map((k) => parseParamRef(file + k.trim(), where, wdir));
}

export function formatParamRef(p: ParamRef, wdir?: string): string {
  const file = toWdir(wdir, p.file);
  return file === DEFAULT_PARAMS_FILE ? p.key : `${file}:${p.key}`;
}

function strings(v: unknown, where: string): string[] {
  if (v === undefined || v === null) return [];
  if (typeof v === 'string') return [v];
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw invalid(`${where} must be a list of paths`);
  return v;
}

function params(v: unknown, where: string, wdir?: string): ParamRef[] {
  if (v === undefined || v === null) return [];
  const list = typeof v === 'string' ? [v] : v;
  if (!Array.isArray(list)) throw invalid(`${where} must be a list of KEY or FILE:KEY`);
  const out: ParamRef[] = [];
  for (const item of list) {
    if (typeof item === 'string') out.push(parseParamRef(item, where, wdir));
    else if (item && typeof item === 'object' && !Array.isArray(item)) {
      // DVC's form: `- params.yaml: [train.lr, train.epochs]`.
      for (const [file, keys] of Object.entries(item)) {
        for (const k of strings(keys, `${where}.${file}`)) out.push(parseParamRef(`${file}:${k}`, where, wdir));
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
  for (const k of Object.keys(o))
    if (k !== 'stages' && k !== 'plots')
      throw invalid(`${file}: unknown top-level key ${JSON.stringify(k)} (only "stages", "plots")`, { file });
  const st = o.stages;
  const plots: PlotDef[] = [];
  const withPlots = (stages: StageSpec[]): PipelineSpec => {
    plots.push(...parsePlots((o as { plots?: unknown }).plots, `${file}: plots`, normalizeRel));
    const merged = mergePlots(plots, file);
    return merged.length ? { stages, plots: merged } : { stages };
  };
  if (st === undefined || st === null) return withPlots([]);
  if (typeof st !== 'object' || Array.isArray(st)) throw invalid(`${file}: "stages" must map stage names to stages`, { file });
  const stages: StageSpec[] = [];
  for (const [name, raw] of Object.entries(st as Record<string, unknown>)) {
    const where = `${file}: stage ${name}`;
    checkStageName(name, file);
    if (!raw || typeof raw !== 'object' || Array.isArray(raw))
      throw invalid(`${where} must be a mapping with cmd, wdir, deps, params, outs`, { stage: name });
    const r = raw as Record<string, unknown>;
    for (const k of Object.keys(r))
      if (!STAGE_KEYS.has(k))
        throw invalid(`${where}: unknown key ${JSON.stringify(k)} (expected cmd, wdir, deps, params, outs, metrics, plots)`, {
          stage: name,
        });
    if (typeof r.cmd !== 'string' || r.cmd.trim() === '') throw invalid(`${where}: cmd must be a non-empty shell command`, { stage: name });
    if (r.wdir !== undefined && typeof r.wdir !== 'string') throw invalid(`${where}: wdir must be a directory path`, { stage: name });
    const wdir = r.wdir === undefined || posix.normalize(r.wdir) === '.' ? undefined : normalizeRel(r.wdir, `${where}: wdir`);
    const deps = strings(r.deps, `${where}: deps`).map((p) => fromWdir(wdir, p, `${where}: deps`));
    const outs = strings(r.outs, `${where}: outs`).map((p) => fromWdir(wdir, p, `${where}: outs`));
    const declared = metricEntries(r.metrics, `${where}: metrics`).map((m) => ({
      ...m,
      path: fromWdir(wdir, m.path, `${where}: metrics`),
    }));
    const metrics = [...new Set(declared.map((m) => m.path))];
    const uncached = [...new Set(declared.filter((m) => !m.cache).map((m) => m.path))];
    const cached = metrics.filter((m) => !uncached.includes(m));
    const stagePlots = parsePlots(r.plots, `${where}: plots`, (p, w) => fromWdir(wdir, p, w), name);
    plots.push(...stagePlots);
    cached.push(...stagePlots.filter((p) => p.cache !== false).map((p) => p.file));
    stages.push({
      name,
      cmd: r.cmd,
      ...(wdir ? { wdir } : {}),
      deps: [...new Set(deps)],
      params: dedupeParams(params(r.params, `${where}: params`, wdir)),
      outs: [...new Set([...outs, ...cached])],
      ...(metrics.length ? { metrics } : {}),
      ...(uncached.length ? { uncached } : {}),
      ...(stagePlots.length ? { plots: stagePlots.map((p) => ({ path: p.file, cache: p.cache !== false })) } : {}),
    });
  }
  return withPlots(stages);
}

/** `metrics:` entries: `path`, or `{ path: { cache: false } }` (DVC's form) for a metrics file kept in git. */
function metricEntries(v: unknown, where: string): { path: string; cache: boolean }[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw invalid(`${where} must be a list of paths`);
  return v.map((e) => {
    if (typeof e === 'string') return { path: e, cache: true };
    const keys = e && typeof e === 'object' && !Array.isArray(e) ? Object.keys(e) : [];
    const opts = keys.length === 1 ? (e as Record<string, unknown>)[keys[0]] : undefined;
    const ok = opts !== null && typeof opts === 'object' && !Array.isArray(opts);
    const bad = !ok || Object.keys(opts).some((k) => k !== 'cache') || typeof (opts as { cache?: unknown }).cache !== 'boolean';
    if (bad) throw invalid(`${where}: each entry is a path, or "path: { cache: false }" for a metrics file kept in git`);
    return { path: keys[0], cache: (opts as { cache: boolean }).cache };
  });
}

/** `ps` without repeats, in first-seen order. */
export function dedupeParams(ps: ParamRef[]): ParamRef[] {
  const seen = new Set<string>();
  return ps.filter((p) => {
    const k = `${p.file}\0${p.key}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** `text` (the current dv.yaml) without stage `name`; comments of the other stages are kept. */
export function removeStage(text: string, name: string): string {
  const doc = yaml().parseDocument(text, { uniqueKeys: true });
  if (doc.errors.length > 0) throw yamlError(doc.errors[0], SPEC_FILE);
  if (!doc.hasIn(['stages', name])) throw invalid(`${SPEC_FILE} has no stage ${name}`, { stage: name });
  doc.deleteIn(['stages', name]);
  return doc.toString({ lineWidth: 0 });
}

/** `text` (the current dv.yaml, or '') with stage `s` added or replaced; comments are kept. */
export function setStage(text: string, s: StageSpec): string {
  const doc = text.trim() === '' ? new (yaml().Document)({ stages: {} }) : yaml().parseDocument(text, { uniqueKeys: true });
  if (doc.errors.length > 0) throw yamlError(doc.errors[0], SPEC_FILE);
  if (!doc.contents || !yaml().isMap(doc.contents)) doc.contents = doc.createNode({ stages: {} }) as typeof doc.contents;
  if (!yaml().isMap(doc.get('stages'))) doc.set('stages', doc.createNode({}));
  const node: Record<string, unknown> = { cmd: s.cmd };
  if (s.wdir) node.wdir = s.wdir;
  if (s.deps.length) node.deps = s.deps.map((p) => toWdir(s.wdir, p));
  if (s.params.length) node.params = s.params.map((p) => formatParamRef(p, s.wdir));
  const plain = s.outs.filter((o) => !s.metrics?.includes(o) && !s.plots?.some((p) => p.path === o));
  if (plain.length) node.outs = plain.map((p) => toWdir(s.wdir, p));
  if (s.metrics?.length)
    node.metrics = s.metrics.map((p) => (s.uncached?.includes(p) ? { [toWdir(s.wdir, p)]: { cache: false } } : toWdir(s.wdir, p)));
  if (s.plots?.length) node.plots = s.plots.map((p) => (p.cache ? toWdir(s.wdir, p.path) : { [toWdir(s.wdir, p.path)]: { cache: false } }));
  doc.setIn(['stages', s.name], doc.createNode(node));
  return doc.toString({ lineWidth: 0 });
}
