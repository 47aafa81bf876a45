/**
 * Checks the objects of one local pack against their ids before the pack leaves whole (push):
 * nothing corrupt is ever pushed. Runs in a fetch-pool worker (fetch-worker.ts), so the main
 * thread only copies the file. Each frame is decompressed once, within its bound.
 */
import { blake3Hex } from '../core/hash.js';
import { decode, decodeFrame, sliceFrame, FLAG_FRAME } from '../store/codec.js';
import type { PackEntry } from '../store/pack-index.js';

/** The id of the first entry of `entries` whose bytes in `pack` do not verify, or undefined. */
export async function firstBadEntry(pack: Buffer, entries: PackEntry[]): Promise<string | undefined> {
  const frames = new Map<number, Buffer | undefined>();
  for (const e of entries) {
    let raw: Buffer | undefined;
    try {
      const stored = pack.subarray(e.offset, e.offset + e.length);
      if (e.offset + e.length > pack.length) raw = undefined;
      else if (e.flags === FLAG_FRAME) {
        if (!frames.has(e.offset)) frames.set(e.offset, await decodeFrame(Buffer.from(stored)).catch(() => undefined));
        const frame = frames.get(e.offset);
        raw = frame && sliceFrame(frame, e.inner ?? 0, e.rawSize);
      } else raw = await decode(stored, e.flags);
    } catch {
      raw = undefined;
    }
    if (!raw || raw.length !== e.rawSize || blake3Hex(raw) !== e.id) return e.id;
  }
  return undefined;
}
