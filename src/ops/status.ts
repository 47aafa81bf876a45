/** `dv status`: what changed in each tracked path since its pointer file's snapshot. */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { diffTrees, type Change } from '../core/diff.js';
import type { RepoSession } from '../repo/repo.js';
import { scanPath } from '../workspace/scan.js';
import { selectTrackedWithin } from '../workspace/tracked.js';
import { readControlFile } from '../repo/control-file.js';
import { treeLoader } from '../history/objects.js';
import { loadPipeline, outOfDate, type OutOfDateStage } from '../pipeline/state.js';
import { metricValues, type MetricValues } from '../pipeline/metrics.js';

export type PathState = 'clean' | 'modified' | 'missing' | 'not-in-cache';

export interface PathStatus {
  path: string;
  pointer: string;
  snapshot: string;
  /** clean; modified; missing: not in the workspace (run `dv checkout`); not-in-cache: the data was never fetched (run `dv pull`). */
  state: PathState;
  added: string[];
  modified: string[];
  deleted: string[];
  /** Files whose content had to be read (the stat cache could not vouch for them). */
  filesHashed: number;
}

export interface StatusResult {
  /** Whether every tracked path matches its pointer file (stages aside). */
  clean: boolean;
  /** `clean` and no pipeline stage out of date: nothing for `dv commit`, `dv checkout` or `dv repro` to do. */
  upToDate: boolean;
  paths: PathStatus[];
  /** Pipeline stages (dv.yaml) that `dv repro` would run or restore, and why; only without path arguments. */
  stages: OutOfDateStage[];
  /** Metrics files of dv.yaml's stages as they are in the workspace (values null: missing or unparsable). */
  metrics?: { stage: string; path: string; values: MetricValues | null }[];
}

export interface StatusOptions {
  paths?: string[];
  cwd?: string;
}

export async function status(s: RepoSession, opts: StatusOptions = {}): Promise<StatusResult> {
  const paths: PathStatus[] = [];
  for (const { tracked: t, within } of await selectTrackedWithin(s, opts.paths, opts.cwd ?? s.root)) {
    // Named paths inside the tracked directory: only the changes under them.
    const shown = (p: string): boolean => !within || within.some((w) => p === w || p.startsWith(w + '/'));
    const base = {
      path: t.rel,
      pointer: t.pointerRel,
      snapshot: t.pointer.snapshot,
      added: [] as string[],
      modified: [] as string[],
      deleted: [] as string[],
      filesHashed: 0,
    };
    const haveTree = await s.store.has(t.pointer.tree);
    const exists = await fsp.lstat(join(s.root, t.rel)).then(
      () => true,
      () => false,
    );
    if (!exists) {
      paths.push({ ...base, state: haveTree ? 'missing' : 'not-in-cache' });
      continue;
    }
    const scan = await scanPath({ root: s.root, rel: t.rel, index: s.index });
    base.filesHashed = scan.filesHashed;
    if (scan.tree === t.pointer.tree) {
      paths.push({ ...base, state: 'clean' });
      continue;
    }
    if (!haveTree) {
      paths.push({ ...base, state: 'not-in-cache' });
      continue;
    }
    const load = treeLoader(s.store, scan.trees);
    const prefix = (p: string): string => (t.pointer.kind === 'file' || scan.kind === 'file' ? t.rel : `${t.rel}/${p}`);
    const take = (c: Change): void => {
      if (shown(prefix(c.path))) base[c.type].push(prefix(c.path));
    };
    if (t.pointer.kind === scan.kind) await diffTrees(t.pointer.tree, scan.tree, load, '', take);
    else {
      await diffTrees(t.pointer.tree, null, load, '', take);
      await diffTrees(null, scan.tree, load, '', take);
    }
    paths.push({ ...base, state: base.added.length + base.modified.length + base.deleted.length > 0 ? 'modified' : 'clean' });
  }
  let stages: OutOfDateStage[] = [];
  const metrics: NonNullable<StatusResult['metrics']> = [];
  if (!opts.paths || opts.paths.length === 0) {
    const p = await loadPipeline(s.root);
    if (p.exists) stages = await outOfDate(s, p);
    for (const name of p.dag.order) {
      for (const m of p.dag.stages.get(name)!.metrics ?? []) {
        // Named by dv.yaml, which comes with a clone: a regular file (perhaps behind a link), never a FIFO or device.
        const text = await readControlFile(join(s.root, m), { followLinks: true, maxBytes: 16 * 1024 * 1024 }).catch(() => undefined);
        metrics.push({ stage: name, path: m, values: text === undefined ? null : metricValues(text, m) });
      }
    }
  }
  const clean = paths.every((p) => p.state === 'clean');
  return { clean, upToDate: clean && stages.length === 0, paths, stages, ...(metrics.length ? { metrics } : {}) };
}
