/**
 * Every command of dv, once: its lock mode and the operation it runs. Both front doors (the
 * `Repo` class of src/index.ts and the CLI of src/cli/) run commands through `runCommand`, so a
 * command opens the repository the same way whichever door it came through.
 *
 * Lock modes: `write` takes the writer lock and the LevelDB index (waiting up to `waitMs` for
 * another dv); `read` takes no lock (a busy index is read from the pack indexes); `none` opens no
 * session (init, install, config and remotes, which change one file each, temp + rename).
 *
 * Operations load on first use: `dv status` never loads the AWS SDK. Adding a command: one row
 * here, then the `Repo` method and the CLI file (CONTRIBUTING.md).
 */
import type { LockInfo } from '../repo/lock.js';
import type { RetryOptions } from '../backend/retry.js';
import { RepoSession } from '../repo/repo.js';
import type { AddOptions } from './add.js';
import type { AttestOptions } from './attest.js';
import type { AuditExportOptions } from './audit-export.js';
import type { AuditVerifyOptions } from './audit-verify.js';
import type { VerifyAttestationOptions } from './attest-verify.js';
import type { CatOptions, CatResult, LsAtOptions } from './cat.js';
import type { CheckoutOptions } from './checkout.js';
import type { CommitOptions } from './commit.js';
import type { ConfigOptions } from './config.js';
import type { DiffOptions } from './diff.js';
import type { ExpApplyOptions } from './exp-apply.js';
import type { ExpPullOptions } from './exp-pull.js';
import type { ExpPushOptions } from './exp-push.js';
import type { ExpRemoveOptions } from './exp-remove.js';
import type { ExpRunOptions } from './exp-run.js';
import type { ExpShowOptions } from './exp-show.js';
import type { FetchOptions } from './fetch.js';
import type { FsckOptions } from './fsck.js';
import type { FsckRemoteOptions } from './fsck-remote.js';
import type { GcOptions } from './gc.js';
import type { GetOptions } from './get.js';
import type { ImportOptions, UpdateOptions } from './import.js';
import type { GcRemoteOptions } from './gc-remote.js';
import type { InitOptions } from './init.js';
import type { InstallOptions } from './install.js';
import type { LineageOptions } from './lineage.js';
import type { LineageDiffOptions } from './lineage-diff.js';
import type { UsedByOptions } from './used-by.js';
import type { LogOptions } from './log.js';
import type { LsOptions } from './ls.js';
import type { MetricsDiffOptions, MetricsShowOptions } from './metrics.js';
import type { ParamsDiffOptions } from './params.js';
import type { PlotsDiffOptions, PlotsShowOptions } from './plots.js';
import type { PullOptions } from './pull.js';
import type { PushOptions } from './push.js';
import type { RemoteAddOptions, RemoteWhere } from './remote.js';
import type { ReproOptions } from './repro.js';
import type { StageAddOptions, StageRemoveOptions } from './stage.js';
import type { ServeOptions } from './serve.js';
import type { StatusOptions } from './status.js';
import type { UiOptions } from './ui.js';
import type { MoveOptions, RemoveOptions } from './untrack.js';
import type { VerifyOptions } from './verify.js';

export type LockMode = 'write' | 'read' | 'none';

/** One command: how it opens the repository, and the operation it runs with options `O`. */
export interface CommandDef<O, R> {
  readonly lock: LockMode;
  /** The name another dv shows while waiting for this one (`stage add`, `repro --verify`). */
  readonly label: string;
  readonly run: (s: RepoSession | undefined, o: O) => Promise<R>;
}

const session =
  (lock: 'write' | 'read') =>
  <O, R>(label: string, run: (s: RepoSession, o: O) => Promise<R>): CommandDef<O, R> => ({ lock, label, run: (s, o) => run(s!, o) });
const write = session('write');
const read = session('read');
const free = <O, R>(label: string, run: (o: O) => Promise<R>): CommandDef<O, R> => ({ lock: 'none', label, run: (_s, o) => run(o) });

/** A checkout target of 1-3 hex characters is a too-short id (checkout says so), not a revision. */
const SHORT_ID = /^[0-9a-f]{1,3}$/i;

export const COMMANDS = {
  init: free('init', async (o: InitOptions) => (await import('./init.js')).init(o)),
  install: free('install', async (o: InstallOptions) => (await import('./install.js')).install(o)),
  add: write('add', async (s, o: AddOptions) => (await import('./add.js')).add(s, o)),
  remove: write('remove', async (s, o: RemoveOptions) => (await import('./untrack.js')).remove(s, o)),
  move: write('move', async (s, o: MoveOptions) => (await import('./untrack.js')).move(s, o)),
  commit: write('commit', async (s, o: CommitOptions) => (await import('./commit.js')).commit(s, o)),
  status: read('status', async (s, o: StatusOptions) => (await import('./status.js')).status(s, o)),
  remoteStatus: read('status', async (s, o: { remote?: string; paths?: string[]; cwd?: string }) =>
    (await import('./remote-status.js')).remoteStatus(s, o),
  ),
  // A target that is not an id (prefix) is a git revision, fetched on demand (ops/checkout-rev.ts).
  checkout: write('checkout', async (s, o: CheckoutOptions) =>
    o.target === undefined || SHORT_ID.test(o.target)
      ? (await import('./checkout.js')).checkout(s, o)
      : (await import('./checkout-rev.js')).checkoutAt(s, { ...o, target: o.target }),
  ),
  log: read('log', async (s, o: LogOptions) => (await import('./log.js')).log(s, o)),
  gitLog: read('log', async (s, o: LogOptions & { rev?: string }) => (await import('./log.js')).gitLog(s, o)),
  diff: read('diff', async (s, o: DiffOptions) => (await import('./diff.js')).diff(s, o)),
  ls: read('ls', async (s, o: LsOptions) => (await import('./ls.js')).ls(s, o)),
  lsAt: read('ls', async (s, o: LsAtOptions) => (await import('./cat.js')).lsAt(s, o)),
  serve: read('serve', async (s, o: ServeOptions) => (await import('./serve.js')).serve(s, o)),
  ui: read('ui', async (s, o: UiOptions) => (await import('./ui.js')).ui(s, o)),
  gc: write('gc', async (s, o: GcOptions) => (await import('./gc.js')).gc(s, o)),
  gcRemote: read('gc', async (s, o: GcRemoteOptions) => (await import('./gc-remote.js')).gcRemote(s, o)),
  fsck: write('fsck', async (s, o: FsckOptions) => (await import('./fsck.js')).fsck(s, o)),
  fsckRemote: read('fsck', async (s, o: FsckRemoteOptions) => (await import('./fsck-remote.js')).fsckRemote(s, o)),
  push: read('push', async (s, o: PushOptions) => (await import('./push.js')).push(s, o)),
  fetch: write('fetch', async (s, o: FetchOptions) => (await import('./fetch.js')).fetch(s, o)),
  pull: write('pull', async (s, o: PullOptions) => (await import('./pull.js')).pull(s, o)),
  get: read('get', async (s, o: GetOptions) => (await import('./get.js')).get(s, o)),
  import: write('import', async (s, o: ImportOptions) => (await import('./import.js')).importData(s, o)),
  update: write('update', async (s, o: UpdateOptions) => (await import('./import.js')).update(s, o)),
  stageAdd: write('stage add', async (s, o: StageAddOptions) => (await import('./stage.js')).stageAdd(s, o)),
  stageList: read('stage list', async (s, _o: object) => (await import('./stage.js')).stageList(s)),
  stageRemove: write('stage remove', async (s, o: StageRemoveOptions) => (await import('./stage.js')).stageRemove(s, o)),
  repro: write('repro', async (s, o: ReproOptions) => (await import('./repro.js')).repro(s, o)),
  verify: read('repro --verify', async (s, o: VerifyOptions) => (await import('./verify.js')).verify(s, o)),
  lineage: read('lineage', async (s, o: LineageOptions) => (await import('./lineage.js')).lineage(s, o)),
  lineageDiff: read('lineage diff', async (s, o: LineageDiffOptions) => (await import('./lineage-diff.js')).lineageDiff(s, o)),
  usedBy: read('used-by', async (s, o: UsedByOptions) => (await import('./used-by.js')).usedBy(s, o)),
  metricsShow: read('metrics show', async (s, o: MetricsShowOptions) => (await import('./metrics.js')).metricsShow(s, o)),
  metricsDiff: read('metrics diff', async (s, o: MetricsDiffOptions) => (await import('./metrics.js')).metricsDiff(s, o)),
  paramsDiff: read('params diff', async (s, o: ParamsDiffOptions) => (await import('./params.js')).paramsDiff(s, o)),
  plotsShow: read('plots show', async (s, o: PlotsShowOptions) => (await import('./plots.js')).plotsShow(s, o)),
  plotsDiff: read('plots diff', async (s, o: PlotsDiffOptions) => (await import('./plots.js')).plotsDiff(s, o)),
  expRun: write('exp run', async (s, o: ExpRunOptions) => (await import('./exp-run.js')).expRun(s, o)),
  expShow: read('exp show', async (s, o: ExpShowOptions) => (await import('./exp-show.js')).expShow(s, o)),
  expApply: write('exp apply', async (s, o: ExpApplyOptions) => (await import('./exp-apply.js')).expApply(s, o)),
  expRemove: write('exp remove', async (s, o: ExpRemoveOptions) => (await import('./exp-remove.js')).expRemove(s, o)),
  expPush: read('exp push', async (s, o: ExpPushOptions) => (await import('./exp-push.js')).expPush(s, o)),
  expPull: write('exp pull', async (s, o: ExpPullOptions) => (await import('./exp-pull.js')).expPull(s, o)),
  dag: read('dag', async (s, _o: object) => (await import('./dag.js')).dag(s)),
  attest: read('attest', async (s, o: AttestOptions) => (await import('./attest.js')).attest(s, o)),
  attestVerify: read('attest verify', async (s, o: VerifyAttestationOptions) =>
    (await import('./attest-verify.js')).verifyAttestation(s, o),
  ),
  auditExport: read('audit export', async (s, o: AuditExportOptions) => (await import('./audit-export.js')).auditExport(s, o)),
  auditVerify: free('audit verify', async (o: AuditVerifyOptions) => (await import('./audit-verify.js')).auditVerify(o)),
  keyGen: free('key gen', async (o: { file: string }) => (await import('../provenance/keygen.js')).keyGen(o.file)),
  configList: free('config', async (o: ConfigOptions) => (await import('./config.js')).configList(o)),
  configGet: free('config', async (o: ConfigOptions & { key: string }) => (await import('./config.js')).configGet(o)),
  configSet: free('config', async (o: ConfigOptions & { key: string; value: string }) => (await import('./config.js')).configSet(o)),
  configUnset: free('config', async (o: ConfigOptions & { key: string }) => (await import('./config.js')).configUnset(o)),
  remoteAdd: free('remote add', async (o: RemoteAddOptions) => (await import('./remote.js')).remoteAdd(o)),
  remoteList: free('remote list', async (o: RemoteWhere) => (await import('./remote.js')).remoteList(o)),
  remoteRemove: free('remote remove', async (o: RemoteWhere & { name: string }) => (await import('./remote.js')).remoteRemove(o)),
  remoteDefault: free('remote default', async (o: RemoteWhere & { name?: string }) => (await import('./remote.js')).remoteDefault(o)),
  remoteTrust: free('remote trust', async (o: RemoteWhere & { name?: string }) => (await import('./remote.js')).remoteTrust(o)),
};

export type CommandName = keyof typeof COMMANDS;
export type CommandOptions<K extends CommandName> = (typeof COMMANDS)[K] extends CommandDef<infer O, unknown> ? O : never;
export type CommandResult<K extends CommandName> = (typeof COMMANDS)[K] extends CommandDef<never, infer R> ? R : never;

/** Where and how a command opens the repository. */
export interface RunContext {
  /** The directory the repository is found from (at or above it). */
  cwd: string;
  /** Milliseconds to wait for another dv holding the repository (default 10,000). */
  waitMs?: number;
  /** Called once when the command has to wait for another dv process. */
  onWait?: (holder: LockInfo) => void;
  /** Called with a one-line warning (a reader working without the index another dv holds). */
  onWarning?: (text: string) => void;
  /** Called before each retry of a remote request. */
  onRetry?: RetryOptions['onRetry'];
  /** Called with the repository's root once it is found (what the command's repo-relative paths are relative to). */
  onRoot?: (root: string) => void;
}

/** Runs command `name`: opens the repository as the command's lock mode says, runs it, closes. */
export async function runCommand<K extends CommandName>(name: K, at: RunContext, opts: CommandOptions<K>): Promise<CommandResult<K>> {
  const def = COMMANDS[name] as unknown as CommandDef<CommandOptions<K>, CommandResult<K>>;
  if (def.lock === 'none') return def.run(undefined, opts);
  const s = await RepoSession.open({
    cwd: at.cwd,
    write: def.lock === 'write',
    waitMs: at.waitMs,
    command: def.label,
    onWait: at.onWait,
    onWarning: at.onWarning,
    onRetry: at.onRetry,
  });
  at.onRoot?.(s.root);
  try {
    return await def.run(s, opts);
  } finally {
    await s.close();
  }
}

/**
 * `cat` (`dv cat`, `Repo#open`): the one command whose result outlives the call. It opens the
 * repository as a reader (no lock) and the session closes when the stream is done with (read to
 * its end, failed or destroyed), not when this returns.
 */
export async function openFile(at: RunContext, opts: CatOptions): Promise<CatResult> {
  const { cat } = await import('./cat.js');
  const s = await RepoSession.open({
    cwd: at.cwd,
    write: false,
    waitMs: at.waitMs,
    command: 'cat',
    onWait: at.onWait,
    onWarning: at.onWarning,
    onRetry: at.onRetry,
  });
  try {
    return await cat(s, { ...opts, onClose: () => s.close() });
  } catch (e) {
    await s.close();
    throw e;
  }
}
