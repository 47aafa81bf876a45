/**
 * `dv gc`: remove what no pointer file (in the workspace or on any git ref) reaches through its
 * snapshot history. Packs whose objects are all unreachable are deleted; packs with some live
 * objects are repacked first (new pack written and indexed before the old one goes).
 */
import { promises as fsp } from 'node:fs';
import { DvError } from '../errors.js';
import type { RepoSession } from '../repo/repo.js';
import { packPaths, listPackIds } from '../store/pack.js';
import { reachable, rootSnapshots } from './reach.js';
import { loggedSnapshots } from '../repo/reflog.js';

export interface GcOptions {
  dryRun?: boolean;
  /** Snapshots this clone recorded within this many days stay, pointer or not (default 30; 0: none). */
  keepDays?: number;
}

export interface GcResult {
  dryRun: boolean;
  roots: number;
  reachableObjects: number;
  removedObjects: number;
  removedBytes: number;
  removedPacks: number;
  repackedPacks: number;
}

export async function gc(s: RepoSession, opts: GcOptions = {}): Promise<GcResult> {
  const { roots: pointed, problems: rootProblems } = await rootSnapshots(s);
  if (rootProblems.length > 0) throw new DvError('BAD_POINTER', `gc stopped, a pointer file is unreadable: ${rootProblems[0].message}`);
  const keepDays = opts.keepDays ?? 30;
  const recent = keepDays > 0 ? await loggedSnapshots(s.paths.dvDir, new Date(Date.now() - keepDays * 86_400_000)) : [];
  // Logged snapshots may be gone already (an earlier gc with a shorter window): keep only present ones.
  const present = await s.store.hasMany(recent);
  const roots = [...new Set([...pointed, ...recent.filter((_, k) => present[k])])];
  const { ids: live, problems } = await reachable(s, roots);
  const missingRoots = problems.filter((p) => p.code === 'OBJECT_CORRUPT');
  if (missingRoots.length > 0) throw new DvError('OBJECT_CORRUPT', `gc stopped: ${missingRoots[0].message}; run \`dv fsck\` and repair first`);
  const res: GcResult = { dryRun: Boolean(opts.dryRun), roots: roots.length, reachableObjects: live.size, removedObjects: 0, removedBytes: 0, removedPacks: 0, repackedPacks: 0 };
  for (const packId of await listPackIds(s.store.packsDir)) {
    const entries = await s.store.readPackIndex(packId);
    // A copy is kept only where the index points: duplicates and corrupt copies replaced by a
    // good one (after a repair by fetch) go with the unreachable objects.
    const canonical = await s.index.getLocations(entries.map((e) => e.id));
    const keepIt = entries.map((e, k) => live.has(e.id) && canonical[k]?.pack === packId && canonical[k]?.offset === e.offset);
    const dead = entries.filter((_, k) => !keepIt[k]);
    if (dead.length === 0) continue;
    res.removedObjects += dead.length;
    res.removedBytes += dead.reduce((n, e) => n + e.length, 0);
    if (opts.dryRun) continue;
    const keep = entries.filter((_, k) => keepIt[k]);
    for (const e of keep) {
      const raw = await s.store.readAt(e.id, { pack: packId, offset: e.offset, length: e.length, rawSize: e.rawSize, flags: e.flags });
      await s.store.put(e.id, raw, e.flags !== 0);
    }
    if (keep.length > 0) { await s.store.flush(); res.repackedPacks++; }
    const { pack, idx } = packPaths(s.store.packsDir, packId);
    await s.index.removePack(packId, entries.map((e) => e.id));
    // The index goes first: a pack without an index is invisible and harmless.
    await fsp.rm(idx, { force: true });
    await fsp.rm(pack, { force: true });
    res.removedPacks++;
  }
  if (!opts.dryRun) await fsp.rm(s.paths.tmpDir, { recursive: true, force: true });
  return res;
}
