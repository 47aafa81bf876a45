/**
 * `dv push`: send what a remote lacks of the tracked data (and, with allHistory, of every
 * snapshot). With `revs` or `prePush` the snapshots come from the pointer files of git commits
 * instead of the work tree's, as git-lfs pushes the objects of the commits a `git push` sends.
 */
import type { Backend } from '../backend/backend.js';
import { DvError } from '../errors.js';
import { commitPointers, prePushRevs, resolveRevs, type CommitPointer } from '../repo/git-pointers.js';
import { listRemotes, resolveRemote } from '../repo/remotes.js';
import type { RepoSession } from '../repo/repo.js';
import { pushObjects, startVerifier, type PushProgress, type PushStats } from '../transfer/push.js';
import type { FetchPool } from '../transfer/fetch-pool.js';
import { reachable, walkReachable } from '../history/reach.js';
import { PushPlan } from '../transfer/push-plan.js';
import { guardLeanPush } from '../transfer/remote-gc-marks.js';
import type { RemoteIndex } from '../transfer/remote-index.js';
import { withRemote } from '../transfer/remote-session.js';
import { noteWrites } from '../transfer/written-keys.js';
import { runsToPush, type PushRunsMode } from '../pipeline/run-cache.js';
import { uploadRuns } from '../transfer/remote-runs.js';

export interface PushOptions {
  remote?: string;
  paths?: string[];
  cwd?: string;
  jobs?: number;
  allHistory?: boolean;
  /** Run records to send to the remote run cache (default: those dv.lock names). */
  runs?: PushRunsMode;
  /** Push what the pointer files of these git commits name (rev-list syntax: `main`, `^origin/main`, `--all`). */
  revs?: string[];
  /** For the pre-push hook: the lines git gives it on stdin, and the git remote it pushes to. */
  prePush?: { lines: string; gitRemote: string };
  /** Verify the remote's copies first and send again those that are damaged (`--repair`). */
  repair?: boolean;
  onProgress?: (p: PushProgress) => void;
}

export interface PushResult extends PushStats {
  remote: string;
  url: string;
  snapshots: string[];
  /** Run records uploaded to the remote run cache. */
  runsSent: number;
  /** prePush only: why nothing was pushed (no dv remote configured, or the git push sends no commits). */
  skipped?: 'no-remote' | 'no-commits';
}

/** A snapshot a commit being pushed names that neither this clone nor the remote has. */
export type MissingSnapshot = CommitPointer;

export async function push(s: RepoSession, opts: PushOptions = {}): Promise<PushResult> {
  let fromGit: { changed: CommitPointer[]; tips: CommitPointer[] } | undefined;
  if (opts.revs || opts.prePush) {
    if (opts.paths && opts.paths.length > 0)
      throw new DvError('USAGE', 'paths and --rev/--pre-push do not go together: the commits say what to push');
    const nothing = { remote: '', url: '', snapshots: [], objectsSent: 0, bytesSent: 0, packsSent: 0, alreadyThere: 0, runsSent: 0 };
    // Hooks are often installed before a dv remote is added: that must not stop git pushing code.
    if (opts.prePush && !opts.remote && listRemotes(s.config).length === 0) return { ...nothing, skipped: 'no-remote' };
    const revs = opts.prePush
      ? await prePushRevs(s.root, opts.prePush.lines, opts.prePush.gitRemote)
      : await resolveRevs(s.root, opts.revs ?? []);
    if (opts.prePush && revs.length === 0) {
      const r = resolveRemote(s.config, opts.remote);
      return { ...nothing, remote: r.name, url: r.url, skipped: 'no-commits' };
    }
    fromGit = await commitPointers(s.root, revs);
  }
  // The remote's index is loaded lean (which ids it holds, no locations) unless repair needs the copies.
  return withRemote(
    s,
    { ...opts, purpose: 'write', lean: !opts.repair },
    async ({ config, jobs, backend, remote, roots: tracked, reload }) => {
      let roots = tracked;
      const missing: MissingSnapshot[] = [];
      if (fromGit) {
        const { changed, tips } = fromGit;
        const all = [...new Set([...changed, ...tips].map((p) => p.snapshot))];
        const have = await s.store.hasMany(all);
        const here = new Set(all.filter((_, k) => have[k]));
        roots = [...here];
        // Not here but on the remote: nothing to send. On neither: a clone checking that commit
        // out cannot get its data. Only a commit being pushed counts; a tip's older pointers were
        // published before (perhaps without their data) and must not block this push.
        missing.push(...changed.filter((p) => !here.has(p.snapshot) && !remote.has(p.snapshot)));
      }
      // A snapshot the remote lacks means data to send: the verifying thread starts now, so its
      // start overlaps the walk (~150 ms of a small push's 1.2 s).
      const needsVerifier = !opts.repair && roots.some((r) => !remote.has(r));
      return withVerifier(needsVerifier, s.paths.tmpDir, async (verifier) => {
        const send = { s, opts, roots, jobs, verifier };
        let stats: PushStats;
        let runs: RunsToPush;
        if (!remote.isLean) ({ sent: stats, runs } = await sendAll(send, remote, backend));
        else {
          // A lean index knows no copies: a concurrent `dv gc --remote` is guarded by leaving out
          // its marked packs (remote-gc-marks.ts).
          const written = new Set<string>();
          let total: PushStats | undefined;
          ({ runs } = await guardLeanPush(
            backend,
            (exclude) => reload({ lean: true, exclude }),
            remote,
            async (index) => {
              const r = await sendAll(send, index, noteWrites(backend, written));
              total = total ? addStats(total, r.sent) : r.sent;
              return r;
            },
            written,
          ));
          stats = total!;
        }
        const runsSent = await uploadRuns(backend, runs.runs);
        // Everything else is on the remote now, so `git push --no-verify` loses nothing more.
        if (missing.length > 0) throw missingSnapshots(missing, config.name, stats);
        return { remote: config.name, url: config.url, snapshots: roots, ...stats, runsSent };
      });
    },
  );
}

/** Runs `fn` with the thread that verifies whole local packs when there is data to send; closes it after. */
async function withVerifier<T>(needed: boolean, tmpDir: string, fn: (verifier?: FetchPool) => Promise<T>): Promise<T> {
  const verifier = needed ? startVerifier(tmpDir) : undefined;
  try {
    return await fn(verifier);
  } finally {
    await verifier?.close();
  }
}

type RunsToPush = Awaited<ReturnType<typeof runsToPush>>;

/** What one push sends from: the session, its options, the snapshots, and the verifying thread. */
interface SendContext {
  s: RepoSession;
  opts: PushOptions;
  roots: string[];
  jobs: number;
  verifier?: FetchPool;
}

/**
 * Sends what `index` lacks of the snapshots (with their run cache) to `to`: the objects the walk
 * reaches, batch by batch (PushPlan), or with repair every reachable object.
 */
async function sendAll(c: SendContext, index: RemoteIndex, to: Backend): Promise<{ sent: PushStats; runs: RunsToPush }> {
  const { s, opts, roots } = c;
  const history = opts.allHistory ?? false;
  // Repair checks the remote's copy of every reachable object, so it needs them all; otherwise
  // only what the remote lacks is kept, batch by batch as the walk goes (PushPlan).
  const plan = opts.repair ? undefined : new PushPlan((id) => index.has(id));
  const all = opts.repair ? await reachable(s, roots, { history }) : undefined;
  // The store is not asked about chunks: one the remote has need not be here, and one the plan
  // cannot locate is refused before anything is sent (transfer/push.ts refuseMissing).
  const present = (): boolean => true;
  const { problems } = all ?? (await walkReachable(s, roots, { history, present }, (b) => plan!.add(b.ids, b.meta)));
  // The run cache travels with the data: run objects and their outs' data, in packs; the
  // records under runs/ once that data is there.
  const runs = await runsToPush(s, opts.runs ?? 'locked', (id) => index.has(id));
  plan?.add(runs.ids, (id) => runs.meta.has(id));
  for (const id of all ? runs.ids : []) all!.ids.add(id);
  for (const id of all ? runs.meta : []) all!.meta.add(id);
  const blocking = problems.filter((p) => !(p.id && index.has(p.id)));
  if (blocking.length > 0) {
    const p = blocking[0];
    throw new DvError(
      p.code === 'OBJECT_CORRUPT' ? 'OBJECT_CORRUPT' : 'OBJECT_MISSING',
      `cannot push: ${p.message}${blocking.length > 1 ? ` (and ${blocking.length - 1} more)` : ''}; ` +
        'run `dv fsck`, or `dv fetch` from a remote that has it',
      { problems: blocking.slice(0, 20) },
    );
  }
  const sent = await pushObjects({
    store: s.store,
    backend: to,
    remote: index,
    plan,
    ids: all?.ids,
    meta: all?.meta,
    tmpDir: s.paths.tmpDir,
    jobs: c.jobs,
    repair: opts.repair,
    verifier: c.verifier,
    onProgress: opts.onProgress,
  });
  return { sent, runs };
}

/** OBJECT_MISSING for commits being pushed whose snapshots are neither here nor on `remote` (the rest was sent). */
function missingSnapshots(missing: MissingSnapshot[], remote: string, stats: PushStats): DvError {
  const first = missing[0];
  const also = missing.length > 1 ? ` (and ${missing.length - 1} more snapshot${missing.length > 2 ? 's' : ''})` : '';
  const commit = first.commit.slice(0, 12);
  return new DvError(
    'OBJECT_MISSING',
    `commit ${commit} names snapshot ${first.snapshot.slice(0, 12)} (${first.path}), which is neither in this clone ` +
      `nor on remote ${remote}${also}: a clone checking that commit out could not get its data. ` +
      `Everything else was pushed (${stats.objectsSent} objects). Push that data from the clone that has it ` +
      `(\`dv push --rev ${commit}\`), or publish the commits without it (\`git push --no-verify\`)`,
    { missing: missing.slice(0, 100), ...stats },
  );
}

/** Two rounds of a guarded push as one: what the second sent was counted as already there by the first. */
function addStats(a: PushStats, b: PushStats): PushStats {
  return {
    ...a,
    objectsSent: a.objectsSent + b.objectsSent,
    bytesSent: a.bytesSent + b.bytesSent,
    packsSent: a.packsSent + b.packsSent,
    alreadyThere: Math.max(0, a.alreadyThere - b.objectsSent),
    ...(a.warnings || b.warnings ? { warnings: [...(a.warnings ?? []), ...(b.warnings ?? [])] } : {}),
  };
}
