import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { chunkLengths, nextCut, CHUNKER_V1 } from '../../src/core/chunker.js';
import { WasmChunker } from '../../src/core/chunker-wasm.js';
import { CAND_RATIO, partsOf, scanCandidates, scanFrom, splitChunkLengths, walkCuts, type CutFn } from '../../src/core/chunker-split.js';
import { xorshiftBytes } from '../helpers/data.js';

const kinds = ['random', 'zeros', 'period', 'holes', 'text'] as const;
function input(kind: (typeof kinds)[number], seed: number, size: number): Buffer {
  const r = xorshiftBytes(seed, size);
  if (kind === 'zeros') return Buffer.alloc(size);
  if (kind === 'period') {
    const per = 1 + (seed % 4000);
    for (let i = per; i < size; i++) r[i] = r[i - per];
    return r;
  }
  if (kind === 'holes') {
    for (let at = seed % 50_000; at < size; at += 700_000) r.fill(0, at, Math.min(size, at + 100_000 + (seed % 500_000)));
  }
  if (kind === 'text') for (let i = 0; i < size; i++) r[i] = 97 + (r[i] % 7);
  return r;
}

const wasm = WasmChunker.create(16 * 1024 * 1024)!;
const room = wasm.alloc(12 * 1024 * 1024);
const wasmCut: CutFn = (b, s, e, eof, p) => wasm.nextCut(b, s, e, eof, p);
const candRoom = wasm.alloc(2 * 1024 * 1024);
// The wasm scan writes into its own memory; the list is copied out for the shared protocol code.
const wasmScan = (b: Uint8Array, lo: number, hi: number, out: Uint32Array): number => {
  const tmp = new Uint32Array(candRoom.buffer, candRoom.byteOffset, Math.min(out.length, candRoom.length / 4));
  const n = wasm.scan(b, lo, hi, tmp);
  out.set(tmp.subarray(0, n));
  return n;
};
const MAX = CHUNKER_V1.max;

test('parts cover the input: equal sizes, the last one shorter', () => {
  assert.deepEqual(partsOf(10, 4), [
    [0, 4],
    [4, 8],
    [8, 10],
  ]);
  assert.deepEqual(partsOf(3, 4), [[0, 3]]);
  assert.deepEqual(partsOf(0, 4), [[0, 0]]);
});

test('the golden input cut in parts equals the sequential cuts, for many part sizes', () => {
  const data = xorshiftBytes(0x12345678, 4 * 1024 * 1024);
  const whole = chunkLengths(data);
  for (const part of [32 * 1024, 65_536 + 17, MAX - 1, MAX, MAX + 1, 1_000_003, 2 * 1024 * 1024]) {
    assert.deepEqual(splitChunkLengths(data, part, nextCut), whole, `part ${part}`);
  }
});

test('all-zero data (every chunk max long; chains from different offsets never meet) splits identically', () => {
  const data = Buffer.alloc(9 * 1024 * 1024 + 12345);
  const whole = chunkLengths(data);
  assert.ok(whole.slice(0, -1).every((n) => n === MAX));
  for (const part of [MAX + 1, 1_000_000, 3 * 1024 * 1024 + 5]) {
    assert.deepEqual(splitChunkLengths(data, part, nextCut), whole, `part ${part}`);
    data.copy(room);
    assert.deepEqual(splitChunkLengths(room.subarray(0, data.length), part, wasmCut, wasmScan), whole, `wasm part ${part}`);
  }
});

test('split cuts equal sequential cuts on random data of many kinds and random part sizes (JS and wasm)', () => {
  fc.assert(
    fc.property(
      fc.constantFrom(...kinds),
      fc.integer({ min: 1, max: 2 ** 30 }),
      fc.integer({ min: 0, max: 3_000_000 }),
      fc.integer({ min: 100_000, max: 1_500_000 }),
      fc.boolean(),
      fc.constantFrom('scan' as const, 'speculate' as const),
      (kind, seed, size, part, useWasm, mode) => {
        const data = input(kind, seed, size);
        const whole = chunkLengths(data);
        if (useWasm) {
          data.copy(room);
          assert.deepEqual(splitChunkLengths(room.subarray(0, size), part, wasmCut, wasmScan, CHUNKER_V1, CAND_RATIO, mode), whole);
        } else assert.deepEqual(splitChunkLengths(data, part, nextCut, scanCandidates, CHUNKER_V1, CAND_RATIO, mode), whole);
      },
    ),
    { numRuns: 80 },
  );
});

test('speculating from each part start: chains that meet are reused, chains that never meet (shifted max runs) are finished exactly', () => {
  // Zeros after an odd-length random prefix: the true chain runs max-size chunks at offsets that
  // a chain started at a part boundary never reaches, so every part needs the candidate scan.
  const data = Buffer.concat([xorshiftBytes(8, 100_003), Buffer.alloc(12 * 1024 * 1024)]);
  let scans = 0;
  const counting = (b: Uint8Array, lo: number, hi: number, out: Uint32Array): number => {
    scans++;
    return scanCandidates(b, lo, hi, out);
  };
  assert.deepEqual(splitChunkLengths(data, 2 * 1024 * 1024, nextCut, counting, CHUNKER_V1, CAND_RATIO, 'speculate'), chunkLengths(data));
  assert.ok(scans >= 4, `${scans} parts fell back to the scan`);
  // Random data: the chains meet within a few chunks, no scan at all.
  const random = xorshiftBytes(9, 6 * 1024 * 1024);
  scans = 0;
  assert.deepEqual(splitChunkLengths(random, 1024 * 1024, nextCut, counting, CHUNKER_V1, CAND_RATIO, 'speculate'), chunkLengths(random));
  assert.equal(scans, 0);
  // All zeros with parts a multiple of max: the chains coincide at once.
  const zeros = Buffer.alloc(5 * 1024 * 1024 + 3);
  scans = 0;
  assert.deepEqual(splitChunkLengths(zeros, 1024 * 1024, nextCut, counting, CHUNKER_V1, CAND_RATIO, 'speculate'), chunkLengths(zeros));
  assert.equal(scans, 0);
});

test('too many candidates: the sequential fallback gives the same cuts', () => {
  const data = input('holes', 77, 2_500_000);
  // A list of one entry is full at the first candidate: every part falls back.
  assert.deepEqual(splitChunkLengths(data, 700_000, nextCut, scanCandidates, CHUNKER_V1, 1e12), chunkLengths(data));
});

test('a chunk start near a candidate (the 31 bytes whose hash still depends on the start) cuts as nextCut does', () => {
  const data = xorshiftBytes(4242, 3_000_000);
  const cands = new Uint32Array(10_000);
  const n = scanCandidates(data, 0, data.length, cands);
  const positions = [...cands.subarray(0, n)].map((c) => c & 0x7fffffff);
  let checked = 0;
  for (const c of positions.filter((x) => x > CHUNKER_V1.min + 40).slice(0, 30)) {
    // Starts that put the candidate just before, inside and just after the first 31 hashed bytes.
    for (let back = CHUNKER_V1.min - 2; back <= CHUNKER_V1.min + 40; back++) {
      const from = c - back;
      if (from < 0) continue;
      const dataEnd = Math.min(data.length, from + MAX + 1);
      const lo = scanFrom(from);
      const list = new Uint32Array(1000);
      const m = scanCandidates(data, lo, dataEnd, list);
      const r = walkCuts(data, from, from + 1, dataEnd, dataEnd === data.length, list, m, nextCut);
      assert.deepEqual(r.lens, [nextCut(data, from, dataEnd, dataEnd === data.length)], `start ${from}`);
      checked++;
    }
  }
  assert.ok(checked > 1000, `${checked}`);
});

test('a part whose data ends early is refused, not cut wrong', () => {
  const data = xorshiftBytes(1, 1_000_000);
  assert.throws(() => walkCuts(data, 0, 500_000, 600_000, false, new Uint32Array(10), 0, nextCut), /needs/);
});
