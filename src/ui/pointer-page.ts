/**
 * The pointer files of a page of commits (the Commits view of `dv ui`): for each commit, the
 * pointers it holds and those its first parent holds, from two git processes per page (one
 * `diff-tree --stdin`, one `cat-file --batch`) instead of a tree listing per commit.
 *
 * How: diff-tree gives each commit's pointer changes against its first parent; the pointers of
 * the page's first commit (and of any commit that does not follow its predecessor as its first
 * parent, as happens after a merge) come from a diff against the empty tree; every other state
 * is derived: a parent's pointers are its child's with the child's changes undone.
 *
 * Invariants: revisions reach git only as commit ids from `git log`; a *.dv blob that is not a
 * regular file or not a pointer (too large, malformed) is left out (repo/git-pointers.ts);
 * memory is bounded by the page: its commits times the pointer files each holds.
 */
import type { Pointer } from '../core/pointer.js';
import { POINTER_SUFFIX } from '../core/pointer.js';
import { gitOut, readPointerBlobs } from '../repo/git-pointers.js';
import { isPointerPath } from '../repo/git-revision.js';

export interface PageCommit {
  commit: string;
  parents: string[];
}

export interface PointerStates {
  /** Tracked path (pointer path without `.dv`) to the pointer this commit holds. */
  now: Map<string, Pointer>;
  /** The same for its first parent (empty for a root commit). */
  before: Map<string, Pointer>;
}

type Blobs = Map<string, string>;
const ZERO = /^0+$/;

/** Each input line's entries: path to old and new blob (null: absent, or not a regular file). */
function parse(out: Buffer): Map<string, { path: string; old: string | null; new: string | null }[]> {
  const byLine = new Map<string, { path: string; old: string | null; new: string | null }[]>();
  let current: { path: string; old: string | null; new: string | null }[] | undefined;
  const tokens = out.toString('utf8').split('\0');
  for (let k = 0; k < tokens.length; k++) {
    let t = tokens[k].replace(/^\n+/, '');
    // diff-tree echoes each input line, ended by a newline (not NUL): the entry after it shares the token.
    while (!t.startsWith(':') && t.includes('\n')) {
      const nl = t.indexOf('\n');
      current = [];
      byLine.set(t.slice(0, nl), current);
      t = t.slice(nl + 1).replace(/^\n+/, '');
    }
    if (t.startsWith(':')) {
      const path = tokens[++k] ?? '';
      const [oldMode, newMode, oldBlob, newBlob] = t.slice(1).split(' ');
      const blob = (mode: string, id: string): string | null => (/^100[67]/.test(mode) && !ZERO.test(id) ? id : null);
      if (current && isPointerPath(path)) current.push({ path, old: blob(oldMode, oldBlob), new: blob(newMode, newBlob ?? '') });
    } else if (t !== '') {
      current = [];
      byLine.set(t, current);
    }
  }
  return byLine;
}

export async function pagePointers(root: string, items: PageCommit[]): Promise<PointerStates[]> {
  if (items.length === 0) return [];
  const empty = (await gitOut(root, ['hash-object', '-t', 'tree', '--stdin'], '')).toString('utf8').trim();
  // diff-tree --stdin compares two trees per line: the commits' and their first parents' trees.
  const ids = [...new Set(items.flatMap((c) => [c.commit, ...c.parents.slice(0, 1)]))];
  const check = (await gitOut(root, ['cat-file', '--batch-check'], ids.map((id) => `${id}^{tree}`).join('\n') + '\n'))
    .toString('utf8')
    .split('\n');
  const treeOf = new Map<string, string>();
  ids.forEach((id, k) => {
    const m = /^([0-9a-f]+) tree /.exec(check[k] ?? '');
    if (m) treeOf.set(id, m[1]);
  });
  const tree = (id: string | undefined): string => (id !== undefined && treeOf.get(id)) || empty;
  const delta = (c: PageCommit): string => `${tree(c.parents[0])} ${tree(c.commit)}`;
  const full = (c: PageCommit): string => `${empty} ${tree(c.commit)}`;
  // A commit whose state is not its predecessor's parent state needs its whole pointer set.
  const needsFull = items.map((c, i) => i === 0 || items[i - 1].parents[0] !== c.commit);
  const lines = [...new Set(items.flatMap((c, i) => (needsFull[i] ? [full(c), delta(c)] : [delta(c)])))];
  const out = await gitOut(
    root,
    ['diff-tree', '--stdin', '-r', '-z', '--no-abbrev', '--no-renames', '--no-color', '--', `*${POINTER_SUFFIX}`],
    lines.join('\n') + '\n',
  );
  const entries = parse(out);
  const states: { now: Blobs; before: Blobs }[] = [];
  let carried: Blobs | undefined;
  items.forEach((c, i) => {
    let now: Blobs;
    if (needsFull[i] || !carried) {
      now = new Map();
      for (const e of entries.get(full(c)) ?? []) if (e.new) now.set(e.path, e.new);
    } else now = carried;
    const before = new Map(now);
    for (const e of entries.get(delta(c)) ?? []) {
      if (e.old) before.set(e.path, e.old);
      else before.delete(e.path);
    }
    states.push({ now, before });
    carried = before;
  });
  const blobs = new Set<string>();
  for (const s of states) for (const m of [s.now, s.before]) for (const b of m.values()) blobs.add(b);
  const pointers = await readPointerBlobs(root, [...blobs]);
  const named = (m: Blobs): Map<string, Pointer> => {
    const r = new Map<string, Pointer>();
    for (const [path, blob] of m) {
      const p = pointers.get(blob);
      if (p) r.set(path.slice(0, -POINTER_SUFFIX.length), p);
    }
    return r;
  };
  return states.map((s) => ({ now: named(s.now), before: named(s.before) }));
}
