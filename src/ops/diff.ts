/**
 * `dv diff`: files added, modified and deleted between two snapshots/trees, or one and the
 * workspace; or, as `dvc diff HEAD~1` does, between the data two git revisions name (their
 * pointer files), or one revision and the workspace, over every tracked path or the ones named.
 */
import { posix } from 'node:path';
import { diffTrees, type Change } from '../core/diff.js';
import { isIdPrefix } from '../core/ids.js';
import type { Tree } from '../core/tree.js';
import { DvError, isDvError } from '../errors.js';
import { pointersAt, resolveCommit, type PointerAt } from '../repo/git-revision.js';
import type { RepoSession } from '../repo/repo.js';
import { findTracked, readPointer } from '../workspace/pointers.js';
import { scanPath, toRepoRel } from '../workspace/scan.js';
import { loadSnapshot, resolveTreeish, treeLoader } from '../history/objects.js';

/** What `resolveTreeish` gives: the tree (and snapshot) an id names. */
type Treeish = Awaited<ReturnType<typeof resolveTreeish>>;

export interface DiffOptions {
  /** A snapshot or tree id (prefix), or a git revision (`HEAD~1`, `main`, `v1`). */
  a: string;
  /** Second snapshot/tree or git revision; omitted: the workspace. */
  b?: string;
  /** Workspace path for `a` when `a` is a bare tree. */
  path?: string;
  /** With git revisions: only these tracked paths (or paths inside them). */
  paths?: string[];
  cwd?: string;
}

export interface DiffResult {
  from: string;
  to: string;
  /** With git revisions, paths are from the repository root; otherwise inside the snapshot. */
  changes: Change[];
}

/** A snapshot/tree id, else a git commit; `undefined` when `arg` is neither. */
async function resolveArg(s: RepoSession, arg: string): Promise<{ commit: string } | { object: Treeish } | undefined> {
  if (isIdPrefix(arg.toLowerCase())) {
    try {
      return { object: await resolveTreeish(s.store, arg) };
    } catch (e) {
      if (!isDvError(e, 'UNKNOWN_ID')) throw e;
    }
  }
  const commit = await resolveCommit(s.root, arg);
  return commit ? { commit } : undefined;
}

export async function diff(s: RepoSession, opts: DiffOptions): Promise<DiffResult> {
  const a = await resolveArg(s, opts.a);
  // Hex that names nothing says why (too short, no such object) as for any id.
  if (!a && /^[0-9a-f]+$/i.test(opts.a)) await resolveTreeish(s.store, opts.a);
  if (!a) {
    throw new DvError(
      'UNKNOWN_ID',
      `${opts.a} is neither a snapshot or tree id here nor a git revision: see \`dv log\` or \`dv log --git\``,
      { arg: opts.a },
    );
  }
  if ('commit' in a) {
    let b: { commit: string } | undefined;
    const paths = [...(opts.paths ?? [])];
    if (opts.b !== undefined) {
      const r = await resolveArg(s, opts.b);
      if (r && 'commit' in r) b = r;
      else if (r)
        throw new DvError(
          'USAGE',
          `dv diff ${opts.a} ${opts.b}: compare a git revision with another revision or the workspace, not with a snapshot id`,
        );
      else paths.unshift(opts.b);
    }
    return diffRevisions(s, a.commit, b?.commit, paths, opts.cwd ?? s.root);
  }
  if (opts.paths?.length)
    throw new DvError('USAGE', `dv diff ${opts.a}: paths go with git revisions; for a snapshot, name its workspace path with --path`);
  return diffObjects(s, a.object, opts);
}

/** `a`: the object `opts.a` names, resolved once by `diff`. */
async function diffObjects(s: RepoSession, a: Treeish, opts: DiffOptions): Promise<DiffResult> {
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
  if (scan && scan.kind !== kind)
    await diffTrees(null, scan.tree, load, '', (c) => {
      changes.push(c);
    });
  return { from: a.tree, to: to ?? 'workspace', changes };
}

/** One side of a tracked path: its root tree and kind, or absent. */
type Side = { tree: string; kind: 'dir' | 'file' } | undefined;

/** The tree a pointer at a commit names, checked against its snapshot (a pointer whose tree was edited is refused). */
async function pointerSide(s: RepoSession, commit: string, p: PointerAt): Promise<Side> {
  const snap = await loadSnapshot(s.store, p.pointer.snapshot).catch((e) => {
    if (isDvError(e, 'OBJECT_MISSING')) {
      const hint = `\`dv fetch --all-history\` brings it (or \`git checkout ${commit.slice(0, 10)} && dv pull\`)`;
      throw new DvError(
        'OBJECT_MISSING',
        `${p.rel}: snapshot ${p.pointer.snapshot.slice(0, 12)} (at ${commit.slice(0, 10)}) is not in this clone: ${hint}`,
        { path: p.rel, id: p.pointer.snapshot },
      );
    }
    throw e;
  });
  if (snap.tree !== p.pointer.tree) {
    throw new DvError(
      'BAD_POINTER',
      `${p.rel}.dv at ${commit.slice(0, 10)}: its tree is not its snapshot's tree (edited by hand?): not compared`,
      { path: p.rel },
    );
  }
  return { tree: snap.tree, kind: p.pointer.kind };
}

async function diffRevisions(s: RepoSession, a: string, b: string | undefined, paths: string[], cwd: string): Promise<DiffResult> {
  const before = new Map((await pointersAt(s.root, a)).map((p) => [p.rel, p]));
  const after = b ? new Map((await pointersAt(s.root, b)).map((p) => [p.rel, p])) : undefined;
  const rels = new Set([...before.keys(), ...(after ? after.keys() : (await findTracked(s.root)).map((t) => t.rel))]);
  const wanted = paths.map((p) => toRepoRel(s.root, cwd, p).replace(/\/+$/, '').replace(/\.dv$/, ''));
  const inside = (rel: string): boolean =>
    wanted.length === 0 || wanted.some((w) => w === rel || w.startsWith(rel + '/') || rel.startsWith(w + '/'));
  const keep = (c: Change): boolean => wanted.length === 0 || wanted.some((w) => c.path === w || c.path.startsWith(w + '/'));
  const overlay = new Map<string, Tree>();
  const load = treeLoader(s.store, overlay);
  const changes: Change[] = [];
  for (const rel of [...rels].sort()) {
    if (!inside(rel)) continue;
    const pa = before.get(rel);
    const from: Side = pa ? await pointerSide(s, a, pa) : undefined;
    let to: Side;
    if (after) {
      const pb = after.get(rel);
      to = pb ? await pointerSide(s, b!, pb) : undefined;
    } else {
      const scan = await scanPath({ root: s.root, rel, index: s.index }).catch((e) => {
        if (isDvError(e, 'PATH_NOT_FOUND')) return undefined;
        throw e;
      });
      if (scan) for (const [id, t] of scan.trees) overlay.set(id, t);
      to = scan ? { tree: scan.tree, kind: scan.kind } : undefined;
    }
    // A file's tree holds its one entry (named as when it was recorded): compare it as `rel`,
    // from the parent directory.
    const parent = posix.dirname(rel) === '.' ? '' : posix.dirname(rel);
    const asRel = async (side: Side, tag: string): Promise<string | null> => {
      if (!side) return null;
      if (side.kind === 'dir') return side.tree;
      const t = await load(side.tree);
      const key = `${tag}:${side.tree}`;
      overlay.set(key, { entries: t.entries.slice(0, 1).map((e) => ({ ...e, name: posix.basename(rel) })) });
      return key;
    };
    const [ta, tb] = [await asRel(from, 'a'), await asRel(to, 'b')];
    // One change at a time (a million of them spread into push() would overflow the stack).
    const add = (c: Change): void => {
      if (keep(c)) changes.push(c);
    };
    if (from && to && from.kind === to.kind) await diffTrees(ta, tb, load, from.kind === 'dir' ? rel : parent, add);
    else {
      if (from) await diffTrees(ta, null, load, from.kind === 'dir' ? rel : parent, add);
      if (to) await diffTrees(null, tb, load, to.kind === 'dir' ? rel : parent, add);
    }
  }
  return { from: a, to: b ?? 'workspace', changes };
}
