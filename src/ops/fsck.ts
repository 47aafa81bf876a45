/**
 * `dv fsck`: re-hash every stored object, check every pack index, and check that everything the
 * pointer files and their history reference is present and well formed, and that each pointer
 * file's tree is its snapshot's. `rebuildIndex` first
 * rebuilds the LevelDB index from the pack indexes.
 */
import { promises as fsp } from 'node:fs';
import { DvError } from '../errors.js';
import type { RepoSession } from '../repo/repo.js';
import { listPackIds, packPaths } from '../store/pack.js';
import { locationIn } from '../store/pack-index.js';
import { reachable, rootSnapshots, type Problem } from '../history/reach.js';
import { findTracked, pointerSnapshotProblem } from '../workspace/pointers.js';

export interface FsckOptions {
  rebuildIndex?: boolean;
  onProgress?: (objects: number, bytes: number) => void;
}

export interface FsckResult {
  ok: boolean;
  packs: number;
  objects: number;
  bytes: number;
  roots: number;
  problems: (Problem & { pack?: string })[];
  /** Damaged copies that a good copy elsewhere replaces; `dv gc` removes them. */
  stale: { id: string; pack: string }[];
  /** Older snapshots named as parents but never fetched (fine: `dv fetch --all-history` brings them). */
  shallow: number;
  /**
   * Snapshots only other git branches, tags or remote refs name, absent from this store (never
   * pulled here, or removed by `dv gc --workspace`): not damage; a checkout of that ref pulls them.
   */
  notFetched: number;
  indexRebuilt: boolean;
}

export async function fsck(s: RepoSession, opts: FsckOptions = {}): Promise<FsckResult> {
  const problems: FsckResult['problems'] = [];
  if (opts.rebuildIndex) {
    await s.index.clear();
    await s.store.syncPacks().catch((e) => {
      if (e instanceof DvError) problems.push({ code: 'OBJECT_CORRUPT', message: e.message });
      else throw e;
    });
  }
  let objects = 0;
  let bytes = 0;
  const stale: { id: string; pack: string }[] = [];
  const packs = await listPackIds(s.store.packsDir);
  for (const packId of packs) {
    let entries: Awaited<ReturnType<typeof s.store.readPackIndex>>;
    try {
      entries = await s.store.readPackIndex(packId);
    } catch (e) {
      if (!(e instanceof DvError)) throw e;
      problems.push({ code: 'OBJECT_CORRUPT', pack: packId, message: e.message });
      continue;
    }
    const { pack } = packPaths(s.store.packsDir, packId);
    if (
      !(await fsp.stat(pack).then(
        () => true,
        () => false,
      ))
    ) {
      problems.push({
        code: 'OBJECT_MISSING',
        pack: packId,
        message: `pack ${pack} is missing (its index names ${entries.length} objects)`,
      });
      continue;
    }
    // In pack order, so the objects of a frame come together and it is decompressed once.
    entries.sort((a, b) => a.offset - b.offset);
    for (const e of entries) {
      try {
        await s.store.readAt(e.id, locationIn(packId, e));
      } catch (err) {
        if (!(err instanceof DvError)) throw err;
        // A bad copy that a good one elsewhere has replaced (a repair by fetch) is only garbage now.
        const good = await s.store.get(e.id).then(
          () => true,
          () => false,
        );
        if (good) stale.push({ id: e.id, pack: packId });
        else
          problems.push({
            code: err.code === 'OBJECT_MISSING' ? 'OBJECT_MISSING' : 'OBJECT_CORRUPT',
            id: e.id,
            pack: packId,
            message: err.message,
          });
      }
      objects++;
      bytes += e.rawSize;
      opts.onProgress?.(objects, bytes);
    }
  }
  const { roots: all, problems: rootProblems } = await rootSnapshots(s);
  problems.push(...rootProblems);
  // A pointer whose tree is not its snapshot's (an edited `tree:` line) checks out other data.
  for (const t of await findTracked(s.root).catch(() => [])) {
    const p = await pointerSnapshotProblem(s.store, t).catch((e: unknown) => (e instanceof DvError ? e : undefined));
    if (p?.code === 'BAD_POINTER') problems.push({ code: 'BAD_POINTER', message: p.message });
  }
  // What the work tree names must be here; what only other git refs name may not have been pulled.
  const here = new Set((await rootSnapshots(s, { gitRefs: false })).roots);
  const present = await s.store.hasMany(all);
  const roots = all.filter((id, k) => present[k] || here.has(id));
  const reach = await reachable(s, roots);
  // Corrupt objects were already reported above with their pack; keep reachability's other findings.
  const seen = new Set(problems.map((p) => p.id).filter(Boolean));
  problems.push(...reach.problems.filter((p) => !(p.id && seen.has(p.id))));
  return {
    ok: problems.length === 0,
    packs: packs.length,
    objects,
    bytes,
    roots: roots.length,
    problems,
    stale,
    shallow: reach.shallow.length,
    notFetched: all.length - roots.length,
    indexRebuilt: Boolean(opts.rebuildIndex),
  };
}
