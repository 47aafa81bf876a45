/**
 * `dv exp show`: the workspace, its baseline (HEAD) and the experiments run from it (every
 * baseline's with `all`), each with its parameters and metrics (pipeline/exp-list.ts), and the
 * columns a table of them has. Experiments can be sorted by one column; the workspace and the
 * baseline stay first, as in `dvc exp show`. Writes nothing; takes no lock.
 */
import { DvError } from '../errors.js';
import type { MetricValue } from '../pipeline/metrics.js';
import type { RepoSession } from '../repo/repo.js';
import { gitx, headCommit } from '../pipeline/exp-refs.js';
import { listExperiments, valuesAt, type Values } from '../pipeline/exp-list.js';

export interface ExpShowOptions {
  /** Experiments of every baseline, not only HEAD's. */
  all?: boolean;
  /** A column to sort the experiments by: `KEY` or `FILE:KEY` of a parameter or metric. */
  sortBy?: string;
  sortOrder?: 'asc' | 'desc';
}

export interface ExpShowRow extends Values {
  /** `workspace`, the baseline's branch or short id, or the experiment's name. */
  name: string;
  kind: 'workspace' | 'baseline' | 'experiment' | 'queued';
  commit?: string;
  baseline?: string;
  /** The `-S` values of an experiment. */
  set?: string[];
  created?: string;
}

export interface ExpColumn {
  /** `params` or `metrics`. */
  group: 'params' | 'metrics';
  file: string;
  key: string;
  /** How a table heads it: the key alone when no other file has it, else FILE:KEY. */
  label: string;
}

export interface ExpShowResult {
  rows: ExpShowRow[];
  columns: ExpColumn[];
}

/** Every (file, key) of the rows, per group in first-seen order, labelled. */
function columnsOf(rows: ExpShowRow[]): ExpColumn[] {
  const cols: ExpColumn[] = [];
  for (const group of ['params', 'metrics'] as const) {
    const seen = new Set<string>();
    const mine: ExpColumn[] = [];
    for (const r of rows)
      for (const [file, vals] of Object.entries(r[group]))
        for (const key of Object.keys(vals)) {
          if (seen.has(`${file}\0${key}`)) continue;
          seen.add(`${file}\0${key}`);
          mine.push({ group, file, key, label: key });
        }
    cols.push(...mine);
  }
  for (const c of cols) if (cols.some((o) => o !== c && o.key === c.key)) c.label = `${c.file}:${c.key}`;
  return cols;
}

export const cell = (r: ExpShowRow, c: ExpColumn): MetricValue | undefined => r[c.group][c.file]?.[c.key];

/** Missing values last whatever the order; numbers by value, others as text. */
function compare(a: MetricValue | undefined, b: MetricValue | undefined, desc: boolean): number {
  if (a === undefined || b === undefined) return a === b ? 0 : a === undefined ? 1 : -1;
  const d = typeof a === 'number' && typeof b === 'number' ? a - b : String(a) < String(b) ? -1 : String(a) > String(b) ? 1 : 0;
  return desc ? -d : d;
}

export async function expShow(s: RepoSession, o: ExpShowOptions = {}): Promise<ExpShowResult> {
  const head = await headCommit(s.root).catch(() => undefined);
  const rows: ExpShowRow[] = [{ name: 'workspace', kind: 'workspace', ...(await valuesAt(s, undefined)) }];
  if (head) {
    const branch = await gitx(s.root, ['symbolic-ref', '--short', '-q', 'HEAD']);
    const name = branch.code === 0 && branch.stdout.trim() ? branch.stdout.trim() : head.slice(0, 7);
    rows.push({ name, kind: 'baseline', commit: head, ...(await valuesAt(s, head)) });
  }
  const exps: ExpShowRow[] = (await listExperiments(s, { all: o.all })).map((e) => ({
    name: e.name,
    kind: e.queued ? 'queued' : 'experiment',
    commit: e.commit,
    baseline: e.baseline,
    set: e.set,
    created: e.created,
    params: e.params,
    metrics: e.metrics,
    errors: e.errors,
  }));
  const columns = columnsOf([...rows, ...exps]);
  if (o.sortBy !== undefined) {
    const col = columns.find((c) => c.label === o.sortBy || `${c.file}:${c.key}` === o.sortBy) ?? columns.find((c) => c.key === o.sortBy);
    if (!col) {
      const some = columns.map((c) => c.label).slice(0, 8);
      throw new DvError(
        'USAGE',
        `--sort-by ${o.sortBy}: no parameter or metric of that name${some.length ? ` (columns: ${some.join(', ')})` : ''}`,
      );
    }
    exps.sort((a, b) => compare(cell(a, col), cell(b, col), o.sortOrder === 'desc'));
  }
  return { rows: [...rows, ...exps], columns };
}
