/**
 * The remote run cache: run records on a remote under `runs/<xx>/<run key>`, next to the packs
 * holding their outs. `dv push` uploads the records the remote lacks (after the outs' data);
 * `dv repro` asks the default remote for a stage's key when this clone has no recorded run.
 * Nothing read from the remote is trusted: the record is parsed strictly, its key recomputed
 * from its own cmd, deps, params and outs, each out's snapshot fetched (verified by hash) and
 * required to hold the recorded tree, at the out's path, written by a run of this key.
 */
import type { Backend } from '../backend/backend.js';
import { parseRemoteUrl } from '../backend/open.js';
import { isId } from '../core/ids.js';
import { DvError } from '../errors.js';
import type { RepoSession } from '../repo/repo.js';
import { checkRemoteCacheDir, openRemote, resolveRemote, type RemoteConfig } from '../repo/remotes.js';
import { checkRemoteTrust } from '../repo/remote-trust.js';
import { fetchObjects } from './fetch.js';
import { remoteRunKey, remoteRunSigKey, RUNS_PREFIX, runKeyOfRemoteKey } from './layout.js';
import { RemoteIndex } from './remote-index.js';
import { decodeRun, encodeRun, runKey, type RunRecord } from '../pipeline/run.js';
import type { StageSpec } from '../pipeline/spec.js';
import { loadSnapshot } from '../history/objects.js';
import { asPipelineLineage } from '../pipeline/outs.js';
import { MAX_RUN_SIG_BYTES, saveRunRef, saveRunSignature, type LocalRun } from '../pipeline/run-cache.js';
import { checkRunSignature } from '../provenance/run-signature.js';
import type { TrustedKeys } from '../provenance/trust.js';

/** A run record is small; anything larger on a remote is not one. */
const MAX_RUN_BYTES = 4 * 1024 * 1024;

/**
 * How long repro waits for the remote to answer a lookup (the check and each record's read),
 * whatever remote.NAME.timeout says: a stage that could run at once must not wait a transfer's timeout.
 */
const LOOKUP_MS = 3000;

/** `p`, or REMOTE_UNREACHABLE once `ms` have passed without its answer. */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DvError('REMOTE_UNREACHABLE', `no answer to ${what} in ${ms / 1000} s`, {})), ms);
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Uploads the run records the remote lacks (call once the outs' data is there). Returns how many. */
export async function uploadRuns(backend: Backend, runs: LocalRun[]): Promise<number> {
  if (runs.length === 0) return 0;
  const there = new Set<string>();
  for await (const { key } of backend.list(RUNS_PREFIX)) {
    const k = runKeyOfRemoteKey(key);
    if (k) there.add(k);
  }
  let sent = 0;
  for (const r of runs) {
    if (there.has(r.key)) continue;
    // The signature first: a record seen without it only counts as unsigned.
    if (r.sig) await backend.put(remoteRunSigKey(r.key), r.sig);
    await backend.put(remoteRunKey(r.key), r.bytes);
    there.add(r.key);
    sent++;
  }
  return sent;
}

export interface RemoteRunHit {
  /** The run record's id, now in the local store. */
  id: string;
  run: RunRecord;
  remote: string;
}

/**
 * `dv repro`'s view of the default remote's run cache, opened on first use. Unreachable or
 * unconfigured, it answers nothing (with one notice), so repro runs the stages instead.
 */
export class RemoteRunCache {
  private state: 'closed' | 'open' | 'off' = 'closed';
  private config: RemoteConfig | undefined;
  private backend: Backend | undefined;
  private index: RemoteIndex | undefined;

  constructor(
    private readonly s: RepoSession,
    private readonly opts: { remote?: string; notice: (text: string) => void; trusted?: TrustedKeys },
  ) {}

  private async open(): Promise<boolean> {
    if (this.state !== 'closed') return this.state === 'open';
    this.state = 'off';
    try {
      this.config = resolveRemote(this.s.config, this.opts.remote);
    } catch (e) {
      // No remote configured: nothing to ask, nothing to say (unless one was named).
      if (e instanceof DvError && e.code === 'NO_REMOTE' && this.opts.remote === undefined) return false;
      throw e;
    }
    await checkRemoteTrust(this.s.config, this.config.name, this.s.paths.dvDir);
    // Few retries: an offline repro should run its stages, not wait.
    this.backend = await openRemote(this.config, this.s.root, { retry: { attempts: 2, onRetry: this.s.onRetry } });
    try {
      await within(this.backend.check(), LOOKUP_MS, 'the run-cache lookup');
    } catch (e) {
      this.offline(e);
      return false;
    }
    this.state = 'open';
    return true;
  }

  private offline(e: unknown): void {
    this.state = 'off';
    // A request still hanging must not keep the process alive after the stages ran.
    void this.backend?.close?.();
    // A directory remote not made yet (the first push makes it) is no alarm: it holds no run.
    if (e instanceof DvError && e.code === 'REMOTE_NOT_FOUND' && parseRemoteUrl(this.config!.url, this.s.root).kind === 'local') {
      this.opts.notice(
        `remote ${this.config!.name} (${this.config!.url}) does not exist yet (a first push makes it): no run cache to read`,
      );
      return;
    }
    this.opts.notice(
      `remote ${this.config!.name} (${this.config!.url}) is out of reach (${e instanceof DvError ? e.code : String(e)}): ` +
        'stages not recorded here will run instead of coming from its run cache (skip the lookup with `dv repro --offline`)',
    );
  }

  /** A verified run of `key` for `stage` from the remote, its outs' objects now in the local store. */
  async find(stage: StageSpec, key: string): Promise<RemoteRunHit | undefined> {
    if (!(await this.open())) return undefined;
    const remoteKey = remoteRunKey(key);
    let bytes: Buffer;
    try {
      bytes = await within(this.backend!.get(remoteKey), LOOKUP_MS, 'the run-cache lookup');
    } catch (e) {
      if (e instanceof DvError && e.code === 'OBJECT_MISSING') return undefined;
      this.offline(e);
      return undefined;
    }
    const where = `${remoteKey} on remote ${this.config!.name}`;
    const refuse = (why: string): undefined => {
      this.opts.notice(`run record ${where} ${why}: ignoring it, stage ${stage.name} runs instead`);
      return undefined;
    };
    if (bytes.length > MAX_RUN_BYTES) return refuse('is too large to be a run record');
    let run: RunRecord;
    try {
      run = decodeRun(bytes, key);
    } catch (e) {
      if (e instanceof DvError) return refuse('is malformed');
      throw e;
    }
    if (
      run.key !== key ||
      runKey({ cmd: run.cmd, wdir: run.wdir, deps: run.deps, params: run.params ?? {}, outs: run.outs.map((o) => o.path) }) !== key
    )
      return refuse('does not match its key');
    if (
      run.cmd !== stage.cmd ||
      (run.wdir ?? '') !== (stage.wdir ?? '') ||
      run.outs.length !== stage.outs.length ||
      !stage.outs.every((o) => run.outs.some((x) => x.path === o))
    )
      return refuse('is for other outs');
    if (!validEnv(run)) return refuse('is malformed');
    // The trust policy: with trusted keys set, only a record a trusted key signed stands in for a run.
    let sig: Buffer | undefined;
    if (this.opts.trusted) {
      let unread: string | undefined;
      sig = await this.backend!.get(remoteRunSigKey(key), { maxBytes: MAX_RUN_SIG_BYTES }).catch((e) => {
        if (!(e instanceof DvError && e.code === 'OBJECT_MISSING')) unread = e instanceof DvError ? e.code : String(e);
        return undefined;
      });
      if (unread) return refuse(`has a signature that cannot be read (${unread})`);
      const t = checkRunSignature(bytes, sig, this.opts.trusted);
      if (!t.ok) return refuse(`${t.why} (attest.trustedKeys is set: only runs signed by a trusted key are restored)`);
    }
    try {
      this.index ??= await RemoteIndex.load(this.backend!, await checkRemoteCacheDir(this.s.paths, this.config!.name));
      await fetchObjects({
        store: this.s.store,
        backend: this.backend!,
        remote: this.index,
        roots: run.outs.map((o) => o.snapshot),
        history: false,
        jobs: Number(this.config!.jobs) || 8,
      });
    } catch (e) {
      if (!(e instanceof DvError)) throw e;
      if (e.code === 'REMOTE_UNREACHABLE' || e.code === 'REMOTE_ERROR' || e.code === 'AUTH_FAILED') {
        this.offline(e);
        return undefined;
      }
      return refuse(`names outs that cannot be fetched (${e.code}: ${e.message})`);
    }
    for (const o of run.outs) {
      const snap = await loadSnapshot(this.s.store, o.snapshot).catch(() => undefined);
      if (!snap || snap.tree !== o.id || snap.path !== o.path || asPipelineLineage(snap.lineage.pipeline)?.key !== key)
        return refuse(`names for out ${o.path} a snapshot that does not hold it`);
    }
    // The snapshots of the deps it read (small), so that `dv lineage` here reaches back to raw
    // data; a remote without them only makes that lineage shorter.
    const depSnapshots = run.deps.map((d) => (d as { snapshot?: unknown }).snapshot).filter(isId);
    await fetchObjects({
      store: this.s.store,
      backend: this.backend!,
      remote: this.index,
      roots: [],
      leaves: depSnapshots,
      history: false,
      jobs: 8,
    }).catch(() => undefined);
    // Stored as this dv encodes it, without fields it does not know.
    const clean: RunRecord = {
      key,
      stage: run.stage,
      cmd: run.cmd,
      ...(run.wdir ? { wdir: run.wdir } : {}),
      deps: run.deps,
      params: run.params ?? {},
      outs: run.outs.map((o) => ({ path: o.path, id: o.id, snapshot: o.snapshot })),
      env: run.env,
      ranAt: run.ranAt,
    };
    const cleanBytes = encodeRun(clean);
    const id = await this.s.store.putObject(cleanBytes);
    await this.s.store.flush();
    if (sig && cleanBytes.equals(bytes)) await saveRunSignature(this.s, id, sig);
    await saveRunRef(this.s, key, id);
    return { id, run: clean, remote: this.config!.name };
  }

  async close(): Promise<void> {
    await this.backend?.close?.();
  }
}

function validEnv(r: RunRecord): boolean {
  const e = r.env as unknown as Record<string, unknown> | null;
  const obj = (v: unknown): boolean => v !== null && typeof v === 'object' && !Array.isArray(v);
  return (
    obj(e) &&
    typeof e!.dv === 'string' &&
    typeof e!.os === 'string' &&
    typeof e!.arch === 'string' &&
    obj(e!.tools) &&
    obj(e!.lockfiles) &&
    obj(e!.vars) &&
    (e!.git === null || obj(e!.git)) &&
    obj(r.params ?? {}) &&
    typeof r.ranAt === 'string' &&
    typeof r.stage === 'string' &&
    r.outs.every((o) => isId(o.snapshot))
  );
}
