/**
 * Index bundles (transfer/index-bundle.ts, remote-bundles.ts): a push of several packs writes one
 * bundle of their indexes; a clone with none cached reads it with one GET instead of one per pack,
 * and reads it only once; a bundle never adds a pack the index/ listing does not name nor lends a
 * member that does not hash to its pack id; `dv gc --remote` deletes a bundle naming a pack it
 * deleted and keeps the others. The format refuses every malformed or truncated header.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, promises as fsp } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Backend } from '../../src/backend/backend.js';
import { LocalBackend } from '../../src/backend/local.js';
import { blake3Hex, initHash } from '../../src/core/hash.js';
import { DvError } from '../../src/errors.js';
import { ObjectStore } from '../../src/store/object-store.js';
import { LevelIndex } from '../../src/store/index-db.js';
import { decodeBundle, encodeBundle, MAX_BUNDLE_BYTES } from '../../src/transfer/index-bundle.js';
import { BUNDLES_PREFIX, INDEX_PREFIX, remoteBundleKey } from '../../src/transfer/layout.js';
import { pushObjects } from '../../src/transfer/push.js';
import { PushPlan } from '../../src/transfer/push-plan.js';
import { pruneBundles } from '../../src/transfer/remote-bundles.js';
import { RemoteIndex } from '../../src/transfer/remote-index.js';

await initHash();
const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await fsp.rm(d, { recursive: true, force: true });
});

/** A backend that counts the GETs of each kind of key. */
function counting(inner: Backend): { backend: Backend; gets: { index: number; bundle: number } } {
  const gets = { index: 0, bundle: 0 };
  const backend = new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === 'get')
        return (k: string, o?: unknown) => {
          if (k.startsWith(INDEX_PREFIX)) gets.index++;
          if (k.startsWith(BUNDLES_PREFIX)) gets.bundle++;
          return (target.get as (k: string, o?: unknown) => Promise<Buffer>).call(target, k, o);
        };
      return Reflect.get(target, prop, receiver);
    },
  }) as Backend;
  return { backend, gets };
}

/** A remote holding `packs` packs of 40 objects each, pushed in one push; the pushed ids. */
async function pushedRemote(packs: number): Promise<{ root: string; remote: LocalBackend; ids: string[] }> {
  const root = mkdtempSync(join(tmpdir(), 'dv-bundles-'));
  dirs.push(root);
  const index = new LevelIndex({ dir: join(root, 'index'), waitMs: 5000, command: 'push' });
  await fsp.mkdir(join(root, 'tmp'), { recursive: true });
  // Local packs of ~4.5 MB travel whole: one remote pack each.
  const store = new ObjectStore(join(root, 'packs'), join(root, 'tmp'), index, (40 * 112) << 10);
  const ids: string[] = [];
  for (let k = 0; k < packs * 40; k++) {
    const bytes = randomBytes(112 << 10);
    ids.push(blake3Hex(bytes));
    await store.put(ids[k], bytes, false);
  }
  await store.flush();
  const remote = new LocalBackend(join(root, 'remote'), { create: true });
  await remote.init();
  const ri = await RemoteIndex.load(remote, join(root, 'push-cache'), 2, { lean: true });
  const plan = new PushPlan((id) => ri.has(id));
  plan.add(ids, false);
  const stats = await pushObjects({ store, backend: remote, remote: ri, plan, tmpDir: join(root, 'tmp'), jobs: 2 });
  await store.close();
  await index.close();
  assert.ok(stats.packsSent >= 3, `${stats.packsSent} packs`);
  return { root, remote, ids };
}

const keysUnder = async (b: Backend, prefix: string): Promise<string[]> => {
  const out: string[] = [];
  for await (const { key } of b.list(prefix)) out.push(key);
  return out;
};

test('a push writes one bundle; a fresh clone reads it instead of every index, and only once', async () => {
  const { root, remote, ids } = await pushedRemote(4);
  const indexes = await keysUnder(remote, INDEX_PREFIX);
  assert.equal((await keysUnder(remote, BUNDLES_PREFIX)).length, 1);
  for (const lean of [false, true]) {
    const { backend, gets } = counting(remote);
    const cache = join(root, `clone-${lean}`);
    const ri = await RemoteIndex.load(backend, cache, 2, { lean });
    assert.deepEqual(gets, { index: 0, bundle: 1 }, `lean ${lean}`);
    assert.equal(ri.packs.size, indexes.length);
    for (const id of ids) assert.ok(ri.has(id));
    assert.deepEqual(ri.warnings, []);
    // Loaded again: from the cache, the bundle not read again.
    const again = counting(remote);
    await RemoteIndex.load(again.backend, cache, 2, { lean });
    assert.deepEqual(again.gets, { index: 0, bundle: 0 });
  }
});

test('a bundle adds no pack the listing does not name, and a member that is not its pack index is not used', async () => {
  const { root, remote, ids } = await pushedRemote(3);
  const [gone, forged, ...rest] = await keysUnder(remote, INDEX_PREFIX);
  const goneId = gone.slice(-68, -4);
  const forgedId = forged.slice(-68, -4);
  await remote.delete(gone);
  // A second bundle whose member for `forged` holds another pack's index bytes.
  const other = await remote.get(rest[0]);
  const bad = encodeBundle([
    { packId: forgedId, bytes: other },
    { packId: forgedId, bytes: Buffer.from('not an index') },
  ]);
  await remote.put(remoteBundleKey(blake3Hex(bad)), bad);
  const { backend, gets } = counting(remote);
  const ri = await RemoteIndex.load(backend, join(root, 'clone'), 2);
  assert.equal(ri.packs.has(goneId), false, 'a pack whose index is gone stays absent');
  assert.ok(ri.packs.has(forgedId));
  const inGone = ids.filter((id) => !ri.has(id));
  assert.equal(inGone.length, 40, 'the objects of the pack whose index is gone');
  // Every listed index came from the good bundle: none fetched alone, and the forged copies lent nothing.
  assert.equal(gets.index, 0);
  for (const c of ri.packs) assert.equal(blake3Hex(await fsp.readFile(join(root, 'clone', `${c}.idx`))), c);
});

test('a bundle that is damaged, malformed or too large is skipped with a warning: the indexes are read one by one', async () => {
  const { root, remote, ids } = await pushedRemote(3);
  const [good] = await keysUnder(remote, BUNDLES_PREFIX);
  await remote.delete(good);
  const malformed = Buffer.from('dvbdl 1\n\u0000\u0000\u0000\u0009short');
  await remote.put(remoteBundleKey(blake3Hex(malformed)), malformed);
  const misnamed = Buffer.from('dvbdl 1\n\u0000\u0000\u0000\u0000');
  await remote.put(remoteBundleKey('ab'.repeat(32)), misnamed);
  await remote.put(remoteBundleKey('cd'.repeat(32)), Buffer.alloc(MAX_BUNDLE_BYTES + 1));
  const { backend, gets } = counting(remote);
  const ri = await RemoteIndex.load(backend, join(root, 'clone'), 2);
  for (const id of ids) assert.ok(ri.has(id));
  assert.equal(gets.index, 3);
  assert.equal(ri.warnings.length, 3, ri.warnings.join('\n'));
  assert.ok(ri.warnings.some((w) => /is listed at \d+ bytes, more than dv reads of a bundle/.test(w)));
  assert.ok(ri.warnings.some((w) => /does not match its name/.test(w)));
  assert.ok(ri.warnings.some((w) => /malformed/.test(w)));
});

test('gc prunes the bundles naming a deleted pack and keeps the others', async () => {
  const { remote } = await pushedRemote(3);
  const [bundle] = await keysUnder(remote, BUNDLES_PREFIX);
  const packIds = (await keysUnder(remote, INDEX_PREFIX)).map((k) => k.slice(-68, -4));
  const unrelated = encodeBundle([{ packId: 'cd'.repeat(32), bytes: Buffer.from('x') }]);
  await remote.put(remoteBundleKey(blake3Hex(unrelated)), unrelated);
  const del = async (k: string): Promise<boolean> => {
    await remote.delete(k);
    return true;
  };
  assert.equal(await pruneBundles(remote, new Set(['ef'.repeat(32)]), del), 0);
  assert.equal(await pruneBundles(remote, new Set([packIds[1]]), del), 1);
  const left = await keysUnder(remote, BUNDLES_PREFIX);
  assert.deepEqual(left, [remoteBundleKey(blake3Hex(unrelated))]);
  assert.equal(left.includes(bundle), false);
});

test('the bundle format round-trips, and every truncation or stray byte is refused as malformed', () => {
  const members = [0, 1, 300].map((n) => ({ packId: randomBytes(32).toString('hex'), bytes: randomBytes(n) }));
  const bytes = encodeBundle(members);
  const back = decodeBundle(bytes, 'b');
  assert.deepEqual(
    back.map((m) => [m.packId, m.bytes.toString('hex')]),
    members.map((m) => [m.packId, m.bytes.toString('hex')]),
  );
  for (let n = 0; n < bytes.length; n++) assert.throws(() => decodeBundle(bytes.subarray(0, n), 'b'), DvError, `cut at ${n}`);
  assert.throws(() => decodeBundle(Buffer.concat([bytes, Buffer.from([0])]), 'b'), /after the last member/);
  const huge = Buffer.from(bytes);
  huge.writeUInt32BE(0xffffffff, 8);
  assert.throws(() => decodeBundle(huge, 'b'), /members/);
  const long = Buffer.from(bytes);
  long.writeUInt32BE(0x7fffffff, 12 + 32);
  assert.throws(() => decodeBundle(long, 'b'), /past the end/);
});
