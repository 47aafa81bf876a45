/**
 * One GET for many chunks: a range of a remote pack (a whole pack, typically) streamed through the
 * fixed slots of fetch-slots.ts. The body is read into a slot in place where the backend can (the
 * sink's `room`: no copy), else copied into it as it arrives; when the slot is
 * full, the chunks lying whole in it go to a fetch worker (verify and pack, in place) and the bytes
 * of the chunk cut in two move to the start of a fresh slot. So a server answers a few large GETs
 * (each ranged GET costs s3rver a stat, an open and a signature check, and moto_server a copy of
 * the object) while memory stays the ring's.
 *
 * Invariants: units are sorted, disjoint, inside [start, end), each at most half a slot, so a cut
 * chunk always fits in the next slot beside the gap before it; a slot is given back only after its
 * worker answered and its cut tail was copied out (nothing overwrites bytes still to be read); a
 * stream holds at most one slot while it waits for another, so `count > streams` slots never
 * deadlock; every unit is handed to `process` at most once, in order, and `handed()` says how many.
 */
import type { Backend, RangeSink } from '../backend/backend.js';
import type { RangeSlots } from './fetch-slots.js';

/** Where a unit lies in the pack. */
export interface StreamUnit {
  offset: number;
  length: number;
}

/** A batch of whole units in slot `k`: `first` is the index of the first, `at` each one's offset from `base` in the slot. */
export interface StreamBatch {
  k: number;
  /** Bytes of the slot filled. */
  filled: number;
  first: number;
  units: { index: number; at: number }[];
}

export interface StreamInput {
  backend: Backend;
  key: string;
  start: number;
  end: number;
  units: StreamUnit[];
  slots: RangeSlots;
  /** Verifies and stores a batch; the slot stays held until it settles. Its failure stops the stream. */
  process: (b: StreamBatch) => Promise<void>;
}

/** Streams one range through the slots; resolves once every batch settled. `progress.handed` is how many units went to `process`. */
export async function streamRange(s: StreamInput, progress: { handed: number }): Promise<void> {
  const { slots, units } = s;
  if (!s.backend.getRangeTo) throw new Error('streamRange needs a backend that streams ranges');
  const pending: Promise<void>[] = [];
  let failed: { e: unknown } | undefined;
  let k = await slots.take();
  let view = slots.view(k);
  let base = s.start;
  let filled = 0;

  /** Hands the whole units of the current slot to `process`; the slot is given back once `released` resolves too. */
  const hand = (released: Promise<void>): void => {
    const end = base + filled;
    const batch: StreamBatch = { k, filled, first: progress.handed, units: [] };
    while (progress.handed < units.length && units[progress.handed].offset + units[progress.handed].length <= end) {
      batch.units.push({ index: progress.handed, at: units[progress.handed].offset - base });
      progress.handed++;
    }
    const held = k;
    const done = batch.units.length > 0 ? Promise.resolve(batch).then(s.process) : Promise.resolve();
    pending.push(
      Promise.all([done, released])
        .then(() => undefined)
        .catch((e: unknown) => {
          failed ??= { e };
        })
        .finally(() => slots.give(held)),
    );
  };

  const rotate = async (): Promise<void> => {
    const end = base + filled;
    const old = view;
    const oldBase = base;
    let copied!: () => void;
    hand(new Promise<void>((r) => (copied = r)));
    // The unit cut in two (and any gap before it) starts the next slot.
    const cut = progress.handed < units.length ? Math.min(units[progress.handed].offset, end) : end;
    try {
      k = await slots.take();
      view = slots.view(k);
      old.copy(view, 0, cut - oldBase, end - oldBase);
    } finally {
      copied();
    }
    base = cut;
    filled = end - cut;
  };

  const copyIn = async (piece: Buffer): Promise<void> => {
    let pos = 0;
    while (pos < piece.length) {
      if (failed) throw failed.e;
      const n = Math.min(piece.length - pos, slots.size - filled);
      piece.copy(view, filled, pos, pos + n);
      filled += n;
      pos += n;
      if (filled === slots.size) await rotate();
    }
  };
  // A backend that reads in place (room) fills the slot itself: its piece is a view of the slot where the free bytes begin.
  const sink: RangeSink = (piece) => {
    if (failed) throw failed.e;
    if (piece.buffer !== view.buffer || piece.byteOffset !== view.byteOffset + filled || piece.length > slots.size - filled) {
      return copyIn(piece);
    }
    filled += piece.length;
    return filled === slots.size ? rotate() : undefined;
  };
  sink.room = () => (failed || filled >= slots.size ? undefined : view.subarray(filled));

  try {
    await s.backend.getRangeTo(s.key, s.start, s.end - s.start, sink);
    hand(Promise.resolve());
  } catch (e) {
    // The current slot holds no batch: it goes back now.
    slots.give(k);
    failed ??= { e };
  }
  await Promise.all(pending);
  if (failed) throw failed.e;
}
