/**
 * `dv checkout <rev> [path...]` and `dv checkout <id>` when the data is elsewhere: restore what
 * the pointer files of a git revision name (as `git checkout REV -- path.dv` then `dv checkout`
 * would), and fetch from the default remote, on demand, a snapshot this clone lacks.
 *
 * Composes `checkout` and `fetch`; adds no way of writing of its own. Every path is tried: one
 * that fails does not stop the others, and the command then fails PARTIAL naming the rest.
 */
import { isIdPrefix } from '../core/ids.js';
import { DvError, isDvError } from '../errors.js';
import { pointersAt, resolveCommit } from '../repo/git-revision.js';
import { listRemotes } from '../repo/remotes.js';
import type { RepoSession } from '../repo/repo.js';
import { findTracked } from '../workspace/pointers.js';
import { toRepoRel } from '../workspace/scan.js';
import { checkout, partialCheckout, type CheckoutEntry, type CheckoutOptions, type CheckoutResult } from './checkout.js';
import { fetch } from './fetch.js';

export interface CheckoutAtResult extends CheckoutResult {
  /** The git commit the pointer files were read from, when the target was a git revision. */
  commit?: string;
  /** Snapshots fetched from the default remote first, because this clone lacked them (absent: none). */
  fetched?: string[];
}

/** Whether a remote is configured that `dv fetch` would use without `-r`. */
function hasDefaultRemote(s: RepoSession): boolean {
  return listRemotes(s.config).length > 0;
}

/** Fetches `ids` from the default remote; false when there is none to ask. */
async function fetchOnDemand(s: RepoSession, ids: string[]): Promise<boolean> {
  if (ids.length === 0 || !hasDefaultRemote(s)) return false;
  await fetch(s, { snapshots: ids });
  return true;
}

/**
 * `target` is a snapshot/tree id (prefix) or a git revision. An id this clone lacks is fetched
 * from the default remote; a revision restores each tracked path its pointer files name.
 */
export async function checkoutAt(s: RepoSession, opts: CheckoutOptions & { target: string }): Promise<CheckoutAtResult> {
  if (isIdPrefix(opts.target.toLowerCase())) {
    try {
      return await checkout(s, opts);
    } catch (e) {
      if (!isDvError(e, 'UNKNOWN_ID')) throw e;
      const commit = await resolveCommit(s.root, opts.target);
      if (commit) return checkoutRevision(s, opts, commit);
      if (!(await fetchOnDemand(s, [opts.target]))) throw e;
      return { ...(await checkout(s, opts)), fetched: [opts.target] };
    }
  }
  const commit = await resolveCommit(s.root, opts.target);
  // Not a revision either: a path after all (a typo gets checkout's "not tracked, did you mean").
  if (!commit) return checkout(s, { ...opts, target: undefined, paths: [opts.target, ...(opts.paths ?? [])] });
  return checkoutRevision(s, opts, commit);
}

async function checkoutRevision(s: RepoSession, opts: CheckoutOptions & { target: string }, commit: string): Promise<CheckoutAtResult> {
  const cwd = opts.cwd ?? s.root;
  const wanted = (opts.paths ?? []).map((p) => toRepoRel(s.root, cwd, p).replace(/\/+$/, '').replace(/\.dv$/, ''));
  const at = (await pointersAt(s.root, commit)).filter((p) => wanted.length === 0 || wanted.includes(p.rel));
  const unknown = wanted.filter((w) => !at.some((p) => p.rel === w));
  if (unknown.length > 0) {
    throw new DvError(
      'NOT_TRACKED',
      `${unknown[0]} has no pointer file at ${opts.target} (${commit.slice(0, 10)}): \`dv log --git\` shows where it is tracked`,
      { path: unknown[0], commit },
    );
  }
  const held = await s.store.hasMany(at.map((p) => p.pointer.snapshot));
  const lacking = at.filter((_, i) => !held[i]).map((p) => p.pointer.snapshot);
  const fetched = (await fetchOnDemand(s, lacking)) ? lacking : [];
  const now = new Set((await findTracked(s.root)).map((t) => t.rel));
  const paths: CheckoutEntry[] = [];
  const failed: { path: string; code: string; message: string }[] = [];
  for (const p of at) {
    try {
      const r = await checkout(s, { ...opts, target: p.pointer.snapshot, paths: [p.rel], new: opts.new || !now.has(p.rel) });
      paths.push(...r.paths);
    } catch (e) {
      if (!(e instanceof DvError) || at.length === 1) throw e;
      failed.push({ path: p.rel, code: e.code, message: e.message });
    }
  }
  if (failed.length > 0) throw partialCheckout(paths, failed);
  return { paths, commit, ...(fetched.length ? { fetched } : {}) };
}
