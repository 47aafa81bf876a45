/**
 * One streamed GET through the fixed slots (src/transfer/fetch-stream.ts), on its own over a
 * directory remote: every unit reaches `process` once, whole, in order, at the place it says in
 * its slot, also when units are cut by a slot's end or pieces are small; slots come back; a
 * process failure stops the stream; a range past the object's end leaves later units unhanded.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Backend } from '../../src/backend/backend.js';
import { LocalBackend } from '../../src/backend/local.js';
import { isDvError } from '../../src/errors.js';
import { RangeSlots } from '../../src/transfer/fetch-slots.js';
import { streamRange, type StreamBatch, type StreamUnit } from '../../src/transfer/fetch-stream.js';
import { tempDir } from '../helpers/cli.js';

/** Units of 1..`most` bytes with gaps of 0..300 bytes between them, from `start`. */
function unitsOf(n: number, most: number, start: number): StreamUnit[] {
  const out: StreamUnit[] = [];
  let at = start;
  for (let k = 0; k < n; k++) {
    at += k % 3 === 0 ? 0 : (k * 37) % 300;
    const length = 1 + ((k * 7919) % most);
    out.push({ offset: at, length });
    at += length;
  }
  return out;
}

/** A backend whose streamed ranges come in pieces of `piece` bytes (a network's small reads). */
function inPieces(be: LocalBackend, piece: number): Backend {
  return {
    ...be,
    location: be.location,
    getRange: (k, o, l, i) => be.getRange(k, o, l, i),
    getRangeTo: (k, o, l, sink) =>
      be.getRangeTo(k, o, l, async (p) => {
        for (let at = 0; at < p.length; at += piece) await sink(p.subarray(at, at + piece));
      }),
  } as Backend;
}

/**
 * A backend that reads in place where the sink offers room (as S3's direct GETs do: s3direct.ts), `piece`
 * bytes at a time, and hands a copy where it offers none.
 */
function readsInPlace(be: LocalBackend, piece: number, counts: { inPlace: number }): Backend {
  return {
    ...be,
    location: be.location,
    getRange: (k, o, l, i) => be.getRange(k, o, l, i),
    getRangeTo: (k, o, l, sink) =>
      be.getRangeTo(k, o, l, async (p) => {
        for (let at = 0; at < p.length; ) {
          const room = sink.room?.();
          const n = Math.min(piece, p.length - at, room?.length ?? piece);
          if (room) {
            p.copy(room, 0, at, at + n);
            counts.inPlace++;
            await sink(room.subarray(0, n));
          } else await sink(p.subarray(at, at + n));
          at += n;
        }
      }),
  } as Backend;
}

test('units cut by slot ends arrive whole, once, in order; slots come back', async () => {
  const dir = tempDir('dv-stream-');
  const be = new LocalBackend(dir);
  const data = randomBytes(1_000_000);
  await be.put('packs/p', data);
  const slots = new RangeSlots(3, 16 * 1024);
  // Units of up to half a slot, as fetch.ts promises.
  const units = unitsOf(120, 8 * 1024, 1000);
  const end = units[units.length - 1].offset + units[units.length - 1].length;
  const counts = { inPlace: 0 };
  for (const backend of [be, inPieces(be, 1000), inPieces(be, 7), readsInPlace(be, 3000, counts), readsInPlace(be, 5, counts)]) {
    const seen: number[] = [];
    const process = async (b: StreamBatch): Promise<void> => {
      const view = slots.view(b.k);
      assert.ok(b.filled <= slots.size);
      for (const { index, at } of b.units) {
        const u = units[index];
        assert.ok(at + u.length <= b.filled, 'a unit handed over lies whole in what was filled');
        assert.ok(view.subarray(at, at + u.length).equals(data.subarray(u.offset, u.offset + u.length)), `unit ${index}`);
        seen.push(index);
      }
      // A worker answers later: the slot must stay untouched meanwhile.
      await new Promise((r) => setTimeout(r, 1));
    };
    const progress = { handed: 0 };
    await streamRange({ backend, key: 'packs/p', start: 1000, end, units, slots, process }, progress);
    assert.deepEqual(
      seen,
      units.map((_, k) => k),
    );
    assert.equal(progress.handed, units.length);
    const taken = await Promise.all([slots.take(), slots.take(), slots.take()]);
    assert.deepEqual(taken.sort(), [0, 1, 2], 'every slot came back');
    for (const k of taken) slots.give(k);
  }
  assert.ok(counts.inPlace > 100, 'the sink offered room to read in place');
});

test('a failing process stops the stream with its error; a range past the end is damage with later units unhanded', async () => {
  const dir = tempDir('dv-stream-');
  const be = new LocalBackend(dir);
  const data = randomBytes(600_000);
  await be.put('packs/p', data);
  const slots = new RangeSlots(3, 16 * 1024);
  const units = unitsOf(60, 8 * 1024, 0);
  const end = units[units.length - 1].offset + units[units.length - 1].length;
  const oops = new Error('a worker stopped');
  let calls = 0;
  const failing = async (): Promise<void> => {
    calls++;
    throw oops;
  };
  await assert.rejects(
    streamRange({ backend: be, key: 'packs/p', start: 0, end, units, slots, process: failing }, { handed: 0 }),
    (e: unknown) => e === oops,
  );
  assert.ok(calls >= 1 && calls < 60, 'stopped early');
  // The object is shorter than the range: the units beyond its end never reach process.
  await be.put('packs/short', data.subarray(0, 50_000));
  const progress = { handed: 0 };
  const handed: number[] = [];
  const ok = async (b: StreamBatch): Promise<void> => {
    for (const u of b.units) handed.push(u.index);
  };
  await assert.rejects(streamRange({ backend: be, key: 'packs/short', start: 0, end, units, slots, process: ok }, progress), (e: unknown) =>
    isDvError(e, 'OBJECT_CORRUPT'),
  );
  assert.equal(handed.length, progress.handed);
  assert.ok(handed.every((k) => units[k].offset + units[k].length <= 50_000));
});
