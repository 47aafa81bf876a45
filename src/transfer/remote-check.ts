/**
 * Reads the remote's copies of objects and verifies each by its hash: the repair half of "one bad
 * pack index must not break every pull". For each object the copies its indexes list are tried in
 * order until one verifies; objects with no good copy are reported (a repairing push sends them
 * again), and an index whose every listed object sits at a wrong place is named for removal.
 *
 * Invariants: reads are ranged and merged per pack (at most MAX_RANGE bytes each, within the
 * remote index's bounds); every object is verified before it counts as good; nothing is written.
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
    for (const { loc } of tries.filter((t) => failed.has(t.id))) wrongIn.set(loc.pack, (wrongIn.get(loc.pack) ?? 0) + 1);
    todo = tries.filter((t) => failed.has(t.id)).map((t) => t.id);
  }
  for (const [pack, n] of wrongIn) {
    const key = remoteIndexKey(pack);
    result.warnings.push(`${backend.location}: ${key} lists ${n} object(s) at places that do not hold them`);
    if (n === remote.listedIn(pack)) result.badIndexes.push(key);
  }
  return result;
}

/** Reads the given copies (merged into ranges per pack) and returns the ids whose copy failed. */
async function verifyCopies(backend: Backend, tries: { id: string; loc: ObjectLocation }[], jobs: number): Promise<Set<string>> {
  const failed = new Set<string>();
  const byPack = new Map<string, { id: string; loc: ObjectLocation }[]>();
  for (const t of tries) {
    const max = t.loc.flags === FLAG_FRAME ? MAX_FRAME_STORED : MAX_OBJECT_BYTES;
    if (t.loc.length > max || t.loc.rawSize > MAX_OBJECT_BYTES) {
      failed.add(t.id);
      continue;
    }
    let list = byPack.get(t.loc.pack);
    if (!list) byPack.set(t.loc.pack, (list = []));
    list.push(t);
  }
  const ranges: { pack: string; start: number; end: number; items: { id: string; loc: ObjectLocation }[] }[] = [];
  for (const [pack, list] of byPack) {
    list.sort((a, b) => a.loc.offset - b.loc.offset);
    let cur: (typeof ranges)[number] | undefined;
    for (const t of list) {
      const end = t.loc.offset + t.loc.length;
      if (cur && t.loc.offset >= cur.start && t.loc.offset - cur.end <= MAX_GAP && Math.max(end, cur.end) - cur.start <= MAX_RANGE) {
        cur.end = Math.max(cur.end, end);
        cur.items.push(t);
      } else {
        cur = { pack, start: t.loc.offset, end, items: [t] };
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
            for (const t of r.items) failed.add(t.id);
            return;
          }
          throw e;
        }
        for (const { id, loc } of r.items) {
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
          if (!raw || raw.length !== loc.rawSize || blake3Hex(raw) !== id) failed.add(id);
        }
      }),
    ),
  );
  return failed;
}
