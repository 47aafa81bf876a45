/**
 * `dv repro`: bring the pipeline up to date. In DAG order, each selected stage (and what it
 * depends on) is compared with its dv.lock entry; a stage whose command, dep contents or param
 * values changed, or whose outs are missing, is restored from a recorded run with the same key
 * (its dv.lock entry or the run cache) or else run with `sh -c` from the repository root. Its
 * outs are then tracked like `dv add` does and its entry is written to dv.lock. A failing stage
 * stops the run with its exit code and records nothing for it (stages before it stay recorded).
 */
import type { StdioOptions } from 'node:child_process';
import { join } from 'node:path';
import { DvError } from '../errors.js';
import { writeFileAtomic } from '../store/atomic.js';
import { changedForGit } from '../repo/git.js';
import type { RepoSession } from '../repo/repo.js';
import { readPointer, usesGit } from '../workspace/pointers.js';
import { scanPath } from '../workspace/scan.js';
import { ownerOf, withUpstream } from '../pipeline/dag.js';
import type { KeptRecord, LockStage } from '../pipeline/lockfile.js';
import { canonicalJson, encodeRun, type OutRecord, type RunEnv, type RunRecord } from '../pipeline/run.js';
import { invalid, keptInGit, type StageSpec } from '../pipeline/spec.js';
import { runShell, stageDir } from '../pipeline/shell.js';
import { stageLockfiles } from '../pipeline/env-extra.js';
import { checkout } from './checkout.js';
import { checkOuts, clearOut, prepareOut, publishOut, type PipelineLineage } from '../pipeline/outs.js';
import { findRun, saveRunRef } from '../pipeline/run-cache.js';
import {
  captureEnv,
  checkStageNames,
  codeState,
  loadPipeline,
  PipelineContext,
  type Pipeline,
  requireStages,
  workspaceId,
  writeLock,
  type StageChange,
  type StageState,
  keptChanges,
  keptRecords,
  recordedFiles,
} from '../pipeline/state.js';
import { RemoteRunCache } from '../transfer/remote-runs.js';
import { saveRunSignature } from '../pipeline/run-cache.js';
import { signRun } from '../provenance/run-signature.js';
import { configuredSigner, trustedKeys } from '../provenance/trust.js';

export interface ReproOptions {
  /** Stages to bring up to date (with everything upstream of them); all when empty. */
  stages?: string[];
  /** Run the selected stages even when they are up to date (upstream stages only if changed). */
  force?: boolean;
  /** Look for a recorded run with the same inputs before running (default true). */
  runCache?: boolean;
  /** Only say what would run. */
  dryRun?: boolean;
  /** stdio of stage commands (default: stdout and stderr inherited, no stdin). */
  stdio?: StdioOptions;
  /**
   * The remote whose run cache is asked for stages this clone has no recorded run of (default:
   * the default remote, when one is configured); false: never ask a remote.
   */
  remote?: string | false;
  /** One-line notices (a remote out of reach, a run record refused). */
  onNotice?: (text: string) => void;
  /** Called before a stage is run or restored. */
  onStage?: (e: { stage: string; cmd: string; action: 'run' | 'restore'; from?: ReproStage['from'] }) => void;
  /**
   * The files a stage keeps in git (`cache: false` metrics and plots) are no outs and no run record holds
   * them, so restoring a run other than dv.lock's would leave the old copies beside the new outs.
   * This finds copies recorded with the same run key (another commit's, an experiment's) to write
   * instead; without it, or when it finds none, such a stage runs.
   */
  uncachedCopies?: (stage: string, key: string, paths: string[]) => Promise<Map<string, Buffer> | undefined>;
}

/** `would-restore`: a dry run found a recorded run (dv.lock or this clone's run cache) with the same key. */
export type ReproAction = 'ran' | 'restored' | 'up-to-date' | 'would-run' | 'would-restore';

export interface ReproStage {
  name: string;
  action: ReproAction;
  /** A dry run's `would-run` that the real run would refuse: why (the error it would stop with); the last stage listed. */
  refused?: string;
  /** For restored stages: the recorded run it came from (dv.lock, this clone's run cache, a remote's). */
  from?: 'lock' | 'run-cache' | 'remote';
  /** The remote it came from (from: remote). */
  remote?: string;
  changes: StageChange[];
  outs: OutRecord[];
  /** Wall time of the command, for stages that ran. */
  seconds?: number;
}

export interface ReproResult {
  stages: ReproStage[];
  /** Whether dv.lock was rewritten. */
  lockWritten: boolean;
  /** One-line notices, as given to onNotice. */
  notices: string[];
  /** Files a git user should `git add` next (dv.lock and the outs' pointer files and .gitignore). */
  gitAdd: string[];
}

/** Restores `outs` from the store; false (nothing lost) when some object is not held locally. */
async function restoreOuts(s: RepoSession, stage: string, outs: OutRecord[]): Promise<boolean> {
  for (const o of outs) {
    const ws = await workspaceId(s, o.path);
    if (ws?.id === o.id && (await readPointer(s.root, o.path).catch(() => undefined))?.pointer.snapshot === o.snapshot) continue;
    if (ws && ws.id !== o.id) await clearOut(s, o.path);
    try {
      // Also when the content is there already: the pointer must name the recorded run's snapshot.
      await checkout(s, { target: o.snapshot, paths: [o.path], new: true });
    } catch (e) {
      if (e instanceof DvError && (e.code === 'OBJECT_MISSING' || e.code === 'UNKNOWN_ID')) return false;
      if (e instanceof DvError && e.code === 'UNSAVED_CHANGES') {
        throw new DvError(
          'UNSAVED_CHANGES',
          `out ${o.path} of stage ${stage} was changed by hand, and dv would overwrite it with the recorded output: move it away, or run \`dv checkout --force ${o.path}\`, then \`dv repro\``,
          { path: o.path },
        );
      }
      throw e;
    }
  }
  return true;
}

const wdirOf = (stage: StageSpec): { wdir?: string } => (stage.wdir ? { wdir: stage.wdir } : {});
const kept = (k: KeptRecord[] | undefined): { kept?: KeptRecord[] } => (k ? { kept: k } : {});

function sameOuts(stage: StageSpec, outs: OutRecord[]): boolean {
  return outs.length === stage.outs.length && stage.outs.every((o) => outs.some((x) => x.path === o));
}

/**
 * After a command ran without the lock: the stage must still be what dv.yaml says, and its
 * deps and params what it started from (changed by the command itself or by another process,
 * the run would be recorded under inputs it did not read).
 */
async function recheck(s: RepoSession, ctx: PipelineContext, stage: StageSpec, before: StageState): Promise<void> {
  const now = (await loadPipeline(s.root)).dag.stages.get(stage.name);
  if (!now || canonicalJson(now) !== canonicalJson(stage)) {
    throw new DvError(
      'STAGE_FAILED',
      `stage ${stage.name}: dv.yaml changed while its command ran: nothing was recorded for it; run \`dv repro\` again`,
      { stage: stage.name },
    );
  }
  ctx.refresh();
  const after = await ctx.state(stage, undefined);
  if (after.key === before.key) return;
  const dep = stage.deps.find((d) => before.deps.find((x) => x.path === d)?.id !== after.deps.find((x) => x.path === d)?.id);
  const what = dep ? `dep ${dep}` : 'a parameter';
  throw new DvError(
    'STAGE_FAILED',
    `stage ${stage.name}: ${what} changed while its command ran (by the command or another process): nothing was recorded for it; run \`dv repro\` again`,
    { stage: stage.name, ...(dep ? { path: dep } : {}) },
  );
}

/**
 * A run recorded here (dv.lock, then this clone's run cache) that `key` would be restored from, as
 * ReproRun.restore decides: dv.lock's only while the files the stage keeps in git are as it left
 * them; another run only when the caller can bring back those files (`keptCopies`, exp run).
 */
async function recordedRun(
  s: RepoSession,
  stage: StageSpec,
  key: string,
  locked: LockStage | undefined,
  keptCopies: boolean,
): Promise<{ from: 'lock' | 'run-cache'; outs: OutRecord[] } | undefined> {
  if (locked && locked.key === key && sameOuts(stage, locked.outs)) {
    if ((await keptChanges(s, stage, locked)).length === 0) return { from: 'lock', outs: locked.outs };
  }
  if (keptInGit(stage).length > 0 && !keptCopies) return undefined;
  const cached = await findRun(s, key);
  return cached && sameOuts(stage, cached.run.outs) ? { from: 'run-cache', outs: cached.run.outs } : undefined;
}

export async function repro(s: RepoSession, opts: ReproOptions = {}): Promise<ReproResult> {
  const notices: string[] = [];
  const notice = (text: string): void => {
    notices.push(text);
    opts.onNotice?.(text);
  };
  const remoteCache =
    opts.runCache === false || opts.remote === false || opts.dryRun
      ? undefined
      : new RemoteRunCache(s, { remote: opts.remote, notice, trusted: await trustedKeys(s.config, s.root) });
  try {
    return { ...(await reproStages(s, opts, remoteCache)), notices };
  } finally {
    await remoteCache?.close();
  }
}

async function reproStages(
  s: RepoSession,
  opts: ReproOptions,
  remoteCache: RemoteRunCache | undefined,
): Promise<Omit<ReproResult, 'notices'>> {
  const p = await loadPipeline(s.root);
  checkStageNames(p, opts.stages ?? []);
  requireStages(p);
  const targets = opts.stages && opts.stages.length > 0 ? opts.stages : p.dag.order;
  const order = withUpstream(p.dag, targets);
  const ctx = new PipelineContext(s);
  const gitState = await codeState(s.root, recordedFiles(p.spec));
  // attest.key set: each run record written is signed (provenance/run-signature.ts).
  const signer = opts.dryRun ? undefined : await configuredSigner(s.config, s.root);
  const run = new ReproRun(s, opts, remoteCache, p, targets, ctx, gitState, signer);
  for (const name of order) await run.stage(name);
  // Only what git would take: a restore that wrote the same pointer file, an unchanged .gitignore, are not named.
  const gitAdd = (await usesGit(s)) ? await changedForGit(s.root, [...run.gitAdd]) : [];
  return { stages: run.result, lockWritten: run.lockWritten, gitAdd };
}

type Signer = Awaited<ReturnType<typeof configuredSigner>>;

/** Owns one `dv repro` over its stages in DAG order: what each stage needs, and what was done and written. */
class ReproRun {
  readonly result: ReproStage[] = [];
  readonly gitAdd = new Set<string>();
  lockWritten = false;
  private env: RunEnv | undefined;
  /** A dry run reached a stage the run would stop at: the run would go no further, nor does the dry run. */
  private stopped = false;

  constructor(
    private readonly s: RepoSession,
    private readonly opts: ReproOptions,
    private readonly remoteCache: RemoteRunCache | undefined,
    private readonly p: Pipeline,
    private readonly targets: string[],
    private readonly ctx: PipelineContext,
    private readonly gitState: RunEnv['git'],
    private readonly signer: Signer,
  ) {}

  /** Brings one stage up to date: nothing, a dry run's verdict, a restore of a recorded run, or a run. */
  async stage(name: string): Promise<void> {
    const { p, opts, result } = this;
    if (this.stopped) return;
    const stage = p.dag.stages.get(name)!;
    const locked = p.lock.stages[name];
    const st: StageState = await this.ctx.state(stage, locked);
    const forced = opts.force === true && this.targets.includes(name);
    // Without running, a stage downstream of one that would change cannot know its new inputs.
    const pending = (r: ReproStage): boolean => r.action === 'would-run' || r.action === 'would-restore';
    const upstream = opts.dryRun ? [...(p.dag.upstream.get(name) ?? [])].filter((u) => result.some((r) => r.name === u && pending(r))) : [];
    for (const u of upstream) st.changes.push({ type: 'upstream', what: u, how: 'out of date' });
    if (st.changes.length === 0 && !forced) {
      if (!opts.dryRun) await this.recordCommitted(name, locked!, st);
      result.push({ name, action: 'up-to-date', changes: [], outs: locked!.outs });
      return;
    }
    if (opts.dryRun) {
      const known = upstream.length === 0 && !forced && opts.runCache !== false;
      const recorded = known ? await recordedRun(this.s, stage, st.key, locked, opts.uncachedCopies !== undefined) : undefined;
      const refused = await this.unready(name, st, true);
      this.stopped = refused !== undefined;
      if (refused) result.push({ name, action: 'would-run', changes: st.changes, outs: [], refused: refused.message });
      else if (recorded) result.push({ name, action: 'would-restore', from: recorded.from, changes: st.changes, outs: recorded.outs });
      else result.push({ name, action: 'would-run', changes: st.changes, outs: [] });
      return;
    }
    await this.refuseUnready(name, st);
    await checkOuts(this.s, stage);
    if (!forced && opts.runCache !== false && (await this.restore(name, stage, st, locked))) return;
    await this.run(name, stage, st);
  }

  // A dep the last run read uncommitted (--force) that `dv commit` has since recorded as it was read:
  // dv.lock names its snapshot now (the run record keeps what was true; lineage adds the snapshot
  // from the pointer file). Nothing runs.
  private async recordCommitted(name: string, locked: LockStage, st: StageState): Promise<void> {
    let settled = false;
    const deps = locked.deps.map((d) => {
      const now = st.deps.find((x) => x.path === d.path);
      if (!d.uncommitted || !now?.snapshot || now.id !== d.id) return d;
      settled = true;
      return { path: d.path, id: d.id, snapshot: now.snapshot };
    });
    if (settled) await this.saveLock(name, { ...locked, deps });
  }

  // Refuses a stage whose deps or params are missing, or (unless forced) whose deps are not what a pointer names.
  private async refuseUnready(name: string, st: StageState): Promise<void> {
    const why = await this.unready(name, st);
    if (why) throw why;
  }

  /**
   * Why the stage would be refused, if it would. In a dry run (`ahead`) a missing dep that a stage
   * writes is no reason: the run before it would write it.
   */
  private async unready(name: string, st: StageState, ahead = false): Promise<DvError | undefined> {
    const missing = st.missingDeps.find((d) => !ahead || ownerOf(this.p.dag, d) === undefined);
    if (missing !== undefined) {
      return invalid(
        `stage ${name}: dep ${missing} does not exist and no stage writes it: create it, \`dv checkout\` it, or fix the path in dv.yaml`,
        { stage: name, path: missing },
      );
    }
    if (st.missingParams.length > 0) {
      return invalid(`stage ${name}: parameter ${st.missingParams[0]} is not set: add it to that file, or fix dv.yaml`, {
        stage: name,
        param: st.missingParams[0],
      });
    }
    const dirty = st.deps.find((d) => d.uncommitted);
    if (dirty && !this.opts.force) {
      const owner = (await this.ctx.trackedPaths()).find((t) => t.rel === dirty.path || dirty.path.startsWith(t.rel + '/'));
      const tracked = owner?.rel ?? dirty.path;
      const pointer = owner?.pointerRel ?? `${tracked}.dv`;
      return new DvError(
        'UNSAVED_CHANGES',
        `stage ${name}: dep ${dirty.path} is not what ${pointer} names (changes not recorded with \`dv commit\`, or ${pointer} changed by git and not checked out), so no snapshot would name what the stage read: run \`dv commit ${tracked}\` to record it, or \`dv checkout ${tracked}\` for what ${pointer} names (or \`dv repro --force\` to record it as uncommitted)`,
        { stage: name, path: dirty.path, pointer },
      );
    }
    return undefined;
  }

  // A recorded run with the same key stands in for running the command again: dv.lock's, this
  // clone's run cache, then the remote's. True when the stage was restored from one.
  private async restore(name: string, stage: StageSpec, st: StageState, locked: LockStage | undefined): Promise<boolean> {
    const s = this.s;
    let fromLock = locked && locked.key === st.key && sameOuts(stage, locked.outs) ? locked : undefined;
    // dv.lock's run cannot bring back a file kept in git since deleted or edited: a run whose copies
    // are recorded can (exp run), else the stage runs.
    if (fromLock && (await keptChanges(s, stage, fromLock)).length > 0) fromLock = undefined;
    let cached = fromLock ? undefined : await findRun(s, st.key);
    if (cached && !sameOuts(stage, cached.run.outs)) cached = undefined;
    let from: 'lock' | 'run-cache' | 'remote' = fromLock ? 'lock' : 'run-cache';
    let remote: string | undefined;
    if (!fromLock && !cached && this.remoteCache) {
      const hit = await this.remoteCache.find(stage, st.key);
      if (hit) {
        cached = hit;
        from = 'remote';
        remote = hit.remote;
      }
    }
    const outs = fromLock?.outs ?? cached?.run.outs;
    if (!outs) return false;
    const copies = fromLock ? undefined : await this.uncachedCopies(name, stage, st.key);
    if (copies === false) return false;
    this.opts.onStage?.({ stage: name, cmd: stage.cmd, action: 'restore', from });
    if (!(await restoreOuts(s, name, outs))) return false;
    for (const [path, bytes] of copies ?? []) await writeFileAtomic(join(s.root, path), bytes);
    if (!fromLock) {
      const r = cached!.run;
      await this.saveLock(name, {
        cmd: stage.cmd,
        ...wdirOf(stage),
        key: st.key,
        run: cached!.id,
        deps: st.deps,
        params: st.params,
        outs: r.outs,
        ...kept(await keptRecords(s, stage)),
        env: r.env,
        ranAt: r.ranAt,
      });
    }
    for (const o of outs) this.gitAdd.add(o.path + '.dv');
    for (const [path] of copies ?? []) this.gitAdd.add(path);
    this.result.push({ name, action: 'restored', from, ...(remote ? { remote } : {}), changes: st.changes, outs });
    this.ctx.refresh();
    return true;
  }

  // The files a stage keeps in git, for a restore of a run other than dv.lock's: the copies
  // recorded with its key, nothing to write (it keeps none), or false: none found, it runs.
  private async uncachedCopies(name: string, stage: StageSpec, key: string): Promise<Map<string, Buffer> | undefined | false> {
    const paths = keptInGit(stage);
    if (paths.length === 0) return undefined;
    return (await this.opts.uncachedCopies?.(name, key, paths)) ?? false;
  }

  // Runs the stage's command without the writer lock, then records what it wrote.
  private async run(name: string, stage: StageSpec, st: StageState): Promise<void> {
    const { s, opts } = this;
    const cwd = stageDir(s.root, stage);
    opts.onStage?.({ stage: name, cmd: stage.cmd, action: 'run' });
    for (const o of stage.outs) await clearOut(s, o);
    const t0 = Date.now();
    // The writer lock is let go while the command runs: it may call dv itself (`dv add`, `dv status`).
    const code = await s.unlocked(() => runShell(stage.cmd, cwd, opts.stdio ?? ['ignore', 'inherit', 'inherit'], { DV_STAGE: name }));
    const seconds = (Date.now() - t0) / 1000;
    if (code !== 0) {
      throw new DvError(
        'STAGE_FAILED',
        `stage ${name} failed with exit code ${code}: nothing was recorded for it; fix it and run \`dv repro\` again`,
        { stage: name, exitCode: code },
      );
    }
    await recheck(s, this.ctx, stage, st);
    const outs = await this.record(name, stage, st);
    this.result.push({ name, action: 'ran', changes: st.changes, outs, seconds });
    this.ctx.refresh();
  }

  // Records a run that succeeded: its outs tracked, the run record, signature, run ref and dv.lock entry, in that order.
  private async record(name: string, stage: StageSpec, st: StageState): Promise<OutRecord[]> {
    const s = this.s;
    const ranAt = new Date().toISOString();
    this.env ??= await captureEnv(s, this.gitState);
    const env: RunEnv = { ...this.env, ...(await stageLockfiles(s.root, stage.wdir)) };
    const scans = await scanOuts(s, name, stage);
    const lineage: PipelineLineage = {
      stage: name,
      cmd: stage.cmd,
      ...wdirOf(stage),
      ...(stage.metrics ? { metrics: stage.metrics } : {}),
      key: st.key,
      deps: st.deps,
      params: st.params,
      outs: scans.map((x) => ({ path: x.path, id: x.scan.tree })),
      env,
    };
    const prepared = [];
    for (const x of scans) prepared.push(await prepareOut(s, x.path, x.scan, lineage, ranAt));
    const outs: OutRecord[] = prepared.map((o) => ({ path: o.path, id: o.id, snapshot: o.snapshot }));
    const run: RunRecord = {
      key: st.key,
      stage: name,
      cmd: stage.cmd,
      ...wdirOf(stage),
      deps: st.deps,
      params: st.params,
      outs,
      env,
      ranAt,
    };
    const runBytes = encodeRun(run);
    const runId = await s.store.putObject(runBytes);
    // Data (outs, snapshots, run record: one pack) before the pointers, run ref and dv.lock naming it.
    await s.store.flush();
    for (const o of prepared) await publishOut(s, o);
    if (this.signer) await saveRunSignature(s, runId, signRun(runBytes, this.signer));
    await saveRunRef(s, st.key, runId);
    const keptNow = await keptRecords(s, stage);
    await this.saveLock(name, {
      cmd: stage.cmd,
      ...wdirOf(stage),
      key: st.key,
      run: runId,
      deps: st.deps,
      params: st.params,
      outs,
      ...kept(keptNow),
      env,
      ranAt,
    });
    for (const o of outs) {
      this.gitAdd.add(o.path + '.dv');
      this.gitAdd.add(o.path.includes('/') ? `${o.path.slice(0, o.path.lastIndexOf('/'))}/.gitignore` : '.gitignore');
    }
    // The metrics and plots it keeps in git are the user's to commit with dv.lock.
    for (const k of keptNow ?? []) this.gitAdd.add(k.path);
    return outs;
  }

  private async saveLock(name: string, entry: LockStage): Promise<void> {
    const lock = this.p.lock;
    // Another dv may have written dv.lock while a command ran unlocked: start from the file.
    lock.stages = (await loadPipeline(this.s.root)).lock.stages;
    lock.stages[name] = entry;
    // Entries of stages no longer in dv.yaml go.
    for (const n of Object.keys(lock.stages)) if (!this.p.dag.stages.has(n)) delete lock.stages[n];
    await writeLock(this.s, lock);
    this.lockWritten = true;
    this.gitAdd.add('dv.lock');
  }
}

/** Owns scanning a stage's outs after its command ran; an out it did not write fails the stage. */
async function scanOuts(
  s: RepoSession,
  name: string,
  stage: StageSpec,
): Promise<{ path: string; scan: Awaited<ReturnType<typeof scanPath>> }[]> {
  const scans = [];
  for (const o of stage.outs) {
    const scan = await scanPath({ root: s.root, rel: o, index: s.index, sink: s.store }).catch((e) => {
      if (e instanceof DvError && e.code === 'PATH_NOT_FOUND')
        throw new DvError(
          'STAGE_FAILED',
          `stage ${name} succeeded but did not write its out ${o}: fix the command or the outs in dv.yaml`,
          {
            stage: name,
            path: o,
          },
        );
      throw e;
    });
    scans.push({ path: o, scan });
  }
  return scans;
}
