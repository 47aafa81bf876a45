import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { dvOk, makeRepo, prng, tempDir } from '../helpers/cli.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** Compares two files byte for byte, streaming. */
async function sameBytes(a: string, b: string): Promise<boolean> {
  const [fa, fb] = await Promise.all([fsp.open(a), fsp.open(b)]);
  try {
    const ba = Buffer.alloc(16 * MiB);
    const bb = Buffer.alloc(16 * MiB);
    for (;;) {
      const [ra, rb] = await Promise.all([fa.read(ba, 0, ba.length), fb.read(bb, 0, bb.length)]);
      if (ra.bytesRead !== rb.bytesRead) return false;
      if (ra.bytesRead === 0) return true;
      if (!ba.subarray(0, ra.bytesRead).equals(bb.subarray(0, rb.bytesRead))) return false;
    }
  } finally {
    await fa.close();
    await fb.close();
  }
}

test('a 4 GiB file is added and checked out with peak RSS under 300 MB, byte-identical', async (t) => {
  const repo = await makeRepo();
  await fsp.mkdir(join(repo, 'data'));
  const file = join(repo, 'data', 'huge.bin');
  // 4 GiB: a 64 MiB random block repeated with a counter stamped into each copy, so chunks
  // are mostly shared (the store stays small) while the stream is 4 GiB all the same.
  const block = prng(2024, 64 * MiB);
  const fh = await fsp.open(file, 'w');
  for (let k = 0; k < 64; k++) {
    block.writeUInt32LE(k, 1000);
    await fh.write(block);
  }
  await fh.close();
  assert.equal((await fsp.stat(file)).size, 4 * GiB);
  const rss = join(tempDir(), 'rss');

  await dvOk(repo, ['add', '-q', 'data'], { DV_REPORT_RSS: rss });
  const addRss = Number(await fsp.readFile(rss, 'utf8'));
  t.diagnostic(`dv add of 4 GiB: peak RSS ${(addRss / MiB).toFixed(0)} MiB`);
  assert.ok(addRss < 300 * MiB, `add peak RSS ${(addRss / MiB).toFixed(0)} MiB`);

  const copy = join(repo, 'data.orig');
  await fsp.rename(file, copy);
  await fsp.rm(join(repo, 'data'), { recursive: true });
  await dvOk(repo, ['checkout', '-q'], { DV_REPORT_RSS: rss });
  const coRss = Number(await fsp.readFile(rss, 'utf8'));
  t.diagnostic(`dv checkout of 4 GiB: peak RSS ${(coRss / MiB).toFixed(0)} MiB`);
  assert.ok(coRss < 300 * MiB, `checkout peak RSS ${(coRss / MiB).toFixed(0)} MiB`);
  assert.ok(await sameBytes(file, copy), 'the checked-out file equals the original');
  await fsp.rm(repo, { recursive: true, force: true });
});
