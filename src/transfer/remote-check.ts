/**
 * Reads the remote's copies of objects and verifies each by its hash: the data half of
 * `dv fsck --remote --read-data`, and the check behind `dv push --repair`.
 *
 * - `checkRemoteCopies`: for each object the copies its indexes list are tried in order until one
 *   verifies; objects with no good copy are reported, and an index whose every listed object sits
 *   at a wrong place is named for removal.
 * - `readPacks`: every copy listed in the chosen packs is read and verified (a bad copy is found
 *   even where a good one exists elsewhere), then the other copies of the objects that failed.
 *
 * Invariants: reads are ranged and merged per pack (at most MAX_RANGE bytes each, within the
 * remote index's bounds), so memory holds `jobs` ranges, never a whole pack; every object is
 * verified before it counts as good; nothing is written.
 */
import pLimit from 'p-limit';
import type { Backend } from '../backend/backend.js';
import { blake3Hex } from '../core/hash.js';
import { DvError } from '../errors.js';
import { decode, decodeFrame, sliceFrame, FLAG_FRAME } from '../store/codec.js';
import { MAX_FRAME_STORED, MAX_OBJECT_BYTES } from '../store/pack-index.js';
import { remoteIndexKey, remotePackKey } from './layout.js';
import type { ObjectLocation } from '../store/pack-index.js';
import { frameKey, type RemoteIndex } from './remote-index.js';

export interface RemoteCheck {
  /** Objects checked. */
  checked: number;
  /** Objects no listed copy of which verifies. */
  bad: string[];
  /** Index keys every object of which was found at a wrong place (safe to remove once `bad` is re-sent). */
  badIndexes: string[];
  /** One line per index that lists an object wrongly. */
  warnings: string[];
}

/** What reading copies cost: requests made and bytes received. */
export interface ReadCounter {
  requests: number;
  bytes: number;
}

export interface CopyTry {
  id: string;
  loc: ObjectLocation;
}

const MAX_RANGE = 4 * 1024 * 1024;
const MAX_GAP = 64 * 1024;

/** Verifies the remote copies of `ids` (those the remote lists; others are skipped). */
export async function checkRemoteCopies(backend: Backend, remote: RemoteIndex, ids: Iterable<string>, jobs: number): Promise<RemoteCheck> {
  const result: RemoteCheck = { checked: 0, bad: [], badIndexes: [], warnings: [] };
  const wrongIn = new Map<string, number>();
  let todo = [...new Set(ids)].filter((id) => remote.has(id));
  result.checked = todo.length;
  // Round k tries each object's k-th copy; an object leaves the rounds at its first good copy.
  for (let k = 0; todo.length > 0; k++) {
    const tries = todo.flatMap((id) => {
      const loc = remote.copies(id)[k];
      if (!loc) {
        result.bad.push(id);
        return [];
      }
      return [{ id, loc }];
    });
    const failed = await verifyCopies(backend, tries, jobs);
    const again = tries.filter((_, n) => failed.has(n));
    for (const { loc } of again) wrongIn.set(loc.pack, (wrongIn.get(loc.pack) ?? 0) + 1);
    todo = again.map((t) => t.id);
  }
  for (const [pack, n] of wrongIn) {
    const key = remoteIndexKey(pack);
    result.warnings.push(`${backend.location}: ${key} lists ${n} object(s) at places that do not hold them`);
    if (n === remote.listedIn(pack)) result.badIndexes.push(key);
  }
  return result;
}

export interface PacksRead {
  /** Copies read and verified (an object listed by two read packs counts twice). */
  copies: number;
  /** The ids of the copies that failed, by pack. */
  badCopies: Map<string, string[]>;
  /** Objects with a failed copy and a verified good copy (in a pack read, or another tried after). */
  goodElsewhere: Map<string, string[]>;
  /** Objects with a failed copy and no copy anywhere that verifies. */
  bad: string[];
}

/** Every copy (id, place) that the indexes of `packs` list. */
export function copiesIn(remote: RemoteIndex, packs: Set<string>): CopyTry[] {
  const out: CopyTry[] = [];
  for (const id of remote.objects.keys()) for (const loc of remote.copies(id)) if (packs.has(loc.pack)) out.push({ id, loc });
  return out;
}

/**
 * Reads and verifies every copy listed in `packs`; for each object whose copy failed, its other
 * copies are tried (outside `packs` too) until one verifies, to tell damage that loses data from
 * damage that only costs a retry.
 */
export async function readPacks(
  backend: Backend,
  remote: RemoteIndex,
  packs: Set<string>,
  jobs: number,
  counter?: ReadCounter,
): Promise<PacksRead> {
  const tries = copiesIn(remote, packs);
  const failed = await verifyCopies(backend, tries, jobs, counter);
  const result: PacksRead = { copies: tries.length, badCopies: new Map(), goodElsewhere: new Map(), bad: [] };
  const good = new Map<string, string[]>();
  const failedIds = new Set<string>();
  tries.forEach((t, n) => {
    if (failed.has(n)) {
      failedIds.add(t.id);
      let list = result.badCopies.get(t.loc.pack);
      if (!list) {
        list = [];
        result.badCopies.set(t.loc.pack, list);
      }
      list.push(t.id);
    } else {
      let list = good.get(t.id);
      if (!list) {
        list = [];
        good.set(t.id, list);
      }
      list.push(t.loc.pack);
    }
  });
  // The other copies of damaged objects that were not read yet, all in one pass.
  const more = [...failedIds].flatMap((id) =>
    remote
      .copies(id)
      .filter((loc) => !packs.has(loc.pack))
      .map((loc) => ({ id, loc })),
  );
  const failedMore = await verifyCopies(backend, more, jobs, counter);
  more.forEach((t, n) => {
    if (failedMore.has(n)) return;
    let list = good.get(t.id);
    if (!list) {
      list = [];
      good.set(t.id, list);
    }
    list.push(t.loc.pack);
  });
  for (const id of failedIds) {
    const where = good.get(id);
    if (where) result.goodElsewhere.set(id, where);
    else result.bad.push(id);
  }
  return result;
}

/** Reads the given copies (merged into ranges per pack) and returns the positions in `tries` of those that failed. */
export async function verifyCopies(backend: Backend, tries: CopyTry[], jobs: number, counter?: ReadCounter): Promise<Set<number>> {
  const failed = new Set<number>();
  const byPack = new Map<string, number[]>();
  tries.forEach((t, n) => {
    const max = t.loc.flags === FLAG_FRAME ? MAX_FRAME_STORED : MAX_OBJECT_BYTES;
    if (t.loc.length > max || t.loc.rawSize > MAX_OBJECT_BYTES) {
      failed.add(n);
      return;
    }
    let list = byPack.get(t.loc.pack);
    if (!list) {
      list = [];
      byPack.set(t.loc.pack, list);
    }
    list.push(n);
  });
  const ranges: { pack: string; start: number; end: number; items: number[] }[] = [];
  for (const [pack, list] of byPack) {
    list.sort((a, b) => tries[a].loc.offset - tries[b].loc.offset);
    let cur: (typeof ranges)[number] | undefined;
    for (const n of list) {
      const { loc } = tries[n];
      const end = loc.offset + loc.length;
      if (cur && loc.offset >= cur.start && loc.offset - cur.end <= MAX_GAP && Math.max(end, cur.end) - cur.start <= MAX_RANGE) {
        cur.end = Math.max(cur.end, end);
        cur.items.push(n);
      } else {
        cur = { pack, start: loc.offset, end, items: [n] };
        ranges.push(cur);
      }
    }
  }
  const limit = pLimit(Math.max(1, jobs));
  await Promise.all(
    ranges.map((r) =>
      limit(async () => {
        // Frames decompressed once per range (a frame's objects are neighbours), dropped with it.
        const frames = new Map<string, Promise<Buffer | undefined>>();
        let data: Buffer;
        try {
          data = await backend.getRange(remotePackKey(r.pack), r.start, r.end - r.start);
        } catch (e) {
          // A range past the pack's end (or a pack that is gone) fails only these copies.
          if (e instanceof DvError && (e.code === 'OBJECT_CORRUPT' || e.code === 'OBJECT_MISSING')) {
            for (const n of r.items) failed.add(n);
            return;
          }
          throw e;
        }
        if (counter) {
          counter.requests++;
          counter.bytes += data.length;
        }
        for (const n of r.items) {
          const { id, loc } = tries[n];
          const stored = data.subarray(loc.offset - r.start, loc.offset - r.start + loc.length);
          let raw: Buffer | undefined;
          if (loc.flags === FLAG_FRAME) {
            const key = frameKey(r.pack, loc.offset);
            if (!frames.has(key))
              frames.set(
                key,
                decodeFrame(Buffer.from(stored)).catch(() => undefined),
              );
            const frame = await frames.get(key)!;
            raw = frame && sliceFrame(frame, loc.inner, loc.rawSize);
          } else {
            raw = await decode(stored, loc.flags).catch(() => undefined);
          }
          if (!raw || raw.length !== loc.rawSize || blake3Hex(raw) !== id) failed.add(n);
        }
      }),
    ),
  );
  return failed;
}
