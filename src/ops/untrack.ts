/**
 * `dv remove` (stop tracking a path) and `dv move` (rename a tracked path), as `dvc remove` and
 * `dvc move` do: the pointer file and the .gitignore line follow, the history stays in the store
 * (a moved path's new snapshot names the old one as its parent), and no user file is lost.
 */
import { promises as fsp } from 'node:fs';
import { join, posix } from 'node:path';
import { DvError, fsError } from '../errors.js';
import { gitState } from '../repo/git.js';
import { VERSION, type RepoSession } from '../repo/repo.js';
import { findTracked, ignoreInGit, pointerRelFor, stageable, unignoreInGit, type Tracked } from '../workspace/pointers.js';
import { checkTrackedPath } from '../workspace/safe-path.js';
import { inReservedDir, trackedRel } from '../workspace/tracked.js';
import { scanPath, toRepoRel } from '../workspace/scan.js';
import { walkTree } from '../workspace/walk.js';
import { fileTreeNamed } from '../history/objects.js';
import { pointAt, storeSnapshot } from '../history/snapshot.js';
import { loadPipeline } from '../pipeline/state.js';

export interface RemoveOptions {
  paths: string[];
  cwd?: string;
  /** Also delete the workspace copy (refused when it has changes not committed, unless force). */
  data?: boolean;
  force?: boolean;
}

export interface RemoveResult {
  removed: { path: string; pointer: string; gitignore?: string; dataRemoved: boolean }[];
  /** Files a git user should `git add` next (the pointer files' deletions, the .gitignore files). */
  gitAdd: string[];
}

/** The tracked path `p` names exactly (the data's path or its pointer file's), else NOT_TRACKED. */
function exactlyTracked(all: Tracked[], root: string, cwd: string, p: string): Tracked {
  const rel = trackedRel(root, cwd, p, all);
  const t = all.find((x) => x.rel === rel);
  if (t) return t;
  const outer = all.find((x) => rel.startsWith(x.rel + '/'));
  if (outer) throw new DvError('USAGE', `${p} is inside ${outer.rel}, which dv tracks as a whole: name ${outer.rel}`, { path: p });
  throw new DvError('NOT_TRACKED', `${p} is not tracked by dv (no ${rel}.dv): see \`dv status\` for the tracked paths`, { path: p });
}

/** The stage whose out `rel` is (or is inside), if any: its path belongs to dv.yaml. */
async function stageOf(root: string, rel: string): Promise<string | undefined> {
  const p = await loadPipeline(root).catch(() => undefined);
  return p?.spec.stages.find((st) => st.outs.some((o) => o === rel || rel.startsWith(o + '/') || o.startsWith(rel + '/')))?.name;
}

export async function remove(s: RepoSession, opts: RemoveOptions): Promise<RemoveResult> {
  if (opts.paths.length === 0) throw new DvError('USAGE', 'dv remove needs at least one tracked path, e.g. `dv remove data`');
  const all = await findTracked(s.root);
  const targets = [...new Map(opts.paths.map((p) => exactlyTracked(all, s.root, opts.cwd ?? s.root, p)).map((t) => [t.rel, t])).values()];
  for (const t of targets) {
    const stage = await stageOf(s.root, t.rel);
    if (stage)
      throw new DvError(
        'USAGE',
        `${t.rel} is an output of stage ${stage}: remove it from dv.yaml (\`dv stage remove ${stage}\` or edit the file) instead`,
        { path: t.rel, stage },
      );
  }
  // Check everything first: nothing changes unless every path can go.
  if (opts.data && !opts.force) {
    for (const t of targets) {
      const exists = await fsp.lstat(join(s.root, t.rel)).then(
        () => true,
        () => false,
      );
      if (!exists) continue;
      const scan = await scanPath({ root: s.root, rel: t.rel, index: s.index });
      if (scan.tree !== t.pointer.tree) {
        throw new DvError(
          'UNSAVED_CHANGES',
          `${t.rel} has changes not recorded with \`dv commit\`: commit them first, or pass --force to delete them with the data`,
          { paths: [t.rel] },
        );
      }
    }
  }
  const result: RemoveResult = { removed: [], gitAdd: [] };
  const gitAdd = new Set<string>();
  for (const t of targets) {
    let dataRemoved = false;
    if (opts.data) {
      const abs = join(s.root, t.rel);
      const exists = await fsp.lstat(abs).then(
        () => true,
        () => false,
      );
      if (exists) {
        await fsp.rm(abs, { recursive: true, force: true }).catch((e) => {
          throw fsError(e, abs);
        });
        dataRemoved = true;
      }
    }
    await fsp.rm(join(s.root, t.pointerRel), { force: true });
    const gitignore = await unignoreInGit(s.root, t.rel);
    result.removed.push({ path: t.rel, pointer: t.pointerRel, ...(gitignore ? { gitignore } : {}), dataRemoved });
    gitAdd.add(t.pointerRel);
    if (gitignore) gitAdd.add(gitignore);
  }
  result.gitAdd = await stageable(s.root, [...gitAdd]);
  return result;
}

export interface MoveOptions {
  from: string;
  to: string;
  cwd?: string;
  message?: string;
}

export interface MoveResult {
  from: string;
  to: string;
  /** The new snapshot (same tree) at the new path; its parent is the old path's snapshot. */
  snapshot: string;
  parent: string;
  pointer: string;
  /** Whether workspace data was moved (false when the path was not checked out). */
  dataMoved: boolean;
  gitAdd: string[];
}

/**
 * The tree of `t` moved to `to`. A file's tree names the file: under a new name it must say the new
 * one, else the moved file never matches its pointer (status would show it added and deleted).
 * Renaming needs the tree in the local store: without it nothing is changed.
 */
async function treeUnder(s: RepoSession, t: Tracked, to: string): Promise<string> {
  const name = posix.basename(to);
  if (t.pointer.kind !== 'file' || name === posix.basename(t.rel)) return t.pointer.tree;
  return fileTreeNamed(s.store, t.pointer.tree, name).catch((e: unknown) => {
    if (!(e instanceof DvError && e.code === 'OBJECT_MISSING')) throw e;
    throw new DvError(
      'OBJECT_MISSING',
      `${t.rel}: its tree is not in the local store, and the new name goes into it: run \`dv pull ${t.rel}\` first`,
      { path: t.rel, id: t.pointer.tree },
    );
  });
}

export async function move(s: RepoSession, opts: MoveOptions): Promise<MoveResult> {
  const cwd = opts.cwd ?? s.root;
  const all = await findTracked(s.root);
  const t = exactlyTracked(all, s.root, cwd, opts.from);
  let to = toRepoRel(s.root, cwd, opts.to).replace(/\/+$/, '');
  // `dv move data archive/` moves into an existing directory, as mv does.
  const toStat = await fsp.lstat(join(s.root, to)).catch(() => undefined);
  if (toStat?.isDirectory() && (opts.to.endsWith('/') || !all.some((x) => x.rel === to)))
    to = to === '' ? posix.basename(t.rel) : `${to}/${posix.basename(t.rel)}`;
  if (to === '' || to === t.rel) throw new DvError('USAGE', `${opts.to}: give a new path for ${t.rel}`, { path: opts.to });
  if (inReservedDir(to)) throw new DvError('USAGE', `${opts.to} is inside .dv or .git: choose another path`, { path: opts.to });
  if (to.endsWith('.dv'))
    throw new DvError('USAGE', `${opts.to}: a tracked path cannot end in .dv (its pointer file would be ${to}.dv)`, { path: opts.to });
  if (to.startsWith(t.rel + '/')) throw new DvError('USAGE', `cannot move ${t.rel} inside itself`, { path: opts.to });
  const outer = all.find((x) => x.rel !== t.rel && (to.startsWith(x.rel + '/') || x.rel.startsWith(to + '/')));
  if (outer)
    throw new DvError('USAGE', `${opts.to} is inside or contains ${outer.rel}, which dv tracks: choose another path`, { path: opts.to });
  for (const p of [to, pointerRelFor(to)]) {
    if (
      await fsp.lstat(join(s.root, p)).then(
        () => true,
        () => false,
      )
    )
      throw new DvError('USAGE', `${p} already exists: move it away or choose another path`, { path: p });
  }
  const stage = await stageOf(s.root, t.rel);
  if (stage)
    throw new DvError('USAGE', `${t.rel} is an output of stage ${stage}: change its path in dv.yaml instead`, { path: t.rel, stage });
  await checkTrackedPath(s.root, to);
  const tree = await treeUnder(s, t, to);

  const fromAbs = join(s.root, t.rel);
  const toAbs = join(s.root, to);
  const dataMoved = await fsp.lstat(fromAbs).then(
    () => true,
    () => false,
  );
  if (dataMoved) {
    await fsp.mkdir(posix.dirname(toAbs), { recursive: true });
    try {
      await fsp.rename(fromAbs, toAbs);
    } catch (e) {
      throw fsError(e, toAbs);
    }
    // rename keeps inodes and mtimes: the stat cache's entries move with the files, so the
    // next status does not hash them again.
    const rels = t.pointer.kind === 'dir' ? walkTree(toAbs).files.map((f) => f.rel) : [''];
    const key = (base: string, r: string): string => (r ? `${base}/${r}` : base);
    const old = await s.index.getStats(rels.map((r) => key(t.rel, r)));
    await s.index.putStats(rels.flatMap((r, i) => (old[i] ? [[key(to, r), old[i]] as [string, (typeof old)[number]]] : [])));
  }
  const shape = { kind: t.pointer.kind, tree, size: t.pointer.size, files: t.pointer.files };
  const id = await storeSnapshot(s, to, shape, {
    parent: t.pointer.snapshot,
    message: opts.message ?? `move ${t.rel} to ${to}`,
    time: new Date().toISOString(),
    lineage: { git: await gitState(s.root), dv: VERSION, meta: {} },
  });
  await s.store.flush();
  await pointAt(s, to, id, shape);
  const ignored = await ignoreInGit(s.root, to);
  await fsp.rm(join(s.root, t.pointerRel), { force: true });
  const unignored = await unignoreInGit(s.root, t.rel);
  const named = [...new Set([t.pointerRel, pointerRelFor(to), ...(ignored ? [ignored] : []), ...(unignored ? [unignored] : [])])];
  const gitAdd = await stageable(s.root, named);
  return { from: t.rel, to, snapshot: id, parent: t.pointer.snapshot, pointer: pointerRelFor(to), dataMoved, gitAdd };
}
