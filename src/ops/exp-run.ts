/**
 * `dv exp run`: the pipeline run with some parameters set (`-S`), without touching the user's
 * branch, HEAD, git index or files. The workspace (as `git stash -u` would see it) is checked
 * out into a git worktree under `.dv/tmp/` (pipeline/exp-worktree.ts), the `-S` values are
 * written there, the data the stages read is checked out from the store, and `dv repro` runs in
 * it over the user's store (pipeline/exp-session.ts): a stage whose inputs match a recorded run
 * (dv.lock, the run cache, a remote's) is restored instead of run, so repeating an experiment
 * costs no command. The result is a git commit (parent: HEAD) of the workspace's tree plus the
 * files the run changed (parameter files, dv.lock, metrics kept in git, the outs' pointer files
 * and .gitignore lines), under `refs/exps/<HEAD>/<name>` (pipeline/exp-refs.ts); the outs are
 * snapshots in the store, like any `dv repro`'s.
 *
 * `--queue` records the inputs (that commit's tree before the run) under `refs/exps/queue/<name>`;
 * `--run-all` runs the queue, each entry from the commit it was queued at.
 *
 * Invariants: everything the command line says is checked before anything is written (the `-S`
 * syntax, keys and files; the name; a name taken without `-f`); the worktree is removed however
 * the run ends; the ref is written last, so a failed run leaves no experiment.
 */
import type { StdioOptions } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import { dirname, isAbsolute, join, posix } from 'node:path';
import { parseRemoteUrl } from '../backend/open.js';
import { listRemotes, resolveRemote } from '../repo/remotes.js';
import { DvError } from '../errors.js';
import type { RepoSession } from '../repo/repo.js';
import { findTracked } from '../workspace/pointers.js';
import { LOCK_FILE, parseLock } from '../pipeline/lockfile.js';
import { gitCatBlobs } from '../repo/git.js';
import { MAX_FILE } from '../pipeline/exp-list.js';
import { loadPipeline, requireStages } from '../pipeline/state.js';
import { DEFAULT_PARAMS_FILE, keptInGit } from '../pipeline/spec.js';
import { parseSet, planSets } from '../pipeline/exp-params.js';
import { expName } from '../pipeline/exp-names.js';
import { sessionAt } from '../pipeline/exp-session.js';
import { closeWorktree, openWorktree, treeWith, workspaceTree } from '../pipeline/exp-worktree.js';
import {
  checkExpName,
  commitTree,
  deleteRef,
  expMessage,
  expRef,
  gitOk,
  headCommit,
  listExpRefs,
  parseExpMessage,
  queueRef,
  setRef,
} from '../pipeline/exp-refs.js';
import { checkout } from './checkout.js';
import { repro, type ReproAction } from './repro.js';

export interface ExpRunOptions {
  /** `[FILE:]KEY=VALUE` parameter values (FILE: params.yaml by default; `+KEY` adds a key). */
  set?: string[];
  /** The experiment's name (default: an adjective-noun pair). */
  name?: string;
  /** Record the experiment to run later (`runAll`) instead of running it. */
  queue?: boolean;
  /** Run every queued experiment. */
  runAll?: boolean;
  /** Replace an experiment of the same name. */
  force?: boolean;
  /** The remote whose run cache is asked (default: the default remote); false: none. */
  remote?: string | false;
  stdio?: StdioOptions;
  onStage?: (e: { experiment: string; stage: string; cmd: string; action: 'run' | 'restore' }) => void;
  onNotice?: (text: string) => void;
}

export interface ExpRunEntry {
  name: string;
  /** The commit it ran from. */
  baseline: string;
  /** Its commit (the queued inputs, for a queued one). */
  commit: string;
  ref: string;
  queued: boolean;
  set: string[];
  stages: { name: string; action: ReproAction }[];
  /** Stages whose command ran (the others were up to date or restored from a recorded run). */
  ran: string[];
}

export interface ExpRunResult {
  experiments: ExpRunEntry[];
  /** `runAll`: queued experiments that failed (they stay queued). */
  failed: { name: string; code: string; message: string }[];
}

/** A name for a new experiment: `wanted` (refused when taken, unless `force`) or a free generated one. */
async function chooseName(s: RepoSession, baseline: string, seed: string, wanted: string | undefined, force: boolean): Promise<string> {
  const refs = await listExpRefs(s.root);
  const taken = (n: string): boolean => refs.some((e) => e.name === n && (e.queued || e.baseline === baseline));
  if (wanted !== undefined) {
    checkExpName(wanted, '-n');
    if (taken(wanted) && !force)
      throw new DvError('USAGE', `-n ${wanted}: an experiment of that name exists: choose another name, or pass -f to replace it`, {
        name: wanted,
      });
    return wanted;
  }
  for (let i = 0; i < 64; i++) if (!taken(expName(seed, i))) return expName(seed, i);
  throw new DvError('USAGE', 'no free experiment name: give one with -n');
}

/**
 * The remote whose run cache the experiment asks: `wanted`, except a directory remote written
 * relative to the repository (`../storage`), which the experiment's worktree cannot find (remote
 * paths resolve from the work tree): not asked, rather than a warning that it is out of reach.
 */
function runCacheRemote(s: RepoSession, wanted: string | false | undefined): string | false | undefined {
  if (wanted === false || listRemotes(s.config).length === 0) return wanted;
  try {
    const url = resolveRemote(s.config, wanted).url;
    return parseRemoteUrl(url, s.root).kind === 'local' && !isAbsolute(url) && !/^file:/i.test(url) ? false : wanted;
  } catch {
    return wanted;
  }
}

/** The files of a run that belong in its commit: parameter files, dv.lock, metrics kept in git, the outs' pointers and .gitignore. */
async function resultFiles(root: string, extra: string[]): Promise<string[]> {
  const p = await loadPipeline(root);
  const files = new Set<string>([LOCK_FILE, DEFAULT_PARAMS_FILE, ...extra]);
  for (const st of p.dag.stages.values()) {
    for (const par of st.params) files.add(par.file);
    for (const m of keptInGit(st)) files.add(m);
    for (const o of st.outs) {
      files.add(`${o}.dv`);
      files.add(posix.dirname(o) === '.' ? '.gitignore' : `${posix.dirname(o)}/.gitignore`);
    }
  }
  return [...files];
}

/** Runs the pipeline in a worktree of `tree` at `baseline` with `texts` written over it; commits the result under `ref`. */
async function runOne(
  s: RepoSession,
  o: ExpRunOptions,
  e: { name: string; baseline: string; tree: string; texts: Map<string, string>; set: string[]; replace: boolean },
): Promise<ExpRunEntry> {
  const wt = await openWorktree(s, e.baseline, e.tree);
  try {
    for (const [file, text] of e.texts) await writeText(join(wt.root, file), text);
    const view = sessionAt(s, wt.root);
    const p = await loadPipeline(wt.root);
    requireStages(p);
    // The data stages read (what no stage writes) comes from the store; outs are restored by repro as needed.
    const outs = new Set([...p.dag.stages.values()].flatMap((st) => st.outs));
    const inputs = (await findTracked(wt.root)).filter((t) => !outs.has(t.rel)).map((t) => t.rel);
    if (inputs.length > 0) await checkout(view, { paths: inputs });
    let commits: string[] | undefined;
    const r = await repro(view, {
      stdio: o.stdio,
      remote: runCacheRemote(s, o.remote),
      onNotice: o.onNotice,
      onStage: (x) => o.onStage?.({ experiment: e.name, stage: x.stage, cmd: x.cmd, action: x.action }),
      // A metrics file kept in git comes from a commit (HEAD, an experiment) that recorded the same run.
      uncachedCopies: async (stage, key, paths) => {
        commits ??= [await headCommit(s.root), ...(await listExpRefs(s.root)).filter((x) => !x.queued).map((x) => x.commit)];
        return recordedCopies(s.root, commits, stage, key, paths);
      },
    }).catch((x: unknown) => {
      // A stage that failed here failed in this experiment, and `dv exp run` is what runs it again.
      if (!(x instanceof DvError && x.code === 'STAGE_FAILED')) throw x;
      const again = x.message.replace('run `dv repro` again', 'run `dv exp run` again');
      throw new DvError('STAGE_FAILED', `experiment ${e.name}: ${again}`, { ...x.data, experiment: e.name });
    });
    const ran = r.stages.filter((x) => x.action === 'ran').map((x) => x.name);
    const tree = await treeWith(wt.root, await resultFiles(wt.root, [...e.texts.keys()]));
    const commit = await commitTree(s.root, tree, e.baseline, expMessage('run', { name: e.name, set: e.set, ran }));
    const ref = expRef(e.baseline, e.name);
    await setRef(s.root, ref, commit, e.replace);
    const stages = r.stages.map((x) => ({ name: x.name, action: x.action }));
    return { name: e.name, baseline: e.baseline, commit, ref, queued: false, set: e.set, stages, ran };
  } finally {
    await closeWorktree(s, wt.dir);
  }
}

/** The files `paths` of the first of `commits` whose dv.lock records run `key` for `stage`. */
async function recordedCopies(
  root: string,
  commits: string[],
  stage: string,
  key: string,
  paths: string[],
): Promise<Map<string, Buffer> | undefined> {
  for (const c of commits) {
    const lock = (await gitCatBlobs(root, [`${c}:./${LOCK_FILE}`], MAX_FILE)).get(`${c}:./${LOCK_FILE}`);
    let same = false;
    try {
      same = lock !== undefined && parseLock(lock.toString('utf8')).stages[stage]?.key === key;
    } catch {
      // A malformed dv.lock in some commit is no copy.
    }
    if (!same) continue;
    const blobs = await gitCatBlobs(
      root,
      paths.map((x) => `${c}:./${x}`),
      MAX_FILE,
    );
    if (paths.every((x) => blobs.has(`${c}:./${x}`))) return new Map(paths.map((x) => [x, blobs.get(`${c}:./${x}`)!]));
  }
  return undefined;
}

async function writeText(file: string, text: string | Buffer): Promise<void> {
  await fsp.mkdir(dirname(file), { recursive: true });
  const tmp = `${file}.dvexp-tmp`;
  await fsp.writeFile(tmp, text);
  await fsp.rename(tmp, file);
}

/** `--queue`: the inputs (the workspace with the values set) as a commit under refs/exps/queue/<name>. */
async function enqueue(
  s: RepoSession,
  e: { name: string; baseline: string; tree: string; texts: Map<string, string>; set: string[]; replace: boolean },
): Promise<ExpRunEntry> {
  const wt = await openWorktree(s, e.baseline, e.tree);
  try {
    for (const [file, text] of e.texts) await writeText(join(wt.root, file), text);
    const tree = await treeWith(wt.root, [...e.texts.keys()]);
    const commit = await commitTree(s.root, tree, e.baseline, expMessage('queued', { name: e.name, set: e.set }));
    const ref = queueRef(e.name);
    await setRef(s.root, ref, commit, e.replace);
    return { name: e.name, baseline: e.baseline, commit, ref, queued: true, set: e.set, stages: [], ran: [] };
  } finally {
    await closeWorktree(s, wt.dir);
  }
}

/** `--run-all`: each queued experiment from the commit it was queued at; a failed one stays queued. */
async function runQueue(s: RepoSession, o: ExpRunOptions): Promise<ExpRunResult> {
  const out: ExpRunResult = { experiments: [], failed: [] };
  for (const q of (await listExpRefs(s.root)).filter((x) => x.queued)) {
    try {
      const baseline = (await gitOk(s.root, ['rev-parse', '--verify', `${q.commit}^1`])).trim();
      const tree = (await gitOk(s.root, ['rev-parse', '--verify', `${q.commit}^{tree}`])).trim();
      const set = parseExpMessage(await gitOk(s.root, ['log', '-1', '--format=%B', q.commit])).set ?? [];
      const replace = o.force === true;
      out.experiments.push(await runOne(s, o, { name: q.name, baseline, tree, texts: new Map(), set, replace }));
      await deleteRef(s.root, q.ref, q.commit);
    } catch (e) {
      if (!(e instanceof DvError) || e.code === 'INTERRUPTED') throw e;
      out.failed.push({ name: q.name, code: e.code, message: e.message });
    }
  }
  return out;
}

export async function expRun(s: RepoSession, o: ExpRunOptions = {}): Promise<ExpRunResult> {
  if (o.runAll) {
    if (o.queue || o.name !== undefined || (o.set?.length ?? 0) > 0)
      throw new DvError('USAGE', '--run-all runs the queue as it was recorded: give no -S, -n or --queue with it');
    return runQueue(s, o);
  }
  // All checks before anything is written.
  const sets = (o.set ?? []).map(parseSet);
  const baseline = await headCommit(s.root);
  const texts = await planSets(s.root, sets);
  requireStages(await loadPipeline(s.root));
  const setArgs = sets.map((x) => x.arg);
  const name = await chooseName(s, baseline, `${baseline}\0${setArgs.join('\0')}\0${Date.now()}\0${Math.random()}`, o.name, !!o.force);
  const tree = await workspaceTree(s);
  const e = { name, baseline, tree, texts, set: setArgs, replace: !!o.force };
  return { experiments: [o.queue ? await enqueue(s, e) : await runOne(s, o, e)], failed: [] };
}
