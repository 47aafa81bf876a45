/**
 * `dv metrics show` and `dv metrics diff`: the values of the metrics files that dv.yaml's stages
 * declare, at git revisions or in the workspace, and how they changed (as `dvc metrics diff`).
 *
 * At a revision, dv.yaml and each metrics file are read from that commit: from git when the file
 * is committed there, else through its pointer file (the read service `dv cat` uses, so a
 * dv-tracked metrics file of an old commit is read from the store or the remote). Invariants:
 * files from a clone are untrusted, so each is read only up to MAX_FILE bytes and parsed with
 * caps (pipeline/metrics.ts); a file that is missing, too large or malformed becomes one `error`
 * line for that file, never a failure of the whole command. Writes nothing; takes no lock.
 */
import { DvError } from '../errors.js';
import { type DiffResult, type DiffRow, diffValues, type MetricValues, metricValues, type Version } from '../pipeline/metrics.js';
import { git } from '../repo/git.js';
import type { RepoSession } from '../repo/repo.js';
import { readAt, specAt, versionOf } from '../read/at-version.js';

export type { DiffResult, DiffRow, Version } from '../pipeline/metrics.js';

/** `--all-commits` reads at most this many commits. */
export const MAX_COMMITS = 1000;

/** One metrics file at one version: its values, or why there are none. */
export interface MetricsFile {
  path: string;
  stage: string;
  values?: MetricValues;
  error?: string;
}

/** The metrics files of `v`; at a revision, a dv.yaml that is malformed there is one error line (an old commit must not stop `--all-commits`). */
export async function metricsAt(s: RepoSession, v: Version): Promise<MetricsFile[]> {
  let spec: Awaited<ReturnType<typeof specAt>>;
  try {
    spec = await specAt(s, v);
  } catch (e) {
    if (!v.commit || !(e instanceof DvError) || e.code !== 'PIPELINE_INVALID') throw e;
    return [{ path: 'dv.yaml', stage: '', error: `is invalid here: ${e.message.split('\n')[0]}` }];
  }
  const out: MetricsFile[] = [];
  const seen = new Set<string>();
  for (const st of spec.stages) {
    for (const path of st.metrics ?? []) {
      if (seen.has(path)) continue;
      seen.add(path);
      const f = await readAt(s, v, path);
      if ('text' in f) {
        const values = metricValues(f.text, path);
        out.push(values ? { path, stage: st.name, values } : { path, stage: st.name, error: 'is not valid JSON, YAML, TOML or CSV' });
      } else out.push({ path, stage: st.name, error: 'missing' in f ? 'does not exist' : f.error });
    }
  }
  return out;
}

export interface MetricsShowOptions {
  /** Git revisions; none: the workspace. */
  revs?: string[];
  /** Every commit of every branch and tag (newest first, at most MAX_COMMITS). */
  allCommits?: boolean;
}

export interface MetricsShowResult {
  versions: (Version & { files: MetricsFile[] })[];
}

export async function metricsShow(s: RepoSession, o: MetricsShowOptions): Promise<MetricsShowResult> {
  const revs: (string | undefined)[] = [...(o.revs ?? [])];
  if (o.allCommits) {
    const r = await git(s.root, ['rev-list', '--all', `--max-count=${MAX_COMMITS}`]);
    if (r.code !== 0) throw new DvError('USAGE', '--all-commits: git rev-list failed: is this a git repository with commits?');
    revs.unshift(undefined);
    for (const c of r.stdout.split('\n').filter(Boolean)) revs.push(c);
  }
  if (revs.length === 0) revs.push(undefined);
  const versions: MetricsShowResult['versions'] = [];
  for (const rev of revs) {
    const v = await versionOf(s, rev);
    if (o.allCommits && v.commit) v.rev = v.commit.slice(0, 7);
    versions.push({ ...v, files: await metricsAt(s, v) });
  }
  return { versions };
}

export interface MetricsDiffOptions {
  /** Default HEAD. */
  a?: string;
  /** Default: the workspace. */
  b?: string;
  /** Also rows whose value did not change. */
  all?: boolean;
}

export async function metricsDiff(s: RepoSession, o: MetricsDiffOptions): Promise<DiffResult> {
  const a = await versionOf(s, o.a ?? 'HEAD');
  const b = await versionOf(s, o.b);
  const [fa, fb] = [await metricsAt(s, a), await metricsAt(s, b)];
  const errors: DiffResult['errors'] = [];
  for (const [v, fs] of [
    [a, fa],
    [b, fb],
  ] as const) {
    for (const f of fs) if (f.error && f.error !== 'does not exist') errors.push({ rev: v.rev, path: f.path, error: f.error });
  }
  const byPath = (fs: MetricsFile[]): Map<string, MetricValues> => new Map(fs.map((f) => [f.path, f.values ?? {}]));
  const ma = byPath(fa);
  const mb = byPath(fb);
  const rows: DiffRow[] = [];
  for (const path of new Set([...ma.keys(), ...mb.keys()])) rows.push(...diffValues(path, ma.get(path) ?? {}, mb.get(path) ?? {}, !!o.all));
  return { a, b, rows, errors };
}
