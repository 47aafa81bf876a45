/**
 * The cheap half of `dv fsck --remote`: is the remote whole, without downloading its data?
 *
 * - Every pack index parses (RemoteIndex.load refuses the others) and agrees with its pack: the
 *   pack exists, every listed object starts on a tar block boundary inside it, and the pack's size
 *   is exactly what a pack holding those members ends at (last member, padding, end of archive).
 * - Every object a root needs is listed by some index: roots are the snapshots the caller names
 *   (pointer files of the work tree and git refs, with their history) and the outs of every run
 *   record under `runs/`. Trees and manifests are read from the local store when it has them, else
 *   from the remote (one ranged read of that small object, verified); chunks are never read, only
 *   looked up in the indexes, whose declared raw size must be what the tree or manifest says.
 *
 * Invariants: reads of structured objects are capped (manifests by MAX_MANIFEST_BYTES, trees and
 * snapshots by MAX_META_BYTES, run records by MAX_RUN_BYTES) and verified by hash before use;
 * every object is visited once (memoised by id), breadth first, so no recursion depth is chosen
 * by the data; listings are bounded (MAX_RUNS); nothing is written.
 */
import pLimit from 'p-limit';
import type { Backend } from '../backend/backend.js';
import { blake3Hex } from '../core/hash.js';
import { decodeManifest, MAX_MANIFEST_BYTES } from '../core/manifest.js';
import { decodeSnapshot } from '../core/snapshot.js';
import { decodeTree } from '../core/tree.js';
import { DvError } from '../errors.js';
import { decodeRun } from '../pipeline/run.js';
import { decode, decodeFrame, sliceFrame, FLAG_FRAME } from '../store/codec.js';
import type { ObjectStore } from '../store/object-store.js';
import { decodePackIndex, MAX_FRAME_STORED } from '../store/pack-index.js';
import { INDEX_PREFIX, PACKS_PREFIX, packIdOfIndexKey, remoteIndexKey, remotePackKey, RUNS_PREFIX, runKeyOfRemoteKey } from './layout.js';
import { MAX_INDEX_BYTES, type RemoteIndex } from './remote-index.js';
import type { ReadCounter } from './remote-check.js';

const BLOCK = 512;
/** A tree or snapshot larger than this is refused, as fetch refuses it (a directory of ~500k entries is ~50 MB). */
const MAX_META_BYTES = 64 * 1024 * 1024;
const MAX_RUN_BYTES = 4 * 1024 * 1024;
const MAX_RUNS = 100_000;
/** Twice the indexes RemoteIndex reads: orphan packs of killed pushes come on top of indexed ones. */
const MAX_PACKS = 400_000;
const MAX_UNKNOWN_INDEXES = 10_000;
/** At most this many missing ids are kept for the report (the count is exact). */
const MAX_LISTED = 1000;

export interface StructureProblem {
  code: 'OBJECT_MISSING' | 'BAD_OBJECT';
  message: string;
  /** The pack whose index is at fault, when one is. */
  pack?: string;
  id?: string;
}

export interface RemoteStructure {
  /** Pack sizes as listed, by pack id (packs with an index or not). */
  packSizes: Map<string, number>;
  /** Packs on the remote that no index names (a killed push; `dv gc --remote` will collect them). */
  orphanPacks: number;
  /** Index keys listed on the remote that RemoteIndex refused (malformed, too large, not matching their name). */
  ignoredIndexes: string[];
  /** Packs whose index disagrees with the pack (missing, wrong size, misplaced members). */
  badPacks: Set<string>;
  /** Root snapshots the remote holds, each checked whole. */
  roots: number;
  /** Snapshots the pointer files name that the remote does not hold (not pushed: not damage). */
  notPushed: number;
  /** Run records read from `runs/`. */
  runs: number;
  /** Objects a root needs that no index lists (first MAX_LISTED), and how many there are. */
  missing: string[];
  missingCount: number;
  problems: StructureProblem[];
}

/** Lists the remote's packs and checks them against their indexes, then walks the roots. */
export async function checkRemoteStructure(i: {
  backend: Backend;
  remote: RemoteIndex;
  store: ObjectStore;
  roots: string[];
  jobs: number;
  counter: ReadCounter;
}): Promise<RemoteStructure> {
  const r: RemoteStructure = {
    packSizes: new Map(),
    orphanPacks: 0,
    ignoredIndexes: [],
    badPacks: new Set(),
    roots: 0,
    notPushed: 0,
    runs: 0,
    missing: [],
    missingCount: 0,
    problems: [],
  };
  for await (const { key, size } of i.backend.list(PACKS_PREFIX)) {
    const m = /^packs\/([0-9a-f]{2})\/([0-9a-f]{64})\.pack$/.exec(key);
    if (m && m[2].startsWith(m[1])) r.packSizes.set(m[2], size);
    if (r.packSizes.size > MAX_PACKS) throw tooMany(i.backend, `${MAX_PACKS} packs`);
  }
  const unknown: { key: string; packId: string; size: number }[] = [];
  for await (const { key, size } of i.backend.list(INDEX_PREFIX)) {
    const packId = packIdOfIndexKey(key);
    if (packId && !i.remote.packs.has(packId)) unknown.push({ key, packId, size });
    if (unknown.length > MAX_UNKNOWN_INDEXES)
      throw tooMany(i.backend, `${MAX_UNKNOWN_INDEXES} pack indexes it did not list a moment before`);
  }
  // An index listed now but not loaded is refused (malformed, too large, not its name) or new (a
  // push finished meanwhile): only a refused one is reported, and only it may be removed by repair.
  for (const u of unknown) if (!(await isGoodIndex(i.backend, u))) r.ignoredIndexes.push(u.key);
  for (const id of r.packSizes.keys()) if (!i.remote.packs.has(id) && !r.ignoredIndexes.includes(remoteIndexKey(id))) r.orphanPacks++;
  checkExtents(i.remote, r);
  await walkRoots(i, r);
  return r;
}

const tooMany = (backend: Backend, what: string): DvError =>
  new DvError(
    'REMOTE_ERROR',
    `${backend.location} lists more than ${what}: it is damaged or hostile: check its URL with \`dv remote list\``,
    {
      location: backend.location,
      transient: false,
    },
  );

/** Each index against its pack's listed size. */
function checkExtents(remote: RemoteIndex, r: RemoteStructure): void {
  const ext = new Map<string, { end: number; misplaced: number }>();
  for (const p of remote.packs) ext.set(p, { end: 0, misplaced: 0 });
  for (const id of remote.objects.keys()) {
    for (const loc of remote.copies(id)) {
      const e = ext.get(loc.pack)!;
      e.end = Math.max(e.end, loc.offset + loc.length);
      if (loc.offset < BLOCK || loc.offset % BLOCK !== 0) e.misplaced++;
    }
  }
  for (const [pack, e] of ext) {
    const size = r.packSizes.get(pack);
    const idx = remoteIndexKey(pack);
    const fail = (code: StructureProblem['code'], message: string): void => {
      r.badPacks.add(pack);
      r.problems.push({ code, pack, message });
    };
    const expected = Math.ceil(e.end / BLOCK) * BLOCK + 2 * BLOCK;
    if (size === undefined)
      fail('OBJECT_MISSING', `${remotePackKey(pack)} is missing: its index ${idx} lists ${remote.listedIn(pack)} object(s)`);
    else if (e.misplaced > 0)
      fail('BAD_OBJECT', `${idx} lists ${e.misplaced} object(s) at offsets where no member of ${remotePackKey(pack)} starts`);
    else if (size !== expected)
      fail(
        'BAD_OBJECT',
        `${idx} does not agree with its pack: its objects end a pack of ${expected} bytes, ${remotePackKey(pack)} holds ${size}`,
      );
  }
}

type Kind = 'snapshot' | 'tree' | 'manifest';
interface Want {
  id: string;
  kind: Kind;
  /** Named by a pointer file or a run record (not reached as a parent). */
  root: boolean;
  /** A run record's out: absence is damage, not "not pushed". */
  required?: boolean;
  by: string;
}

/** Breadth first from the roots: what the remote lacks, and what its indexes misstate. */
async function walkRoots(i: Parameters<typeof checkRemoteStructure>[0], r: RemoteStructure): Promise<void> {
  const visited = new Set<string>();
  const limit = pLimit(Math.max(1, i.jobs));
  const missing = (id: string, by: string): void => {
    if (visited.has(`m:${id}`)) return;
    visited.add(`m:${id}`);
    r.missingCount++;
    if (r.missing.length < MAX_LISTED) r.missing.push(id);
    if (r.missingCount <= 20)
      r.problems.push({ code: 'OBJECT_MISSING', id, message: `${by} needs object ${id}, which no index on ${i.backend.location} lists` });
  };
  const chunk = (id: string, size: number, by: string): void => {
    if (visited.has(id)) return;
    visited.add(id);
    const copies = i.remote.copies(id);
    if (copies.length === 0) {
      missing(id, by);
      return;
    }
    if (!copies.some((c) => c.rawSize === size)) {
      r.badPacks.add(copies[0].pack);
      r.problems.push({
        code: 'BAD_OBJECT',
        id,
        pack: copies[0].pack,
        message: `${remoteIndexKey(copies[0].pack)} lists object ${id} as ${copies[0].rawSize} bytes; ${by} says ${size}`,
      });
    }
  };
  // Run records' outs first: a snapshot both a pointer and a run name is required, not "not pushed".
  let level: Want[] = await readRuns(i, r);
  for (const id of i.roots) level.push({ id, kind: 'snapshot', root: true, by: `snapshot ${id.slice(0, 12)}` });
  while (level.length > 0) {
    const fresh = level.filter((w) => {
      if (visited.has(w.id)) return false;
      visited.add(w.id);
      return true;
    });
    const bytes = await Promise.all(fresh.map((w) => limit(() => readMeta(i, w, r))));
    const next: Want[] = [];
    fresh.forEach((w, k) => {
      const b = bytes[k];
      if (b === undefined) return;
      const by = `${w.kind} ${w.id.slice(0, 12)}`;
      try {
        if (w.kind === 'snapshot') {
          const s = decodeSnapshot(b, w.id);
          // A snapshot not pushed is followed to its parents only: its data is not due on the remote.
          if (i.remote.has(w.id) || w.required) next.push({ id: s.tree, kind: 'tree', root: false, by });
          for (const p of s.parents) next.push({ id: p, kind: 'snapshot', root: false, by });
        } else if (w.kind === 'tree') {
          for (const e of decodeTree(b, w.id).entries) {
            if (e.type === 'dir') next.push({ id: e.id, kind: 'tree', root: false, by });
            else if (e.type === 'file' && e.chunked) next.push({ id: e.id, kind: 'manifest', root: false, by });
            else if (e.type === 'file') chunk(e.id, e.size, by);
          }
        } else {
          const node = decodeManifest(b, w.id);
          for (const c of node.children) {
            if (node.level > 0) next.push({ id: c.id, kind: 'manifest', root: false, by });
            else chunk(c.id, c.size, by);
          }
        }
      } catch (e) {
        if (!(e instanceof DvError)) throw e;
        r.problems.push({ code: 'BAD_OBJECT', id: w.id, message: `${by}: ${e.message}` });
      }
    });
    level = next;
  }

  /** The bytes of a structured object the walk needs, or undefined (absent: recorded as such). */
  async function readMeta(i2: typeof i, w: Want, res: RemoteStructure): Promise<Buffer | undefined> {
    const onRemote = i2.remote.has(w.id);
    if (w.kind === 'snapshot' && !onRemote && !w.required) {
      // Not pushed (a root) or shallow history (a parent): not damage. History the local store
      // holds is still followed: an older snapshot may be on the remote.
      if (w.root) res.notPushed++;
      return i2.store.get(w.id).catch(() => undefined);
    }
    if (!onRemote) missing(w.id, w.by);
    else if (w.kind === 'snapshot' && w.root) res.roots++;
    const local = await i2.store.get(w.id).catch(() => undefined);
    if (local || !onRemote) return local;
    const got = await readRemoteObject(
      i2.backend,
      i2.remote,
      w.id,
      w.kind === 'manifest' ? MAX_MANIFEST_BYTES : MAX_META_BYTES,
      i2.counter,
    );
    if (!got) {
      const copies = i2.remote.copies(w.id);
      const pack = copies[0].pack;
      for (const c of copies) res.badPacks.add(c.pack);
      res.problems.push({
        code: 'BAD_OBJECT',
        id: w.id,
        pack,
        message: `${w.by} needs ${w.kind} ${w.id}, and no copy of it on ${i2.backend.location} verifies`,
      });
    }
    return got;
  }
}

/** Run records under `runs/`: each one's outs are roots the remote must hold whole. */
async function readRuns(i: Parameters<typeof checkRemoteStructure>[0], r: RemoteStructure): Promise<Want[]> {
  const keys: string[] = [];
  for await (const { key } of i.backend.list(RUNS_PREFIX)) {
    if (!runKeyOfRemoteKey(key)) continue;
    keys.push(key);
    if (keys.length > MAX_RUNS) {
      r.problems.push({
        code: 'BAD_OBJECT',
        message: `${i.backend.location} lists more than ${MAX_RUNS} run records: only the first were checked`,
      });
      break;
    }
  }
  const limit = pLimit(Math.max(1, i.jobs));
  const out: Want[] = [];
  await Promise.all(
    keys.slice(0, MAX_RUNS).map((key) =>
      limit(async () => {
        try {
          const bytes = await i.backend.get(key, { maxBytes: MAX_RUN_BYTES });
          i.counter.requests++;
          i.counter.bytes += bytes.length;
          const run = decodeRun(bytes, runKeyOfRemoteKey(key));
          if (run.key !== runKeyOfRemoteKey(key)) throw new DvError('BAD_OBJECT', `it holds the run of key ${run.key.slice(0, 12)}`);
          r.runs++;
          for (const o of run.outs) out.push({ id: o.snapshot, kind: 'snapshot', root: true, required: true, by: `run record ${key}` });
        } catch (e) {
          if (!(e instanceof DvError) || e.code === 'REMOTE_UNREACHABLE' || e.code === 'AUTH_FAILED') throw e;
          r.problems.push({ code: 'BAD_OBJECT', message: `${i.backend.location}: run record ${key}: ${e.message}` });
        }
      }),
    ),
  );
  return out;
}

/** Whether the index at `key` is one a reader would use: within the cap, its name's hash, well formed. */
async function isGoodIndex(backend: Backend, u: { key: string; packId: string; size: number }): Promise<boolean> {
  if (u.size > MAX_INDEX_BYTES) return false;
  try {
    const bytes = await backend.get(u.key, { maxBytes: Math.max(u.size, 64) });
    if (blake3Hex(bytes) !== u.packId) return false;
    decodePackIndex(bytes, u.packId);
    return true;
  } catch (e) {
    if (e instanceof DvError && (e.code === 'BAD_OBJECT' || (e.code === 'REMOTE_ERROR' && e.data.transient === false))) return false;
    // Gone since the listing (removed by a repair or gc elsewhere): not this check's to judge.
    if (e instanceof DvError && e.code === 'OBJECT_MISSING') return true;
    throw e;
  }
}

/** One object read from the remote (its first copy that verifies), at most `max` bytes stored. */
export async function readRemoteObject(
  backend: Backend,
  remote: RemoteIndex,
  id: string,
  max: number,
  counter?: ReadCounter,
): Promise<Buffer | undefined> {
  for (const loc of remote.copies(id)) {
    if (loc.rawSize > max || loc.length > (loc.flags === FLAG_FRAME ? MAX_FRAME_STORED : max)) continue;
    let stored: Buffer;
    try {
      stored = await backend.getRange(remotePackKey(loc.pack), loc.offset, loc.length);
    } catch (e) {
      if (e instanceof DvError && (e.code === 'OBJECT_CORRUPT' || e.code === 'OBJECT_MISSING')) continue;
      throw e;
    }
    if (counter) {
      counter.requests++;
      counter.bytes += stored.length;
    }
    const raw =
      loc.flags === FLAG_FRAME
        ? await decodeFrame(stored).then(
            (f) => sliceFrame(f, loc.inner, loc.rawSize),
            () => undefined,
          )
        : await decode(stored, loc.flags).catch(() => undefined);
    if (raw && raw.length === loc.rawSize && blake3Hex(raw) === id) return raw;
  }
  return undefined;
}
