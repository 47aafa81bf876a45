/** `dv ls`: the entries of a snapshot, a tree, or a tracked path (optionally a directory inside it). */
import type { TreeEntry } from '../core/tree.js';
import { DvError } from '../errors.js';
import type { RepoSession } from '../repo/repo.js';
import { trackedHolding, trackedRel } from '../workspace/tracked.js';
import { findTracked } from '../workspace/pointers.js';
import { resolveTreeish, treeLoader } from '../history/objects.js';
import { isIdPrefix } from '../core/ids.js';

export interface LsEntry {
  path: string;
  type: 'file' | 'dir' | 'link';
  size?: number;
  id?: string;
  exec?: boolean;
  target?: string;
  files?: number;
}

export interface LsOptions {
  target: string;
  recursive?: boolean;
  cwd?: string;
}

export async function ls(s: RepoSession, opts: LsOptions): Promise<LsEntry[]> {
  const load = treeLoader(s.store);
  let tree: string;
  let sub: string[] = [];
  const tracked = await findTracked(s.root);
  let rel: string | undefined;
  try {
    rel = trackedRel(s.root, opts.cwd ?? s.root, opts.target);
  } catch {
    rel = undefined;
  }
  const t = rel !== undefined ? trackedHolding(tracked, rel) : undefined;
  if (t) {
    tree = t.pointer.tree;
    if (rel !== t.rel) sub = rel!.slice(t.rel.length + 1).split('/');
    if (!(await s.store.has(tree)))
      throw new DvError(
        'OBJECT_MISSING',
        `the data of ${t.rel} is not in the local store: \`dv ls :${rel}\` lists it from the remote, \`dv pull ${t.rel}\` brings it`,
        { id: tree, path: t.rel },
      );
  } else if (isIdPrefix(opts.target.toLowerCase())) {
    tree = (await resolveTreeish(s.store, opts.target)).tree;
  } else {
    throw new DvError('NOT_TRACKED', `${opts.target} is neither a tracked path nor an object id`, { arg: opts.target });
  }
  for (let i = 0; i < sub.length; i++) {
    const e: TreeEntry | undefined = (await load(tree)).entries.find((x) => x.name === sub[i]);
    // A file (or link) inside the tracked directory: its own entry, as `ls FILE` does.
    if (e && e.type !== 'dir' && i === sub.length - 1) return [toLs(e, e.name)];
    if (!e || e.type !== 'dir') throw new DvError('PATH_NOT_FOUND', `${opts.target} is not in the tracked data`, { path: opts.target });
    tree = e.id;
  }
  const out: LsEntry[] = [];
  const walk = async (id: string, prefix: string): Promise<void> => {
    for (const e of (await load(id)).entries) {
      const path = prefix ? `${prefix}/${e.name}` : e.name;
      out.push(toLs(e, path));
      if (opts.recursive && e.type === 'dir') await walk(e.id, path);
    }
  };
  await walk(tree, '');
  return out;
}

function toLs(e: TreeEntry, path: string): LsEntry {
  if (e.type === 'file') return { path, type: 'file', size: e.size, id: e.id, exec: e.exec };
  if (e.type === 'dir') return { path, type: 'dir', size: e.size, id: e.id, files: e.files };
  return { path, type: 'link', target: e.target };
}
