/**
 * `dv exp push GIT_REMOTE [NAME...|--all]`: shares experiments. The refs go to the git remote
 * with `git push` (refs/exps/<baseline>/<name>, the commits and what they need), then the data
 * their pointer files name (outs, inputs) and the run records of this clone go to the dv remote
 * (`-r`, default: the default remote), as `dv push --rev` sends them. Refs first would let a
 * teammate pull an experiment whose data is not there yet, so the data goes first.
 */
import { DvError } from '../errors.js';
import { listRemotes } from '../repo/remotes.js';
import type { RepoSession } from '../repo/repo.js';
import { checkGitRemote, gitx, selectExps } from '../pipeline/exp-refs.js';
import { push, type PushResult } from './push.js';

export interface ExpPushOptions {
  /** The git remote (name or URL). */
  gitRemote: string;
  names?: string[];
  /** Every experiment of every baseline. */
  all?: boolean;
  /** The dv remote for the data (default: the default remote). */
  remote?: string;
  /** Replace experiments of the same name on the git remote. */
  force?: boolean;
  jobs?: number;
}

export interface ExpPushResult {
  gitRemote: string;
  pushed: { name: string; ref: string; commit: string }[];
  /** What went to the dv remote; absent when none is configured (then only the refs are pushed). */
  data?: PushResult;
}

export async function expPush(s: RepoSession, o: ExpPushOptions): Promise<ExpPushResult> {
  checkGitRemote(o.gitRemote);
  const exps = await selectExps(s.root, o.names, o.all);
  if (exps.length === 0) throw new DvError('USAGE', 'no experiments to push: run one with `dv exp run`');
  const revs = [...exps.map((e) => e.commit), ...[...new Set(exps.map((e) => e.baseline!))].map((b) => `^${b}`)];
  // Without a dv remote (a repository that keeps no data beside git), only the refs travel.
  const data =
    o.remote || listRemotes(s.config).length > 0 ? await push(s, { remote: o.remote, revs, runs: 'all', jobs: o.jobs }) : undefined;
  const specs = exps.map((e) => `${o.force ? '+' : ''}${e.ref}:${e.ref}`);
  const r = await gitx(s.root, ['push', '--no-verify', '--porcelain', o.gitRemote, ...specs]);
  if (r.code !== 0) {
    const why = r.stderr.trim().split('\n').filter(Boolean).pop() ?? '';
    throw new DvError(
      'REMOTE_ERROR',
      `git push to ${o.gitRemote} failed${why ? `: ${why}` : ''} (the data is on the dv remote; -f replaces experiments of the same name)`,
      {
        gitRemote: o.gitRemote,
      },
    );
  }
  return { gitRemote: o.gitRemote, pushed: exps.map((e) => ({ name: e.name, ref: e.ref, commit: e.commit })), ...(data ? { data } : {}) };
}
