/**
 * Index bundles (transfer/index-bundle.ts, remote-bundles.ts): a push of several packs writes one
 * bundle of their indexes; a clone with none cached reads it with one GET instead of one per pack,
 * and reads it only once; a clone lacking a few reads the header and those members only; a bundle
 * never adds a pack the index/ listing does not name nor lends a member that does not hash to its
 * pack id, and no bundle, however bad or refused, fails a load; `dv gc --remote` deletes a bundle
 * naming a pack whose index is gone. The format refuses every malformed or truncated header.
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
import { type BundleMember, decodeBundle, decodeBundleHeader, encodeBundle, MAX_BUNDLE_BYTES } from '../../src/transfer/index-bundle.js';
import { BUNDLES_PREFIX, INDEX_PREFIX, remoteBundleKey, remoteIndexKey } from '../../src/transfer/layout.js';
import { pushObjects } from '../../src/transfer/push.js';
import { PushPlan } from '../../src/transfer/push-plan.js';
import { pruneBundles } from '../../src/transfer/remote-bundles.js';
import { RemoteIndex } from '../../src/transfer/remote-index.js';

await initHash();
const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await fsp.rm(d, { recursive: true, force: true });
});

/** A backend that counts the reads of each kind of key (GETs and ranged GETs), and the bytes read of bundles. */
function counting(inner: Backend): { backend: Backend; gets: { index: number; bundle: number }; bundleBytes: () => number } {
  const gets = { index: 0, bundle: 0 };
  let bytes = 0;
  const count = (k: string): void => {
    if (k.startsWith(INDEX_PREFIX)) gets.index++;
    if (k.startsWith(BUNDLES_PREFIX)) gets.bundle++;
  };
  const backend = new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === 'get')
        return (k: string, o?: unknown) => {
          count(k);
          return (target.get as (k: string, o?: unknown) => Promise<Buffer>).call(target, k, o);
        };
      if (prop === 'getRange')
        return async (k: string, offset: number, length: number) => {
          count(k);
          const got = await target.getRange(k, offset, length);
          if (k.startsWith(BUNDLES_PREFIX)) bytes += got.length;
          return got;
        };
      return Reflect.get(target, prop, receiver);
    },
  }) as Backend;
  return { backend, gets, bundleBytes: () => bytes };
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
    assert.deepEqual([ri.warnings, ri.bundleWarnings], [[], []]);
    // Two indexes lost from the cache: read again from their keys, the bundle (marked read) not again.
    for (const k of indexes.slice(0, 2)) await fsp.rm(join(cache, `${k.slice(-68, -4)}.idx`));
    const again = counting(remote);
    await RemoteIndex.load(again.backend, cache, 2, { lean });
    assert.deepEqual(again.gets, { index: 2, bundle: 0 });
  }
});

test('a bundle adds no pack the listing does not name, and a member that is not its pack index is not used', async () => {
  const { root, remote, ids } = await pushedRemote(3);
  const [good] = await keysUnder(remote, BUNDLES_PREFIX);
  const [gone, forged, other] = await keysUnder(remote, INDEX_PREFIX);
  const goneId = gone.slice(-68, -4);
  const forgedId = forged.slice(-68, -4);
  await remote.delete(gone);
  const ri = await RemoteIndex.load(remote, join(root, 'clone'), 2);
  assert.equal(ri.packs.has(goneId), false, 'a pack whose index is gone stays absent, though the bundle holds it');
  assert.equal(ids.filter((id) => !ri.has(id)).length, 40, 'the objects of that pack');

  // Alone on the remote, a bundle whose member for `forged` holds another pack's index (same length).
  await remote.delete(good);
  const otherBytes = await remote.get(other);
  assert.equal(otherBytes.length, (await remote.get(forged)).length);
  const bad = encodeBundle([
    { packId: forgedId, bytes: otherBytes },
    { packId: forgedId, bytes: Buffer.from('not an index') },
  ]);
  await remote.put(remoteBundleKey(blake3Hex(bad)), bad);
  const { backend, gets } = counting(remote);
  const fresh = await RemoteIndex.load(backend, join(root, 'clone-forged'), 2);
  assert.deepEqual(gets, { index: 2, bundle: 1 }, 'the bundle lent nothing: both indexes read from their keys');
  assert.ok(fresh.packs.has(forgedId));
  for (const p of fresh.packs) assert.equal(blake3Hex(await fsp.readFile(join(root, 'clone-forged', `${p}.idx`))), p);
});

test('a member is used only at the size the listing gives its index: a damaged index key stays seen as damaged', async () => {
  const { root, remote } = await pushedRemote(3);
  const [cut] = await keysUnder(remote, INDEX_PREFIX);
  const bytes = await remote.get(cut);
  await remote.put(cut, bytes.subarray(0, bytes.length - 10));
  const { backend, gets } = counting(remote);
  const ri = await RemoteIndex.load(backend, join(root, 'clone'), 2);
  assert.deepEqual(ri.damaged, [cut]);
  assert.deepEqual(gets, { index: 1, bundle: 1 });
});

test('a bundle that is malformed, too large or refused is skipped with a warning: the indexes are read one by one', async () => {
  const { root, remote, ids } = await pushedRemote(3);
  const [good] = await keysUnder(remote, BUNDLES_PREFIX);
  const goodBytes = await remote.get(good);
  await remote.delete(good);
  const malformed = Buffer.from('dvbdl 1\n\u0000\u0000\u0000\u0009short');
  await remote.put(remoteBundleKey(blake3Hex(malformed)), malformed);
  await remote.put(remoteBundleKey('cd'.repeat(32)), Buffer.alloc(MAX_BUNDLE_BYTES + 1));
  const { backend, gets } = counting(remote);
  const ri = await RemoteIndex.load(backend, join(root, 'clone'), 2);
  for (const id of ids) assert.ok(ri.has(id));
  assert.equal(gets.index, 3);
  // Skipped bundles are no refused index: gc and fsck go on, a fetch shows the lines.
  assert.deepEqual(ri.warnings, []);
  assert.equal(ri.bundleWarnings.length, 2, ri.bundleWarnings.join('\n'));
  assert.ok(ri.bundleWarnings.some((w) => /listed at \d+ bytes, which no bundle is/.test(w)));
  assert.ok(ri.bundleWarnings.some((w) => /malformed \(header past the end\)/.test(w)));

  // A store that refuses every read of bundles/ (a policy allowing only packs/ and index/): one warning, the load goes on.
  for (const k of await keysUnder(remote, BUNDLES_PREFIX)) await remote.delete(k);
  await remote.put(good, goodBytes);
  await remote.put(remoteBundleKey(blake3Hex(malformed)), malformed);
  const refusing = new Proxy(remote, {
    get(target, prop, receiver) {
      if (prop === 'getRange')
        return (k: string, o: number, l: number) =>
          k.startsWith(BUNDLES_PREFIX)
            ? Promise.reject(new DvError('AUTH_FAILED', `${k} was refused (AccessDenied 403)`))
            : target.getRange(k, o, l);
      return Reflect.get(target, prop, receiver);
    },
  }) as Backend;
  const denied = await RemoteIndex.load(refusing, join(root, 'clone-denied'), 2);
  for (const id of ids) assert.ok(denied.has(id));
  assert.equal(denied.bundleWarnings.length, 1, denied.bundleWarnings.join('\n'));
  assert.match(denied.bundleWarnings[0], /AccessDenied.*read one by one/);
});

/**
 * A remote holding ten "indexes" of `size` random bytes each and one bundle of them all (not pack
 * indexes: a load refuses them after reading them, which is not what these tests count).
 */
async function bundledRemote(size: number): Promise<{ root: string; remote: LocalBackend; members: BundleMember[]; bundle: Buffer }> {
  const root = mkdtempSync(join(tmpdir(), 'dv-bundles-'));
  dirs.push(root);
  const remote = new LocalBackend(join(root, 'remote'), { create: true });
  await remote.init();
  const members = Array.from({ length: 10 }, () => randomBytes(size)).map((bytes) => ({ packId: blake3Hex(bytes), bytes }));
  for (const m of members) await remote.put(remoteIndexKey(m.packId), m.bytes);
  const bundle = encodeBundle(members);
  await remote.put(remoteBundleKey(blake3Hex(bundle)), bundle);
  return { root, remote, members, bundle };
}

test('a clone that lacks a few indexes reads the header of a bundle and those members, not the whole bundle', async () => {
  const { root, remote, members, bundle } = await bundledRemote(600 << 10);
  const cache = join(root, 'clone');
  await fsp.mkdir(cache);
  for (const m of members.filter((_, k) => k !== 2 && k !== 8)) await fsp.writeFile(join(cache, `${m.packId}.idx`), m.bytes);
  const { backend, gets, bundleBytes } = counting(remote);
  await RemoteIndex.load(backend, cache, 2);
  assert.equal(gets.index, 0, 'both missing indexes came from the bundle');
  assert.equal(gets.bundle, 3, 'the header, then each of the two members (far apart)');
  assert.ok(bundleBytes() < (64 << 10) + 2 * (600 << 10) + 1, `${bundleBytes()} bytes of a ${bundle.length}-byte bundle`);
  for (const k of [2, 8]) assert.ok((await fsp.readFile(join(cache, `${members[k].packId}.idx`))).equals(members[k].bytes));
});

test('a fresh clone reads a bundle of under 1 MiB with one GET', async () => {
  // An 800 KiB bundle, whose header alone a 64 KiB read would have taken.
  const { root, remote, members } = await bundledRemote(80 << 10);
  const { backend, gets } = counting(remote);
  const ri = await RemoteIndex.load(backend, join(root, 'clone'), 2);
  assert.deepEqual(gets, { index: 0, bundle: 1 });
  for (const m of members) assert.ok((await fsp.readFile(join(root, 'clone', `${m.packId}.idx`))).equals(m.bytes));
  assert.deepEqual(ri.bundleWarnings, []);
});

/** `remote` with listings replaced: `lists(prefix)` answers those it wants to, the others go through. */
function listingOf(remote: Backend, lists: (prefix: string) => AsyncIterable<{ key: string; size: number }> | undefined): Backend {
  return new Proxy(remote, {
    get(target, prop, receiver) {
      if (prop === 'list') return (prefix: string) => lists(prefix) ?? target.list(prefix);
      return Reflect.get(target, prop, receiver);
    },
  }) as Backend;
}

/** Junk keys under `prefix` without end; `count.n` says how many were listed. */
async function* endless(prefix: string, count: { n: number }): AsyncIterable<{ key: string; size: number }> {
  for (;;) {
    yield { key: `${prefix}zz/junk-${count.n++}`, size: 1 };
  }
}

test('listings of junk keys without end are refused: under index/ (the load fails), under bundles/ (a warning)', async () => {
  const { root, remote, ids } = await pushedRemote(3);
  const junkIndexes = listingOf(remote, (prefix) => (prefix === INDEX_PREFIX ? endless(prefix, { n: 0 }) : undefined));
  await assert.rejects(RemoteIndex.load(junkIndexes, join(root, 'clone-a'), 2), (e: unknown) => {
    assert.ok(e instanceof DvError && e.code === 'REMOTE_ERROR', String(e));
    assert.match(e.message, /lists more than \d+ keys under index\//);
    return true;
  });
  const junkBundles = listingOf(remote, (prefix) => (prefix === BUNDLES_PREFIX ? endless(prefix, { n: 0 }) : undefined));
  const ri = await RemoteIndex.load(junkBundles, join(root, 'clone-b'), 2);
  for (const id of ids) assert.ok(ri.has(id));
  assert.equal(ri.bundleWarnings.length, 1, ri.bundleWarnings.join('\n'));
  assert.match(ri.bundleWarnings[0], /lists more than \d+ keys under bundles\//);
});

test('gc prunes the bundles naming a pack whose index is gone, and malformed ones; keeps the others', async () => {
  const { remote } = await pushedRemote(3);
  const [bundle] = await keysUnder(remote, BUNDLES_PREFIX);
  const packIds = (await keysUnder(remote, INDEX_PREFIX)).map((k) => k.slice(-68, -4));
  const stale = encodeBundle([{ packId: 'cd'.repeat(32), bytes: Buffer.from('x') }]);
  await remote.put(remoteBundleKey(blake3Hex(stale)), stale);
  await remote.put(remoteBundleKey('ef'.repeat(32)), Buffer.from('no bundle'));
  const del = async (k: string): Promise<boolean> => {
    await remote.delete(k);
    return true;
  };
  // Packs the caller did not see listed but whose index is there (a push that just finished) keep their bundle.
  assert.equal(await pruneBundles(remote, new Set([packIds[0]]), del, 2), 2);
  assert.deepEqual(await keysUnder(remote, BUNDLES_PREFIX), [bundle]);
  await remote.delete(`index/${packIds[1].slice(0, 2)}/${packIds[1]}.idx`);
  assert.equal(await pruneBundles(remote, new Set([packIds[0], packIds[2]]), del, 2), 1);
  assert.deepEqual(await keysUnder(remote, BUNDLES_PREFIX), []);
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
  // The header alone, as a reader takes it first: the rows with their offsets, checked against the size.
  const rows = decodeBundleHeader(bytes.subarray(0, 12 + 36 * 3), bytes.length, 'b');
  assert.deepEqual(
    rows.map((r) => bytes.subarray(r.offset, r.offset + r.length).toString('hex')),
    members.map((m) => m.bytes.toString('hex')),
  );
  assert.throws(() => decodeBundleHeader(bytes.subarray(0, 12 + 36 * 3), bytes.length + 1, 'b'), /after the last member/);
  assert.throws(() => decodeBundleHeader(bytes.subarray(0, 12 + 36 * 2), bytes.length, 'b'), /cut short/);
  const long = Buffer.from(bytes);
  long.writeUInt32BE(0x7fffffff, 12 + 32);
  assert.throws(() => decodeBundle(long, 'b'), /past the end/);
});
