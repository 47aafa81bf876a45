/**
 * Checks the objects of one local pack against their ids before the pack leaves whole (push):
 * nothing corrupt is ever pushed. Runs in a fetch-pool worker (fetch-worker.ts), so the main
 * thread only copies the file.
 *
 * Invariants:
 * - The pack is read unit by unit in offset order: a unit is one object, or one frame with all
 *   its members (they share its offset); each frame is decompressed once, within its bound.
 * - Up to AHEAD units are read and being decompressed (on libuv's pool) while this thread hashes
 *   the oldest: memory is AHEAD units (a frame: ≤ 4 MiB stored + 4 MiB decompressed), not the pack.
 * - Stored bytes are read into AHEAD buffers reused from unit to unit (grown to the largest unit):
 *   a buffer goes back once its unit is checked, when nothing reads it any more. A fresh buffer
 *   per object is garbage the collector frees late: at a million small objects, tens of MB of
 *   resident memory in a push.
 * - The answer is the first bad entry in offset order, whatever the window: units are checked in order.
 * - A frame whose entries carry a sum (`PackEntry.sum`: this store wrote it and recorded what its
 *   stored bytes hash to) and whose stored bytes still hash to it is sound without being
 *   decompressed: those bytes are the ones written, compressed from members hashed just before
 *   (as git checks a reused object's CRC32, not its inflated SHA-1). Any other frame, and one whose
 *   sum differs (damage, or a stale record), is decompressed and every member hashed.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { blake3Hex } from '../core/hash.js';
import { decode, decodeFrame, sliceFrame, FLAG_FRAME, FLAG_RAW } from '../store/codec.js';
import { frameSum, type PackEntry } from '../store/pack-index.js';

/**
 * Units read ahead of the one being hashed. One at a time, a CSV pack's frames (92 MB raw) took
 * ~210 ms, decompression and hashing one after the other on one core; with the next ones
 * decompressing meanwhile, the two overlap on two (~120 ms).
 */
const AHEAD = 3;

interface Unit {
  members: PackEntry[];
  /** Which of the read buffers holds its stored bytes. */
  slot: number;
  /** The unit's raw bytes (a whole frame, or the object), undefined when unreadable or undecodable, AS_WRITTEN when its sum held. */
  raw: Promise<Buffer | typeof AS_WRITTEN | undefined>;
}

/** The id of the first entry whose bytes in the pack `file` do not verify (or lie past its end), or undefined. */
export async function firstBadEntry(file: string, entries: PackEntry[]): Promise<string | undefined> {
  const sorted = [...entries].sort((a, b) => a.offset - b.offset);
  const fd = openSync(file, 'r');
  const buffers: Buffer[] = Array.from({ length: AHEAD }, () => Buffer.alloc(0));
  const free = Array.from({ length: AHEAD }, (_, k) => k);
  const window: Unit[] = [];
  let next = 0;
  try {
    while (next < sorted.length || window.length > 0) {
      while (next < sorted.length && free.length > 0) {
        let end = next + 1;
        const first = sorted[next];
        if (first.flags === FLAG_FRAME)
          while (end < sorted.length && sorted[end].flags === FLAG_FRAME && sorted[end].offset === first.offset) end++;
        const slot = free.pop()!;
        if (buffers[slot].length < first.length) buffers[slot] = Buffer.allocUnsafeSlow(Math.max(first.length, 64 << 10));
        window.push({ members: sorted.slice(next, end), slot, raw: readUnit(fd, first, buffers[slot]) });
        next = end;
      }
      const unit = window.shift()!;
      const raw = await unit.raw;
      if (raw === AS_WRITTEN) {
        free.push(unit.slot);
        continue;
      }
      for (const e of unit.members) {
        const bytes = raw && (e.flags === FLAG_FRAME ? sliceFrame(raw, e.inner ?? 0, e.rawSize) : raw);
        if (!bytes || bytes.length !== e.rawSize || blake3Hex(bytes) !== e.id) return e.id;
      }
      free.push(unit.slot);
    }
  } finally {
    // Decompressions still under way (after an early answer) read buffers nothing reuses: the descriptor can go now.
    closeSync(fd);
  }
  return undefined;
}

/** A frame whose stored bytes still hash to the sum recorded when they were written. */
const AS_WRITTEN = Symbol('as written');

/** Reads the stored bytes of `e` into `into` and decodes them (`into` stays untouched until the unit is checked). */
function readUnit(fd: number, e: PackEntry, into: Buffer): Promise<Buffer | typeof AS_WRITTEN | undefined> {
  try {
    const stored = into.subarray(0, e.length);
    let got = 0;
    while (got < e.length) {
      const n = readSync(fd, stored, got, e.length - got, e.offset + got);
      if (n === 0) return Promise.resolve(undefined);
      got += n;
    }
    if (e.flags === FLAG_RAW) return Promise.resolve(stored);
    if (e.flags === FLAG_FRAME && e.sum !== undefined && frameSum(stored) === e.sum) return Promise.resolve(AS_WRITTEN);
    const raw = e.flags === FLAG_FRAME ? decodeFrame(stored) : decode(stored, e.flags);
    return raw.catch(() => undefined);
  } catch {
    return Promise.resolve(undefined);
  }
}
