/**
 * Differences between two trees, descending only into subtrees whose ids differ.
 * Reports files and symlinks (directories are implied by their contents), in path order.
 *
 * Invariants: no recursion (an explicit stack, so a deep tree cannot overflow the call stack)
 * and no spreading of result arrays into calls (a directory of 1,000,000 entries is one list,
 * merged in a single pass: both entry lists are already sorted by name, as decodeTree checks).
 */
import type { Tree, TreeEntry } from './tree.js';

export type ChangeType = 'added' | 'modified' | 'deleted';

export interface Change {
  type: ChangeType;
  path: string;
  kind: 'file' | 'link';
  size?: number;
}

export type TreeLoader = (id: string) => Promise<Tree>;

const join = (prefix: string, name: string): string => (prefix ? `${prefix}/${name}` : name);

function sameLeaf(a: TreeEntry, b: TreeEntry): boolean {
  if (a.type === 'file' && b.type === 'file') return a.id === b.id && a.exec === b.exec;
  if (a.type === 'link' && b.type === 'link') return a.target === b.target;
  return false;
}

function leaf(type: ChangeType, path: string, e: TreeEntry): Change {
  return { type, path, kind: e.type === 'file' ? 'file' : 'link', ...(e.type === 'file' ? { size: e.size } : {}) };
}

/** Work left to do: a pair of directories to compare, or a change ready to report. */
type Task = { a: string | null; b: string | null; prefix: string } | Change;

/**
 * Changes that turn tree `a` into tree `b` (either may be null: the empty tree). `onChange`,
 * when given, receives each change instead of the returned list (which is then empty), so a
 * caller that filters needs no memory for the changes it drops.
 */
export async function diffTrees(
  a: string | null,
  b: string | null,
  load: TreeLoader,
  prefix = '',
  onChange?: (c: Change) => void,
): Promise<Change[]> {
  const out: Change[] = [];
  const emit =
    onChange ??
    ((c: Change) => {
      out.push(c);
    });
  // Tasks are popped from the end: each directory's items are pushed in reverse name order.
  const stack: Task[] = [{ a, b, prefix }];
  while (stack.length > 0) {
    const t = stack.pop()!;
    if ('type' in t) {
      emit(t);
      continue;
    }
    if (t.a === t.b) continue;
    const ea = t.a ? (await load(t.a)).entries : [];
    const eb = t.b ? (await load(t.b)).entries : [];
    const items: Task[] = [];
    let i = 0;
    let j = 0;
    while (i < ea.length || j < eb.length) {
      const x = i < ea.length ? ea[i] : undefined;
      const y = j < eb.length ? eb[j] : undefined;
      // Merge by name: an entry on one side only is deleted or added.
      const only = x && y ? (x.name < y.name ? 'a' : x.name > y.name ? 'b' : 'both') : x ? 'a' : 'b';
      if (only === 'a') {
        removed(x!, t.prefix, items);
        i++;
        continue;
      }
      if (only === 'b') {
        added(y!, t.prefix, items);
        j++;
        continue;
      }
      i++;
      j++;
      const path = join(t.prefix, x!.name);
      if (x!.type === 'dir' && y!.type === 'dir') items.push({ a: x!.id, b: y!.id, prefix: path });
      else if (sameLeaf(x!, y!)) continue;
      else if (x!.type !== 'dir' && y!.type !== 'dir') items.push(leaf('modified', path, y!));
      else {
        removed(x!, t.prefix, items);
        added(y!, t.prefix, items);
      }
    }
    for (let k = items.length - 1; k >= 0; k--) stack.push(items[k]);
  }
  return out;
}

function removed(e: TreeEntry, prefix: string, items: Task[]): void {
  const path = join(prefix, e.name);
  items.push(e.type === 'dir' ? { a: e.id, b: null, prefix: path } : leaf('deleted', path, e));
}

function added(e: TreeEntry, prefix: string, items: Task[]): void {
  const path = join(prefix, e.name);
  items.push(e.type === 'dir' ? { a: null, b: e.id, prefix: path } : leaf('added', path, e));
}
