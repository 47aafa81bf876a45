/**
 * A scan hashes batch after batch while it walks on (scan.ts hashQueued): whatever the batch
 * size, the trees, the stored objects and the stat cache come out the same. A first add of a
 * path makes no stat-cache lookups (`mayHaveStatsUnder`), and the stat cache it writes serves
 * the next scan.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { initHash } from '../../src/core/hash.js';
import { ScanSink } from '../../src/history/scan-sink.js';
import { LevelIndex } from '../../src/store/index-db.js';
import { ObjectStore } from '../../src/store/object-store.js';
import { scanPath } from '../../src/workspace/scan.js';
import { tempDir } from '../helpers/cli.js';

function workspace(): string {
  const root = tempDir();
  // 12 directories of 25 files (a few of them the same bytes: chunks claimed once), and a nested one.
  for (let d = 0; d < 12; d++) {
    const dir = join(root, 'data', `d${d}`, d % 3 === 0 ? 'deep' : '');
    mkdirSync(dir, { recursive: true });
    for (let f = 0; f < 25; f++) writeFileSync(join(dir, `f${f}.bin`), f % 5 === 0 ? 'same' : `${d}:${f}:`.repeat(40 + f));
  }
  return root;
}

function storeIn(root: string, name: string): { index: LevelIndex; store: ObjectStore } {
  const index = new LevelIndex({ dir: join(root, name, 'index'), waitMs: 1000, command: 'test' });
  mkdirSync(join(root, name, 'tmp'), { recursive: true });
  return { index, store: new ObjectStore(join(root, name, 'packs'), join(root, name, 'tmp'), index) };
}

test('the index tells whether any stat entry can lie under a path', async () => {
  const root = tempDir();
  const { index } = storeIn(root, 'a');
  try {
    assert.equal(await index.mayHaveStatsUnder('data'), false);
    await index.putStats([['data/x/y.bin', { size: 1, mtimeMs: 1, ino: 1, id: 'a'.repeat(64), chunked: false }]]);
    for (const rel of ['data', 'data/x', 'data/x/y.bin']) assert.equal(await index.mayHaveStatsUnder(rel), true, rel);
    for (const rel of ['dat', 'data/y', 'other', 'data/x/y.bin2']) assert.equal(await index.mayHaveStatsUnder(rel), false, rel);
  } finally {
    await index.close();
  }
});

test('batches of any size give the same trees, objects and stat cache, and a second scan hashes nothing', async () => {
  await initHash();
  const root = workspace();
  const results = [];
  for (const batchFiles of [7, 64, undefined]) {
    const { index, store } = storeIn(root, `s${batchFiles}`);
    try {
      const sink = new ScanSink(store);
      const first = await scanPath({ root, rel: 'data', index, sink, batchFiles });
      await store.flush();
      assert.equal(first.files, 300);
      assert.equal(first.filesHashed, 300);
      // Every object of the tree is in the store (each file's chunk, every tree).
      assert.equal((await store.hasMany([first.tree])).every(Boolean), true);
      assert.equal(await index.mayHaveStatsUnder('data'), true);
      const stats = await index.getStats(['data/d1/f1.bin', 'data/d3/deep/f24.bin']);
      assert.ok(stats.every((s) => s !== undefined));
      const again = await scanPath({ root, rel: 'data', index, sink: new ScanSink(store), batchFiles });
      assert.equal(again.tree, first.tree);
      assert.equal(again.filesHashed, 0);
      results.push({ tree: first.tree, objects: store.stats.objectsWritten });
    } finally {
      await store.close();
      await index.close();
    }
  }
  assert.equal(new Set(results.map((r) => r.tree)).size, 1, 'one tree whatever the batch size');
  assert.equal(new Set(results.map((r) => r.objects)).size, 1, 'the same objects stored');
});
