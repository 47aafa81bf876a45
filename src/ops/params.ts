/**
 * `dv params diff`: the parameters dv.yaml's stages declare (`-p FILE:KEY`) at two versions, and
 * which changed (as `dvc params diff`). A key whose value is a mapping or list is flattened with
 * dots, as metrics are. Files are read as ops/metrics.ts reads them: from git at a revision, with
 * a size cap, one error line per unreadable file. Writes nothing; takes no lock.
 */
import { type DiffResult, type DiffRow, diffValues, flatten, type MetricValues, parseDoc, type Version } from '../pipeline/metrics.js';
import { lookupParam } from '../pipeline/run.js';
import { readAt, specAt, versionOf } from '../read/at-version.js';
import type { RepoSession } from '../repo/repo.js';

export interface ParamsDiffOptions {
  /** Default HEAD. */
  a?: string;
  /** Default: the workspace. */
  b?: string;
  /** Also parameters whose value did not change. */
  all?: boolean;
}

/** The declared parameters at `v`, by file, flattened; and the files that could not be read. */
async function paramsAt(s: RepoSession, v: Version): Promise<{ files: Map<string, MetricValues>; errors: DiffResult['errors'] }> {
  const spec = await specAt(s, v);
  const keys = new Map<string, Set<string>>();
  for (const st of spec.stages) for (const p of st.params) keys.set(p.file, (keys.get(p.file) ?? new Set()).add(p.key));
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
  const pa = await paramsAt(s, a);
  const pb = await paramsAt(s, b);
  const rows: DiffRow[] = [];
  for (const file of new Set([...pa.files.keys(), ...pb.files.keys()])) {
    rows.push(...diffValues(file, pa.files.get(file) ?? {}, pb.files.get(file) ?? {}, !!o.all));
  }
  return { a, b, rows, errors: [...pa.errors, ...pb.errors] };
}
