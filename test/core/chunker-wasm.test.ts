import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { chunkLengths, nextCut, CHUNKER_V1, type ChunkerParams } from '../../src/core/chunker.js';
import { chunkerWasmBytes, WasmChunker } from '../../src/core/chunker-wasm.js';
import { scanCandidates } from '../../src/core/chunker-split.js';
import { xorshiftBytes } from '../helpers/data.js';

/** Inputs that stress different paths: random, zeros (all max), short periods, random with zero runs. */
const kinds = ['random', 'zeros', 'period', 'holes'] as const;
function input(kind: (typeof kinds)[number], seed: number, size: number): Buffer {
  const r = xorshiftBytes(seed, size);
  if (kind === 'zeros') return Buffer.alloc(size);
  if (kind === 'period') {
    const per = 1 + (seed % 97);
    for (let i = per; i < size; i++) r[i] = r[i - per];
    return r;
  }
  if (kind === 'holes') {
    for (let at = seed % 50_000; at < size; at += 300_000) r.fill(0, at, Math.min(size, at + 100_000 + (seed % 200_000)));
  }
  return r;
}

const wasm = WasmChunker.create(8 * 1024 * 1024)!;
const room = wasm.alloc(6 * 1024 * 1024);
const candRoom = wasm.alloc(1024 * 1024);

test('the module is assembled in-repo, validates and is small', () => {
  const bytes = chunkerWasmBytes();
  assert.ok(WebAssembly.validate(bytes));
  assert.ok(bytes.length < 2048, `${bytes.length} bytes`);
  assert.ok(wasm, 'loads synchronously');
});

test('wasm cuts of the golden input equal the reference (so the golden vector holds for both)', () => {
  const data = xorshiftBytes(0x12345678, 4 * 1024 * 1024);
  data.copy(room);
  const buf = room.subarray(0, data.length);
  const got: number[] = [];
  for (let pos = 0; pos < buf.length; ) {
    const n = wasm.nextCut(buf, pos, buf.length, true);
    got.push(n);
    pos += n;
  }
  assert.deepEqual(got, chunkLengths(data));
  assert.equal(got[0], 72501);
});

test('wasm nextCut equals the JS nextCut on random inputs, windows, eof flags and parameters', () => {
  const params = fc.oneof(
    fc.constant(CHUNKER_V1),
    fc
      .record({
        name: fc.constant('t'),
        min: fc.integer({ min: 0, max: 4096 }),
        avg: fc.integer({ min: 0, max: 70_000 }),
        max: fc.integer({ min: 1, max: 300_000 }),
      })
      .filter((p) => p.min < p.avg && p.avg <= p.max) as fc.Arbitrary<ChunkerParams>,
  );
  fc.assert(
    fc.property(
      fc.constantFrom(...kinds),
      fc.integer({ min: 1, max: 2 ** 30 }),
      fc.integer({ min: 0, max: 1_500_000 }),
      fc.nat(),
      fc.nat(),
      fc.boolean(),
      params,
      (kind, seed, size, a, b, eof, p) => {
        const data = input(kind, seed, size);
        data.copy(room);
        const buf = room.subarray(0, size);
        const start = size ? a % (size + 1) : 0;
        const end = start + (b % (size - start + 1));
        assert.equal(wasm.nextCut(buf, start, end, eof, p), nextCut(data, start, end, eof, p));
        // And a whole run of cuts from `start`.
        for (let pos = start, k = 0; pos < end && k < 40; k++) {
          const n = nextCut(data, pos, end, true, p);
          assert.equal(wasm.nextCut(buf, pos, end, true, p), n);
          pos += n;
        }
      },
    ),
    { numRuns: 150 },
  );
});

test('wasm candidate scan equals the JS scan, including a full list', () => {
  const cap = candRoom.length / 4;
  const mine = new Uint32Array(candRoom.buffer, candRoom.byteOffset, cap);
  const ref = new Uint32Array(cap);
  fc.assert(
    fc.property(
      fc.constantFrom(...kinds),
      fc.integer({ min: 1, max: 2 ** 30 }),
      fc.integer({ min: 0, max: 3_000_000 }),
      fc.nat(),
      fc.nat(),
      fc.integer({ min: 1, max: cap }),
      (kind, seed, size, a, b, limit) => {
        const data = input(kind, seed, size);
        data.copy(room);
        const buf = room.subarray(0, size);
        const lo = size ? a % (size + 1) : 0;
        const hi = lo + (b % (size - lo + 1));
        const out = mine.subarray(0, limit);
        const n = wasm.scan(buf, lo, hi, out);
        const m = scanCandidates(data, lo, hi, ref.subarray(0, limit));
        assert.equal(n, m);
        assert.deepEqual([...out.subarray(0, n)], [...ref.subarray(0, m)]);
      },
    ),
    { numRuns: 80 },
  );
  // A list that fills up stops exactly at its capacity.
  const data = xorshiftBytes(5, 2_000_000);
  data.copy(room);
  const all = scanCandidates(data, 0, data.length, ref);
  assert.ok(all > 10);
  assert.equal(wasm.scan(room.subarray(0, data.length), 0, data.length, mine.subarray(0, 3)), 3);
  assert.deepEqual([...mine.subarray(0, 3)], [...ref.subarray(0, 3)]);
});
