/**
 * Frames (flag 2) at the format level: pack index v1 and v2, hostile v2 entries, and the zstd
 * header bound that is checked before anything is decompressed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import fc from 'fast-check';
import { DvError } from '../../src/errors.js';
import { encodePackIndex, decodePackIndex, IDX_MAGIC, IDX_MAGIC_V2, MAX_FRAME_STORED, type PackEntry } from '../../src/store/pack-index.js';
import {
  compressFrame,
  decode,
  decodeFrame,
  zstdBound,
  FLAG_FRAME,
  FLAG_ZSTD,
  MAX_FRAME_BYTES,
  MAX_ZSTD_OBJECT,
} from '../../src/store/codec.js';

const zstd = createRequire(import.meta.url)('@mongodb-js/zstd/bindings.js') as { compress(b: Buffer, level: number): Promise<Buffer> };
const hex64 = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('hex'));
const id = (c: string): string => c.repeat(64);
const badObject = (e: unknown): boolean => e instanceof DvError && e.code === 'BAD_OBJECT';

test('pack index v1 (no frames) is still written and read as v1', () => {
  const entries: PackEntry[] = [
    { id: id('b'), offset: 1024, length: 10, rawSize: 20, flags: FLAG_ZSTD },
    { id: id('a'), offset: 512, length: 5, rawSize: 5, flags: 0 },
  ];
  const bytes = encodePackIndex(entries);
  assert.ok(bytes.subarray(0, 8).equals(IDX_MAGIC), 'a pack without frames keeps the v1 format older readers know');
  assert.equal(bytes.length, 12 + 2 * 47);
  assert.deepEqual(decodePackIndex(bytes), [entries[1], entries[0]]);
  // A v1 index cannot claim a frame.
  const framed = Buffer.from(bytes);
  framed[12 + 46] = FLAG_FRAME;
  assert.throws(() => decodePackIndex(framed), badObject);
});

test('pack index v2: round trip of raw, zstd and framed entries', () => {
  const frameEntry = fc.record({
    id: hex64,
    offset: fc.constant(512),
    length: fc.constant(9000),
    rawSize: fc.nat({ max: 1 << 20 }),
    flags: fc.constant(FLAG_FRAME),
    inner: fc.nat({ max: 3 << 20 }),
  });
  const plain = fc.record({
    id: hex64,
    offset: fc.integer({ min: 10_000, max: 2 ** 40 }),
    length: fc.nat({ max: 1 << 20 }),
    rawSize: fc.nat({ max: 1 << 20 }),
    flags: fc.constantFrom(0, 1),
  });
  fc.assert(
    fc.property(fc.uniqueArray(fc.oneof(frameEntry, plain), { selector: (e) => e.id, minLength: 1, maxLength: 40 }), (entries) => {
      const bytes = encodePackIndex(entries);
      const v2 = entries.some((e) => e.flags === FLAG_FRAME);
      assert.ok(bytes.subarray(0, 8).equals(v2 ? IDX_MAGIC_V2 : IDX_MAGIC));
      const want = entries.map((e) => ({ ...e })).sort((a, b) => (a.id < b.id ? -1 : 1));
      assert.deepEqual(decodePackIndex(bytes), want);
    }),
    { numRuns: 200 },
  );
});

test('pack index v2: hostile entries are refused', () => {
  const base: PackEntry = { id: id('a'), offset: 512, length: 1000, rawSize: 65536, flags: FLAG_FRAME, inner: 0 };
  const other: PackEntry = { id: id('b'), offset: 512, length: 1000, rawSize: 100, flags: 0 };
  const refused = (e: PackEntry[]): void => assert.throws(() => decodePackIndex(encodePackIndex(e)), badObject, JSON.stringify(e));
  refused([{ ...base, inner: MAX_FRAME_BYTES }]);
  refused([{ ...base, inner: MAX_FRAME_BYTES - 10, rawSize: 11 }]);
  refused([{ ...base, rawSize: MAX_FRAME_BYTES + 1 }]);
  refused([{ ...base, length: MAX_FRAME_STORED + 1 }]);
  refused([base, { ...base, id: id('c'), length: 999 }]);
  // inner on an object that is not framed, and flags beyond 2.
  const v2 = encodePackIndex([base, other]);
  const withInner = Buffer.from(v2);
  withInner.writeUInt32BE(7, 12 + 51 + 47);
  assert.throws(() => decodePackIndex(withInner), badObject);
  const flag3 = Buffer.from(v2);
  flag3[12 + 46] = 3;
  assert.throws(() => decodePackIndex(flag3), badObject);
  assert.equal(decodePackIndex(encodePackIndex([base, { ...base, id: id('c'), inner: MAX_FRAME_BYTES - 65536 }])).length, 2);
});

/** A zstd frame header declaring `size` bytes of content (8-byte Frame_Content_Size), one empty raw block. */
function declaring(size: number): Buffer {
  const b = Buffer.alloc(4 + 1 + 8 + 3);
  b.writeUInt32LE(0xfd2fb528, 0);
  b[4] = 0xe0; // FCS 8 bytes, single segment
  b.writeBigUInt64LE(BigInt(size), 5);
  b[13] = 1; // last block, raw, size 0
  return b;
}

test('zstd header bound: checked before decompressing, for frames and for single objects', async () => {
  const text = Buffer.from('id,date,city,amount\n'.repeat(100_000));
  const c = (await compressFrame(text.subarray(0, 1 << 20)))!;
  assert.ok(zstdBound(c, MAX_FRAME_BYTES) >= 1 << 20);
  assert.deepEqual(await decodeFrame(c), text.subarray(0, 1 << 20));
  // A declared content size beyond the cap is refused from the header alone.
  assert.throws(() => zstdBound(declaring(1 << 30), MAX_FRAME_BYTES), /declares/);
  await assert.rejects(decodeFrame(declaring(MAX_FRAME_BYTES + 1)), /declares/);
  await assert.rejects(decode(declaring(1 << 30), FLAG_ZSTD), /declares/);
  assert.equal(zstdBound(declaring(100), MAX_FRAME_BYTES), 100);
  // Without a declared size (what the library writes), the blocks bound it: a bomb of zeros is refused.
  const bomb = await zstd.compress(Buffer.alloc(MAX_FRAME_BYTES + (1 << 20)), 3);
  assert.ok(bomb.length < 4096);
  await assert.rejects(decodeFrame(bomb), /more than/);
  const big = await zstd.compress(Buffer.alloc(MAX_ZSTD_OBJECT + (1 << 20)), 3);
  await assert.rejects(decode(big, FLAG_ZSTD), /more than/);
  // Exactly one frame: trailing bytes, a second frame, a truncated one are refused.
  assert.throws(() => zstdBound(Buffer.concat([c, c]), 16 << 20), /trailing/);
  assert.throws(() => zstdBound(Buffer.concat([c, Buffer.from([0])]), 16 << 20), /trailing/);
  assert.throws(() => zstdBound(c.subarray(0, c.length - 1), 16 << 20), /truncated/);
  assert.throws(() => zstdBound(Buffer.from('not zstd at all'), 16 << 20), /magic/);
  // Arbitrary bytes never make it throw anything but an Error, nor loop.
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat({ max: c.length - 1 }), fc.integer({ min: 1, max: 255 }), (junk, pos, x) => {
      const m = Buffer.from(c);
      m[pos] ^= x;
      for (const b of [Buffer.from(junk), m]) {
        try {
          zstdBound(b, MAX_FRAME_BYTES);
        } catch (e) {
          assert.ok(e instanceof Error);
        }
      }
    }),
    { numRuns: 300 },
  );
});
