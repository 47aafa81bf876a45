/**
 * A fetch plans and reads a level of the walk in batches of a bounded number of objects, whatever
 * the level's size (a flat directory of a million files is one level), and keeps its worker threads
 * and their packs from batch to batch: the same objects arrive in no more packs than one batch makes.
 * A dataset of a few hundred files fetched with a batch of 16 into a fresh store, beside a fetch
 * with the default batch: the bound on the batch, the objects, the bytes and the pack count are checked.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { openBackend } from '../../src/backend/open.js';
import { initHash } from '../../src/core/hash.js';
import { decodePointer } from '../../src/core/pointer.js';
import { MemoryIndex } from '../../src/store/index-db.js';
import { ObjectStore } from '../../src/store/object-store.js';
import { listPackIds } from '../../src/store/pack.js';
import { fetchObjects, FETCH_BATCH } from '../../src/transfer/fetch.js';
import { fetchThreads } from '../../src/transfer/fetch-pool.js';
import { RemoteIndex } from '../../src/transfer/remote-index.js';
import { dvOk, makeRepo, prng, tempDir } from '../helpers/cli.js';

const FILES = 300;

async function fetchInto(dir: string, remoteDir: string, root: string, batch?: number) {
  const packs = join(dir, 'packs');
  const tmp = join(dir, 'tmp');
  await fsp.mkdir(packs, { recursive: true });
  await fsp.mkdir(tmp, { recursive: true });
  const store = new ObjectStore(packs, tmp, new MemoryIndex());
  const backend = await openBackend(remoteDir);
  const remote = await RemoteIndex.load(backend, join(dir, 'cache'));
  const stats = await fetchObjects({ store, backend, remote, roots: [root], history: false, jobs: 4, ...(batch ? { batch } : {}) });
  return { stats, packs: (await listPackIds(packs)).length };
}

test('a fetch reads at most a batch of objects at once, and its workers keep their packs across batches', async () => {
  await initHash();
  const a = await makeRepo();
  for (let d = 0; d < 3; d++) {
    const dir = join(a, 'data', `d${d}`);
    await fsp.mkdir(dir, { recursive: true });
    for (let k = 0; k < FILES / 3; k++) await fsp.writeFile(join(dir, `f${k}.bin`), prng(d * 1000 + k, 1024 + ((k * 37) % 2048)));
  }
  // A file large enough to be chunked: a manifest level below the trees.
  await fsp.writeFile(join(a, 'data', 'large.bin'), prng(7, 3 * 1024 * 1024));
  await dvOk(a, ['add', 'data']);
  const remoteDir = join(tempDir(), 'remote');
  await dvOk(a, ['remote', 'add', 'dir', remoteDir]);
  await dvOk(a, ['push', '-q', '-r', 'dir']);
  const root = decodePointer(await fsp.readFile(join(a, 'data.dv'), 'utf8'), 'data.dv').snapshot;

  const whole = await fetchInto(tempDir(), remoteDir, root);
  const batched = await fetchInto(tempDir(), remoteDir, root, 16);
  assert.ok(FILES > 16 && FETCH_BATCH >= FILES, 'the default batch holds a whole level here');
  assert.ok((whole.stats.largestBatch ?? 0) > FILES, `one batch per level by default: ${whole.stats.largestBatch}`);
  assert.ok((batched.stats.largestBatch ?? Infinity) <= 16, `a batch held ${batched.stats.largestBatch} objects`);
  assert.equal(batched.stats.objectsFetched, whole.stats.objectsFetched);
  assert.equal(batched.stats.bytesFetched, whole.stats.bytesFetched);
  assert.equal(batched.stats.dataFetched, whole.stats.dataFetched);
  // Everything fits one pack per worker plus the store's own (trees, manifests); workers made per
  // batch would seal packs each batch (over twenty batches here).
  const most = fetchThreads() + 1;
  assert.ok(whole.packs <= most && batched.packs <= most, `${batched.packs} packs with batches of 16, ${whole.packs} in one batch`);
});
