/**
 * `dv params diff`: the parameters at two versions, and which changed (as `dvc params diff`):
 * every key of params.yaml (the default parameters file, whether or not a stage declares it) and
 * the keys dv.yaml's stages declare in other files (`-p FILE:KEY`); `deps` keeps only declared
 * keys. A key whose value is a mapping or list is flattened with dots, as metrics are. Files are read as ops/metrics.ts reads them: from git at a revision, with
 * a size cap, one error line per unreadable file. Writes nothing; takes no lock.
 */
import { type DiffResult, type DiffRow, diffValues, flatten, type MetricValues, parseDoc, type Version } from '../pipeline/metrics.js';
import { lookupParam } from '../pipeline/run.js';
import { DEFAULT_PARAMS_FILE } from '../pipeline/spec.js';
import { readAt, specAt, versionOf } from '../read/at-version.js';
import type { RepoSession } from '../repo/repo.js';

export interface ParamsDiffOptions {
  /** Default HEAD. */
  a?: string;
  /** Default: the workspace. */
  b?: string;
  /** Also parameters whose value did not change. */
  all?: boolean;
  /** Only the keys stages declare (not every key of params.yaml). */
  deps?: boolean;
}

/** A whole document's keys, flattened (a params.yaml that is a list or a scalar has none). */
function allKeys(doc: unknown): MetricValues {
  return doc !== null && typeof doc === 'object' && !Array.isArray(doc) ? flatten(doc) : {};
}

/** The declared parameters at `v`, by file, flattened; and the files that could not be read. */
async function paramsAt(
  s: RepoSession,
  v: Version,
  deps: boolean,
): Promise<{ files: Map<string, MetricValues>; errors: DiffResult['errors'] }> {
  const spec = await specAt(s, v);
  const keys = new Map<string, Set<string>>();
  for (const st of spec.stages) for (const p of st.params) keys.set(p.file, (keys.get(p.file) ?? new Set()).add(p.key));
  if (!deps && !keys.has(DEFAULT_PARAMS_FILE)) keys.set(DEFAULT_PARAMS_FILE, new Set());
  const files = new Map<string, MetricValues>();
  const errors: DiffResult['errors'] = [];
  for (const [file, ks] of keys) {
    const f = await readAt(s, v, file, false);
    const values: MetricValues = {};
    files.set(file, values);
    if ('missing' in f) continue;
    if ('error' in f) {
      errors.push({ rev: v.rev, path: file, error: f.error });
      continue;
    }
    const doc = parseDoc(f.text, file);
    if (doc === undefined) {
      errors.push({ rev: v.rev, path: file, error: 'is not valid JSON, YAML or TOML' });
      continue;
    }
    if (!deps && file === DEFAULT_PARAMS_FILE) {
      Object.assign(values, allKeys(doc));
      continue;
    }
    for (const key of [...ks].sort()) {
      const x = lookupParam(doc, key);
      if (x === undefined) continue;
      if (x !== null && typeof x === 'object') for (const [k, y] of Object.entries(flatten(x))) values[`${key}.${k}`] = y;
      else values[key] = flatten({ v: x }).v;
    }
  }
  return { files, errors };
}

export async function paramsDiff(s: RepoSession, o: ParamsDiffOptions): Promise<DiffResult> {
  const a = await versionOf(s, o.a ?? 'HEAD');
  const b = await versionOf(s, o.b);
  const pa = await paramsAt(s, a, !!o.deps);
  const pb = await paramsAt(s, b, !!o.deps);
  const rows: DiffRow[] = [];
  for (const file of new Set([...pa.files.keys(), ...pb.files.keys()])) {
    rows.push(...diffValues(file, pa.files.get(file) ?? {}, pb.files.get(file) ?? {}, !!o.all));
  }
  return { a, b, rows, errors: [...pa.errors, ...pb.errors] };
}
