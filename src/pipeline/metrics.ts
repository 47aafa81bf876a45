/**
 * Metrics files (JSON, YAML, TOML or CSV written by a stage): their scalar values by dotted key, as DVC
 * flattens them (`eval.acc`, `losses.0`). Pure.
 *
 * Invariants: the files come from a clone and may be hostile, so the walk is iterative (no
 * recursion whose depth the file controls), stops below MAX_DEPTH and after MAX_KEYS values, and
 * a file that does not parse gives null, never an exception.
 */
import { csvSplit } from '../core/csv.js';
import { parse as parseToml } from 'smol-toml';
import { parseYaml } from './spec.js';

export type MetricValue = string | number | boolean | null;
export type MetricValues = Record<string, MetricValue>;

/** At most this many values are kept from one file (the rest are dropped, `truncated` says so). */
export const MAX_KEYS = 10_000;
/** Nesting deeper than this is not walked. */
export const MAX_DEPTH = 64;

/** The scalars of a parsed document, by dotted key. */
export function flatten(doc: unknown): MetricValues {
  const out: MetricValues = {};
  let n = 0;
  const stack: [unknown, string, number][] = [[doc, '', 0]];
  while (stack.length > 0 && n < MAX_KEYS) {
    const [v, key, depth] = stack.pop()!;
    if (v instanceof Date) {
      // A TOML or YAML date: its ISO text (an invalid one is skipped).
      if (key && !Number.isNaN(v.getTime())) {
        out[key] = v.toISOString();
        n++;
      }
    } else if (v !== null && typeof v === 'object') {
      if (depth >= MAX_DEPTH) continue;
      // Pushed in reverse so keys come out in file order.
      const entries = Object.entries(v as Record<string, unknown>);
      for (let i = entries.length - 1; i >= 0; i--) stack.push([entries[i][1], key ? `${key}.${entries[i][0]}` : entries[i][0], depth + 1]);
    } else if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' || v === null) {
      if (key) {
        out[key] = v;
        n++;
      }
    }
  }
  return out;
}

/** One CSV/TSV cell as a number when it is one. */
function cell(s: string): MetricValue {
  const t = s.trim();
  return t !== '' && Number.isFinite(Number(t)) ? Number(t) : t;
}

/** A metrics file of more rows than this is not one (csvValues says it does not parse). */
const MAX_CSV_ROWS = 1_000_000;

/** The rows of CSV/TSV text (core/csv.ts), or null past the caps. */
function csvTable(text: string, sep: string): string[][] | null {
  try {
    return csvSplit(text, sep, { maxFields: MAX_KEYS, maxRows: MAX_CSV_ROWS, tooBig: (what) => new RangeError(what) });
  } catch (e) {
    if (e instanceof RangeError) return null;
    throw e;
  }
}

/**
 * A CSV (or TSV) metrics file as DVC reads one: a header row and the last data row (`acc,loss` /
 * `0.9,0.2`); or two columns without a header naming a metric and its value per row (`acc,0.9`).
 */
export function csvValues(text: string, sep = ','): MetricValues | null {
  const lines = csvTable(text, sep);
  if (lines === null) return null;
  if (lines.length === 0) return {};
  const header = lines[0].map((h) => h.trim());
  const pairs = lines.every((c) => c.length === 2 && typeof cell(c[1]) === 'number');
  const out: MetricValues = {};
  if (pairs) {
    for (const [k, v] of lines.slice(0, MAX_KEYS)) out[k.trim()] = cell(v);
    return out;
  }
  if (lines.length < 2) return null;
  const last = lines[lines.length - 1];
  if (last.length !== header.length) return null;
  header.slice(0, MAX_KEYS).forEach((h, i) => {
    if (h) out[h] = cell(last[i]);
  });
  return out;
}

/** The scalars of a metrics (or params) file, by dotted key; null when it does not parse. JSON is YAML; `.toml` is TOML. */
export function metricValues(text: string, file: string): MetricValues | null {
  const lower = file.toLowerCase();
  if (lower.endsWith('.csv')) return csvValues(text, ',');
  if (lower.endsWith('.tsv')) return csvValues(text, '\t');
  const doc = parseDoc(text, file);
  return doc === undefined ? null : flatten(doc);
}

/** A JSON, YAML or (by its `.toml` name) TOML document, or undefined when it does not parse. */
export function parseDoc(text: string, file: string): unknown {
  try {
    // TOML has no duplicate keys and no aliases; maxDepth bounds smol-toml's own nesting.
    if (file.toLowerCase().endsWith('.toml')) return parseToml(text, { maxDepth: MAX_DEPTH });
    return parseYaml(text, file);
  } catch {
    return undefined;
  }
}

/** `acc=0.91, loss=0.2` (at most `max` values). */
export function formatMetrics(v: MetricValues | null, max = 8): string {
  if (v === null) return '(not JSON or YAML)';
  const e = Object.entries(v);
  return (
    e
      .slice(0, max)
      .map(([k, x]) => `${k}=${JSON.stringify(x)}`)
      .join(', ') + (e.length > max ? `, ... (${e.length - max} more)` : '')
  );
}

/** Where metrics or params are read from: a commit, or the workspace. */
export interface Version {
  /** As the user named it (`HEAD`, `main`), or `workspace`. */
  rev: string;
  /** The commit; absent for the workspace. */
  commit?: string;
}

/** One value that differs between two versions (old or new is absent when the key is). */
export interface DiffRow {
  path: string;
  key: string;
  old?: MetricValue;
  new?: MetricValue;
  /** new - old, when both are numbers. */
  change?: number;
}

export interface DiffResult {
  a: Version;
  b: Version;
  rows: DiffRow[];
  /** Files that could not be read at either version: one line each. */
  errors: { rev: string; path: string; error: string }[];
}

/** Rows for every key of `path` in either map (unchanged ones only with `all`). */
export function diffValues(path: string, a: MetricValues, b: MetricValues, all: boolean): DiffRow[] {
  const rows: DiffRow[] = [];
  for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const inA = Object.hasOwn(a, key);
    const inB = Object.hasOwn(b, key);
    const same = inA && inB && a[key] === b[key];
    if (same && !all) continue;
    const row: DiffRow = { path, key };
    if (inA) row.old = a[key];
    if (inB) row.new = b[key];
    if (typeof row.old === 'number' && typeof row.new === 'number') row.change = roundDelta(row.new - row.old);
    rows.push(row);
  }
  return rows;
}

/** 0.3 - 0.1 is 0.19999999999999998 in floating point; shown as 0.2. */
const roundDelta = (d: number): number => Number(d.toPrecision(12));
