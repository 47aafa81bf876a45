/** `dv stage add` and `dv stage list`: write and read the stages of dv.yaml. */
import { join } from 'node:path';
import { DvError, isDvError } from '../errors.js';
import type { RepoSession } from '../repo/repo.js';
import { readControlFile, writeControlFile } from '../repo/control-file.js';
import { findTracked, usesGit } from '../workspace/pointers.js';
import { toRepoRel } from '../workspace/scan.js';
import { buildDag } from '../pipeline/dag.js';
import {
  checkStageName,
  dedupeParams,
  formatParamRef,
  invalid,
  normalizeRel,
  parseParamRefs,
  keptInGit,
  parseSpec,
  removeStage,
  setStage,
  SPEC_FILE,
  type StageSpec,
} from '../pipeline/spec.js';
import { checkOuts } from '../pipeline/outs.js';
import { loadPipeline, loadPipelineFiles, writeLock } from '../pipeline/state.js';
import { remove } from './untrack.js';

export interface StageAddOptions {
  name: string;
  /** One shell string, run by `sh -c` from the repository root (or `wdir`). */
  cmd: string;
  /** Directory to run the command in (relative to `cwd`); deps, params files and outs are then relative to it. */
  wdir?: string;
  deps?: string[];
  /** `KEY` (in params.yaml) or `FILE:KEY`. */
  params?: string[];
  outs?: string[];
  /** Outs that are metrics files (JSON, YAML or CSV), tracked by dv (`-m`). */
  metrics?: string[];
  /** Metrics files kept in git, not cached nor tracked by dv (`-M`, DVC's `cache: false`). */
  metricsNoCache?: string[];
  /** Outs that are plot data (CSV, TSV, JSON, YAML) drawn by `dv plots`, tracked by dv (`--plots`). */
  plots?: string[];
  /** Plot data kept in git, not cached nor tracked by dv (`--plots-no-cache`). */
  plotsNoCache?: string[];
  /** Replace a stage of the same name. */
  force?: boolean;
  cwd?: string;
}

export interface StageInfo {
  name: string;
  cmd: string;
  wdir?: string;
  deps: string[];
  params: string[];
  outs: string[];
  metrics?: string[];
  /** The metrics files kept in git (`-M`). */
  uncached?: string[];
  /** Every file the stage writes that git keeps (`-M` metrics, `--plots-no-cache` data). */
  kept?: string[];
  upstream: string[];
  downstream: string[];
}

export interface StageAddResult {
  stage: StageInfo;
  replaced: boolean;
  /** Files a git user should `git add` next. */
  gitAdd: string[];
}

/**
 * Runs a check of what was given on the command line: a bad name, path or parameter there is
 * USAGE (exit 2); PIPELINE_INVALID (41) stays for problems in dv.yaml itself.
 */
function argument<T>(check: () => T): T {
  try {
    return check();
  } catch (e) {
    if (isDvError(e, 'PIPELINE_INVALID')) throw new DvError('USAGE', e.message, e.data);
    throw e;
  }
}

export async function stageAdd(s: RepoSession, opts: StageAddOptions): Promise<StageAddResult> {
  const name = argument(() => checkStageName(opts.name ?? '', 'dv stage add -n'));
  if (typeof opts.cmd !== 'string' || opts.cmd.trim() === '')
    throw new DvError(
      'USAGE',
      'dv stage add needs a command after --, e.g. dv stage add -n train -d train.py -o model.pkl -- "python3 train.py"',
    );
  const cwd = opts.cwd ?? s.root;
  const wdirRel = opts.wdir === undefined ? '' : toRepoRel(s.root, cwd, opts.wdir).replace(/\/+$/, '');
  const wdir = wdirRel === '' || wdirRel === '.' ? undefined : argument(() => normalizeRel(wdirRel, 'dv stage add -w'));
  const base = wdir ? join(s.root, wdir) : cwd;
  const rel = (p: string, what: string): string => argument(() => normalizeRel(toRepoRel(s.root, base, p), `dv stage add ${what}`));
  const stage: StageSpec = {
    name,
    cmd: opts.cmd,
    ...(wdir ? { wdir } : {}),
    deps: [...new Set((opts.deps ?? []).map((d) => rel(d, '-d')))],
    params: dedupeParams((opts.params ?? []).flatMap((p) => argument(() => parseParamRefs(p, 'dv stage add -p', wdir)))),
    outs: [...new Set([...(opts.outs ?? []).map((o) => rel(o, '-o')), ...(opts.metrics ?? []).map((o) => rel(o, '-m'))])],
  };
  const plots = [
    ...(opts.plots ?? []).map((o) => ({ path: rel(o, '--plots'), cache: true })),
    ...(opts.plotsNoCache ?? []).map((o) => ({ path: rel(o, '--plots-no-cache'), cache: false })),
  ].filter((p, i, all) => all.findIndex((q) => q.path === p.path) === i);
  if (plots.length) {
    stage.plots = plots;
    stage.outs = [...new Set([...stage.outs, ...plots.filter((p) => p.cache).map((p) => p.path)])];
  }
  const uncached = [...new Set((opts.metricsNoCache ?? []).map((o) => rel(o, '-M')))];
  const metrics = [...new Set([...(opts.metrics ?? []).map((o) => rel(o, '-m')), ...uncached])];
  if (metrics.length) stage.metrics = metrics;
  if (uncached.length) stage.uncached = uncached;
  const file = join(s.root, SPEC_FILE);
  const o = { code: 'PIPELINE_INVALID' as const, show: SPEC_FILE, root: s.root };
  const text = (await readControlFile(file, o)) ?? '';
  const before = parseSpec(text);
  const replaced = before.stages.some((x) => x.name === name);
  if (replaced && !opts.force)
    throw invalid(`stage ${name} exists in ${SPEC_FILE}: pass --force to replace it, or choose another name`, { stage: name });
  const next = setStage(text, stage);
  // Validates the whole pipeline as it will be: duplicate outs, cycles.
  buildDag(parseSpec(next).stages);
  await checkOuts(s, stage);
  await writeControlFile(file, next, { ...o, tmpDir: join(s.root, '.dv', 'tmp') });
  const p = await loadPipeline(s.root);
  return { stage: info(p.dag, p.dag.stages.get(name)!), replaced, gitAdd: (await usesGit(s)) ? [SPEC_FILE] : [] };
}

function info(dag: ReturnType<typeof buildDag>, st: StageSpec): StageInfo {
  return {
    name: st.name,
    cmd: st.cmd,
    ...(st.wdir ? { wdir: st.wdir } : {}),
    deps: st.deps,
    params: st.params.map((p) => formatParamRef(p)),
    outs: st.outs,
    ...(st.metrics ? { metrics: st.metrics } : {}),
    ...(st.uncached ? { uncached: st.uncached } : {}),
    ...(keptInGit(st).length ? { kept: keptInGit(st) } : {}),
    upstream: dag.order.filter((n) => dag.upstream.get(st.name)!.has(n)),
    downstream: dag.order.filter((n) => dag.downstream.get(st.name)!.has(n)),
  };
}

/** The stages of dv.yaml in DAG order (upstream first). */
export async function stageList(s: RepoSession): Promise<StageInfo[]> {
  const p = await loadPipeline(s.root);
  return p.dag.order.map((n) => info(p.dag, p.dag.stages.get(n)!));
}

export interface StageRemoveOptions {
  name: string;
  /** Keep the outs tracked as plain data (pointer files stay) instead of untracking them. */
  keepOuts?: boolean;
}

export interface StageRemoveResult {
  stage: string;
  /** Outs no longer tracked: their pointer files and .gitignore lines are gone, the files stay. */
  untracked: string[];
  /** Whether dv.lock had an entry for the stage (removed). */
  lockEntry: boolean;
  gitAdd: string[];
}

/**
 * `dv stage remove NAME`, as `dvc remove STAGE`: the stage leaves dv.yaml and dv.lock; its outs
 * stop being tracked (pointer file and .gitignore line removed) but their files stay where they
 * are, and their snapshots stay in the store. Stages that read its outs keep them as plain deps.
 */
export async function stageRemove(s: RepoSession, opts: StageRemoveOptions): Promise<StageRemoveResult> {
  const name = argument(() => checkStageName(opts.name ?? '', 'dv stage remove'));
  // Not the graph: removing a stage is how a cycle or a shared out in dv.yaml gets fixed.
  const p = await loadPipelineFiles(s.root);
  const stage = p.spec.stages.find((x) => x.name === name);
  if (!stage) {
    const known = p.spec.stages.map((x) => x.name).join(', ') || 'none';
    throw new DvError('USAGE', `dv stage remove: no stage ${name} in ${SPEC_FILE} (stages: ${known})`, { stage: name });
  }
  const file = join(s.root, SPEC_FILE);
  const o = { code: 'PIPELINE_INVALID' as const, show: SPEC_FILE, root: s.root };
  const text = (await readControlFile(file, o)) ?? '';
  const tracked = new Set((await findTracked(s.root)).map((t) => t.rel));
  const outs = opts.keepOuts ? [] : stage.outs.filter((o) => tracked.has(o));
  // dv.yaml first: `remove` refuses to untrack a path that a stage still claims.
  await writeControlFile(file, removeStage(text, name), { ...o, tmpDir: join(s.root, '.dv', 'tmp') });
  const lockEntry = p.lock.stages[name] !== undefined;
  if (lockEntry) {
    delete p.lock.stages[name];
    await writeLock(s, p.lock);
  }
  const gitAdd = new Set<string>([SPEC_FILE, ...(lockEntry ? ['dv.lock'] : [])]);
  if (outs.length) for (const f of (await remove(s, { paths: outs })).gitAdd) gitAdd.add(f);
  return { stage: name, untracked: outs, lockEntry, gitAdd: (await usesGit(s)) ? [...gitAdd] : [] };
}
