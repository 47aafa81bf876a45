/**
 * `dv gc`: remove what no pointer file (in the workspace or on any git ref) reaches through its
 * snapshot history. Packs whose objects are all unreachable are deleted; packs with some live
 * objects are repacked first (new pack written and indexed before the old one goes). A frame
 * whose objects all live is copied whole; the live objects of a partly dead frame are re-stored
 * one by one. A cache shared through `cache.dir` is collected with the roots of every repository
 * registered in it, each one's writer lock held meanwhile (src/repo/shared-cache.ts). gc deletes
 * only dv's own file names (packs, indexes, temp files of dead dv processes), only in a store that
 * carries dv's marker and is no directory remote (src/repo/store-trust.ts).
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { DvError } from '../errors.js';
import type { RepoSession } from '../repo/repo.js';
import { packPaths, listPackIds } from '../store/pack.js';
import { locationIn, type PackEntry } from '../store/pack-index.js';
import { FLAG_FRAME } from '../store/codec.js';
import { reachable, rootSnapshotsAt } from '../history/reach.js';
import { RepoLock } from '../repo/lock.js';
import { sharingRepos } from '../repo/shared-cache.js';
import { lockedRuns } from '../pipeline/state.js';
import { runRefIds } from '../pipeline/run-cache.js';
import { isId } from '../core/ids.js';
import { loggedSnapshots } from '../repo/reflog.js';
import { ORPHAN_AGE_MS, removeDeadTemps, removeOrphanPacks } from '../store/leftovers.js';
import { checkStoreForGc } from '../repo/store-trust.js';

export interface GcOptions {
  dryRun?: boolean;
  /** How long to wait for the writer lock of each repository sharing the cache (default 10 s). */
  waitMs?: number;
  /** Snapshots this clone recorded within this many days stay, pointer or not (default 30; 0: none). */
  keepDays?: number;
  /**
   * Keep only the snapshots the work tree's pointer files name (not their history, nor other git
   * branches and tags), as `dvc gc -w`; older versions stay on remotes they were pushed to.
   */
  workspace?: boolean;
}

export interface GcResult {
  dryRun: boolean;
  roots: number;
  reachableObjects: number;
  removedObjects: number;
  removedBytes: number;
  removedPacks: number;
  repackedPacks: number;
  /** What interrupted commands left (packs without an index, temp files of dead processes): files and bytes removed. */
  leftoverFiles: number;
  leftoverBytes: number;
  /** Roots of the repositories whose data was kept: this one, and those sharing its cache. */
  repositories: string[];
}

export async function gc(s: RepoSession, opts: GcOptions = {}): Promise<GcResult> {
  // Only a store dv made (its marker), never a directory remote: before anything is read or deleted.
  await checkStoreForGc(s.paths.cacheDir, s.config, s.root);
  const shared = s.config.get('cache.dir') !== undefined;
  const locks: RepoLock[] = [];
  try {
    return await collect(s, opts, shared, locks);
  } finally {
    for (const l of locks) await l.release().catch(() => undefined);
  }
}

type RepoRoot = { root: string; dvDir: string };

async function collect(s: RepoSession, opts: GcOptions, shared: boolean, locks: RepoLock[]): Promise<GcResult> {
  const repos: RepoRoot[] = [{ root: s.root, dvDir: s.paths.dvDir }];
  if (shared) repos.push(...(await lockSharingRepos(s, opts, locks)));
  const { roots, live } = await liveObjects(s, opts, repos);
  const res: GcResult = {
    dryRun: Boolean(opts.dryRun),
    roots: roots.length,
    reachableObjects: live.size,
    removedObjects: 0,
    removedBytes: 0,
    removedPacks: 0,
    repackedPacks: 0,
    leftoverFiles: 0,
    leftoverBytes: 0,
    repositories: repos.map((r) => r.root),
  };
  for (const packId of await listPackIds(s.store.packsDir)) await collectPack(s, opts, shared, live, packId, res);
  const remove = !opts.dryRun;
  for (const l of [
    await removeOrphanPacks(s.store.packsDir, shared ? ORPHAN_AGE_MS : 0, remove),
    await removeDeadTemps(s.paths.tmpDir, remove),
    await removeDeadTemps(join(s.paths.dvDir, 'tmp'), remove),
  ]) {
    res.leftoverFiles += l.files;
    res.leftoverBytes += l.bytes;
  }
  return res;
}

/** Owns the other repositories sharing the cache: each one's writer lock taken (into `locks`), stale registrations removed. */
async function lockSharingRepos(s: RepoSession, opts: GcOptions, locks: RepoLock[]): Promise<RepoRoot[]> {
  const repos: RepoRoot[] = [];
  const { repos: others, stale } = await sharingRepos(s.paths);
  for (const o of others) {
    // No writer may add to the cache from another repository while its roots are counted.
    locks.push(
      await RepoLock.acquire(o.paths.lock, 'gc (shared cache)', opts.waitMs ?? 10_000).catch((e) => {
        throw e instanceof DvError && e.code === 'REPO_LOCKED'
          ? new DvError(
              'REPO_LOCKED',
              `gc needs every repository sharing ${s.paths.cacheDir} idle, and ${o.root} is busy: ${e.message}`,
              e.data,
            )
          : e;
      }),
    );
    repos.push({ root: o.root, dvDir: o.paths.dvDir });
  }
  if (!opts.dryRun) for (const f of stale) await fsp.rm(f, { force: true });
  return repos;
}

/** Owns what stays: the roots (pointers, recent reflog entries) of every repository, what they reach, and recorded runs. */
async function liveObjects(s: RepoSession, opts: GcOptions, repos: RepoRoot[]): Promise<{ roots: string[]; live: Set<string> }> {
  const keepDays = opts.keepDays ?? 30;
  const since = new Date(Date.now() - keepDays * 86_400_000);
  const pointedAll = new Set<string>();
  const logged = new Set<string>();
  const runs: string[] = [];
  for (const r of repos) {
    const { roots: pointed, problems: rootProblems } = await rootSnapshotsAt(r.root, { gitRefs: !opts.workspace });
    if (rootProblems.length > 0)
      throw new DvError(
        'BAD_POINTER',
        `gc stopped, a pointer file${r.root === s.root ? '' : ` of ${r.root}`} is unreadable: ${rootProblems[0].message}`,
      );
    for (const id of pointed) pointedAll.add(id);
    if (keepDays > 0) for (const id of await loggedSnapshots(r.dvDir, since)) logged.add(id);
    runs.push(...(await lockedRuns(r.root)).map((x) => x.run));
  }
  // Logged snapshots may be gone already (an earlier gc with a shorter window): keep only present ones.
  const recent = [...logged];
  const present = await s.store.hasMany(recent);
  const roots = [...new Set([...pointedAll, ...recent.filter((_, k) => present[k])])];
  const { ids: live, problems } = await reachable(s, roots, { history: !opts.workspace });
  // The run cache: run records dv.lock names, and those the run refs (shared with the cache) point to.
  for (const id of [...runs, ...(await runRefIds(s))]) if (isId(id)) live.add(id);
  const missingRoots = problems.filter((p) => p.code === 'OBJECT_CORRUPT');
  if (missingRoots.length > 0)
    throw new DvError('OBJECT_CORRUPT', `gc stopped: ${missingRoots[0].message}; run \`dv fsck\` and repair first`);
  return { roots, live };
}

/** Owns one pack: counted, and unless a dry run, its live objects repacked before it is deleted. */
async function collectPack(
  s: RepoSession,
  opts: GcOptions,
  shared: boolean,
  live: Set<string>,
  packId: string,
  res: GcResult,
): Promise<void> {
  const entries = await s.store.readPackIndex(packId);
  // A copy is kept only where the index points: duplicates and corrupt copies replaced by a
  // good one (after a repair by fetch) go with the unreachable objects. In a shared cache every
  // live copy stays, since another repository's index may point at any of them.
  const canonical = await s.index.getLocations(entries.map((e) => e.id));
  const keepIt = entries.map((e, k) => live.has(e.id) && (shared || (canonical[k]?.pack === packId && canonical[k]?.offset === e.offset)));
  const dead = entries.filter((_, k) => !keepIt[k]);
  if (dead.length === 0) return;
  res.removedObjects += dead.length;
  res.removedBytes += dead.reduce((n, e) => n + e.length, 0);
  const keep = entries.filter((_, k) => keepIt[k]).sort((a, b) => a.offset - b.offset);
  if (opts.dryRun) {
    // What the real run does with this pack: repack its live objects (if any), then delete it.
    if (keep.length > 0) res.repackedPacks++;
    res.removedPacks++;
    return;
  }
  await repackLive(s, packId, keep, dead);
  if (keep.length > 0) {
    await s.store.flush();
    res.repackedPacks++;
  }
  const { pack, idx } = packPaths(s.store.packsDir, packId);
  await s.index.removePack(
    packId,
    entries.map((e) => e.id),
  );
  // The index goes first: a pack without an index is invisible and harmless.
  await fsp.rm(idx, { force: true });
  await fsp.rm(pack, { force: true });
  res.removedPacks++;
}

/** Owns re-storing a pack's live objects (sorted by offset): a frame with no dead member whole, the rest one by one. */
async function repackLive(s: RepoSession, packId: string, keep: PackEntry[], dead: PackEntry[]): Promise<void> {
  const deadFrames = new Set(dead.filter((e) => e.flags === FLAG_FRAME).map((e) => e.offset));
  for (let k = 0; k < keep.length; k++) {
    const e = keep[k];
    const loc = locationIn(packId, e);
    if (e.flags === FLAG_FRAME && !deadFrames.has(e.offset)) {
      let end = k;
      while (end + 1 < keep.length && keep[end + 1].offset === e.offset) end++;
      const members = keep.slice(k, end + 1);
      const { stored } = await s.store.readFrame(e.id, loc);
      for (const m of members) await s.store.readAt(m.id, { ...loc, rawSize: m.rawSize, inner: m.inner ?? 0 });
      await s.store.putFrame(
        stored,
        members.map((m) => ({ id: m.id, rawSize: m.rawSize, inner: m.inner ?? 0 })),
      );
      k = end;
      continue;
    }
    const raw = await s.store.readAt(e.id, loc);
    await s.store.put(e.id, raw, e.flags !== 0);
  }
}
