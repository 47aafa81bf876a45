/**
 * A scan's own objects (trees, manifests) are written in packs of bounded size (ScanSink), not
 * held in memory until the store's 32 MB pack target: at a million files they were up to 54 MB.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { blake3Hex, initHash } from '../../src/core/hash.js';
import { ScanSink, SCAN_PACK_RAW_BYTES } from '../../src/history/scan-sink.js';
import { MemoryIndex } from '../../src/store/index-db.js';
import { ObjectStore } from '../../src/store/object-store.js';
import { listPackIds } from '../../src/store/pack.js';
import { tempDir } from '../helpers/cli.js';

test('a scan sink writes a pack each time its objects reach its limit, and every object stays readable', async () => {
  await initHash();
  assert.ok(SCAN_PACK_RAW_BYTES <= 16 * 1024 * 1024);
  const dir = tempDir();
  try {
    mkdirSync(join(dir, 'tmp'));
    const store = new ObjectStore(join(dir, 'packs'), join(dir, 'tmp'), new MemoryIndex());
    const sink = new ScanSink(store, 1000);
    const ids: string[] = [];
    // Ten objects of 300 bytes (five through putObject, five through put): a flush once 1000 bytes gathered (every fourth).
    for (let i = 0; i < 10; i++) {
      const bytes = Buffer.alloc(300, i);
      if (i % 2 === 0) ids.push(await sink.putObject(bytes));
      else {
        const id = blake3Hex(bytes);
        await sink.put(id, bytes, false);
        ids.push(id);
      }
      assert.equal(sink.flushes, Math.floor((i + 1) / 4), `after object ${i}`);
    }
    assert.equal((await listPackIds(join(dir, 'packs'))).length, 2);
    await store.flush();
    assert.equal((await listPackIds(join(dir, 'packs'))).length, 3);
    for (const [i, id] of ids.entries()) assert.deepEqual(await store.get(id), Buffer.alloc(300, i));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
