import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chunkLengths } from '../../src/core/chunker.js';
import { PART } from '../../src/core/chunker-split.js';
import { initHash, blake3Hex } from '../../src/core/hash.js';
import { ManifestBuilder } from '../../src/core/manifest.js';
import { HashPool, hashFiles } from '../../src/workspace/hash-pool.js';
import { xorshiftBytes } from '../helpers/data.js';

/** The id the sequential chunker gives: chunk ids in a manifest. */
function sequentialId(data: Buffer): string {
  const m = new ManifestBuilder((node) => blake3Hex(node));
  let pos = 0;
  for (const n of chunkLengths(data)) {
    m.add(blake3Hex(data.subarray(pos, pos + n)), n);
    pos += n;
  }
  return m.finish().id;
}

test('a file cut in parts by every worker gets the id of the sequential chunker', async () => {
  await initHash();
  const dir = mkdtempSync(join(tmpdir(), 'dv-split-'));
  try {
    const size = 4 * PART + 1_234_567; // five parts, the last one short
    // Random data; then zeros from an odd offset over a part boundary (a run of max-size chunks
    // shifted against the part grid); then text; then a short pattern.
    const mixed = xorshiftBytes(3, size);
    mixed.fill(0, PART - 777_777, 2 * PART + 5);
    for (let i = 2 * PART + 5; i < 3 * PART; i++) mixed[i] = 97 + (mixed[i] % 5);
    for (let i = 3 * PART + 100; i < size; i++) mixed[i] = mixed[i - 100];
    const files = [
      { name: 'random', data: xorshiftBytes(11, size) },
      { name: 'zeros', data: Buffer.alloc(size) },
      { name: 'mixed', data: mixed },
      { name: 'small', data: xorshiftBytes(5, 3_000_000) },
      // A last part of 3 bytes: the chunk entering it covers it whole, so it cuts nothing.
      { name: 'tail', data: xorshiftBytes(17, 4 * PART + 3) },
    ];
    for (const f of files) writeFileSync(join(dir, f.name), f.data);
    const list = files.map((f) => ({ path: join(dir, f.name), size: f.data.length }));
    const got = await hashFiles(list, { sink: null, threads: 2 });
    files.forEach((f, k) => {
      assert.equal(got[k].size, f.data.length, f.name);
      assert.equal(got[k].id, sequentialId(f.data), f.name);
    });
    // The JS fallback (where WebAssembly cannot load) gives the same ids.
    process.env.DV_CHUNKER = 'js';
    try {
      const js = await hashFiles(list.slice(2, 4), { sink: null, threads: 2 });
      assert.deepEqual(
        js.map((r) => r.id),
        got.slice(2, 4).map((r) => r.id),
      );
    } finally {
      delete process.env.DV_CHUNKER;
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a split file gets the sequential id with one worker and with three (exits passed between workers in any order)', async () => {
  await initHash();
  const dir = mkdtempSync(join(tmpdir(), 'dv-split-'));
  try {
    const size = 6 * PART + 333_333;
    const random = xorshiftBytes(21, size);
    // Zeros across two part boundaries: there the speculative and the true chain never meet.
    const holes = xorshiftBytes(22, size);
    holes.fill(0, 2 * PART - 100_001, 4 * PART + 7);
    const files = [
      { name: 'random', data: random },
      { name: 'holes', data: holes },
    ];
    for (const f of files) writeFileSync(join(dir, f.name), f.data);
    const list = files.map((f) => ({ path: join(dir, f.name), size: f.data.length }));
    const want = files.map((f) => sequentialId(f.data));
    for (const threads of [1, 3]) {
      const got = await hashFiles(list, { sink: null, threads });
      assert.deepEqual(
        got.map((r) => r.id),
        want,
        `${threads} workers`,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a split file whose size changed since it was listed is refused, not hashed wrong', async () => {
  await initHash();
  const dir = mkdtempSync(join(tmpdir(), 'dv-split-'));
  try {
    const path = join(dir, 'f');
    writeFileSync(path, xorshiftBytes(9, 4 * PART + 10));
    await assert.rejects(hashFiles([{ path, size: 4 * PART + 20 }], { sink: null, threads: 2 }), /changed while being read/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('one pool serves several runs with the same workers, and a worker that died between runs fails the next run', async () => {
  await initHash();
  const dir = mkdtempSync(join(tmpdir(), 'dv-pool-'));
  const pool = new HashPool(null, 2);
  try {
    const small = Array.from({ length: 40 }, (_, k) => xorshiftBytes(100 + k, 1000 + k * 97));
    const big = xorshiftBytes(7, 4 * PART + 5);
    for (const [k, d] of small.entries()) writeFileSync(join(dir, `s${k}`), d);
    writeFileSync(join(dir, 'big'), big);
    const list = small.map((d, k) => ({ path: join(dir, `s${k}`), size: d.length }));
    const first = await pool.hash(list.slice(0, 20));
    const workers = (pool as unknown as { workers: { w: { threadId: number } }[] }).workers;
    const ids = workers.map((x) => x.w.threadId);
    assert.equal(ids.length, 2);
    // A second and third run (one of them a split file) reuse those two workers.
    const second = await pool.hash([...list.slice(20), { path: join(dir, 'big'), size: big.length }]);
    const third = await pool.hash(list.slice(0, 20));
    assert.deepEqual(
      (pool as unknown as { workers: { w: { threadId: number } }[] }).workers.map((x) => x.w.threadId),
      ids,
    );
    assert.deepEqual(
      third.map((r) => r.id),
      first.map((r) => r.id),
    );
    for (const [k, d] of small.entries()) assert.equal((k < 20 ? first[k] : second[k - 20]).id, blake3Hex(d), `s${k}`);
    assert.equal(second[20].id, sequentialId(big));
    // A worker gone between runs: the next run fails (it does not wait forever), and the pool starts afresh after.
    await (workers[0].w as unknown as { terminate(): Promise<number> }).terminate();
    await assert.rejects(pool.hash(list), /hash worker/);
    const again = await pool.hash(list.slice(0, 20));
    assert.deepEqual(
      again.map((r) => r.id),
      first.map((r) => r.id),
    );
  } finally {
    await pool.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
