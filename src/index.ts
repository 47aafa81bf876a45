/**
 * The library API: `import { Repo } from 'dv'`. Each method opens the repository the way the
 * CLI does (read-only or with the writer lock), runs one operation, closes, and returns the
 * operation's data. Nothing here prints or exits; failures are `DvError`s with stable codes.
 * Paths are relative to the repository root unless absolute.
 */
import { resolve } from 'node:path';
import { DvError } from './errors.js';
import { RepoSession, findRoot, repoPaths } from './repo/repo.js';
import { Config, globalConfigPath } from './repo/config.js';
import type { LockInfo } from './repo/lock.js';
import { addRemote, listRemotes, removeRemote, trustRemote, type RemoteConfig, type RemoteOption } from './repo/remotes.js';
import { init } from './ops/init.js';
import { add, type AddOptions, type AddResult } from './ops/add.js';
import { commit, type CommitOptions, type CommitResult } from './ops/commit.js';
import { status, type StatusOptions, type StatusResult } from './ops/status.js';
import { checkout, type CheckoutOptions, type CheckoutResult } from './ops/checkout.js';
import { log, type LogEntry, type LogOptions } from './ops/log.js';
import { diff, type DiffOptions, type DiffResult } from './ops/diff.js';
import { ls, type LsEntry, type LsOptions } from './ops/ls.js';
import { gc, type GcOptions, type GcResult } from './ops/gc.js';
import { fsck, type FsckOptions, type FsckResult } from './ops/fsck.js';
import { push, type PushOptions, type PushResult } from './ops/push.js';
import { fetch, type FetchOptions, type FetchResult } from './ops/fetch.js';
import { pull, type PullOptions, type PullResult } from './ops/pull.js';
import { remoteStatus, type RemoteStatusResult } from './ops/remote-status.js';
import {
  stageAdd,
  stageList,
  stageRemove,
  type StageAddOptions,
  type StageAddResult,
  type StageInfo,
  type StageRemoveOptions,
  type StageRemoveResult,
} from './ops/stage.js';
import { repro, type ReproOptions, type ReproResult } from './ops/repro.js';
import { verify, type VerifyOptions, type VerifyResult } from './ops/verify.js';
import { lineage, type LineageOptions, type LineageResult } from './ops/lineage.js';
import { dag, type DagResult } from './ops/dag.js';

export { DvError, ERROR_CODES, isDvError, type ErrorCode } from './errors.js';
export { VERSION } from './repo/repo.js';
export type { LockInfo } from './repo/lock.js';
export type { RemoteConfig, RemoteOption } from './repo/remotes.js';
export type { InitResult } from './ops/init.js';
export type { AddOptions, AddResult } from './ops/add.js';
export type { CommitOptions, CommitResult, CommitEntry } from './ops/commit.js';
export type { StatusOptions, StatusResult, PathStatus, PathState } from './ops/status.js';
export type { CheckoutOptions, CheckoutResult, CheckoutEntry } from './ops/checkout.js';
export type { LogOptions, LogEntry } from './ops/log.js';
export type { DiffOptions, DiffResult } from './ops/diff.js';
export type { LsOptions, LsEntry } from './ops/ls.js';
export type { GcOptions, GcResult } from './ops/gc.js';
export type { FsckOptions, FsckResult } from './ops/fsck.js';
export type { Problem } from './history/reach.js';
export type { PushOptions, PushResult } from './ops/push.js';
export type { FetchOptions, FetchResult } from './ops/fetch.js';
export type { PullOptions, PullResult } from './ops/pull.js';
export type { RemoteStatusResult } from './ops/remote-status.js';
export type { StageAddOptions, StageAddResult, StageInfo, StageRemoveOptions, StageRemoveResult } from './ops/stage.js';
export type { ReproOptions, ReproResult, ReproStage, ReproAction } from './ops/repro.js';
export type { VerifyOptions, VerifyResult, VerifyStage, VerifyOut } from './ops/verify.js';
export type { LineageOptions, LineageResult, LineageStage, LineageArtifact } from './ops/lineage.js';
export type { DagResult } from './ops/dag.js';
export type { DagEdge } from './pipeline/dag.js';
export type { OutOfDateStage, StageChange, StageChangeType } from './pipeline/state.js';
export type { DepRecord, OutRecord, ParamValues, RunEnv } from './pipeline/run.js';
export type { PipelineLineage } from './pipeline/outs.js';
export type { Change, ChangeType } from './core/diff.js';
export type { Snapshot, Lineage, GitLineage } from './core/snapshot.js';
export type { ScanProgress } from './workspace/scan.js';
export type { PushProgress } from './transfer/push.js';

/** How `Repo` waits for another dv process that holds the repository. */
export interface RepoOpenOptions {
  /** Milliseconds to wait for the writer lock (default 10,000), as `dv --wait`. */
  waitMs?: number;
  /** Called once when the operation has to wait for another process. */
  onWait?: (holder: LockInfo) => void;
}

/** Options of `Repo#addRemote`, as the flags of `dv remote add`. */
export interface AddRemoteOptions extends Partial<Record<Exclude<RemoteOption, 'url'>, string>> {
  /** Make it the default remote (the first remote becomes the default anyway). */
  default?: boolean;
  /** Store it in `.dv/config.local` (this clone only) instead of the committed `.dv/config`. */
  local?: boolean;
}

/** Option types without `cwd`: a Repo resolves relative paths against its root. */
type Opts<T> = Omit<T, 'cwd'>;

function checkPaths(what: string, paths: unknown): void {
  if (paths !== undefined && !(Array.isArray(paths) && paths.every((p) => typeof p === 'string'))) {
    throw new DvError('USAGE', `${what}: paths must be an array of strings, e.g. { paths: ['data'] }`);
  }
}

function checkString(what: string, v: unknown): asserts v is string {
  if (typeof v !== 'string' || v === '') throw new DvError('USAGE', `${what} must be a non-empty string`);
}

/** An open dv repository. Holds no lock or handle between calls. */
export class Repo {
  private constructor(
    /** Absolute path of the directory holding `.dv/`. */
    readonly root: string,
    private readonly opts: RepoOpenOptions,
  ) {}

  /**
   * Creates `.dv/` at the top of the git work tree containing `dir` (or in `dir` with `noGit`).
   * @example const repo = await Repo.init('/work/project');
   */
  static async init(dir: string, opts: { noGit?: boolean } & RepoOpenOptions = {}): Promise<Repo> {
    checkString('Repo.init: dir', dir);
    const r = await init({ cwd: resolve(dir), noGit: opts.noGit });
    return new Repo(r.root, opts);
  }

  /**
   * Opens the repository at or above `dir`; fails with NOT_A_REPO when there is none.
   * @example const repo = await Repo.open(process.cwd(), { waitMs: 30_000 });
   */
  static async open(dir: string, opts: RepoOpenOptions = {}): Promise<Repo> {
    checkString('Repo.open: dir', dir);
    return new Repo(await findRoot(resolve(dir)), opts);
  }

  private async session<T>(write: boolean, command: string, fn: (s: RepoSession) => Promise<T>): Promise<T> {
    const s = await RepoSession.open({ cwd: this.root, write, waitMs: this.opts.waitMs, command, onWait: this.opts.onWait });
    try {
      return await fn(s);
    } finally {
      await s.close();
    }
  }

  /**
   * Tracks files or directories: stores them, records a first snapshot, writes `<path>.dv`.
   * @example const r = await repo.add({ paths: ['data'], message: 'raw import' }); r.gitAdd // ['data.dv', '.gitignore']
   */
  async add(opts: Opts<AddOptions>): Promise<AddResult> {
    if (!opts || !Array.isArray(opts.paths) || opts.paths.length === 0)
      throw new DvError('USAGE', "add: name at least one path, e.g. { paths: ['data'] }");
    checkPaths('add', opts.paths);
    return this.session(true, 'add', (s) => add(s, { ...opts, cwd: this.root }));
  }

  /**
   * New, modified and deleted files of every tracked path (or those named).
   * @example if (!(await repo.status()).clean) console.log('uncommitted data');
   */
  async status(opts: Opts<StatusOptions> = {}): Promise<StatusResult> {
    checkPaths('status', opts.paths);
    return this.session(false, 'status', (s) => status(s, { ...opts, cwd: this.root }));
  }

  /**
   * Snapshots every changed tracked path (or those named) and rewrites their pointer files.
   * @example await repo.commit({ message: 'relabelled', meta: { labeler: 'v2' } });
   */
  async commit(opts: Opts<CommitOptions> = {}): Promise<CommitResult> {
    checkPaths('commit', opts.paths);
    return this.session(true, 'commit', (s) => commit(s, { ...opts, cwd: this.root }));
  }

  /**
   * Makes tracked paths match their pointer files, or restores the snapshot or tree `target`.
   * @example await repo.checkout();                          // after git checkout
   * @example await repo.checkout({ target: '3fa9c2', paths: ['data'] });
   */
  async checkout(opts: Opts<CheckoutOptions> = {}): Promise<CheckoutResult> {
    checkPaths('checkout', opts.paths);
    if (opts.target !== undefined) checkString('checkout: target', opts.target);
    return this.session(true, 'checkout', (s) => checkout(s, { ...opts, cwd: this.root }));
  }

  /**
   * Snapshots of tracked paths, newest first.
   * @example const [latest] = await repo.log({ paths: ['data'], limit: 1 });
   */
  async log(opts: Opts<LogOptions> = {}): Promise<LogEntry[]> {
    checkPaths('log', opts.paths);
    return this.session(false, 'log', (s) => log(s, { ...opts, cwd: this.root }));
  }

  /**
   * Files added, modified and deleted from snapshot/tree `a` to `b` (or to the workspace).
   * @example const { changes } = await repo.diff({ a: older.id, b: newer.id });
   */
  async diff(opts: Opts<DiffOptions>): Promise<DiffResult> {
    checkString('diff: a', opts?.a);
    if (opts.b !== undefined) checkString('diff: b', opts.b);
    return this.session(false, 'diff', (s) => diff(s, { ...opts, cwd: this.root }));
  }

  /**
   * Entries of a tracked path (or a directory inside it), a snapshot, or a tree.
   * @example const files = (await repo.ls({ target: 'data', recursive: true })).filter((e) => e.type === 'file');
   */
  async ls(opts: Opts<LsOptions>): Promise<LsEntry[]> {
    checkString('ls: target', opts?.target);
    return this.session(false, 'ls', (s) => ls(s, { ...opts, cwd: this.root }));
  }

  /**
   * Deletes objects that no pointer file, snapshot history or git ref reaches.
   * @example const { removedBytes } = await repo.gc({ dryRun: true });
   */
  async gc(opts: GcOptions = {}): Promise<GcResult> {
    return this.session(true, 'gc', (s) => gc(s, opts));
  }

  /**
   * Re-hashes every object and checks every reference; `ok` is false with `problems` named.
   * @example const r = await repo.fsck(); if (!r.ok) console.error(r.problems);
   */
  async fsck(opts: FsckOptions = {}): Promise<FsckResult> {
    return this.session(true, 'fsck', (s) => fsck(s, opts));
  }

  /**
   * Sends what the remote (default: `core.remote`) lacks of the tracked data.
   * @example const r = await repo.push({ remote: 'origin', jobs: 16 }); r.objectsSent
   */
  async push(opts: Opts<PushOptions> = {}): Promise<PushResult> {
    checkPaths('push', opts.paths);
    return this.session(false, 'push', (s) => push(s, { ...opts, cwd: this.root }));
  }

  /**
   * Brings what the pointer files name from a remote into the local store, without checkout.
   * @example await repo.fetch({ allHistory: true });
   */
  async fetch(opts: Opts<FetchOptions> = {}): Promise<FetchResult> {
    checkPaths('fetch', opts.paths);
    return this.session(true, 'fetch', (s) => fetch(s, { ...opts, cwd: this.root }));
  }

  /**
   * Fetches from a remote, then checks out the tracked paths (what a fresh clone needs).
   * @example const { checkout } = await repo.pull(); checkout.paths[0].written
   */
  async pull(opts: Opts<PullOptions> = {}): Promise<PullResult> {
    checkPaths('pull', opts.paths);
    return this.session(true, 'pull', (s) => pull(s, { ...opts, cwd: this.root }));
  }

  /**
   * What a remote lacks of the pointer files' data, and what this clone lacks.
   * @example if (!(await repo.remoteStatus()).upToDate) await repo.push();
   */
  async remoteStatus(opts: { remote?: string; paths?: string[] } = {}): Promise<RemoteStatusResult> {
    checkPaths('remoteStatus', opts.paths);
    return this.session(false, 'status', (s) => remoteStatus(s, { ...opts, cwd: this.root }));
  }

  /**
   * Adds (or with `force` replaces) a pipeline stage in dv.yaml.
   * @example await repo.stageAdd({ name: 'train', cmd: 'python3 train.py', deps: ['train.py', 'data'], params: ['train.lr'], outs: ['model.pkl'] });
   */
  async stageAdd(opts: Opts<StageAddOptions>): Promise<StageAddResult> {
    checkString('stageAdd: name', opts?.name);
    checkString('stageAdd: cmd', opts.cmd);
    for (const k of ['deps', 'params', 'outs'] as const) checkPaths(`stageAdd: ${k}`, opts[k]);
    return this.session(true, 'stage add', (s) => stageAdd(s, { ...opts, cwd: this.root }));
  }

  /**
   * Removes a stage from dv.yaml and dv.lock; its outs stop being tracked (files kept) unless `keepOuts`.
   * @example await repo.stageRemove({ name: 'train' });
   */
  async stageRemove(opts: StageRemoveOptions): Promise<StageRemoveResult> {
    checkString('stageRemove: name', opts?.name);
    return this.session(true, 'stage remove', (s) => stageRemove(s, opts));
  }

  /**
   * The stages of dv.yaml, upstream first.
   * @example for (const st of await repo.stages()) console.log(st.name, st.upstream);
   */
  async stages(): Promise<StageInfo[]> {
    return this.session(false, 'stage list', (s) => stageList(s));
  }

  /**
   * Runs (or restores from a recorded run) the stages that are out of date, and records them in dv.lock.
   * Stage output goes to this process's stdout/stderr unless `stdio` says otherwise.
   * @example const r = await repo.repro({ stages: ['train'] }); r.stages.filter((s) => s.action === 'ran')
   */
  async repro(opts: ReproOptions = {}): Promise<ReproResult> {
    checkPaths('repro: stages', opts.stages);
    return this.session(true, 'repro', (s) => repro(s, opts));
  }

  /**
   * Reruns stages in a temporary workspace from their recorded inputs and compares every out with dv.lock.
   * @example const { ok, stages } = await repo.verify(); if (!ok) console.error(stages.filter((s) => !s.ok));
   */
  async verify(opts: VerifyOptions = {}): Promise<VerifyResult> {
    checkPaths('verify: stages', opts.stages);
    return this.session(false, 'repro --verify', (s) => verify(s, opts));
  }

  /**
   * How an artifact was made: stages, inputs, params, code commit and environment, back to raw data.
   * @example const { stages } = await repo.lineage({ target: 'metrics.json' });
   */
  async lineage(opts: Opts<LineageOptions>): Promise<LineageResult> {
    checkString('lineage: target', opts?.target);
    return this.session(false, 'lineage', (s) => lineage(s, { ...opts, cwd: this.root }));
  }

  /**
   * The pipeline graph of dv.yaml.
   * @example const { edges } = await repo.dag();
   */
  async dag(): Promise<DagResult> {
    return this.session(false, 'dag', (s) => dag(s));
  }

  private async config(): Promise<Config> {
    const p = repoPaths(this.root);
    return Config.load({ global: globalConfigPath(), repo: p.config, local: p.localConfig });
  }

  /**
   * Adds a remote: a directory path, `file://` URL or `s3://bucket[/prefix]`.
   * @example await repo.addRemote('origin', 's3://bucket/datasets', { region: 'eu-west-1', default: true });
   */
  async addRemote(name: string, url: string, opts: AddRemoteOptions = {}): Promise<RemoteConfig> {
    checkString('addRemote: name', name);
    checkString('addRemote: url', url);
    const { default: makeDefault, local, ...options } = opts;
    const config = await this.config();
    await addRemote(config, local ? 'local' : 'repo', name, url, options, Boolean(makeDefault));
    return listRemotes(config).find((r) => r.name === name)!;
  }

  /**
   * Configured remotes, sorted by name; `isDefault` marks the default one.
   * @example const origin = (await repo.listRemotes()).find((r) => r.isDefault);
   */
  async listRemotes(): Promise<RemoteConfig[]> {
    return listRemotes(await this.config());
  }

  /**
   * Removes a remote from the configuration (its data stays where it is).
   * @example await repo.removeRemote('old-store');
   */
  async removeRemote(name: string): Promise<void> {
    checkString('removeRemote: name', name);
    await removeRemote(await this.config(), name);
  }

  /**
   * Confirms where a remote of the committed `.dv/config` now goes, after its URL or endpoint
   * changed (push, fetch and pull refuse it with REMOTE_UNTRUSTED until then). Default: the default remote.
   * @example await repo.trustRemote('origin');
   */
  async trustRemote(name?: string): Promise<{ name: string; identity: string; committed: boolean }> {
    if (name !== undefined) checkString('trustRemote: name', name);
    return trustRemote(await this.config(), repoPaths(this.root).dvDir, name);
  }
}
