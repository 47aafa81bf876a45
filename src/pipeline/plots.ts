/**
 * `plots:` in dv.yaml, as DVC writes it: at the top level a list of data files, each a path or
 * `FILE: { x, y, title, x_label, y_label, template }`; under a stage, outs that are plots (cached
 * like outs, or `cache: false` to keep them in git, as metrics are).
 *
 *   plots:
 *     - logs/loss.csv                                   # x: the row number (step), y: the last field
 *     - eval/roc.json: { x: fpr, y: tpr, template: scatter, title: ROC }
 *   stages:
 *     train:
 *       cmd: python3 train.py
 *       plots:
 *         - logs/loss.csv
 *         - logs/acc.tsv: { cache: false, x: epoch, y: [train, val] }
 *
 * Pure, and imports nothing of pipeline/ (spec.ts imports this file): paths are checked by the
 * `path` function the caller passes. Invariants: dv.yaml comes with a clone, so the number of
 * plots, of y fields and the length of every text are bounded, every key is known, and a bad
 * entry is PIPELINE_INVALID naming the file, the plot and the key.
 */
import { DvError } from '../errors.js';

export const TEMPLATES = ['linear', 'scatter', 'bar'] as const;
export type PlotTemplate = (typeof TEMPLATES)[number];

/** At most this many plots in one dv.yaml (top level and stages together). */
export const MAX_PLOTS = 256;
/** At most this many y fields in one plot. */
export const MAX_Y = 32;
/** The longest field name, title or label. */
export const MAX_TEXT = 256;

export interface PlotDef {
  /** The data file (CSV, TSV, JSON or YAML), from the repository root. */
  file: string;
  /** The field on the x axis; absent: the row number (`step`, from 0). */
  x?: string;
  /** The fields on the y axis; absent: the last field of the data that is not x. */
  y?: string[];
  title?: string;
  xLabel?: string;
  yLabel?: string;
  /** Absent: linear. */
  template?: PlotTemplate;
  /** The stage whose out it is (a stage's `plots:`). */
  stage?: string;
  /** false: kept in git, not an out (`cache: false`); only under a stage. */
  cache?: boolean;
}

const KEYS = ['x', 'y', 'title', 'x_label', 'y_label', 'template'];

const invalid = (message: string, data: Record<string, unknown> = {}): DvError => new DvError('PIPELINE_INVALID', message, data);

function text(v: unknown, where: string, key: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if ((typeof v !== 'string' && typeof v !== 'number') || String(v).trim() === '' || String(v).length > MAX_TEXT)
    throw invalid(`${where}: ${key} must be a non-empty text of at most ${MAX_TEXT} characters`, { key });
  return String(v);
}

function yFields(v: unknown, where: string): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  const list = Array.isArray(v) ? v : [v];
  if (list.length === 0 || list.length > MAX_Y) throw invalid(`${where}: y must name 1 to ${MAX_Y} fields`, { key: 'y' });
  return [...new Set(list.map((f) => text(f, where, 'y') as string))];
}

/** One entry's options (`x`, `y`, ...; `cache` only under a stage). */
function options(file: string, raw: unknown, where: string, stage: string | undefined): Omit<PlotDef, 'file'> {
  if (raw === null || raw === undefined) return stage ? { stage } : {};
  if (typeof raw !== 'object' || Array.isArray(raw)) throw invalid(`${where}: the options of ${file} must be a mapping (x, y, title, ...)`);
  const o = raw as Record<string, unknown>;
  const allowed = stage ? [...KEYS, 'cache'] : KEYS;
  for (const k of Object.keys(o))
    if (!allowed.includes(k))
      throw invalid(`${where}: ${file}: unknown key ${JSON.stringify(k)} (expected ${allowed.join(', ')})`, { key: k });
  const template = o.template;
  if (template !== undefined && (typeof template !== 'string' || !(TEMPLATES as readonly string[]).includes(template)))
    throw invalid(`${where}: ${file}: template ${JSON.stringify(template)} is not one dv draws: use ${TEMPLATES.join(', ')}`, {
      key: 'template',
    });
  if (o.cache !== undefined && typeof o.cache !== 'boolean')
    throw invalid(`${where}: ${file}: cache must be true or false`, { key: 'cache' });
  const w = `${where}: ${file}`;
  const def: Omit<PlotDef, 'file'> = template === undefined ? {} : { template: template as PlotTemplate };
  const x = text(o.x, w, 'x');
  const y = yFields(o.y, w);
  const title = text(o.title, w, 'title');
  const xLabel = text(o.x_label, w, 'x_label');
  const yLabel = text(o.y_label, w, 'y_label');
  if (x !== undefined) def.x = x;
  if (y !== undefined) def.y = y;
  if (title !== undefined) def.title = title;
  if (xLabel !== undefined) def.xLabel = xLabel;
  if (yLabel !== undefined) def.yLabel = yLabel;
  if (stage) def.stage = stage;
  if (o.cache === false) def.cache = false;
  return def;
}

/**
 * The entries of a `plots:` list (top level, or under stage `stage`): each a path, or a mapping of
 * one path to its options. `path` turns a path as written into one from the repository root.
 */
export function parsePlots(v: unknown, where: string, path: (p: string, where: string) => string, stage?: string): PlotDef[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw invalid(`${where} must be a list of data files (FILE, or "FILE: { x: ..., y: ... }")`);
  if (v.length > MAX_PLOTS) throw invalid(`${where} lists ${v.length} plots: at most ${MAX_PLOTS}`);
  return v.map((e) => {
    if (typeof e === 'string') return { file: path(e, where), ...(stage ? { stage } : {}) };
    const keys = e && typeof e === 'object' && !Array.isArray(e) ? Object.keys(e) : [];
    if (keys.length !== 1) throw invalid(`${where}: each entry is a data file, or one "FILE: { x: ..., y: ... }" mapping`);
    return { file: path(keys[0], where), ...options(keys[0], (e as Record<string, unknown>)[keys[0]], where, stage) };
  });
}

/**
 * One plot per data file: a file declared twice (a stage's out and again at the top level, as
 * DVC allows) takes the later declaration's options over the earlier's, and keeps its stage.
 */
export function mergePlots(defs: PlotDef[], where: string): PlotDef[] {
  if (defs.length > MAX_PLOTS) throw invalid(`${where} declares ${defs.length} plots: at most ${MAX_PLOTS}`);
  const byFile = new Map<string, PlotDef>();
  for (const d of defs) {
    const prev = byFile.get(d.file);
    byFile.set(d.file, prev ? { ...prev, ...d, ...(prev.stage && !d.stage ? { stage: prev.stage } : {}) } : d);
  }
  return [...byFile.values()];
}
