/** `dv diff`: files added, modified and deleted between two snapshots/trees, or one and the workspace. */
import { diffTrees, type Change } from '../core/diff.js';
import { DvError } from '../errors.js';
import type { RepoSession } from '../repo/repo.js';
import { scanPath, toRepoRel } from '../workspace/scan.js';
import { readPointer } from '../workspace/pointers.js';
import { resolveTreeish, treeLoader } from './objects.js';

export interface DiffOptions {
  a: string;
  /** Second snapshot/tree; omitted: the workspace. */
  b?: string;
  /** Workspace path for `a` when `a` is a bare tree. */
  path?: string;
  cwd?: string;
}

export interface DiffResult {
  from: string;
  to: string;
  changes: Change[];
}

export async function diff(s: RepoSession, opts: DiffOptions): Promise<DiffResult> {
  const a = await resolveTreeish(s.store, opts.a);
  if (opts.b) {
    const b = await resolveTreeish(s.store, opts.b);
    return { from: a.tree, to: b.tree, changes: await diffTrees(a.tree, b.tree, treeLoader(s.store)) };
  }
  let rel = a.snapshot?.path;
  if (opts.path) rel = toRepoRel(s.root, opts.cwd ?? s.root, opts.path).replace(/\/+$/, '');
  if (!rel) throw new DvError('USAGE', `${opts.a} is a tree: name the workspace path to compare it with (--path)`);
  const kind = a.snapshot?.kind ?? (await readPointer(s.root, rel))?.pointer.kind ?? 'dir';
  const scan = await scanPath({ root: s.root, rel, index: s.index }).catch((e) => {
    if (e instanceof DvError && e.code === 'PATH_NOT_FOUND') return null;
    throw e;
  });
  const to = scan && scan.kind === kind ? scan.tree : null;
  const load = treeLoader(s.store, scan?.trees);
  const changes = await diffTrees(a.tree, to, load);
  // One change at a time: spreading a list of a million changes into push() overflows the stack.
  if (scan && scan.kind !== kind) await diffTrees(null, scan.tree, load, '', (c) => { changes.push(c); });
  return { from: a.tree, to: to ?? 'workspace', changes };
}
