/**
 * Checks the objects of one local pack against their ids before the pack leaves whole (push):
 * nothing corrupt is ever pushed. Runs in a fetch-pool worker (fetch-worker.ts), so the main
 * thread only copies the file. The pack is read object by object into one reused buffer (memory
 * is one object or frame, not the pack); each frame is decompressed once, within its bound.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { blake3Hex } from '../core/hash.js';
import { decode, decodeFrame, sliceFrame, FLAG_FRAME } from '../store/codec.js';
import type { PackEntry } from '../store/pack-index.js';

/** The id of the first entry whose bytes in the pack `file` do not verify (or lie past its end), or undefined. */
export async function firstBadEntry(file: string, entries: PackEntry[]): Promise<string | undefined> {
  const sorted = [...entries].sort((a, b) => a.offset - b.offset);
  const fd = openSync(file, 'r');
  let buf = Buffer.alloc(0);
  // The frame last decompressed (the members of one frame share its offset, adjacent once sorted).
  let frameAt = -1;
  let frame: Buffer | undefined;
  try {
    for (const e of sorted) {
      let raw: Buffer | undefined;
      try {
        if (e.flags === FLAG_FRAME && e.offset === frameAt) raw = frame && sliceFrame(frame, e.inner ?? 0, e.rawSize);
        else {
          if (buf.length < e.length) buf = Buffer.allocUnsafe(Math.max(e.length, 1 << 20));
          const stored = buf.subarray(0, e.length);
          let got = 0;
          while (got < e.length) {
            const n = readSync(fd, stored, got, e.length - got, e.offset + got);
            if (n === 0) break;
            got += n;
          }
          if (got < e.length) raw = undefined;
          else if (e.flags === FLAG_FRAME) {
            frameAt = e.offset;
            frame = await decodeFrame(Buffer.from(stored)).catch(() => undefined);
            raw = frame && sliceFrame(frame, e.inner ?? 0, e.rawSize);
          } else raw = await decode(stored, e.flags);
        }
      } catch {
        raw = undefined;
      }
      if (!raw || raw.length !== e.rawSize || blake3Hex(raw) !== e.id) return e.id;
    }
  } finally {
    closeSync(fd);
  }
  return undefined;
}
