/**
 * A fetch keeps no record per chunk (only trees and manifests are held in its ledger): chunks are
 * fetched in batches as they are named, and each naming is held to the chunk's real size. Checked
 * with a batch of one chunk, so every naming lands in a batch of its own: a chunk named again after
 * it was downloaded (its worker's pack not sealed yet) is not downloaded again, and a second naming
 * that declares another size is refused, whether it comes after the download or before it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Backend } from '../../src/backend/backend.js';
import { openBackend } from '../../src/backend/open.js';
import { initHash } from '../../src/core/hash.js';
import { DvError } from '../../src/errors.js';
import type { PackEntry } from '../../src/store/pack-index.js';
import { fetchObjects } from '../../src/transfer/fetch.js';
import { RemoteIndex } from '../../src/transfer/remote-index.js';
import { tempDir } from '../helpers/cli.js';
import { memoryStore } from '../helpers/memory-store.js';
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

/**
 * A backend whose chunk reads (ranges of packs) each take `ms` longer: a batch of chunks is still
 * downloading while the walk plans the next (the delay is the only fault it injects).
 */
function slowReads(b: Backend, ms: number): Backend {
  const later = (): Promise<void> => new Promise((r) => setTimeout(r, ms));
  const slow: Backend = Object.create(b);
  slow.getRange = async (...a: Parameters<Backend['getRange']>) => {
    await later();
    return b.getRange(...a);
  };
  const to = b.getRangeTo?.bind(b);
  if (to)
    slow.getRangeTo = async (...a: Parameters<typeof to>) => {
      await later();
      return to(...a);
    };
  return slow;
}

/**
 * A fetch of `root` from `remote` into a new store (`batch`: objects per batch, default the
 * fetch's own; `delay`: ms added to each range read).
 */
async function fetchWith(remote: string, root: string, batch?: number, delay = 0) {
  const { dir, store } = await memoryStore('dv-fetch-chunks-store-');
  const opened = await openBackend(remote);
  const backend = delay > 0 ? slowReads(opened, delay) : opened;
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

test('a chunk the batch downloading brings is not asked for again by the next, and is held to its size there', async () => {
  await initHash();
  // 2,048 chunks fill a first batch (FIRST_CHUNK_BATCH); its download takes 300 ms more than it
  // would, so the second batch (a again, and b) is planned while the first downloads.
  const many = await Promise.all(Array.from({ length: 2048 }, (_, k) => obj(`chunk ${k} `.repeat(40))));
  const a = many[0];
  const b = await obj('b'.repeat(2000));
  const first: [string, number, Obj][] = many.map((c, k) => [`f${String(k).padStart(4, '0')}`, c.bytes.length, c]);
  const all = many.reduce((n, c) => n + c.bytes.length, 0);
  for (const [size, fails] of [
    [a.bytes.length, false],
    [a.bytes.length - 1, true],
  ] as const) {
    const { remote, root } = await remoteWith([
      first,
      [
        ['w', size, a],
        ['y', 2000, b],
      ],
    ]);
    const fetching = fetchWith(remote, root, undefined, 300);
    if (fails) await assert.rejects(fetching, new RegExp(`says ${size} bytes`));
    else assert.equal((await fetching).dataFetched, all + 2000, 'every chunk once');
  }
});

test('a chunk the batch downloading brings with no declared size (a leaf): the next naming waits and is held to its real size', async () => {
  await initHash();
  const x = await obj('x'.repeat(5000));
  const lie = 4000;
  // The trees are here already and say x has 4,000 bytes; one index of the remote says so too
  // (a copy that cannot verify), another tells the truth. Whichever the remote lists first, the
  // tree's naming must be refused once x is here with its 5,000 bytes.
  const tree = await obj(rawTree([['f', 'x', lie, x.id, 0]]));
  const root = await obj(rawTree([['d', 'd0', lie, tree.id, 1]]));
  const snap = await obj(snapshotBytes(root.id, 'data', 'dir', lie, 1));
  const lying = (es: PackEntry[]): PackEntry[] => es.map((e) => (e.id === x.id ? { ...e, rawSize: lie } : e));
  for (const lyingFirst of [true, false]) {
    const remote = tempDir('dv-fetch-chunks-remote-');
    const honest = await writeRemotePack(remote, [x]);
    // A filler decides where the lying pack's id sorts (the first pack listing an id gives its first copy).
    for (let n = 0; ; n++) {
      const filler = await obj(`filler ${n}`);
      const probe = await writeRemotePack(tempDir('dv-fetch-chunks-probe-'), [x, filler], lying);
      if (probe.packId < honest.packId === lyingFirst) {
        await writeRemotePack(remote, [x, filler], lying);
        break;
      }
    }
    const { dir, store } = await memoryStore('dv-fetch-chunks-store-');
    for (const o of [snap, root, tree]) await store.put(o.id, o.bytes, false);
    await store.flush();
    const backend = slowReads(await openBackend(remote), 300);
    const index = await RemoteIndex.load(backend, join(dir, 'cache'));
    assert.equal(index.copies(x.id)[0].rawSize, lyingFirst ? lie : 5000);
    const fetching = fetchObjects({ store, backend, remote: index, roots: [snap.id], leaves: [x.id], history: false, jobs: 2, batch: 1 });
    await assert.rejects(fetching, /says 4000 bytes, it holds 5000/);
  }
});
