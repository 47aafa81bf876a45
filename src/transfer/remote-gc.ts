/**
 * `dv gc --remote`: delete what no root reaches from a remote that other clones push to and pull
 * from at the same time. Two phases, as git's cruft packs with gc.pruneExpire and restic's prune:
 *
 * 1. mark: a pack that holds nothing live (or no index: a killed push), and a run record no
 *    dv.lock names, gets a mark `gc/<kind>/<xx>/<id>.<ms>` (remote-gc-marks.ts). Packs with less
 *    than half their bytes live are repacked first (their live objects written to a new pack, its
 *    index after it, both visible before the old pack is marked); protected packs never are.
 * 2. sweep: a mark made by an EARLIER run (before this one started) and older than the grace is
 *    acted on if its pack or record is still unreferenced now (else the mark is removed): run
 *    records first (names before data), then for each pack its index, its pack, its marks. An
 *    orphan pack whose index appeared meanwhile is left for the next run to judge.
 *
 * A push relies on a pack only if it is unmarked (remote-gc-marks.ts guardPush), so a pack is
 * deleted only after it was unreferenced for the whole grace and no push began relying on it
 * after it was marked. A pack under S3 Object Lock retention is neither repacked nor deleted: gc
 * asks the store first (remote-gc-lock.ts), reports it with its date, keeps its mark and its index,
 * and deletes it on the first run after the retention ends. A delete the store refuses anyway is
 * reported and kept the same way.
 * Then the temp files of writes that never finished (a killed push) go, once untouched for the
 * grace and at least an hour (`sweepLeftovers`: a directory remote; S3 keeps none under keys).
 * Invariants: nothing is deleted in a dry run or without a mark from an earlier run (a leftover
 * temp file is no key and needs none, nor an index bundle naming a pack whose index is gone: a
 * bundle only copies indexes, remote-bundles.ts); every listing and read is bounded (remote-index,
 * remote-gc-marks, MAX_RUNS).
 */
import pLimit from 'p-limit';
import type { Backend } from '../backend/backend.js';
import { blake3Hex } from '../core/hash.js';
import { DvError } from '../errors.js';
import { decodeRun } from '../pipeline/run.js';
import type { ObjectStore } from '../store/object-store.js';
import { PACKS_PREFIX, remoteIndexKey, remotePackKey, remoteRunKey, remoteRunSigKey, RUNS_PREFIX, runKeyOfRemoteKey } from './layout.js';
import { lockedNow, refusedDelete, type LockedKey } from './remote-gc-lock.js';
import { listMarks, markKey, type Marks } from './remote-gc-marks.js';
import { walkLive } from './remote-gc-live.js';
import { repackLive } from './remote-gc-repack.js';
import { pruneBundles, writeBundlesOrWarn } from './remote-bundles.js';
import type { GcRoots } from './remote-gc-roots.js';
import type { RemoteIndex } from './remote-index.js';

const MAX_RUNS = 100_000;
const MAX_RUN_BYTES = 4 * 1024 * 1024;
const MAX_PACKS = 400_000;
/**
 * A write's temp file goes once untouched this long, even under a shorter grace: a push under way
 * changes its temp file as it copies, so one untouched for an hour was left by a process that died.
 */
export const LEFTOVER_AGE = 60 * 60 * 1000;
/** A pack with less than this share of its bytes live is repacked. */
export const REPACK_BELOW = 0.5;

export interface RemoteGcInput {
  backend: Backend;
  remote: RemoteIndex;
  store: ObjectStore;
  roots: GcRoots;
  graceMs: number;
  dryRun: boolean;
  tmpDir: string;
  jobs: number;
}

export interface RemoteGcStats {
  liveObjects: number;
  packsBefore: number;
  bytesBefore: number;
  packsAfter: number;
  bytesAfter: number;
  /** Packs (and their indexes) deleted, the objects they listed that nothing reaches, and their bytes. */
  packsRemoved: number;
  objectsRemoved: number;
  bytesRemoved: number;
  /** Packs newly marked by this run (deleted by a later one), and marks removed (referenced again). */
  packsMarked: number;
  unmarked: number;
  /** Marked packs not yet past the grace (or marked by this run). */
  packsWaiting: number;
  /** Packs without an index (killed pushes) among the ones seen. */
  orphanPacks: number;
  /** Packs repacked (live objects copied into new packs), the new packs, and the objects copied. */
  packsRepacked: number;
  packsWritten: number;
  bytesWritten: number;
  objectsCopied: number;
  runsKept: number;
  runsMarked: number;
  runsRemoved: number;
  /** Temp files of writes that never finished (a killed push), untouched for the grace (at least LEFTOVER_AGE): removed, and their bytes. */
  leftovers: number;
  leftoverBytes: number;
  /** Due packs kept because the store holds them (or their index) under S3 Object Lock retention. */
  packsLocked: number;
  /** Index bundles deleted (naming a pack whose index is gone, or malformed), and written for the packs repacked. */
  bundlesRemoved: number;
  bundlesWritten: number;
  /** What went wrong without stopping the run (index bundles: remote-bundles.ts). */
  warnings: string[];
  /** Keys kept because the store holds them under Object Lock or refused to delete them, with the date they may go. */
  locked: LockedKey[];
}

interface PackInfo {
  id: string;
  size: number;
  indexed: boolean;
  /** Bytes of its members (tar headers and padding included), all of them and the live ones. */
  storedBytes: number;
  liveBytes: number;
  deadObjects: number;
  protected: boolean;
}

export async function collectRemote(i: RemoteGcInput): Promise<RemoteGcStats> {
  const started = Date.now();
  const marks = await listMarks(i.backend);
  const due = (m: { ms: number } | undefined): boolean => m !== undefined && m.ms < started && started - m.ms >= i.graceMs;
  const st: RemoteGcStats = {
    liveObjects: 0,
    packsBefore: 0,
    bytesBefore: 0,
    packsAfter: 0,
    bytesAfter: 0,
    packsRemoved: 0,
    objectsRemoved: 0,
    bytesRemoved: 0,
    packsMarked: 0,
    unmarked: 0,
    packsWaiting: 0,
    orphanPacks: 0,
    packsRepacked: 0,
    packsWritten: 0,
    bytesWritten: 0,
    objectsCopied: 0,
    runsKept: 0,
    runsMarked: 0,
    runsRemoved: 0,
    leftovers: 0,
    leftoverBytes: 0,
    packsLocked: 0,
    bundlesRemoved: 0,
    bundlesWritten: 0,
    warnings: [],
    locked: [],
  };
  const runs = await judgeRuns(i, marks, due);
  const live = new Set<string>([...i.roots.runIds, ...runs.liveIds]);
  await walkLive(i, [...i.roots.snapshots, ...runs.outs], live);
  const protectedIds = new Set<string>();
  if (i.roots.protectedSnapshots.length > 0) await walkLive(i, i.roots.protectedSnapshots, protectedIds);
  st.liveObjects = live.size;

  const packs = await judgePacks(i, live, protectedIds);
  st.packsBefore = packs.size;
  for (const p of packs.values()) st.bytesBefore += p.size;
  st.orphanPacks = [...packs.values()].filter((p) => !p.indexed).length;
  // Dropped: nothing live, no index, or mostly dead (repacked first, unless protected).
  const dropped = new Set<string>();
  const toRepack = new Set<string>();
  for (const p of packs.values()) {
    if (!p.indexed || p.liveBytes === 0) dropped.add(p.id);
    else if (!p.protected && p.liveBytes < p.storedBytes * REPACK_BELOW) {
      dropped.add(p.id);
      toRepack.add(p.id);
    }
  }
  // A pack the store retains cannot go: copying its live objects elsewhere would only add bytes.
  for (const id of toRepack) {
    if ((await lockedNow(i.backend, [remotePackKey(id)])).length === 0) continue;
    toRepack.delete(id);
    dropped.delete(id);
  }
  // Live objects with no copy outside the dropped packs get one before any of those is marked.
  const homeless = [...live].filter((id) => {
    const copies = i.remote.copies(id);
    return copies.length > 0 && copies.every((c) => dropped.has(c.pack));
  });
  if (homeless.length > 0) {
    const repacked = new Set(homeless.flatMap((id) => i.remote.copies(id).map((c) => c.pack)));
    st.packsRepacked = [...repacked].filter((p) => toRepack.has(p) && !marks.packs.has(p)).length;
    if (!i.dryRun) {
      const before = i.remote.uploaded.length;
      const w = await repackLive(i, homeless);
      st.packsWritten = w.packs;
      st.objectsCopied = w.objects;
      st.bytesWritten = w.bytes;
      st.bundlesWritten = await bundlesOf(i, i.remote.uploaded.slice(before), st);
    } else st.objectsCopied = homeless.length;
  }
  await sweep(i, { packs, dropped, marks, due, runs, started, st, homeless: new Set(homeless) });
  const left = await i.backend.sweepLeftovers?.(Math.max(i.graceMs, LEFTOVER_AGE), i.dryRun);
  st.leftovers = left?.files ?? 0;
  st.leftoverBytes = left?.bytes ?? 0;
  st.packsAfter = st.packsBefore - st.packsRemoved + st.packsWritten;
  st.bytesAfter = st.bytesBefore - st.bytesRemoved + st.bytesWritten;
  return st;
}

/** Every pack listed (indexed or not): its size, and how many of its bytes are live. */
async function judgePacks(i: RemoteGcInput, live: Set<string>, protectedIds: Set<string>): Promise<Map<string, PackInfo>> {
  const packs = new Map<string, PackInfo>();
  for await (const { key, size } of i.backend.list(PACKS_PREFIX)) {
    const m = /^packs\/([0-9a-f]{2})\/([0-9a-f]{64})\.pack$/.exec(key);
    if (!m || !m[2].startsWith(m[1])) continue;
    packs.set(m[2], { id: m[2], size, indexed: i.remote.packs.has(m[2]), storedBytes: 0, liveBytes: 0, deadObjects: 0, protected: false });
    if (packs.size > MAX_PACKS)
      throw new DvError('REMOTE_ERROR', `${i.backend.location} lists more than ${MAX_PACKS} packs: it is damaged or hostile`, {
        location: i.backend.location,
        transient: false,
      });
  }
  // A frame's members share one stored extent: it counts once, live if any member is.
  const counted = new Set<string>();
  for (const id of i.remote.objects.keys()) {
    for (const loc of i.remote.copies(id)) {
      const p = packs.get(loc.pack);
      if (!p) continue;
      if (protectedIds.has(id)) p.protected = true;
      if (!live.has(id)) p.deadObjects++;
      const extent = `${loc.pack}:${loc.offset}`;
      const bytes = 512 + Math.ceil(loc.length / 512) * 512;
      if (!counted.has(extent)) p.storedBytes += bytes;
      if (live.has(id) && !counted.has(`${extent}:live`)) {
        counted.add(`${extent}:live`);
        p.liveBytes += bytes;
      }
      counted.add(extent);
    }
  }
  return packs;
}

interface RunsJudged {
  /** Run record object ids of the records that stay this run, and their outs (roots). */
  liveIds: string[];
  outs: string[];
  /** Keys of records no dv.lock names: to mark, or (due) to delete. */
  unreferenced: string[];
  kept: number;
}

/** Run records under `runs/`: those a dv.lock names, or not yet due for deletion, keep their outs alive. */
async function judgeRuns(i: RemoteGcInput, marks: Marks, due: (m: { ms: number } | undefined) => boolean): Promise<RunsJudged> {
  const keys: string[] = [];
  for await (const { key } of i.backend.list(RUNS_PREFIX)) {
    if (!runKeyOfRemoteKey(key)) continue;
    keys.push(key);
    if (keys.length > MAX_RUNS)
      throw new DvError('REMOTE_ERROR', `${i.backend.location} lists more than ${MAX_RUNS} run records: gc --remote reads no more`, {
        location: i.backend.location,
        transient: false,
      });
  }
  const r: RunsJudged = { liveIds: [], outs: [], unreferenced: [], kept: 0 };
  const limit = pLimit(Math.max(1, i.jobs));
  await Promise.all(
    keys.map((key) =>
      limit(async () => {
        const runKey = runKeyOfRemoteKey(key)!;
        const named = i.roots.runKeys.has(runKey);
        if (!named) r.unreferenced.push(runKey);
        // A record due for deletion names nothing any more; every other one keeps what it names.
        if (!named && due(marks.runs.get(runKey))) return;
        r.kept++;
        try {
          const bytes = await i.backend.get(key, { maxBytes: MAX_RUN_BYTES });
          const run = decodeRun(bytes, runKey);
          r.liveIds.push(blake3Hex(bytes));
          for (const o of run.outs) r.outs.push(o.snapshot);
        } catch (e) {
          if (!(e instanceof DvError) || e.code === 'REMOTE_UNREACHABLE' || e.code === 'AUTH_FAILED') throw e;
        }
      }),
    ),
  );
  return r;
}

interface SweepState {
  packs: Map<string, PackInfo>;
  dropped: Set<string>;
  marks: Marks;
  due: (m: { ms: number } | undefined) => boolean;
  runs: RunsJudged;
  started: number;
  st: RemoteGcStats;
  homeless: Set<string>;
}

/** Marks what is newly unreferenced, unmarks what is referenced again, deletes what is due: runs first, then packs. */
async function sweep(i: RemoteGcInput, w: SweepState): Promise<void> {
  const { st, marks } = w;
  const del = async (key: string): Promise<boolean> => {
    if (i.dryRun) return true;
    try {
      await i.backend.delete(key);
      return true;
    } catch (e) {
      const refused = refusedDelete(e, key);
      if (!refused) throw e;
      st.locked.push(refused);
      return false;
    }
  };
  const put = async (key: string): Promise<void> => {
    if (!i.dryRun) await i.backend.put(key, Buffer.alloc(0));
  };
  const unreferencedRuns = new Set(w.runs.unreferenced);
  st.runsKept = w.runs.kept;
  for (const runKey of w.runs.unreferenced) {
    const m = marks.runs.get(runKey);
    if (!m) {
      await put(markKey('runs', runKey, w.started));
      st.runsMarked++;
    } else if (w.due(m)) {
      if ((await del(remoteRunKey(runKey))) && (await del(remoteRunSigKey(runKey)))) {
        for (const k of m.keys) await del(k);
        st.runsRemoved++;
      }
    }
  }
  for (const [runKey, m] of marks.runs) if (!unreferencedRuns.has(runKey)) for (const k of m.keys) if (await del(k)) st.unmarked++;

  for (const [packId, m] of marks.packs) {
    if (w.dropped.has(packId)) continue;
    // Referenced again (or gone): the mark goes, and with it the clock.
    for (const k of m.keys) await del(k);
    st.unmarked++;
  }
  const removed = new Set<string>();
  for (const packId of w.dropped) {
    const p = w.packs.get(packId)!;
    const m = marks.packs.get(packId);
    if (!m) {
      await put(markKey('packs', packId, w.started));
      st.packsMarked++;
      continue;
    }
    if (!w.due(m)) {
      st.packsWaiting++;
      continue;
    }
    // An orphan whose index appeared since the listing is a push that just finished: not ours to judge now.
    if (!p.indexed && (await i.backend.stat(remoteIndexKey(packId)))) {
      st.packsWaiting++;
      continue;
    }
    // Asked first: a pack or index under retention keeps both (and its mark), so the remote stays whole.
    const held = await lockedNow(i.backend, p.indexed ? [remoteIndexKey(packId), remotePackKey(packId)] : [remotePackKey(packId)]);
    if (held.length > 0) {
      st.locked.push(...held);
      st.packsLocked++;
      continue;
    }
    if (p.indexed && !(await del(remoteIndexKey(packId)))) continue;
    // Its index gone, a bundle naming it lends nothing true, whatever becomes of the pack.
    removed.add(packId);
    if (!(await del(remotePackKey(packId)))) continue;
    for (const k of m.keys) await del(k);
    st.packsRemoved++;
    st.bytesRemoved += p.size;
    st.objectsRemoved += p.deadObjects;
  }
  // Copies that name a pack whose index is gone: a fresh clone would read them for nothing.
  const indexed = new Set([...i.remote.packs].filter((p) => !removed.has(p)));
  try {
    st.bundlesRemoved = await pruneBundles(i.backend, indexed, del, i.jobs, removed);
  } catch (e) {
    if (!(e instanceof DvError) || e.code === 'INTERRUPTED') throw e;
    st.warnings.push(`index bundles not pruned (${e.message}): the next run tries again`);
  }
}

/** Uploads the index bundles of packs this run wrote; a refusal is a warning (the packs and indexes are there). */
async function bundlesOf(i: RemoteGcInput, packIds: string[], st: RemoteGcStats): Promise<number> {
  const { written, warning } = await writeBundlesOrWarn(i.backend, i.remote.cacheDir, packIds, 'the index bundle of the repacked packs');
  if (warning) st.warnings.push(warning);
  return written;
}
