/**
 * Tracked paths as the user names them: a path (relative to where dv runs) resolved to the
 * tracked path holding it, refused when it is not tracked or when git tracks it too.
 *
 * Invariant: every tracked path handed on here was read from a pointer file whose snapshot
 * and tree agree (`checkPointerSnapshots`), so no caller works from a pointer that lies.
 */
import { POINTER_SUFFIX } from '../core/pointer.js';
import { DvError } from '../errors.js';
import { git } from '../repo/git.js';
import type { RepoSession } from '../repo/repo.js';
import { shellQuote as quote } from '../core/shell.js';
import { checkPointerSnapshots, findTracked, type Tracked } from './pointers.js';
import { toRepoRel } from './scan.js';

/**
 * The repository-relative path that `p` (relative to `cwd`) names, a pointer file standing for
 * its data (`data.dv` names `data`). Given the tracked paths `all`, only a tracked path's pointer
 * file is read so, for a path may end in `.dv` itself. PATH_OUTSIDE_REPO when `p` is outside.
 */
export function trackedRel(root: string, cwd: string, p: string, all?: Tracked[]): string {
  const rel = toRepoRel(root, cwd, p).replace(/\/+$/, '');
  if (!rel.endsWith(POINTER_SUFFIX) || (all && !all.some((t) => t.pointerRel === rel))) return rel;
  return rel.slice(0, -POINTER_SUFFIX.length);
}

/** The tracked path that is `rel` or holds it (a path inside a tracked directory). */
export function trackedHolding(all: Tracked[], rel: string): Tracked | undefined {
  return all.find((x) => x.rel === rel || rel.startsWith(x.rel + '/'));
}

/** Whether `rel` lies in the repository's .dv or in any .git directory: dv never tracks or writes there. */
export function inReservedDir(rel: string): boolean {
  const parts = rel.split('/');
  return parts[0] === '.dv' || parts.includes('.git');
}

/** Selects tracked paths named by `paths` (relative to `cwd`), or all of them. */
export async function selectTracked(
  s: RepoSession,
  paths: string[] | undefined,
  cwd: string,
  opts: { snapshotsRequired?: boolean } = {},
): Promise<Tracked[]> {
  const all = await findTracked(s.root);
  const picked = !paths || paths.length === 0 ? all : paths.map((p) => trackedOf(s.root, all, cwd, p).tracked);
  // A pointer whose tree is not its snapshot's is refused before anything uses it.
  await checkPointerSnapshots(s.store, picked, { required: opts.snapshotsRequired });
  return picked;
}

/** The tracked path holding `p`, and `p` relative to the root (the tracked path itself, or a path inside it). */
function trackedOf(root: string, all: Tracked[], cwd: string, p: string): { tracked: Tracked; rel: string } {
  const rel = trackedRel(root, cwd, p, all);
  const t = trackedHolding(all, rel);
  if (!t) throw new DvError('NOT_TRACKED', `${p} is not tracked by dv: run \`dv add ${p}\` first`, { path: p });
  return { tracked: t, rel };
}

/**
 * Like `selectTracked`, once per tracked path, with the paths inside it that were named
 * (`within`, relative to the root), or null when it was named whole (or nothing was named).
 */
export async function selectTrackedWithin(
  s: RepoSession,
  paths: string[] | undefined,
  cwd: string,
): Promise<{ tracked: Tracked; within: string[] | null }[]> {
  const all = await findTracked(s.root);
  if (!paths || paths.length === 0) {
    await checkPointerSnapshots(s.store, all);
    return all.map((tracked) => ({ tracked, within: null }));
  }
  const out = new Map<string, { tracked: Tracked; within: string[] | null }>();
  for (const p of paths) {
    const { tracked, rel } = trackedOf(s.root, all, cwd, p);
    const e = out.get(tracked.rel) ?? { tracked, within: [] };
    out.set(tracked.rel, e);
    if (rel === tracked.rel) e.within = null;
    else if (e.within && !e.within.includes(rel)) e.within.push(rel);
  }
  await checkPointerSnapshots(
    s.store,
    [...out.values()].map((e) => e.tracked),
  );
  return [...out.values()];
}

/** USAGE when git tracks `rel` (or, for a directory, a file under it): git and dv would both track it. */
export async function refuseGitTracked(root: string, rel: string, then = `dv add ${quote(rel)}`): Promise<void> {
  const r = await git(root, ['--literal-pathspecs', 'ls-files', '-z', '--cached', '--', rel]);
  if (r.code !== 0) return; // not a git work tree
  const files = r.stdout.split('\0').filter(Boolean);
  if (files.length === 0) return;
  const which = files.length === 1 && files[0] === rel ? '' : ` (${files[0]}${files.length > 1 ? ` and ${files.length - 1} more` : ''})`;
  throw new DvError('USAGE', `${rel} is tracked by git${which}: run \`git rm -r --cached ${quote(rel)}\` first, then \`${then}\``, {
    path: rel,
    files: files.slice(0, 100),
  });
}
