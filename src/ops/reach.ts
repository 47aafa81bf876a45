/**
 * Reachability: the roots a repository keeps (pointer files in the workspace and on every git
 * ref, with their snapshot history) and every object reachable from them.
 */
import { decodeManifest } from '../core/manifest.js';
import { decodePointer } from '../core/pointer.js';
import { decodeSnapshot } from '../core/snapshot.js';
import { decodeTree } from '../core/tree.js';
import { DvError } from '../errors.js';
import { git } from '../repo/git.js';
import type { RepoSession } from '../repo/repo.js';
import { findTracked } from '../workspace/pointers.js';

export interface Problem {
  code: 'OBJECT_MISSING' | 'OBJECT_CORRUPT' | 'BAD_OBJECT' | 'BAD_POINTER' | 'UNSAFE_PATH';
  id?: string;
  message: string;
}

/** Snapshot ids named by pointer files in the workspace and in every git ref (branches, tags). */
export async function rootSnapshots(s: RepoSession, opts: { gitRefs?: boolean } = {}): Promise<{ roots: string[]; problems: Problem[] }> {
  const roots = new Set<string>();
  const problems: Problem[] = [];
  try {
    for (const t of await findTracked(s.root)) roots.add(t.pointer.snapshot);
  } catch (e) {
    if (e instanceof DvError && e.code === 'BAD_POINTER') problems.push({ code: 'BAD_POINTER', message: e.message });
    else throw e;
  }
  if (opts.gitRefs !== false) {
    const refs = await git(s.root, ['for-each-ref', '--format=%(objectname)', 'refs/heads', 'refs/tags', 'refs/remotes']);
    const head = await git(s.root, ['rev-parse', '-q', '--verify', 'HEAD']);
    const commits = new Set([...refs.stdout.split('\n'), head.stdout.trim()].filter((x) => /^[0-9a-f]{40,64}$/.test(x)));
    const blobs = new Set<string>();
    for (const c of commits) {
      const lt = await git(s.root, ['ls-tree', '-r', '-z', c]);
      for (const rec of lt.stdout.split('\0')) {
        const m = /^\d+ blob ([0-9a-f]+)\t(.*)$/s.exec(rec);
        if (m && m[2].endsWith('.dv') && !m[2].startsWith('.dv/')) blobs.add(m[1]);
      }
    }
    if (blobs.size > 0) {
      const r = await git(s.root, ['cat-file', '--batch'], [...blobs].join('\n') + '\n');
      const out = Buffer.from(r.stdout, 'utf8');
      let pos = 0;
      while (pos < out.length) {
        const nl = out.indexOf(10, pos);
        if (nl < 0) break;
        const header = out.toString('utf8', pos, nl).split(' ');
        const size = Number(header[2]);
        if (!Number.isSafeInteger(size)) break;
        const body = out.toString('utf8', nl + 1, nl + 1 + size);
        pos = nl + 1 + size + 1;
        try { roots.add(decodePointer(body, `git blob ${header[0]}`).snapshot); } catch { /* not a pointer file */ }
      }
    }
  }
  return { roots: [...roots].sort(), problems };
}

/**
 * Every object reachable from `roots` (snapshots with their parents, trees, manifests, chunks).
 * Objects that cannot be read are reported, never fatal. With `verifyChunks`, chunks are read too.
 */
export async function reachable(s: RepoSession, roots: string[], opts: { verifyChunks?: boolean; history?: boolean } = {}): Promise<{ ids: Set<string>; meta: Set<string>; problems: Problem[]; shallow: string[] }> {
  const ids = new Set<string>();
  // Structured objects (snapshots, trees, manifests), as opposed to raw chunks.
  const meta = new Set<string>();
  const problems: Problem[] = [];
  const read = async (id: string, what: string): Promise<Buffer | undefined> => {
    try {
      return await s.store.get(id);
    } catch (e) {
      if (e instanceof DvError && (e.code === 'OBJECT_MISSING' || e.code === 'OBJECT_CORRUPT')) {
        problems.push({ code: e.code, id, message: `${what} ${id}: ${e.code === 'OBJECT_MISSING' ? 'missing' : 'corrupt'}` });
        return undefined;
      }
      throw e;
    }
  };
  const decodeOr = <T>(f: () => T, id: string, what: string): T | undefined => {
    try { return f(); } catch (e) {
      if (e instanceof DvError) { problems.push({ code: e.code === 'UNSAFE_PATH' ? 'UNSAFE_PATH' : 'BAD_OBJECT', id, message: `${what} ${id}: ${e.message}` }); return undefined; }
      throw e;
    }
  };
  const file = async (id: string, chunked: boolean): Promise<void> => {
    if (ids.has(id)) return;
    ids.add(id);
    if (!chunked) {
      if (opts.verifyChunks) await read(id, 'chunk');
      else if (!(await s.store.has(id))) problems.push({ code: 'OBJECT_MISSING', id, message: `chunk ${id}: missing` });
      return;
    }
    meta.add(id);
    const bytes = await read(id, 'file manifest');
    const node = bytes && decodeOr(() => decodeManifest(bytes, id), id, 'file manifest');
    if (!node) return;
    if (node.level > 0) for (const c of node.children) await file(c.id, true);
    else {
      const fresh = node.children.filter((c) => !ids.has(c.id));
      if (!opts.verifyChunks) {
        const have = await s.store.hasMany(fresh.map((c) => c.id));
        fresh.forEach((c, i) => { ids.add(c.id); if (!have[i]) problems.push({ code: 'OBJECT_MISSING', id: c.id, message: `chunk ${c.id} of file ${id.slice(0, 12)}: missing` }); });
      } else for (const c of fresh) await file(c.id, false);
    }
  };
  const tree = async (id: string): Promise<void> => {
    if (ids.has(id)) return;
    ids.add(id);
    meta.add(id);
    const bytes = await read(id, 'tree');
    const t = bytes && decodeOr(() => decodeTree(bytes, id), id, 'tree');
    if (!t) return;
    for (const e of t.entries) {
      if (e.type === 'dir') await tree(e.id);
      else if (e.type === 'file') await file(e.id, e.chunked);
    }
  };
  const rootSet = new Set(roots);
  // History that was never fetched (a clone pulls only what its pointers name) is not damage.
  const shallow: string[] = [];
  const queue = [...roots];
  while (queue.length > 0) {
    const id = queue.pop()!;
    if (ids.has(id)) continue;
    if (!rootSet.has(id) && !(await s.store.has(id))) { shallow.push(id); continue; }
    ids.add(id);
    meta.add(id);
    const bytes = await read(id, 'snapshot');
    const snap = bytes && decodeOr(() => decodeSnapshot(bytes, id), id, 'snapshot');
    if (!snap) continue;
    await tree(snap.tree);
    if (opts.history !== false) queue.push(...snap.parents);
  }
  return { ids, meta, problems, shallow };
}
