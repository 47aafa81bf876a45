/**
 * Differences between two trees, descending only into subtrees whose ids differ.
 * Reports files and symlinks (directories are implied by their contents).
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

/** Changes that turn tree `a` into tree `b` (either may be null: the empty tree). */
export async function diffTrees(a: string | null, b: string | null, load: TreeLoader, prefix = ''): Promise<Change[]> {
  if (a === b) return [];
  const ta = a ? await load(a) : { entries: [] };
  const tb = b ? await load(b) : { entries: [] };
  const out: Change[] = [];
  const byName = new Map<string, [TreeEntry | undefined, TreeEntry | undefined]>();
  for (const e of ta.entries) byName.set(e.name, [e, undefined]);
  for (const e of tb.entries) byName.set(e.name, [byName.get(e.name)?.[0], e]);
  const names = [...byName.keys()].sort();
  for (const name of names) {
    const [ea, eb] = byName.get(name)!;
    const path = join(prefix, name);
    if (ea && eb && ea.type === 'dir' && eb.type === 'dir') {
      out.push(...(await diffTrees(ea.id, eb.id, load, path)));
      continue;
    }
    if (ea && eb && sameLeaf(ea, eb)) continue;
    if (ea && eb && ea.type !== 'dir' && eb.type !== 'dir') {
      out.push({ type: 'modified', path, kind: eb.type, ...(eb.type === 'file' ? { size: eb.size } : {}) });
      continue;
    }
    if (ea) {
      if (ea.type === 'dir') out.push(...(await diffTrees(ea.id, null, load, path)));
      else out.push({ type: 'deleted', path, kind: ea.type, ...(ea.type === 'file' ? { size: ea.size } : {}) });
    }
    if (eb) {
      if (eb.type === 'dir') out.push(...(await diffTrees(null, eb.id, load, path)));
      else out.push({ type: 'added', path, kind: eb.type, ...(eb.type === 'file' ? { size: eb.size } : {}) });
    }
  }
  return out;
}
