/**
 * Locating a checkout's objects through recent pack indexes (store/pack-locator.ts): the answers
 * are the index's, most of them without asking it; at most LOCATOR_PACKS pack indexes are held;
 * a pack some of whose copies were dropped as corrupt is never used, so a dropped copy is never
 * handed out again, even after a good copy came back in another pack.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, promises as fsp } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { blake3Hex, initHash } from '../../src/core/hash.js';
import { countingIndex } from '../helpers/counting-index.js';
import { ObjectStore } from '../../src/store/object-store.js';
import { LOCATOR_PACKS, PackLocator } from '../../src/store/pack-locator.js';

await initHash();
const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await fsp.rm(d, { recursive: true, force: true });
});

/** A store of `n` objects of 2 KiB in packs of ~200 KB (in the order written), its index counting the ids looked up. */
async function storeOf(n: number) {
  const root = mkdtempSync(join(tmpdir(), 'dv-locator-'));
  dirs.push(root);
  const { index, lookups, reset } = countingIndex(join(root, 'index'), 'checkout');
  await fsp.mkdir(join(root, 'tmp'), { recursive: true });
  const store = new ObjectStore(join(root, 'packs'), join(root, 'tmp'), index, 200 << 10);
  const ids: string[] = [];
  const bytes = new Map<string, Buffer>();
  for (let k = 0; k < n; k++) {
    const b = randomBytes(2 << 10);
    const id = blake3Hex(b);
    await store.put(id, b, false);
    ids.push(id);
    bytes.set(id, b);
  }
  await store.flush();
  reset();
  return {
    store,
    index,
    ids,
    bytes,
    lookups,
    reset,
    close: () => store.close().then(() => index.close()),
  };
}

test('a checkout-ordered walk is located from pack indexes: same answers, few lookups, a bounded number of packs held', async () => {
  const s = await storeOf(2000);
  try {
    const truth = await s.index.getLocations(s.ids);
    assert.ok(new Set(truth.map((l) => l!.pack)).size > LOCATOR_PACKS, 'more packs than the locator holds');
    s.reset();
    const locator = (await s.store.locateThroughPacks())!;
    assert.ok(locator, 'a LevelDB index says which packs are tainted');
    let most = 0;
    for (let k = 0; k < s.ids.length; k += 50) {
      const got = await s.store.locations(s.ids.slice(k, k + 50));
      assert.deepEqual(got, truth.slice(k, k + 50));
      most = Math.max(most, locator.holding().packs);
    }
    assert.ok(most <= LOCATOR_PACKS, `held ${most} pack indexes`);
    assert.ok(s.lookups() < s.ids.length / 20, `${s.lookups()} ids asked of LevelDB for ${s.ids.length}`);
    assert.equal(locator.counts.fromPacks + locator.counts.fromIndex, s.ids.length);
    // Every location handed out reads back the object's bytes (each read verified by its id).
    for (const id of s.ids.slice(0, 100)) assert.ok((await s.store.get(id)).equals(s.bytes.get(id)!));
    s.store.locateByIndex();
    s.reset();
    await s.store.locations(s.ids.slice(0, 10));
    assert.equal(s.lookups(), 10, 'off again after the checkout');
  } finally {
    await s.close();
  }
});

test('a copy dropped as corrupt is never located through its pack index, before or after a good copy comes back', async () => {
  const s = await storeOf(600);
  try {
    const truth = await s.index.getLocations(s.ids);
    const bad = s.ids[300];
    const badPack = truth[300]!.pack;
    await s.index.dropObjects([bad]);
    assert.ok((await s.index.taintedPacks()).has(badPack), 'the pack that held it is marked');
    // Walk the pack's objects in order: the dropped one reads as missing, never as its old copy.
    const inPack = s.ids.filter((_, k) => truth[k]!.pack === badPack);
    let locator = (await s.store.locateThroughPacks())!;
    const other = inPack.find((id) => id !== bad)!;
    await s.store.locations([other]);
    assert.ok(!locator.holds(badPack), 'a marked pack index is not read');
    const before = await s.store.locations(inPack);
    assert.equal(before[inPack.indexOf(bad)], undefined, 'missing, not the dropped copy');
    // A good copy arrives in a new pack (a pull): it is the one located.
    s.store.locateByIndex();
    await s.store.put(bad, s.bytes.get(bad)!, false);
    await s.store.flush();
    locator = (await s.store.locateThroughPacks())!;
    const again = await s.store.locations(inPack);
    const l = again[inPack.indexOf(bad)]!;
    assert.notEqual(l.pack, badPack);
    assert.ok((await s.store.readAt(bad, l)).equals(s.bytes.get(bad)!));
    assert.ok(!locator.holds(badPack));
    // The same walk without the mark (an index from before marks) would hand out the dropped copy:
    // what the write pool's fallback (distrust the pack, write again from the index's copy) is for.
    const unmarked = new PackLocator(s.index, (p) => s.store.readPackIndexBytes(p), new Set());
    await unmarked.getLocations([other]);
    assert.equal((await unmarked.getLocations([bad]))[0]?.pack, badPack, 'the pack index still lists the dropped copy');
    unmarked.distrust(badPack);
    assert.notEqual((await unmarked.getLocations([bad]))[0]!.pack, badPack, 'a distrusted pack is not used again');
  } finally {
    await s.close();
  }
});
