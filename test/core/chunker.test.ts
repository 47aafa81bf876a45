import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { chunkLengths, nextCut, CHUNKER_V1, GEAR } from '../../src/core/chunker.js';
import { initHash, blake3Hex } from '../../src/core/hash.js';

function xorshiftBytes(seed: number, size: number): Buffer {
  const b = Buffer.allocUnsafe(size);
  let s = seed;
  for (let i = 0; i < size; i += 4) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    b.writeUInt32LE(s, i);
  }
  return b;
}

// Pinned: these boundaries are part of the on-disk format. If this test fails, the chunker
// changed and every stored id would change with it: bump the chunker name and format instead.
const GOLDEN_LENGTHS = [
  72501, 40814, 108980, 71833, 75357, 42852, 48250, 68872, 53309, 64384, 34984, 32912, 85744, 60966, 65503, 86422, 59315, 73853, 62208,
  84342, 86958, 76860, 98109, 70233, 56721, 36547, 71129, 86924, 74381, 56919, 59236, 67637, 33305, 90348, 68357, 42572, 83031, 44511,
  40054, 73054, 88211, 67087, 56065, 75925, 61478, 70502, 43268, 71504, 37351, 70648, 70553, 105162, 55886, 33604, 51436, 38565, 67216,
  97709, 38936, 78672, 110259, 72842, 75431, 45707,
];
const [GEAR_0, GEAR_1, GEAR_255] = [2301900796, 1460883279, 1107187106];
const GOLDEN_IDS_DIGEST = '4dae780f29ec977f8697152ba9ee0a5fadaa49d6373c402f0137d81296218610';

test('chunk boundaries of a fixed pseudo-random input are pinned (golden vector)', async () => {
  await initHash();
  const data = xorshiftBytes(0x12345678, 4 * 1024 * 1024);
  const lengths = chunkLengths(data);
  assert.deepEqual(lengths, GOLDEN_LENGTHS);
  let pos = 0;
  const ids = lengths.map((n) => {
    const id = blake3Hex(data.subarray(pos, pos + n));
    pos += n;
    return id;
  });
  assert.equal(blake3Hex(Buffer.from(ids.join('\n'))), GOLDEN_IDS_DIGEST);
});

test('the gear table and parameters are pinned', () => {
  assert.equal(CHUNKER_V1.name, 'fastcdc-gear32-v1');
  assert.deepEqual([CHUNKER_V1.min, CHUNKER_V1.avg, CHUNKER_V1.max], [32768, 65536, 262144]);
  assert.deepEqual([GEAR[0], GEAR[1], GEAR[255]], [GEAR_0, GEAR_1, GEAR_255]);
  assert.equal(new Set(GEAR).size, 256, 'gear entries are distinct');
});

test('chunks respect min and max and cover the input exactly', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 2_000_000 }), fc.integer({ min: 1, max: 2 ** 31 }), (size, seed) => {
      const data = xorshiftBytes(seed, size + ((4 - (size % 4)) % 4)).subarray(0, size);
      const lengths = chunkLengths(data);
      assert.equal(
        lengths.reduce((a, b) => a + b, 0),
        size,
      );
      lengths.forEach((n, i) => {
        assert.ok(n <= CHUNKER_V1.max);
        if (i < lengths.length - 1) assert.ok(n >= CHUNKER_V1.min);
      });
    }),
    { numRuns: 30 },
  );
});

test('streaming cuts (-1 until enough data) equal whole-buffer cuts', () => {
  const data = xorshiftBytes(99, 3_000_000);
  const whole = chunkLengths(data);
  const streamed: number[] = [];
  let start = 0;
  let end = 0;
  while (start < data.length) {
    const n = nextCut(data, start, end, end === data.length);
    if (n < 0) {
      end = Math.min(data.length, end + 100_000);
      continue;
    }
    streamed.push(n);
    start += n;
  }
  assert.deepEqual(streamed, whole);
});

test('an insertion near the start changes only the chunks around it', async () => {
  await initHash();
  const data = xorshiftBytes(7, 8 * 1024 * 1024);
  const edited = Buffer.concat([data.subarray(0, 100_000), Buffer.from('inserted bytes'), data.subarray(100_000)]);
  const ids = (b: Buffer): Set<string> => {
    let pos = 0;
    return new Set(
      chunkLengths(b).map((n) => {
        const id = blake3Hex(b.subarray(pos, pos + n));
        pos += n;
        return id;
      }),
    );
  };
  const a = ids(data);
  const b = ids(edited);
  const changed = [...b].filter((id) => !a.has(id)).length;
  assert.ok(changed <= 3, `${changed} chunks changed`);
  assert.ok(a.size > 50);
});
