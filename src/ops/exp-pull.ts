/**
 * `dv exp pull GIT_REMOTE [NAME...|--all]`: brings experiments another clone pushed. The git
 * remote's refs/exps are listed (`git ls-remote`), the ones asked for fetched into the same refs,
 * and the data their pointer files name fetched from the dv remote (`-r`, default: the default
 * remote), so `dv exp show` and `dv exp apply` work here.
 *
 * Invariants: what a remote lists is untrusted: only refs of dv's shape with valid names are
 * taken (pipeline/exp-refs.ts parseExpRef), at most MAX_EXPS of them, each fetched by its exact
 * name into itself (never a pattern refspec); queued experiments are not taken. A local
 * experiment of the same name is replaced only with `force`.
 */
import { DvError } from '../errors.js';
import { listRemotes } from '../repo/remotes.js';
import type { RepoSession } from '../repo/repo.js';
import { checkGitRemote, type ExpRef, EXP_REFS, gitx, parseRefLines } from '../pipeline/exp-refs.js';
import { fetch } from './fetch.js';

export interface ExpPullOptions {
  gitRemote: string;
  names?: string[];
  all?: boolean;
  /** The dv remote the data comes from (default: the default remote). */
  remote?: string;
  force?: boolean;
  jobs?: number;
}

export interface ExpPullResult {
  gitRemote: string;
  pulled: { name: string; ref: string; commit: string }[];
  /** Whether the data came from a dv remote (none configured: only the refs). */
  data: boolean;
  objectsFetched: number;
  bytesFetched: number;
}

export async function expPull(s: RepoSession, o: ExpPullOptions): Promise<ExpPullResult> {
  checkGitRemote(o.gitRemote);
  if ((o.names?.length ?? 0) === 0 && !o.all) throw new DvError('USAGE', 'name the experiments to pull, or pass --all');
  const ls = await gitx(s.root, ['ls-remote', '--refs', o.gitRemote, `${EXP_REFS}*`]);
  if (ls.code !== 0)
    throw new DvError('REMOTE_UNREACHABLE', `git ls-remote ${o.gitRemote} failed: ${ls.stderr.trim().split('\n').pop() ?? ''}`, {
      gitRemote: o.gitRemote,
    });
  const listed = parseRefLines(ls.stdout).filter((e) => !e.queued);
  let want: ExpRef[] = listed;
  if (!o.all) {
    want = [];
    for (const n of o.names ?? []) {
      const hits = listed.filter((e) => e.name === n || `${e.baseline}/${e.name}` === n);
      if (hits.length === 0)
        throw new DvError('UNKNOWN_EXPERIMENT', `${o.gitRemote} has no experiment named ${JSON.stringify(n.slice(0, 80))}`, { name: n });
      want.push(...hits);
    }
  }
  if (want.length === 0) return { gitRemote: o.gitRemote, pulled: [], data: false, objectsFetched: 0, bytesFetched: 0 };
  const specs = want.map((e) => `${o.force ? '+' : ''}${e.ref}:${e.ref}`);
  const r = await gitx(s.root, ['fetch', '--no-tags', '--no-write-fetch-head', '-q', o.gitRemote, ...specs]);
  if (r.code !== 0) {
    const why = r.stderr.trim().split('\n').filter(Boolean).pop() ?? '';
    throw new DvError(
      'REMOTE_ERROR',
      `git fetch from ${o.gitRemote} failed${why ? `: ${why}` : ''} (-f replaces local experiments of the same name)`,
      {
        gitRemote: o.gitRemote,
      },
    );
  }
  let objectsFetched = 0;
  let bytesFetched = 0;
  // Without a dv remote, only the refs come (`dv pull` or `dv exp pull -r` brings the data later).
  const data = Boolean(o.remote) || listRemotes(s.config).length > 0;
  for (const e of data ? want : []) {
    const f = await fetch(s, { remote: o.remote, rev: e.commit, jobs: o.jobs });
    objectsFetched += f.objectsFetched;
    bytesFetched += f.bytesFetched;
  }
  return {
    gitRemote: o.gitRemote,
    pulled: want.map((e) => ({ name: e.name, ref: e.ref, commit: e.commit })),
    data,
    objectsFetched,
    bytesFetched,
  };
}
