/**
 * A fetch keeps no record per chunk (only trees and manifests are held in its ledger): chunks are
 * fetched in batches as they are named, and each naming is held to the chunk's real size. Checked
 * with a batch of one chunk, so every naming lands in a batch of its own: a chunk named again after
 * it was downloaded (its worker's pack not sealed yet) is not downloaded again, and a second naming
 * that declares another size is refused, whether it comes after the download or before it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { openBackend } from '../../src/backend/open.js';
import { initHash } from '../../src/core/hash.js';
import { DvError } from '../../src/errors.js';
import { MemoryIndex } from '../../src/store/index-db.js';
import { ObjectStore } from '../../src/store/object-store.js';
import { fetchObjects } from '../../src/transfer/fetch.js';
import { RemoteIndex } from '../../src/transfer/remote-index.js';
import { tempDir } from '../helpers/cli.js';
import { obj, rawTree, snapshotBytes, writeRemotePack, type Obj } from '../helpers/evil-remote.js';

/** A remote whose snapshot holds `dirs` directories, each with the files [name, declared size, chunk] given. */
async function remoteWith(dirs: [string, number, Obj][][]): Promise<{ remote: string; root: string }> {
  const remote = tempDir('dv-fetch-chunks-');
  const objects: Obj[] = [];
  const rows: unknown[][] = [];
  let total = 0;
  let files = 0;
  for (const [k, entries] of dirs.entries()) {
    for (const [, , c] of entries) if (!objects.some((o) => o.id === c.id)) objects.push(c);
    const size = entries.reduce((n, [, s]) => n + s, 0);
    const t = await obj(rawTree(entries.map(([name, s, c]) => ['f', name, s, c.id, 0])));
    objects.push(t);
    rows.push(['d', `d${k}`, size, t.id, entries.length]);
    total += size;
    files += entries.length;
  }
  const root = await obj(rawTree(rows));
  const snap = await obj(snapshotBytes(root.id, 'data', 'dir', total, files));
  await writeRemotePack(remote, [...objects, root, snap]);
  return { remote, root: snap.id };
}

/** A fetch of `root` from `remote` into a new store (`batch`: objects per batch, default the fetch's own). */
async function fetchWith(remote: string, root: string, batch?: number) {
  const dir = tempDir('dv-fetch-chunks-store-');
  await fsp.mkdir(join(dir, 'packs'));
  await fsp.mkdir(join(dir, 'tmp'));
  const store = new ObjectStore(join(dir, 'packs'), join(dir, 'tmp'), new MemoryIndex());
  const backend = await openBackend(remote);
  const index = await RemoteIndex.load(backend, join(dir, 'cache'));
  return fetchObjects({ store, backend, remote: index, roots: [root], history: false, jobs: 2, ...(batch ? { batch } : {}) });
}

test('a chunk named again in a later batch is not downloaded again', async () => {
  await initHash();
  const a = await obj('a'.repeat(3000));
  const b = await obj('b'.repeat(2000));
  const { remote, root } = await remoteWith([
    [
      ['x', 3000, a],
      ['y', 2000, b],
    ],
    [
      ['x', 3000, a],
      ['z', 3000, a],
    ],
  ]);
  const stats = await fetchWith(remote, root, 1);
  // The snapshot, three trees and two chunks: each once.
  assert.equal(stats.objectsFetched, 6);
  assert.equal(stats.dataFetched, 5000);
  assert.ok((stats.largestBatch ?? 0) <= 1, `batches of ${stats.largestBatch}`);
});

test('a chunk declared at another size than it holds: refused, after its download or before it', async () => {
  await initHash();
  const a = await obj('a'.repeat(3000));
  for (const [first, second] of [
    [3000, 2999],
    [2999, 3000],
  ]) {
    const { remote, root } = await remoteWith([[['x', first, a]], [['x', second, a]]]);
    await assert.rejects(fetchWith(remote, root, 1), (e: unknown) => {
      assert.ok(e instanceof DvError && e.code === 'BAD_OBJECT', String(e));
      assert.match(e.message, /does not match its declared size/);
      assert.match(e.message, /says 2999 bytes/);
      return true;
    });
  }
});

test('a chunk named twice in one batch with two sizes: refused', async () => {
  await initHash();
  const a = await obj('a'.repeat(3000));
  const { remote, root } = await remoteWith([
    [
      ['x', 3000, a],
      ['y', 2999, a],
    ],
  ]);
  await assert.rejects(fetchWith(remote, root), /says 2999 bytes/);
});
