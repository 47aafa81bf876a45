/**
 * A plot's data file as rows of fields: CSV or TSV (a header row, then one row per point), a JSON
 * array of records (or, as DVC also reads, an object holding one such array), or the same in YAML.
 * Then the points a plot draws from those rows. Pure.
 *
 * Invariants: the text comes from a clone (already capped in bytes by the reader), so rows and
 * fields are bounded (MAX_ROWS, MAX_FIELDS), nothing recurses, and every failure is one
 * PLOT_DATA_INVALID line naming the file (and revision) and saying what is wrong with it.
 */
import { csvSplit } from '../core/csv.js';
import { DvError } from '../errors.js';
import type { PlotDef } from './plots.js';
import { parseYaml } from './spec.js';

export type Cell = string | number | boolean | null;
export type Row = Record<string, Cell>;

/** At most this many rows (points per series) are read from one file. */
export const MAX_ROWS = 200_000;
/** At most this many fields per row. */
export const MAX_FIELDS = 1024;
/** The x field of a plot that names none: the row number, from 0 (DVC's `step`). */
export const STEP = 'step';

export const bad = (where: string, what: string): DvError => new DvError('PLOT_DATA_INVALID', `${where} ${what}`, { file: where });

/** A CSV/TSV cell: a number when it reads as one, else its text. */
function cell(s: string): Cell {
  const t = s.trim();
  return t !== '' && Number.isFinite(Number(t)) ? Number(t) : t;
}

/** Records of CSV/TSV text: RFC 4180 quoting (`""` inside quotes, line breaks inside quotes). */
export function csvRows(text: string, sep: string, where: string): Row[] {
  const lines = csvSplit(text, sep, {
    maxFields: MAX_FIELDS,
    maxRows: MAX_ROWS + 1,
    tooBig: (what) =>
      what === 'fields'
        ? bad(where, `has a row of more than ${MAX_FIELDS} fields`)
        : bad(where, `has more than ${MAX_ROWS} rows: dv plots draws at most ${MAX_ROWS}`),
  });
  if (lines.length === 0) return [];
  const header = lines[0].map((h) => h.trim());
  return lines.slice(1).map((l) => {
    const r: Row = {};
    header.forEach((h, i) => {
      if (h !== '' && i < l.length) r[h] = cell(l[i]);
    });
    return r;
  });
}

/** The array of records in a parsed JSON/YAML document: the document itself, or an object's first array of records. */
function recordsOf(doc: unknown, where: string): unknown[] {
  if (Array.isArray(doc)) return doc;
  if (doc !== null && typeof doc === 'object') {
    const arr = Object.values(doc as Record<string, unknown>).find((v) => Array.isArray(v));
    if (arr) return arr as unknown[];
  }
  throw bad(where, 'is not an array of records (e.g. [{"epoch": 1, "loss": 0.5}, ...])');
}

/** Records whose fields are scalars (nested values are left out: a plot draws scalars). */
function scalarRows(list: unknown[], where: string): Row[] {
  if (list.length > MAX_ROWS) throw bad(where, `has ${list.length} records: dv plots draws at most ${MAX_ROWS}`);
  return list.map((r, i) => {
    if (r === null || typeof r !== 'object' || Array.isArray(r)) throw bad(where, `record ${i} is not an object of fields`);
    const out: Row = {};
    let n = 0;
    for (const [k, v] of Object.entries(r as Record<string, unknown>)) {
      if (++n > MAX_FIELDS) throw bad(where, `record ${i} has more than ${MAX_FIELDS} fields`);
      if (v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') out[k] = v;
    }
    return out;
  });
}

/** The rows of data file `file` (its name says the format); `where` names it in errors (`HEAD:loss.csv`). */
export function parseRows(text: string, file: string, where = file): Row[] {
  const lower = file.toLowerCase();
  if (lower.endsWith('.csv')) return csvRows(text, ',', where);
  if (lower.endsWith('.tsv')) return csvRows(text, '\t', where);
  let doc: unknown;
  try {
    doc = lower.endsWith('.json') ? JSON.parse(text) : parseYaml(text, where);
  } catch (e) {
    // parseYaml's own message names the file and says to fix the YAML: keep only what is wrong.
    const why = String((e as Error).message ?? e)
      .split('\n')[0]
      .replace(`${where}: `, '')
      .replace(/: fix the YAML$/, '');
    throw bad(where, `is not valid ${lower.endsWith('.json') ? 'JSON' : 'YAML'} (${why})`);
  }
  return scalarRows(recordsOf(doc, where), where);
}

/** A plot's fields: x (`step` when the plot names none) and y (the last field that is not x, when it names none). */
export function plotFields(def: PlotDef, rows: Row[], where: string): { x: string; y: string[] } {
  const fields = new Set<string>();
  // The fields of the first rows are enough to name them; a file's later rows may leave some out.
  for (const r of rows.slice(0, 1000)) for (const k of Object.keys(r)) fields.add(k);
  const list = [...fields];
  const have = list.length ? `its fields are ${list.slice(0, 12).join(', ')}${list.length > 12 ? ', ...' : ''}` : 'it has no rows';
  if (def.x !== undefined && !fields.has(def.x)) throw bad(where, `has no field ${JSON.stringify(def.x)} (x in dv.yaml): ${have}`);
  for (const y of def.y ?? []) if (!fields.has(y)) throw bad(where, `has no field ${JSON.stringify(y)} (y in dv.yaml): ${have}`);
  const x = def.x ?? STEP;
  const y = def.y ?? list.filter((f) => f !== x).slice(-1);
  if (y.length === 0) throw bad(where, `has no field to draw on the y axis: ${have}`);
  return { x, y };
}

/** One point of one series: the revision, the y field, and the two values. Fixed keys, so no field name needs escaping in a spec. */
export interface Datum {
  rev: string;
  field: string;
  x: Cell;
  y: number;
}

/** The points of `rows` for one revision: one per row and y field whose value is a number (others are gaps). */
export function points(rows: Row[], fields: { x: string; y: string[] }, rev: string): Datum[] {
  const out: Datum[] = [];
  rows.forEach((r, i) => {
    const x = fields.x === STEP && !(STEP in r) ? i : (r[fields.x] ?? null);
    for (const f of fields.y) {
      const v = r[f];
      const y = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : Number.NaN;
      if (Number.isFinite(y)) out.push({ rev, field: f, x, y });
    }
  });
  return out;
}
