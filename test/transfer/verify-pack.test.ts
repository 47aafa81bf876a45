/**
 * firstBadEntry (verify-pack.ts) reads several units ahead of the one it hashes: whatever the
 * window, it answers with the first bad entry in offset order (a later damaged unit never wins),
 * checks every member of a frame,
 * and finds damage anywhere (a raw object, a zstd object, a frame, a pack cut short). A frame
 * whose entries carry the sum recorded when it was written is checked by that sum; damage still
 * names one of its members, and a sum that does not hold (stale) sends it through the full check.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { blake3Hex, initHash } from '../../src/core/hash.js';
import { compressFrame, maybeCompress, FLAG_FRAME } from '../../src/store/codec.js';
import { packPaths, writePack, type PendingObject } from '../../src/store/pack.js';
import type { PackEntry } from '../../src/store/pack-index.js';
import { firstBadEntry } from '../../src/transfer/verify-pack.js';
import { prng, tempDir } from '../helpers/cli.js';

/** Text that compresses: a frame of it is stored framed, a chunk of it as zstd. */
const text = (seed: number, n: number): Buffer => {
  const rows: string[] = [];
  for (let k = 0; rows.join('\n').length < n; k++) rows.push(`${seed},${k},row ${k * seed} of a table that compresses`);
  return Buffer.from(rows.join('\n')).subarray(0, n);
};

/** The entries without the frames' sums: every frame is decompressed and each member hashed. */
const unsummed = (entries: PackEntry[]): PackEntry[] => entries.map(({ sum: _, ...e }) => e);

/** A pack of units in this order: raw, frame (3 members), zstd, frame (4 members), raw, ×3 (frames carry sums). */
async function makePack(): Promise<{ pack: string; entries: PackEntry[] }> {
  const objects: PendingObject[] = [];
  for (let round = 0; round < 3; round++) {
    for (const members of [0, 3, -1, 4, 0]) {
      const seed = round * 10 + objects.length;
      if (members === 0) {
        const raw = prng(seed, 3000 + seed);
        objects.push({ id: blake3Hex(raw), data: raw, rawSize: raw.length, flags: 0 });
      } else if (members === -1) {
        const raw = text(seed, 5000);
        const z = await maybeCompress(raw);
        assert.equal(z.flags, 1, 'text is stored as zstd');
        objects.push({ id: blake3Hex(raw), data: z.data, rawSize: raw.length, flags: z.flags });
      } else {
        const parts = Array.from({ length: members }, (_, k) => text(seed * 7 + k, 4000 + k));
        const frame = await compressFrame(Buffer.concat(parts));
        assert.ok(frame, 'text compresses as a frame');
        let inner = 0;
        for (const p of parts) {
          objects.push({ id: blake3Hex(p), data: frame, rawSize: p.length, flags: FLAG_FRAME, inner });
          inner += p.length;
        }
      }
    }
  }
  const dir = tempDir('dv-verify-pack-');
  const { packId, entries } = await writePack(join(dir, 'packs'), join(dir, 'tmp'), objects, { sums: true });
  return { pack: packPaths(join(dir, 'packs'), packId).pack, entries };
}

/** Flips one byte of `file` at `at`. */
async function flip(file: string, at: number): Promise<void> {
  const fh = await fsp.open(file, 'r+');
  try {
    const b = Buffer.alloc(1);
    await fh.read(b, 0, 1, at);
    b[0] ^= 0xff;
    await fh.write(b, 0, 1, at);
  } finally {
    await fh.close();
  }
}

for (const summed of [false, true])
  test(`a sound pack verifies; damage to a unit names an entry of that unit, the first damaged one in offset order (${summed ? 'with' : 'without'} frame sums)`, async () => {
    await initHash();
    const made = await makePack();
    const pack = made.pack;
    const entries = summed ? made.entries : unsummed(made.entries);
    assert.equal(
      entries.some((e) => e.sum !== undefined),
      summed,
    );
    assert.equal(await firstBadEntry(pack, entries), undefined);
    // The index lists entries in any order; the answer is by offset.
    assert.equal(await firstBadEntry(pack, [...entries].reverse()), undefined);
    const byOffset = [...entries].sort((a, b) => a.offset - b.offset || (a.inner ?? 0) - (b.inner ?? 0));
    const units = [...new Set(byOffset.map((e) => e.offset))];
    assert.ok(units.length >= 15, `${units.length} units`);
    const original = await fsp.readFile(pack);
    for (const u of [0, 1, 2, 7, units.length - 1]) {
      const first = byOffset.find((e) => e.offset === units[u])!;
      // Damage inside a frame may decompress to wrong bytes in any member: the answer is one of them.
      const members = byOffset.filter((e) => e.offset === units[u]).map((e) => e.id);
      await flip(pack, first.offset + Math.floor(first.length / 2));
      const bad = await firstBadEntry(pack, entries);
      assert.ok(bad && members.includes(bad), `damage in unit ${u} (flags ${first.flags}): ${bad}`);
      // A second damaged unit further on does not change the answer.
      const later = byOffset.find((e) => e.offset === units[Math.min(units.length - 1, u + 2)])!;
      if (later.offset !== first.offset) {
        await flip(pack, later.offset + 1);
        assert.equal(await firstBadEntry(pack, entries), bad, `damage in units ${u} and ${u + 2}`);
      }
      await fsp.writeFile(pack, original);
    }
  });

test('a frame member whose slice lies past its frame is bad; a pack cut short names the first entry past its end', async () => {
  await initHash();
  const made = await makePack();
  const pack = made.pack;
  const entries = unsummed(made.entries);
  const byOffset = [...entries].sort((a, b) => a.offset - b.offset || (a.inner ?? 0) - (b.inner ?? 0));
  const member = byOffset.filter((e) => e.flags === FLAG_FRAME)[2];
  const lying = entries.map((e) => (e === member ? { ...e, inner: (e.inner ?? 0) + 1_000_000 } : e));
  assert.equal(await firstBadEntry(pack, lying), member.id);

  const cut = byOffset[Math.floor(byOffset.length / 2)];
  await fsp.truncate(pack, cut.offset + 10);
  const firstPast = byOffset.find((e) => e.offset + e.length > cut.offset + 10)!;
  assert.equal(await firstBadEntry(pack, entries), firstPast.id);
});

test('a frame whose sum holds is taken as written, without decompression; a stale sum sends it through the full check', async () => {
  await initHash();
  const { pack, entries } = await makePack();
  const frames = entries.filter((e) => e.flags === FLAG_FRAME);
  assert.ok(frames.length > 0 && frames.every((e) => e.sum !== undefined), 'writePack sums every frame');
  // A member's size that the writer never recorded: the sum vouches for the frame as written, so
  // it is not decompressed (without the sum, the full check finds the lie).
  const member = frames[1];
  const lying = entries.map((e) => (e === member ? { ...e, rawSize: e.rawSize + 1 } : e));
  assert.equal(await firstBadEntry(pack, lying), undefined);
  assert.equal(await firstBadEntry(pack, unsummed(lying)), member.id);
  // A stale sum (the record, not the pack, is wrong): the frame is checked in full and is sound.
  const stale = entries.map((e) => (e.flags === FLAG_FRAME ? { ...e, sum: '0'.repeat(32) } : e));
  assert.equal(await firstBadEntry(pack, stale), undefined);
  // And with a stale sum the full check still finds a lie.
  assert.equal(
    await firstBadEntry(
      pack,
      stale.map((e) => (e.id === member.id ? { ...e, rawSize: e.rawSize + 1 } : e)),
    ),
    member.id,
  );
});
