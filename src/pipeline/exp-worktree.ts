/**
 * Where an experiment runs: a git worktree of the user's repository under
 * `.dv/tmp/exp-<pid>-<token>` (git-ignored by `.dv/.gitignore`), detached at the baseline and
 * holding the workspace as `git stash -u` would capture it (tracked files with their uncommitted
 * changes, and untracked files git does not ignore). Stage commands see a normal repository
 * (HEAD is the baseline, `git status` shows what the experiment changed) and the user's branch,
 * HEAD, index and files are never written: the workspace's tree is built in a temporary index
 * (GIT_INDEX_FILE), and the worktree has its own HEAD and index.
 *
 * Invariants: a worktree is removed when its run ends, whatever the outcome; one left by a killed
 * dv (its pid gone) is removed by the next experiment command (`sweepWorktrees`), and git's record
 * of it pruned. The post-checkout hook dv installs does not run (`--no-checkout`).
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { writerGone } from '../store/atomic.js';
import type { RepoSession } from '../repo/repo.js';
import { gitOk, gitx } from './exp-refs.js';

const DIR_RE = /^exp-(\d+)-[0-9a-f]{8}(?:\.index)?$/;
const tmpOf = (s: RepoSession): string => join(s.paths.dvDir, 'tmp');

/** The workspace's files as a git tree (what `git add -A` would commit), written without touching git's index. */
export async function workspaceTree(s: RepoSession): Promise<string> {
  await fsp.mkdir(tmpOf(s), { recursive: true });
  const index = join(tmpOf(s), `exp-${process.pid}-${randomBytes(4).toString('hex')}.index`);
  const gitIndex = (await gitOk(s.root, ['rev-parse', '--git-path', 'index'])).trim();
  // A copy of git's index lets `git add` skip unchanged files by their stat data.
  await fsp.copyFile(isAbsolute(gitIndex) ? gitIndex : resolve(s.root, gitIndex), index).catch(() => undefined);
  try {
    const env = { GIT_INDEX_FILE: index };
    await gitOk(s.root, ['add', '-A', '--', '.'], { env });
    return (await gitOk(s.root, ['write-tree'], { env })).trim();
  } finally {
    await fsp.rm(index, { force: true });
  }
}

/**
 * A new worktree at `baseline` whose files are `tree`: its directory, and the dv repository's
 * root inside it (the same subdirectory the user's dv root is of the git work tree).
 */
export async function openWorktree(s: RepoSession, baseline: string, tree: string): Promise<{ dir: string; root: string }> {
  await sweepWorktrees(s);
  await fsp.mkdir(tmpOf(s), { recursive: true });
  const dir = join(tmpOf(s), `exp-${process.pid}-${randomBytes(4).toString('hex')}`);
  await gitOk(s.root, ['worktree', 'add', '--detach', '--no-checkout', '-q', dir, baseline]);
  try {
    await gitOk(dir, ['read-tree', tree]);
    await gitOk(dir, ['checkout-index', '-a', '-f', '-q']);
    const prefix = (await gitOk(s.root, ['rev-parse', '--show-prefix'])).trim();
    const root = prefix ? join(dir, prefix) : dir;
    await fsp.mkdir(join(root, '.dv', 'tmp'), { recursive: true });
    return { dir, root };
  } catch (e) {
    await closeWorktree(s, dir);
    throw e;
  }
}

/** Removes an experiment's worktree and git's record of it. */
export async function closeWorktree(s: RepoSession, dir: string): Promise<void> {
  await gitx(s.root, ['worktree', 'remove', '--force', '--force', dir]);
  await fsp.rm(dir, { recursive: true, force: true, maxRetries: 2 });
  await gitx(s.root, ['worktree', 'prune']);
}

/** Worktrees (and temp indexes) of experiment runs whose dv process is gone. */
export async function sweepWorktrees(s: RepoSession): Promise<void> {
  let swept = false;
  for (const name of await fsp.readdir(tmpOf(s)).catch(() => [] as string[])) {
    const m = DIR_RE.exec(name);
    if (!m || !writerGone(Number(m[1]))) continue;
    await fsp.rm(join(tmpOf(s), name), { recursive: true, force: true, maxRetries: 2 });
    swept = true;
  }
  if (swept) await gitx(s.root, ['worktree', 'prune']);
}

/** The tree of the worktree's index after adding `paths` (those that exist, relative to `dir`) from its files. */
export async function treeWith(dir: string, paths: string[]): Promise<string> {
  const present: string[] = [];
  for (const p of [...new Set(paths)].sort()) {
    const st = await fsp.lstat(join(dir, p)).catch(() => undefined);
    if (st?.isFile() || st?.isSymbolicLink()) present.push(p);
  }
  // Named files only: what else a command left in its directory is not the experiment's.
  if (present.length > 0) await gitOk(dir, ['--literal-pathspecs', 'add', '-f', '--', ...present]);
  return (await gitOk(dir, ['write-tree'])).trim();
}
