/**
 * The fetch pool (src/transfer/fetch-pool.ts) on its own: ranges of chunks handed to worker
 * threads come back as packs holding exactly the chunks that verify, in order, byte for byte;
 * a damaged or undecompressable chunk is reported and never written.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { blake3Hex, initHash } from '../../src/core/hash.js';
import { FLAG_RAW, FLAG_ZSTD, maybeCompress } from '../../src/store/codec.js';
import { FetchPool, type RangeChunk, type SealedPack } from '../../src/transfer/fetch-pool.js';
import { RangeSlots } from '../../src/transfer/fetch-slots.js';
import { tempDir } from '../helpers/cli.js';
import { xorshiftBytes } from '../helpers/data.js';

/** A range buffer of `chunks` laid end to end with 512 bytes between them, as a pack range would be. */
function rangeOf(parts: { stored: Buffer; raw: Buffer; flags: number }[]): { data: Buffer; chunks: RangeChunk[] } {
  const bufs: Buffer[] = [];
  const chunks: RangeChunk[] = [];
  let at = 0;
  for (const p of parts) {
    bufs.push(Buffer.alloc(512), p.stored);
    at += 512;
    chunks.push({ id: blake3Hex(p.raw), at, length: p.stored.length, rawSize: p.raw.length, flags: p.flags });
    at += p.stored.length;
  }
  return { data: Buffer.concat(bufs), chunks };
}

async function contents(packs: SealedPack[]): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for (const p of packs) {
    const bytes = await fsp.readFile(p.tmp);
    assert.equal(bytes.length, p.size, 'the pack is as long as its writer says');
    for (const e of p.entries) out.set(e.id, bytes.subarray(e.offset, e.offset + e.length));
  }
  return out;
}

test('chunks verified in workers land in packs byte for byte; packs fill up and are handed back', async () => {
  await initHash();
  const dir = tempDir('dv-fetch-pool-');
  const pool = new FetchPool(dir, 1 << 20, 2);
  try {
    const raws = Array.from({ length: 24 }, (_, k) => xorshiftBytes(k + 1, 200_000));
    const sealed: SealedPack[] = [];
    const ranges = [0, 8, 16].map((from) => rangeOf(raws.slice(from, from + 8).map((raw) => ({ stored: raw, raw, flags: FLAG_RAW }))));
    const answers = await Promise.all(ranges.map((r) => pool.write(r.data, r.chunks)));
    for (const a of answers) {
      assert.deepEqual(a.bad, []);
      sealed.push(...a.sealed);
    }
    assert.ok(sealed.length >= 2, 'packs of 1 MiB were handed back while the ranges came');
    sealed.push(...(await pool.finish()));
    const got = await contents(sealed);
    assert.equal(got.size, raws.length);
    for (const raw of raws) assert.ok(got.get(blake3Hex(raw))?.equals(raw), 'every chunk is stored as it came');
  } finally {
    await pool.close();
    await fsp.rm(dir, { recursive: true, force: true });
  }
});

test('a damaged chunk and one that does not decompress are reported and not written; the rest are', async () => {
  await initHash();
  const dir = tempDir('dv-fetch-pool-');
  const pool = new FetchPool(dir, 64 << 20, 2);
  try {
    const text = Buffer.from('a,b,c\n'.repeat(20_000));
    const z = await maybeCompress(text);
    assert.equal(z.flags, FLAG_ZSTD);
    const good = xorshiftBytes(7, 100_000);
    const flipped = Buffer.from(xorshiftBytes(8, 100_000));
    const { data, chunks } = rangeOf([
      { stored: good, raw: good, flags: FLAG_RAW },
      { stored: flipped, raw: xorshiftBytes(8, 100_000), flags: FLAG_RAW },
      { stored: z.data, raw: text, flags: FLAG_ZSTD },
      { stored: Buffer.from('not zstd at all'), raw: text, flags: FLAG_ZSTD },
    ]);
    // Damage chunk 1 inside the range after its id was taken from the good bytes.
    data[chunks[1].at + 5_000] ^= 1;
    const r = await pool.write(data, chunks);
    assert.deepEqual(
      r.bad.map((b) => [b.k, b.why]),
      [
        [1, 'does not match its hash'],
        [3, 'cannot be decompressed'],
      ],
    );
    const got = await contents([...r.sealed, ...(await pool.finish())]);
    assert.deepEqual([...got.keys()].sort(), [blake3Hex(good), blake3Hex(text)].sort());
    assert.ok(got.get(blake3Hex(text))?.equals(z.data), 'a compressed chunk is stored compressed, as it came');
    assert.deepEqual((await fsp.readdir(dir)).filter((f) => f.endsWith('.tmp')).length, 1, 'one pack file, nothing else left behind');
  } finally {
    await pool.close();
    await fsp.rm(dir, { recursive: true, force: true });
  }
});

test('abort drops the unfinished packs', async () => {
  await initHash();
  const dir = tempDir('dv-fetch-pool-');
  const pool = new FetchPool(dir, 64 << 20, 2);
  try {
    const raw = xorshiftBytes(3, 50_000);
    const r = rangeOf([{ stored: raw, raw, flags: FLAG_RAW }]);
    await pool.write(r.data, r.chunks);
    await pool.abort();
    assert.deepEqual(await fsp.readdir(dir).catch(() => []), []);
  } finally {
    await pool.close();
    await fsp.rm(dir, { recursive: true, force: true });
  }
});

test('ranges in slots of a shared ring: read in place by the workers, a damaged or undecompressable chunk reported, slots reused', async () => {
  await initHash();
  const dir = tempDir('dv-fetch-pool-');
  const slots = new RangeSlots(2, 1 << 20);
  const pool = new FetchPool(dir, 64 << 20, 2, slots.ring);
  try {
    const text = Buffer.from('x,y\n'.repeat(30_000));
    const z = await maybeCompress(text);
    assert.equal(z.flags, FLAG_ZSTD);
    const raws = Array.from({ length: 12 }, (_, k) => xorshiftBytes(k + 100, 150_000));
    const parts = raws.map((raw) => ({ stored: raw, raw, flags: FLAG_RAW }));
    const ranges = [parts.slice(0, 4), parts.slice(4, 8), [...parts.slice(8), { stored: z.data, raw: text, flags: FLAG_ZSTD }]].map(
      rangeOf,
    );
    const bad = rangeOf([{ stored: Buffer.from('not zstd'), raw: text, flags: FLAG_ZSTD }, parts[0]]);
    // Three ranges and a bad one through two slots: a slot is taken before the bytes go in and given back after the answer.
    const answers = await Promise.all(
      [...ranges, bad].map(async (r, n) => {
        const k = await slots.take();
        try {
          const view = slots.view(k);
          r.data.copy(view);
          if (n === 3) view[r.chunks[1].at + 10] ^= 1;
          return await pool.writeSlot(slots.offset(k), r.data.length, r.chunks);
        } finally {
          slots.give(k);
        }
      }),
    );
    assert.deepEqual(
      answers.map((a) => a.bad.map((b) => [b.k, b.why])),
      [
        [],
        [],
        [],
        [
          [0, 'cannot be decompressed'],
          [1, 'does not match its hash'],
        ],
      ],
    );
    const got = await contents([...answers.flatMap((a) => a.sealed), ...(await pool.finish())]);
    assert.equal(got.size, raws.length + 1);
    for (const raw of raws) assert.ok(got.get(blake3Hex(raw))?.equals(raw), 'every chunk is stored as it came');
    assert.ok(got.get(blake3Hex(text))?.equals(z.data), 'a compressed chunk from the ring is stored as it came');
  } finally {
    await pool.close();
    await fsp.rm(dir, { recursive: true, force: true });
  }
});
