/**
 * Tracked paths as the user names them: a path (relative to where dv runs) resolved to the
 * tracked path holding it, refused when it is not tracked or when git tracks it too.
 *
 * Invariant: every tracked path handed on here was read from a pointer file whose snapshot
 * and tree agree (`checkPointerSnapshots`), so no caller works from a pointer that lies.
 */
import { lstatSync, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { POINTER_SUFFIX } from '../core/pointer.js';
import { decodeTree } from '../core/tree.js';
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

/**
 * A path named inside a tracked path must be somewhere: in the work tree, or in the snapshot its
 * pointer names (a file deleted since). One in neither is a typo: PATH_NOT_FOUND, as `dv pull`
 * and `dv ls` say, not a silent "up to date". Where the snapshot's trees on the way are not here
 * (never pulled), the work tree alone cannot tell: allowed. The walk goes as deep as the path.
 */
async function checkNamed(s: RepoSession, t: Tracked, rel: string, p: string): Promise<void> {
  if (rel === t.rel) return;
  const here = await fsp.lstat(join(s.root, rel)).then(
    () => true,
    () => false,
  );
  if (here) return;
  const parts = rel.slice(t.rel.length + 1).split('/');
  let tree = t.pointer.tree;
  for (let i = 0; i < parts.length; i++) {
    if (!(await s.store.has(tree))) return;
    const e = decodeTree(await s.store.get(tree), tree).entries.find((x) => x.name === parts[i]);
    if (e && i === parts.length - 1) return;
    if (!e || e.type !== 'dir') break;
    tree = e.id;
  }
  throw new DvError('PATH_NOT_FOUND', `${p} is neither in the work tree nor in the snapshot of ${t.rel}: check the path`, { path: p });
}

/**
 * Selects tracked paths named by `paths` (relative to `cwd`), or all of them. `named`: a path
 * inside a tracked one must exist there (checkNamed) rather than stand for the whole.
 */
export async function selectTracked(
  s: RepoSession,
  paths: string[] | undefined,
  cwd: string,
  opts: { snapshotsRequired?: boolean; named?: boolean } = {},
): Promise<Tracked[]> {
  const all = await findTracked(s.root);
  const picked: Tracked[] = [];
  for (const p of paths ?? []) {
    const { tracked, rel } = trackedOf(s.root, all, cwd, p);
    if (opts.named) await checkNamed(s, tracked, rel, p);
    if (!picked.includes(tracked)) picked.push(tracked);
  }
  if (picked.length === 0) picked.push(...all);
  // A pointer whose tree is not its snapshot's is refused before anything uses it.
  await checkPointerSnapshots(s.store, picked, { required: opts.snapshotsRequired });
  return picked;
}

/** The tracked path holding `p`, and `p` relative to the root (the tracked path itself, or a path inside it). */
function trackedOf(root: string, all: Tracked[], cwd: string, p: string): { tracked: Tracked; rel: string } {
  const rel = trackedRel(root, cwd, p, all);
  const t = trackedHolding(all, rel);
  if (!t) {
    // `dv add` of a path that is nowhere would fail next: say so instead of sending the user there.
    const there = lstatSync(join(root, rel), { throwIfNoEntry: false }) !== undefined;
    const next = there ? `run \`dv add ${p}\` first` : 'it does not exist either: check the path (`dv status` lists the tracked ones)';
    throw new DvError('NOT_TRACKED', `${p} is not tracked by dv: ${next}`, { path: p });
  }
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
  /** A path inside a tracked one must exist there (checkNamed): off where `paths` may be patterns. */
  opts: { named?: boolean } = {},
): Promise<{ tracked: Tracked; within: string[] | null }[]> {
  const all = await findTracked(s.root);
  if (!paths || paths.length === 0) {
    await checkPointerSnapshots(s.store, all);
    return all.map((tracked) => ({ tracked, within: null }));
  }
  const out = new Map<string, { tracked: Tracked; within: string[] | null }>();
  for (const p of paths) {
    const { tracked, rel } = trackedOf(s.root, all, cwd, p);
    if (opts.named) await checkNamed(s, tracked, rel, p);
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
