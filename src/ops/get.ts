/**
 * `dv get <repo-url> <path> [-o OUT] [--rev REV]`: a file or directory tracked in another git
 * repository, downloaded from that repository's default remote without tracking it (as `dvc get`).
 * The source is cloned bare into a temp directory and treated as any clone is (read/foreign.ts);
 * only the objects of that path are read (ranged reads, each verified); nothing is written to this
 * repository's store and OUT, which must not exist, appears whole or not at all (read/export.ts).
 */
import { resolve } from 'node:path';
import { DvError } from '../errors.js';
import type { RepoSession } from '../repo/repo.js';
import { baseName, exportTo } from '../read/export.js';
import { openForeign } from '../read/foreign.js';
import { locate } from '../read/locate.js';
import { ObjectSource } from '../read/source.js';

export interface GetOptions {
  /** Any URL git clones (a path, file://, https://, ssh://, host:path); never an option or a helper transport. */
  url: string;
  /** The path inside the source repository, from its root. */
  path: string;
  /** Where to write (default: the path's last name, here); must not exist. */
  out?: string;
  /** Branch, tag or commit of the source (default: its default branch). */
  rev?: string;
  cwd?: string;
}

export interface GetResult {
  url: string;
  rev: string | null;
  /** The git commit of the source whose pointer files were read. */
  commit: string;
  path: string;
  snapshot: string | null;
  remote: string;
  out: string;
  kind: 'file' | 'dir';
  files: number;
  bytes: number;
  /** Bytes of pack data read from the remote. */
  bytesFetched: number;
}

export async function get(s: RepoSession, o: GetOptions): Promise<GetResult> {
  const cwd = o.cwd ?? s.root;
  if (o.path.startsWith('/') || o.path.startsWith('./') || o.path.startsWith('../'))
    throw new DvError('USAGE', `${o.path}: give the path inside the source repository from its root (e.g. data/labels.csv)`, {
      path: o.path,
    });
  const f = await openForeign(s, o.url, o.rev, cwd);
  const src = new ObjectSource(s.store, f.connect);
  try {
    const loc = await locate(src, { root: f.dir, cwd: f.dir, spec: `${f.commit}:${o.path}` });
    const found = loc.found;
    if (found.type === 'tracked' || found.type === 'link')
      throw new DvError('USAGE', `${o.url} ${o.path || '(root)'}: name a tracked file or directory (or a path inside one)`, {
        path: o.path,
      });
    const out = resolve(cwd, o.out ?? baseName(loc.path));
    const what = found.type === 'file' ? { file: found.entry } : { tree: found.id, load: loc.load! };
    const done = await exportTo(src, what, out);
    return {
      url: o.url,
      rev: o.rev ?? null,
      commit: f.commit,
      path: loc.path,
      snapshot: loc.snapshot ?? null,
      remote: f.remote.name,
      out,
      kind: found.type,
      ...done,
      bytesFetched: src.stats.bytes,
    };
  } finally {
    await src.close();
    await f.close();
  }
}
