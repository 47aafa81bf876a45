/**
 * `dv import <repo-url> <path> [--rev REV] [-o PATH]`: `dv get`, then tracked here: the data is
 * fetched from the source's remote into this store, recorded as a snapshot whose message and
 * lineage name the source, checked out, and its pointer file records the source (url, rev, commit,
 * path, snapshot). `dv update <path> [--rev REV]` moves an imported path to the source's newer
 * version (the same rev again, or a new one), as `dvc import` / `dvc update` do.
 *
 * Invariants: the source is cloned and read as any untrusted clone is (read/foreign.ts); objects
 * arrive through fetchObjects (verified, sizes held to their declarations); the snapshot is stored
 * before the pointer names it; the checkout is `dv checkout <snapshot> <path>`, so it refuses to
 * overwrite unsaved changes as checkout does. A `dv commit` of local changes makes the path this
 * repository's own data: the pointer it writes carries no source.
 */
import { isAbsolute, posix, relative, resolve } from 'node:path';
import type { PointerSource } from '../core/pointer.js';
import { encodeTree, type FileEntry } from '../core/tree.js';
import { DvError } from '../errors.js';
import { storeSnapshot } from '../history/snapshot.js';
import { gitState } from '../repo/git.js';
import { VERSION, type RepoSession } from '../repo/repo.js';
import { baseName } from '../read/export.js';
import { checkRepoUrl, openForeign } from '../read/foreign.js';
import { locate } from '../read/locate.js';
import { ObjectSource } from '../read/source.js';
import { fetchObjects } from '../transfer/fetch.js';
import { readPointer, writePointer } from '../workspace/pointers.js';
import { inReservedDir, selectTracked, trackedRel } from '../workspace/tracked.js';
import { checkout } from './checkout.js';

export interface ImportOptions {
  /** Any URL git clones; never an option or a helper transport. */
  url: string;
  /** The path inside the source repository, from its root. */
  path: string;
  /** Branch, tag or commit of the source (default: its default branch). */
  rev?: string;
  /** Where to track it here (default: the path's last name, in the current directory). */
  out?: string;
  cwd?: string;
  jobs?: number;
  force?: boolean;
}

export interface UpdateOptions {
  /** The imported path here. */
  path: string;
  /** Follow this revision from now on (default: the one recorded, i.e. the branch imported). */
  rev?: string;
  cwd?: string;
  jobs?: number;
  force?: boolean;
}

export interface ImportResult {
  path: string;
  snapshot: string;
  /** False when `dv update` found the source's data unchanged. */
  changed: boolean;
  source: PointerSource;
  written: number;
  removed: number;
  bytesFetched: number;
}

/** Fetches the source's `path` at `rev`, records it as `rel`'s next snapshot and checks it out. */
async function bring(
  s: RepoSession,
  rel: string,
  from: ImportOptions,
  parent: string | undefined,
  current?: string,
): Promise<ImportResult> {
  const f = await openForeign(s, from.url, from.rev, from.cwd ?? s.root);
  const src = new ObjectSource(s.store, f.connect);
  try {
    const loc = await locate(src, { root: f.dir, cwd: f.dir, spec: `${f.commit}:${from.path}` });
    const found = loc.found;
    if (found.type === 'tracked' || found.type === 'link')
      throw new DvError('USAGE', `${from.url} ${from.path || '(root)'}: name a tracked file or directory (or a path inside one)`, {
        path: from.path,
      });
    const source: PointerSource = {
      url: from.url,
      ...(from.rev ? { rev: from.rev } : {}),
      commit: f.commit,
      path: loc.path,
      ...(loc.snapshot ? { snapshot: loc.snapshot } : {}),
    };
    const entry: FileEntry | undefined = found.type === 'file' ? found.entry : undefined;
    const h = await src.handle();
    const stats = await fetchObjects({
      store: s.store,
      backend: h.backend,
      remote: h.index,
      roots: [],
      from: entry
        ? [{ id: entry.id, kind: entry.chunked ? 'manifest' : 'chunk', size: entry.size }]
        : [
            {
              id: found.type === 'dir' ? found.id : '',
              kind: 'tree',
              size: found.type === 'dir' ? found.size : 0,
              files: found.type === 'dir' ? found.files : 0,
            },
          ],
      history: false,
      jobs: from.jobs ?? (Number(f.remote.jobs) || 8),
    });
    // A file is tracked as a tree of one entry named after it here.
    const tree = entry
      ? await s.store.putObject(encodeTree({ entries: [{ ...entry, name: posix.basename(rel) }] }))
      : (found as { id: string }).id;
    const size = entry ? entry.size : (found as { size: number }).size;
    const files = entry ? 1 : (found as { files: number }).files;
    if (tree === current)
      return { path: rel, snapshot: parent!, changed: false, source, written: 0, removed: 0, bytesFetched: stats.bytesFetched };
    const meta: Record<string, string> = { 'source.url': source.url, 'source.commit': source.commit, 'source.path': source.path };
    if (source.rev) meta['source.rev'] = source.rev;
    if (source.snapshot) meta['source.snapshot'] = source.snapshot;
    const snapshot = await storeSnapshot(
      s,
      rel,
      { kind: entry ? 'file' : 'dir', tree, size, files },
      {
        parent,
        message: `import of ${source.path} from ${source.url} at ${source.rev ?? 'its default branch'} (${source.commit.slice(0, 10)})`,
        time: new Date().toISOString(),
        lineage: { git: await gitState(s.root), dv: VERSION, meta },
      },
    );
    await s.store.flush();
    const c = await checkout(s, {
      target: snapshot,
      paths: [rel],
      cwd: s.root,
      new: parent === undefined,
      force: from.force,
      jobs: from.jobs,
    });
    return {
      path: rel,
      snapshot,
      changed: true,
      source,
      written: c.paths[0].written,
      removed: c.paths[0].removed,
      bytesFetched: stats.bytesFetched,
    };
  } finally {
    await src.close();
    await f.close();
  }
}

/** Records the source in the pointer file checkout wrote (or left: data unchanged). */
async function recordSource(s: RepoSession, r: ImportResult): Promise<void> {
  const t = await readPointer(s.root, r.path);
  if (t) await writePointer(s.root, r.path, { ...t.pointer, source: r.source });
}

export async function importData(s: RepoSession, o: ImportOptions): Promise<ImportResult> {
  const cwd = o.cwd ?? s.root;
  checkRepoUrl(o.url);
  if (o.path.startsWith('/') || o.path.startsWith('./') || o.path.startsWith('../'))
    throw new DvError('USAGE', `${o.path}: give the path inside the source repository from its root (e.g. data/labels.csv)`, {
      path: o.path,
    });
  const rel = trackedRel(s.root, cwd, o.out ?? baseName(o.path));
  if (rel === '' || inReservedDir(rel)) throw new DvError('USAGE', `cannot import into ${o.out ?? o.path}`, { path: rel });
  if (await readPointer(s.root, rel))
    throw new DvError('USAGE', `${rel} is tracked already: \`dv update ${rel}\` moves an imported path to a newer version`, { path: rel });
  // A relative local source is recorded from the repository root, so `dv update` finds it from anywhere.
  const url = /^\.\.?(\/|$)/.test(o.url) ? relative(s.root, resolve(cwd, o.url)) || '.' : o.url;
  const r = await bring(s, rel, { ...o, url: url.startsWith('.') || isAbsolute(url) ? url : `./${url}`, cwd: s.root }, undefined);
  await recordSource(s, r);
  return r;
}

export async function update(s: RepoSession, o: UpdateOptions): Promise<ImportResult> {
  const [t] = await selectTracked(s, [o.path], o.cwd ?? s.root);
  const src = t.pointer.source;
  if (!src || t.rel !== trackedRel(s.root, o.cwd ?? s.root, o.path))
    throw new DvError('USAGE', `${o.path} was not imported (its pointer file names no source): \`dv import URL PATH\` imports data`, {
      path: o.path,
    });
  const rev = o.rev ?? src.rev;
  const r = await bring(s, t.rel, { url: src.url, path: src.path, rev, jobs: o.jobs, force: o.force }, t.pointer.snapshot, t.pointer.tree);
  await recordSource(s, r);
  return r;
}
