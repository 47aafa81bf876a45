/**
 * The library API: `import { Repo } from 'dv'`. Each method opens the repository the way the
 * CLI does (read-only or with the writer lock), runs one operation, closes, and returns the
 * operation's data. Nothing here prints or exits; failures are `DvError`s with stable codes.
 * Paths are relative to the repository root unless absolute.
 */
import { resolve } from 'node:path';
import { DvError } from './errors.js';
import { findRoot } from './repo/repo.js';
import type { LockInfo } from './repo/lock.js';
import { openFile, runCommand, type CommandName, type CommandOptions, type CommandResult } from './ops/commands.js';
import type { AddOptions, AddResult } from './ops/add.js';
import type { CommitOptions, CommitResult } from './ops/commit.js';
import type { ConfigLevel } from './ops/config.js';
import type { StatusOptions, StatusResult } from './ops/status.js';
import type { CheckoutOptions } from './ops/checkout.js';
import type { CheckoutAtResult } from './ops/checkout-rev.js';
import type { GitLogEntry, LogEntry, LogOptions } from './ops/log.js';
import type { DiffOptions, DiffResult } from './ops/diff.js';
import type { LsEntry, LsOptions } from './ops/ls.js';
import { readAll, type FileStream } from './ops/cat.js';
import type { GcOptions, GcResult } from './ops/gc.js';
import type { GcRemoteOptions, GcRemoteResult } from './ops/gc-remote.js';
import type { FsckOptions, FsckResult } from './ops/fsck.js';
import type { FsckRemoteOptions, FsckRemoteResult } from './ops/fsck-remote.js';
import type { InstallOptions, InstallResult } from './ops/install.js';
import type { PushOptions, PushResult } from './ops/push.js';
import type { FetchOptions, FetchResult } from './ops/fetch.js';
import type { PullOptions, PullResult } from './ops/pull.js';
import type { GetOptions, GetResult } from './ops/get.js';
import type { ImportOptions, ImportResult, UpdateOptions } from './ops/import.js';
import type { RemoteConfig, RemoteOption } from './ops/remote.js';
import type { RemoteStatusResult } from './ops/remote-status.js';
import type { StageAddOptions, StageAddResult, StageInfo, StageRemoveOptions, StageRemoveResult } from './ops/stage.js';
import type { ReproOptions, ReproResult } from './ops/repro.js';
import type { VerifyOptions, VerifyResult } from './ops/verify.js';
import type { LineageOptions, LineageResult } from './ops/lineage.js';
import type { LineageDiffOptions, LineageDiffResult } from './ops/lineage-diff.js';
import type { UsedByOptions, UsedByResult } from './ops/used-by.js';
import type { AuditExportOptions, AuditExportResult } from './ops/audit-export.js';
import type { AuditVerifyOptions, AuditVerifyResult } from './ops/audit-verify.js';
import type { DagResult } from './ops/dag.js';
import type { DiffResult as ValuesDiffResult, MetricsDiffOptions, MetricsShowOptions, MetricsShowResult } from './ops/metrics.js';
import type { ParamsDiffOptions } from './ops/params.js';
import type { PlotsDiffOptions, PlotsResult, PlotsShowOptions } from './ops/plots.js';
import type { ExpApplyOptions, ExpApplyResult } from './ops/exp-apply.js';
import type { ExpPullOptions, ExpPullResult } from './ops/exp-pull.js';
import type { ExpPushOptions, ExpPushResult } from './ops/exp-push.js';
import type { ExpRemoveOptions, ExpRemoveResult } from './ops/exp-remove.js';
import type { ExpRunOptions, ExpRunResult } from './ops/exp-run.js';
import type { ExpShowOptions, ExpShowResult } from './ops/exp-show.js';
import type { ServeOptions, ServeResult } from './ops/serve.js';
import type { UiOptions, UiResult } from './ops/ui.js';
import type { AttestOptions, AttestResult } from './ops/attest.js';
import type { VerifyAttestationOptions, VerifyAttestationResult } from './ops/attest-verify.js';
import type { KeyGenResult } from './provenance/keygen.js';
import type { MoveOptions, MoveResult, RemoveOptions, RemoveResult } from './ops/untrack.js';

export { DvError, ERROR_CODES, isDvError, type ErrorCode } from './errors.js';
export { VERSION } from './repo/repo.js';
export type { LockInfo } from './repo/lock.js';
export type { RemoteConfig, RemoteOption } from './ops/remote.js';
export type { InitResult } from './ops/init.js';
export type { AddOptions, AddResult } from './ops/add.js';
export type { CommitOptions, CommitResult, CommitEntry } from './ops/commit.js';
export type { StatusOptions, StatusResult, PathStatus, PathState } from './ops/status.js';
export type { CheckoutOptions, CheckoutResult, CheckoutEntry } from './ops/checkout.js';
export type { CheckoutAtResult } from './ops/checkout-rev.js';
export type { RemoveOptions, RemoveResult, MoveOptions, MoveResult } from './ops/untrack.js';
export type { LogOptions, LogEntry, GitLogEntry } from './ops/log.js';
export type { FsckRemoteOptions, FsckRemoteResult } from './ops/fsck-remote.js';
export type { InstallOptions, InstallResult, HookAction } from './ops/install.js';
export type { HookName } from './repo/git-hooks.js';
export type { ConfigLevel } from './ops/config.js';
export type { LockMode, CommandName } from './ops/commands.js';
export type { DiffOptions, DiffResult } from './ops/diff.js';
export type { LsOptions, LsEntry } from './ops/ls.js';
export type { FileStream } from './ops/cat.js';
export type { ReadStats } from './read/source.js';
export type { GcOptions, GcResult } from './ops/gc.js';
export type { GcRemoteOptions, GcRemoteResult } from './ops/gc-remote.js';
export type { FsckOptions, FsckResult } from './ops/fsck.js';
export type { Problem } from './history/reach.js';
export type { PushOptions, PushResult } from './ops/push.js';
export type { FetchOptions, FetchResult } from './ops/fetch.js';
export type { PullOptions, PullResult } from './ops/pull.js';
export type { GetOptions, GetResult } from './ops/get.js';
export type { ImportOptions, ImportResult, UpdateOptions } from './ops/import.js';
export type { RemoteStatusResult } from './ops/remote-status.js';
export type { StageAddOptions, StageAddResult, StageInfo, StageRemoveOptions, StageRemoveResult } from './ops/stage.js';
export type { ReproOptions, ReproResult, ReproStage, ReproAction } from './ops/repro.js';
export type { VerifyOptions, VerifyResult, VerifyStage, VerifyOut } from './ops/verify.js';
export type { LineageOptions, LineageResult, LineageStage, LineageArtifact } from './ops/lineage.js';
export type { LineageDiffOptions, LineageDiffResult } from './ops/lineage-diff.js';
export type { UsedByOptions, UsedByResult, UsedByHistory } from './ops/used-by.js';
export type { AuditExportOptions, AuditExportResult } from './ops/audit-export.js';
export type { AuditVerifyOptions, AuditVerifyResult } from './ops/audit-verify.js';
export type { DagResult } from './ops/dag.js';
export type {
  DiffResult as ValuesDiffResult,
  DiffRow as ValuesDiffRow,
  MetricsDiffOptions,
  MetricsFile,
  MetricsShowOptions,
  MetricsShowResult,
} from './ops/metrics.js';
export type { ParamsDiffOptions } from './ops/params.js';
export type { PlotsDiffOptions, PlotsResult, PlotsShowOptions, PlotSpec } from './ops/plots.js';
export type { ExpApplyOptions, ExpApplyResult } from './ops/exp-apply.js';
export type { ExpPullOptions, ExpPullResult } from './ops/exp-pull.js';
export type { ExpPushOptions, ExpPushResult } from './ops/exp-push.js';
export type { ExpRemoveOptions, ExpRemoveResult } from './ops/exp-remove.js';
export type { ExpRunOptions, ExpRunResult, ExpRunEntry } from './ops/exp-run.js';
export type { ExpShowOptions, ExpShowResult, ExpShowRow, ExpColumn } from './ops/exp-show.js';
export type { Experiment } from './pipeline/exp-list.js';
export type { ServeOptions, ServeResult } from './ops/serve.js';
export type { UiOptions, UiResult } from './ops/ui.js';
export type { AttestOptions, AttestResult } from './ops/attest.js';
export type { VerifyAttestationOptions, VerifyAttestationResult } from './ops/attest-verify.js';
export type { KeyGenResult } from './provenance/keygen.js';
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

/** Which version `Repo#open`, `readFile` and `list` read, and from where. */
export interface ReadOptions {
  /** A git revision (`HEAD~1`, `v1`), or a snapshot or tree id (prefix); omitted: the pointer files now. */
  rev?: string;
  /** The remote to read what the local store lacks from (default: the default remote). */
  remote?: string;
}

/** `<rev>:<path>` from the API's arguments. */
function revPath(what: string, path: unknown, opts: ReadOptions, emptyOk = false): string {
  if (!(typeof path === 'string' && (emptyOk || path !== ''))) throw new DvError('USAGE', `${what}: path must be a non-empty string`);
  if (opts.rev !== undefined) checkString(`${what}: rev`, opts.rev);
  if (opts.rev?.includes(':')) throw new DvError('USAGE', `${what}: rev ${JSON.stringify(opts.rev)} may not contain ":"`);
  return `${opts.rev ?? ''}:${path}`;
}

/** Option types without `cwd`: a Repo resolves relative paths against its root. */
type Opts<T> = Omit<T, 'cwd'>;

function checkSourceArgs(what: string, o: { url?: unknown; path?: unknown }): void {
  if (typeof o?.url !== 'string' || typeof o.path !== 'string')
    throw new DvError('USAGE', `${what}: give { url, path }: the source repository and the path inside it`);
}

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
    const r = await runCommand('init', { cwd: resolve(dir) }, { cwd: resolve(dir), noGit: opts.noGit });
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

  /** Runs a command the way the CLI does (src/ops/commands.ts: its lock mode, its operation). */
  private run<K extends CommandName>(name: K, opts: CommandOptions<K>): Promise<CommandResult<K>> {
    return runCommand(name, { cwd: this.root, waitMs: this.opts.waitMs, onWait: this.opts.onWait }, opts);
  }

  /**
   * Tracks files or directories: stores them, records a first snapshot, writes `<path>.dv`.
   * @example const r = await repo.add({ paths: ['data'], message: 'raw import' }); r.gitAdd // ['data.dv', '.gitignore']
   */
  async add(opts: Opts<AddOptions>): Promise<AddResult> {
    if (!opts || !Array.isArray(opts.paths) || opts.paths.length === 0)
      throw new DvError('USAGE', "add: name at least one path, e.g. { paths: ['data'] }");
    checkPaths('add', opts.paths);
    return this.run('add', { ...opts, cwd: this.root });
  }

  /**
   * Stops tracking paths: deletes their pointer files and .gitignore lines; the workspace copy
   * stays unless `data` (refused when it has uncommitted changes, unless `force`).
   * @example const { gitAdd } = await repo.remove({ paths: ['old-data'] });
   */
  async remove(opts: Opts<RemoveOptions>): Promise<RemoveResult> {
    if (!opts || !Array.isArray(opts.paths) || opts.paths.length === 0)
      throw new DvError('USAGE', "remove: name at least one path, e.g. { paths: ['data'] }");
    checkPaths('remove', opts.paths);
    return this.run('remove', { ...opts, cwd: this.root });
  }

  /**
   * Renames a tracked path: its data, pointer file and .gitignore line (history kept).
   * @example await repo.move({ from: 'data/raw', to: 'data/raw-2024' });
   */
  async move(opts: Opts<MoveOptions>): Promise<MoveResult> {
    checkString('move: from', opts?.from);
    checkString('move: to', opts.to);
    return this.run('move', { ...opts, cwd: this.root });
  }

  /**
   * New, modified and deleted files of every tracked path (or those named).
   * @example if (!(await repo.status()).clean) console.log('uncommitted data');
   */
  async status(opts: Opts<StatusOptions> = {}): Promise<StatusResult> {
    checkPaths('status', opts.paths);
    return this.run('status', { ...opts, cwd: this.root });
  }

  /**
   * Snapshots every changed tracked path (or those named) and rewrites their pointer files.
   * @example await repo.commit({ message: 'relabelled', meta: { labeler: 'v2' } });
   */
  async commit(opts: Opts<CommitOptions> = {}): Promise<CommitResult> {
    checkPaths('commit', opts.paths);
    return this.run('commit', { ...opts, cwd: this.root });
  }

  /**
   * Makes tracked paths match their pointer files, or restores `target`: a snapshot or tree id
   * (prefix; fetched from the default remote when this clone lacks it) or a git revision (the
   * data its pointer files name).
   * @example await repo.checkout();                          // after git checkout
   * @example await repo.checkout({ target: '3fa9c2', paths: ['data'] });
   * @example const { commit } = await repo.checkout({ target: 'HEAD~2', paths: ['data'] });
   */
  async checkout(opts: Opts<CheckoutOptions> = {}): Promise<CheckoutAtResult> {
    checkPaths('checkout', opts.paths);
    if (opts.target !== undefined) checkString('checkout: target', opts.target);
    return this.run('checkout', { ...opts, cwd: this.root });
  }

  /**
   * Snapshots of tracked paths, newest first.
   * @example const [latest] = await repo.log({ paths: ['data'], limit: 1 });
   */
  async log(opts: Opts<LogOptions> = {}): Promise<LogEntry[]> {
    checkPaths('log', opts.paths);
    return this.run('log', { ...opts, cwd: this.root });
  }

  /**
   * The commits reachable from `rev` (default HEAD) that changed pointer files, newest first,
   * with the snapshots they named and whether this clone holds them (`dv log --git`).
   * @example const [last] = await repo.gitLog({ rev: 'main', paths: ['data'], limit: 1 });
   */
  async gitLog(opts: Opts<LogOptions> & { rev?: string } = {}): Promise<GitLogEntry[]> {
    checkPaths('gitLog', opts.paths);
    if (opts.rev !== undefined) checkString('gitLog: rev', opts.rev);
    return this.run('gitLog', { ...opts, cwd: this.root });
  }

  /**
   * Files added, modified and deleted from snapshot/tree `a` to `b` (or to the workspace).
   * @example const { changes } = await repo.diff({ a: older.id, b: newer.id });
   */
  async diff(opts: Opts<DiffOptions>): Promise<DiffResult> {
    checkString('diff: a', opts?.a);
    if (opts.b !== undefined) checkString('diff: b', opts.b);
    return this.run('diff', { ...opts, cwd: this.root });
  }

  /**
   * Entries of a tracked path (or a directory inside it), a snapshot, or a tree.
   * @example const files = (await repo.ls({ target: 'data', recursive: true })).filter((e) => e.type === 'file');
   */
  async ls(opts: Opts<LsOptions>): Promise<LsEntry[]> {
    checkString('ls: target', opts?.target);
    return this.run('ls', { ...opts, cwd: this.root });
  }

  /**
   * One file of any version as a stream of verified bytes, without checking it out: from the local
   * store, else the remote (that file's chunks only), in constant memory. `rev`: a git revision,
   * snapshot or tree id (then `path` is inside it); omitted: what the pointer files name now.
   * Resolves once the file is found; read the stream to its end or destroy it (it holds the repository open).
   * @example (await repo.open('data/labels.csv', { rev: 'v1' })).pipe(process.stdout);
   */
  async open(path: string, opts: ReadOptions = {}): Promise<FileStream> {
    const spec = revPath('open', path, opts);
    const at = { cwd: this.root, waitMs: this.opts.waitMs, onWait: this.opts.onWait };
    return (await openFile(at, { spec, remote: opts.remote, cwd: this.root })).stream;
  }

  /**
   * One file of any version, whole, in memory (see `open`).
   * @example const labels = (await repo.readFile('data/labels.csv', { rev: 'HEAD~1' })).toString('utf8');
   */
  async readFile(path: string, opts: ReadOptions = {}): Promise<Buffer> {
    return readAll(await this.open(path, opts));
  }

  /**
   * The entries of a directory of any version (`path` '' with a `rev`: the tracked paths there).
   * @example const shards = await repo.list('data/train', { rev: 'v3' });
   */
  async list(path: string, opts: ReadOptions & { recursive?: boolean } = {}): Promise<LsEntry[]> {
    const spec = revPath('list', path, opts, true);
    return this.run('lsAt', { spec, remote: opts.remote, recursive: opts.recursive, cwd: this.root });
  }

  /**
   * A read-only HTTP server (and WebDAV with `webdav: true`) over a version of the tracked data,
   * on 127.0.0.1 unless `host` says otherwise; runs until `signal` aborts.
   * @example const stop = new AbortController(); void repo.serve({ port: 0, onListening: console.log, signal: stop.signal });
   */
  async serve(opts: ServeOptions = {}): Promise<ServeResult> {
    return this.run('serve', opts);
  }

  /**
   * The read-only web page of `dv ui` (commits, pipeline DAG and lineage, metrics, dataset diff),
   * on 127.0.0.1 unless `host` says otherwise; runs until `signal` aborts.
   * @example const stop = new AbortController(); void repo.ui({ port: 0, onListening: console.log, signal: stop.signal });
   */
  async ui(opts: UiOptions = {}): Promise<UiResult> {
    return this.run('ui', opts);
  }

  /**
   * Signed provenance of an artifact (a stage out, a tracked path or a snapshot id): an in-toto
   * Statement v1 with a SLSA provenance predicate in a DSSE envelope, signed with `attest.key`.
   * @example const { envelope } = await repo.attest({ target: 'model.pkl', output: 'model.pkl.intoto.json' });
   */
  async attest(opts: Opts<AttestOptions>): Promise<AttestResult> {
    checkString('attest: target', opts?.target);
    return this.run('attest', { ...opts, cwd: this.root });
  }

  /**
   * Checks an attestation: a trusted signature, the artifact's bytes on disk, every material. Resolves
   * with `ok: false` and one line per failure when it does not verify (the CLI exits 43 then).
   * @example const r = await repo.verifyAttestation({ file: 'model.pkl.intoto.json', trustedKeys: 'team.pub' });
   */
  async verifyAttestation(opts: Opts<VerifyAttestationOptions>): Promise<VerifyAttestationResult> {
    checkString('verifyAttestation: file', opts?.file);
    return this.run('attestVerify', { ...opts, file: resolve(this.root, opts.file), cwd: this.root });
  }

  /**
   * Writes an offline audit bundle of an artifact: its signed attestation (given, or made with
   * `attest.key`), lineage, dv.lock, public keys, and the objects naming every file's hash.
   * @example await repo.auditExport({ target: 'model.pkl', output: 'model-audit.tar' });
   */
  async auditExport(opts: Opts<AuditExportOptions>): Promise<AuditExportResult> {
    checkString('auditExport: target', opts?.target);
    checkString('auditExport: output', opts?.output);
    const attestation = opts.attestation !== undefined ? { attestation: resolve(this.root, opts.attestation) } : {};
    return this.run('auditExport', { ...opts, ...attestation, output: resolve(this.root, opts.output), cwd: this.root });
  }

  /**
   * Checks an audit bundle with no repository, git or network: signature, every object's hash, the chain
   * to the materials, and with `data` each input file's bytes. Resolves with `ok: false` and the failures.
   * @example const r = await Repo.auditVerify({ file: 'model-audit.tar', trustedKeys: 'team.pub', data: 'copy/' });
   */
  static async auditVerify(opts: AuditVerifyOptions): Promise<AuditVerifyResult> {
    checkString('Repo.auditVerify: file', opts?.file);
    const abs = (p: string | undefined): string | undefined => (p === undefined ? undefined : resolve(p));
    return runCommand(
      'auditVerify',
      { cwd: resolve(opts.file, '..') },
      { file: resolve(opts.file), trustedKeys: abs(opts.trustedKeys), data: abs(opts.data) },
    );
  }

  /**
   * Makes an Ed25519 key pair for `attest.key`: `file` (private, mode 0600, never overwritten) and `file.pub`.
   * @example const { keyid } = await Repo.keyGen('/home/me/.config/dv/signing.key');
   */
  static async keyGen(file: string): Promise<KeyGenResult> {
    checkString('Repo.keyGen: file', file);
    return runCommand('keyGen', { cwd: resolve(file, '..') }, { file: resolve(file) });
  }

  /**
   * Deletes objects that no pointer file, snapshot history or git ref reaches.
   * @example const { removedBytes } = await repo.gc({ dryRun: true });
   */
  async gc(opts: GcOptions = {}): Promise<GcResult> {
    return this.run('gc', opts);
  }

  /**
   * Deletes from a remote what no ref's history, dv.lock or protected ref reaches, in two phases:
   * a run marks what it finds unreferenced, a later run past the grace (default `14d`) deletes it.
   * @example const r = await repo.gcRemote({ remote: 'origin', grace: '14d', dryRun: true });
   */
  async gcRemote(opts: GcRemoteOptions = {}): Promise<GcRemoteResult> {
    if (opts.remote !== undefined) checkString('gcRemote: remote', opts.remote);
    if (opts.grace !== undefined) checkString('gcRemote: grace', opts.grace);
    return this.run('gcRemote', opts);
  }

  /**
   * Re-hashes every object and checks every reference; `ok` is false with `problems` named.
   * @example const r = await repo.fsck(); if (!r.ok) console.error(r.problems);
   */
  async fsck(opts: FsckOptions = {}): Promise<FsckResult> {
    return this.run('fsck', opts);
  }

  /**
   * Checks a remote (default: the default remote): every pack index, and every object it lists
   * read back and re-hashed; `ok` is false with `problems` named.
   * @example const { ok, bad } = await repo.fsckRemote({ remote: 'origin' });
   */
  async fsckRemote(opts: FsckRemoteOptions = {}): Promise<FsckRemoteResult> {
    if (opts.remote !== undefined) checkString('fsckRemote: remote', opts.remote);
    return this.run('fsckRemote', opts);
  }

  /**
   * Sends what the remote (default: `core.remote`) lacks of the tracked data.
   * @example const r = await repo.push({ remote: 'origin', jobs: 16 }); r.objectsSent
   */
  async push(opts: Opts<PushOptions> = {}): Promise<PushResult> {
    checkPaths('push', opts.paths);
    return this.run('push', { ...opts, cwd: this.root });
  }

  /**
   * Brings what the pointer files name from a remote into the local store, without checkout.
   * @example await repo.fetch({ allHistory: true });
   */
  async fetch(opts: Opts<FetchOptions> = {}): Promise<FetchResult> {
    checkPaths('fetch', opts.paths);
    return this.run('fetch', { ...opts, cwd: this.root });
  }

  /**
   * Fetches from a remote, then checks out the tracked paths (what a fresh clone needs).
   * @example const { checkout } = await repo.pull(); checkout.paths[0].written
   */
  async pull(opts: Opts<PullOptions> = {}): Promise<PullResult> {
    checkPaths('pull', opts.paths);
    return this.run('pull', { ...opts, cwd: this.root });
  }

  /**
   * Downloads a path tracked in another git repository (from that repository's default remote), without tracking it.
   * @example await repo.get({ url: '../datasets', path: 'data/labels.csv', out: 'labels.csv', rev: 'v2' });
   */
  async get(opts: Opts<GetOptions>): Promise<GetResult> {
    checkSourceArgs('get', opts);
    return this.run('get', { ...opts, cwd: this.root });
  }

  /**
   * Imports a path tracked in another git repository and tracks it here; its pointer file records the source.
   * @example const r = await repo.importData({ url: 'https://example.com/datasets.git', path: 'data/labels' }); r.source.commit
   */
  async importData(opts: Opts<ImportOptions>): Promise<ImportResult> {
    checkSourceArgs('import', opts);
    return this.run('import', { ...opts, cwd: this.root });
  }

  /**
   * Moves an imported path to its source's newer version (or to `rev`).
   * @example const r = await repo.update({ path: 'labels' }); r.changed
   */
  async update(opts: Opts<UpdateOptions>): Promise<ImportResult> {
    if (typeof opts?.path !== 'string') throw new DvError('USAGE', 'update: give { path } of an imported path');
    return this.run('update', { ...opts, cwd: this.root });
  }

  /**
   * What a remote lacks of the pointer files' data, and what this clone lacks.
   * @example if (!(await repo.remoteStatus()).upToDate) await repo.push();
   */
  async remoteStatus(opts: { remote?: string; paths?: string[] } = {}): Promise<RemoteStatusResult> {
    checkPaths('remoteStatus', opts.paths);
    return this.run('remoteStatus', { ...opts, cwd: this.root });
  }

  /**
   * Adds git hooks (post-checkout, post-merge, pre-push, pre-commit...) that run dv; with
   * `uninstall`, removes dv's blocks. Existing hooks are kept.
   * @example const { hooks } = await repo.install();
   */
  async install(opts: Opts<InstallOptions> = {}): Promise<InstallResult> {
    return this.run('install', { ...opts, cwd: this.root });
  }
  /**
   * Adds (or with `force` replaces) a pipeline stage in dv.yaml.
   * @example await repo.stageAdd({ name: 'train', cmd: 'python3 train.py', deps: ['train.py', 'data'], params: ['train.lr'], outs: ['model.pkl'] });
   */
  async stageAdd(opts: Opts<StageAddOptions>): Promise<StageAddResult> {
    checkString('stageAdd: name', opts?.name);
    checkString('stageAdd: cmd', opts.cmd);
    for (const k of ['deps', 'params', 'outs'] as const) checkPaths(`stageAdd: ${k}`, opts[k]);
    return this.run('stageAdd', { ...opts, cwd: this.root });
  }

  /**
   * Removes a stage from dv.yaml and dv.lock; its outs stop being tracked (files kept) unless `keepOuts`.
   * @example await repo.stageRemove({ name: 'train' });
   */
  async stageRemove(opts: StageRemoveOptions): Promise<StageRemoveResult> {
    checkString('stageRemove: name', opts?.name);
    return this.run('stageRemove', opts);
  }

  /**
   * The stages of dv.yaml, upstream first.
   * @example for (const st of await repo.stages()) console.log(st.name, st.upstream);
   */
  async stages(): Promise<StageInfo[]> {
    return this.run('stageList', {});
  }

  /**
   * Runs (or restores from a recorded run) the stages that are out of date, and records them in dv.lock.
   * Stage output goes to this process's stdout/stderr unless `stdio` says otherwise.
   * @example const r = await repo.repro({ stages: ['train'] }); r.stages.filter((s) => s.action === 'ran')
   */
  async repro(opts: ReproOptions = {}): Promise<ReproResult> {
    checkPaths('repro: stages', opts.stages);
    return this.run('repro', opts);
  }

  /**
   * Reruns stages in a temporary workspace from their recorded inputs and compares every out with dv.lock.
   * @example const { ok, stages } = await repo.verify(); if (!ok) console.error(stages.filter((s) => !s.ok));
   */
  async verify(opts: VerifyOptions = {}): Promise<VerifyResult> {
    checkPaths('verify: stages', opts.stages);
    return this.run('verify', opts);
  }

  /**
   * How an artifact was made: stages, inputs, params, code commit and environment, back to raw data.
   * @example const { stages } = await repo.lineage({ target: 'metrics.json' });
   */
  async lineage(opts: Opts<LineageOptions>): Promise<LineageResult> {
    checkString('lineage: target', opts?.target);
    return this.run('lineage', { ...opts, cwd: this.root });
  }

  /**
   * What differs between the provenance of two versions of an artifact (git revisions or snapshot ids):
   * per stage the input data, params, code, command, environment and metrics, and which are causes.
   * @example const { causes } = await repo.lineageDiff({ artifact: 'model.pkl', a: 'v11', b: 'v12' });
   */
  async lineageDiff(opts: Opts<LineageDiffOptions>): Promise<LineageDiffResult> {
    checkString('lineageDiff: artifact', opts?.artifact);
    checkString('lineageDiff: a', opts?.a);
    checkString('lineageDiff: b', opts?.b);
    return this.run('lineageDiff', { ...opts, cwd: this.root });
  }

  /**
   * Which artifacts (stage outs) were built from some data, directly or transitively: by the
   * workspace's dv.lock and by dv.lock at each commit that changed it (at most `maxCommits`).
   * @example const { current, history } = await repo.usedBy({ target: 'data/raw/customers.csv', all: true });
   */
  async usedBy(opts: Opts<UsedByOptions>): Promise<UsedByResult> {
    checkString('usedBy: target', opts?.target);
    return this.run('usedBy', { ...opts, cwd: this.root });
  }

  /**
   * The values of the metrics files dv.yaml declares, at git revisions (none: the workspace).
   * @example const { versions } = await repo.metricsShow({ revs: ['main', 'HEAD'] });
   */
  async metricsShow(opts: MetricsShowOptions = {}): Promise<MetricsShowResult> {
    checkPaths('metricsShow: revs', opts.revs);
    return this.run('metricsShow', opts);
  }

  /**
   * Metric values that differ between two versions (default: HEAD and the workspace).
   * @example const { rows } = await repo.metricsDiff({ a: 'main' });
   */
  async metricsDiff(opts: MetricsDiffOptions = {}): Promise<ValuesDiffResult> {
    return this.run('metricsDiff', opts);
  }

  /**
   * Declared parameters (`-p FILE:KEY`) that differ between two versions (default: HEAD and the workspace).
   * @example const { rows } = await repo.paramsDiff({ a: 'HEAD~1', b: 'HEAD' });
   */
  async paramsDiff(opts: ParamsDiffOptions = {}): Promise<ValuesDiffResult> {
    return this.run('paramsDiff', opts);
  }

  /**
   * The plots dv.yaml declares (`plots:`), as Vega-Lite specs drawn from the workspace's data;
   * with `output`, also written there as a self-contained `index.html` and one JSON spec per plot.
   * @example const { plots } = await repo.plotsShow({ targets: ['logs/loss.csv'] });
   */
  async plotsShow(opts: PlotsShowOptions = {}): Promise<PlotsResult> {
    checkPaths('plotsShow: targets', opts.targets);
    return this.run('plotsShow', { ...opts, cwd: this.root });
  }

  /**
   * The plots at several git revisions, one series per revision (default: HEAD and the workspace).
   * @example const { plots } = await repo.plotsDiff({ revs: ['main', 'workspace'], output: 'dv_plots' });
   */
  async plotsDiff(opts: PlotsDiffOptions = {}): Promise<PlotsResult> {
    checkPaths('plotsDiff: revs', opts.revs);
    checkPaths('plotsDiff: targets', opts.targets);
    return this.run('plotsDiff', { ...opts, cwd: this.root });
  }

  /**
   * Runs the pipeline as an experiment with parameters set, without touching the branch, HEAD,
   * git index or workspace; kept under refs/exps (`queue`: recorded to run later; `runAll`: runs them).
   * @example const { experiments } = await repo.expRun({ set: ['train.lr=0.1'], name: 'lr-01' });
   */
  async expRun(opts: ExpRunOptions = {}): Promise<ExpRunResult> {
    checkPaths('expRun: set', opts.set);
    if (opts.name !== undefined) checkString('expRun: name', opts.name);
    return this.run('expRun', opts);
  }

  /**
   * The workspace, HEAD and the experiments run from it, with their parameters and metrics.
   * @example const { rows, columns } = await repo.expShow({ sortBy: 'score', sortOrder: 'desc' });
   */
  async expShow(opts: ExpShowOptions = {}): Promise<ExpShowResult> {
    if (opts.sortBy !== undefined) checkString('expShow: sortBy', opts.sortBy);
    return this.run('expShow', opts);
  }

  /**
   * The workspace takes an experiment's parameters, dv.lock, metrics and outs.
   * @example await repo.expApply({ name: 'lr-01' });
   */
  async expApply(opts: ExpApplyOptions): Promise<ExpApplyResult> {
    checkString('expApply: name', opts?.name);
    return this.run('expApply', opts);
  }

  /**
   * Removes experiments (by name, `all`, or the `queue`).
   * @example await repo.expRemove({ names: ['lr-01'] });
   */
  async expRemove(opts: ExpRemoveOptions): Promise<ExpRemoveResult> {
    checkPaths('expRemove: names', opts?.names);
    return this.run('expRemove', opts);
  }

  /**
   * Pushes experiments: their refs to a git remote, their data to the dv remote.
   * @example await repo.expPush({ gitRemote: 'origin', all: true });
   */
  async expPush(opts: ExpPushOptions): Promise<ExpPushResult> {
    checkString('expPush: gitRemote', opts?.gitRemote);
    checkPaths('expPush: names', opts.names);
    return this.run('expPush', opts);
  }

  /**
   * Pulls experiments: their refs from a git remote, their data from the dv remote.
   * @example await repo.expPull({ gitRemote: 'origin', all: true });
   */
  async expPull(opts: ExpPullOptions): Promise<ExpPullResult> {
    checkString('expPull: gitRemote', opts?.gitRemote);
    checkPaths('expPull: names', opts.names);
    return this.run('expPull', opts);
  }

  /**
   * The pipeline graph of dv.yaml.
   * @example const { edges } = await repo.dag();
   */
  async dag(): Promise<DagResult> {
    return this.run('dag', {});
  }

  /**
   * Adds a remote: a directory path, `file://` URL or `s3://bucket[/prefix]`.
   * @example await repo.addRemote('origin', 's3://bucket/datasets', { region: 'eu-west-1', default: true });
   */
  async addRemote(name: string, url: string, opts: AddRemoteOptions = {}): Promise<RemoteConfig> {
    checkString('addRemote: name', name);
    checkString('addRemote: url', url);
    return this.run('remoteAdd', { ...opts, name, url, cwd: this.root });
  }

  /**
   * Configured remotes, sorted by name; `isDefault` marks the default one.
   * @example const origin = (await repo.listRemotes()).find((r) => r.isDefault);
   */
  async listRemotes(): Promise<RemoteConfig[]> {
    return this.run('remoteList', { cwd: this.root });
  }

  /**
   * Removes a remote from the configuration (its data stays where it is).
   * @example await repo.removeRemote('old-store');
   */
  async removeRemote(name: string): Promise<void> {
    checkString('removeRemote: name', name);
    await this.run('remoteRemove', { name, cwd: this.root });
  }

  /**
   * The default remote (`null`: none), after making `name` the default when given (NO_REMOTE
   * when no remote has that name).
   * @example await repo.defaultRemote('backup'); (await repo.defaultRemote()).default // 'backup'
   */
  async defaultRemote(name?: string): Promise<{ default: string | null }> {
    if (name !== undefined) checkString('defaultRemote: name', name);
    return this.run('remoteDefault', { name, cwd: this.root });
  }

  /**
   * Confirms where a remote of the committed `.dv/config` now goes, after its URL or endpoint
   * changed (push, fetch and pull refuse it with REMOTE_UNTRUSTED until then). Default: the default remote.
   * @example await repo.trustRemote('origin');
   */
  async trustRemote(name?: string): Promise<{ name: string; identity: string; committed: boolean }> {
    if (name !== undefined) checkString('trustRemote: name', name);
    return this.run('remoteTrust', { name, cwd: this.root });
  }

  /**
   * Every configuration key with its value: the merged view of the three levels, or one level
   * alone (`global`, `repo`: `.dv/config`, `local`: `.dv/config.local`).
   * @example const all = await repo.listConfig(); all['core.remote']
   */
  async listConfig(opts: { level?: ConfigLevel } = {}): Promise<Record<string, string>> {
    return this.run('configList', { ...opts, cwd: this.root });
  }

  /**
   * The value of a configuration key (undefined when not set), merged or of one level.
   * @example const jobs = await repo.getConfig('remote.origin.jobs', { level: 'local' });
   */
  async getConfig(key: string, opts: { level?: ConfigLevel } = {}): Promise<string | undefined> {
    checkString('getConfig: key', key);
    return this.run('configGet', { ...opts, key, cwd: this.root });
  }

  /**
   * Sets a configuration key (default level: `repo`, the committed `.dv/config`); a key dv does
   * not read, or a value it cannot use, is USAGE and nothing is written.
   * @example await repo.setConfig('remote.origin.jobs', '16', { level: 'local' });
   */
  async setConfig(key: string, value: string, opts: { level?: ConfigLevel } = {}): Promise<void> {
    checkString('setConfig: key', key);
    if (typeof value !== 'string') throw new DvError('USAGE', 'setConfig: value must be a string');
    await this.run('configSet', { ...opts, key, value, cwd: this.root });
  }

  /**
   * Removes a configuration key from a level (default `repo`); USAGE when it is not set there.
   * @example await repo.unsetConfig('cache.dir', { level: 'local' });
   */
  async unsetConfig(key: string, opts: { level?: ConfigLevel } = {}): Promise<void> {
    checkString('unsetConfig: key', key);
    await this.run('configUnset', { ...opts, key, cwd: this.root });
  }
}
