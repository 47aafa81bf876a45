/**
 * How a push finds its objects in the local store (transfer/push.ts): a plan holding a good share
 * of the store is located by reading the local pack indexes, not by one index lookup per object
 * (each lookup of a scattered id maps another block of LevelDB's tables into the process: at
 * 1,000,000 objects ~120 MB); a small plan is still looked up; an object in no local pack is
 * refused before anything is sent.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, promises as fsp } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalBackend } from '../../src/backend/local.js';
import { blake3Hex, initHash } from '../../src/core/hash.js';
import { DvError } from '../../src/errors.js';
import { countingIndex } from '../helpers/counting-index.js';
import { ObjectStore } from '../../src/store/object-store.js';
import { pushObjects } from '../../src/transfer/push.js';
import { PushPlan } from '../../src/transfer/push-plan.js';
import { RemoteIndex } from '../../src/transfer/remote-index.js';

await initHash();
const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await fsp.rm(d, { recursive: true, force: true });
});

/** A store of `n` objects of 5 KiB in packs of ~4.8 MB (big enough to travel whole), its index counting the ids looked up one by one. */
async function storeOf(
  n: number,
): Promise<{ root: string; store: ObjectStore; ids: string[]; lookups: () => number; close: () => Promise<void> }> {
  const root = mkdtempSync(join(tmpdir(), 'dv-push-locate-'));
  dirs.push(root);
  const { index, lookups, reset } = countingIndex(join(root, 'index'), 'push');
  await fsp.mkdir(join(root, 'tmp'), { recursive: true });
  const store = new ObjectStore(join(root, 'packs'), join(root, 'tmp'), index, 5 << 20);
  const ids: string[] = [];
  for (let k = 0; k < n; k++) {
    const bytes = randomBytes(5 << 10);
    const id = blake3Hex(bytes);
    await store.put(id, bytes, false);
    ids.push(id);
  }
  await store.flush();
  reset();
  return { root, store, ids, lookups, close: () => store.close().then(() => index.close()) };
}

async function push(root: string, store: ObjectStore, ids: string[], name: string) {
  const backend = new LocalBackend(join(root, name), { create: true });
  await backend.init();
  const remote = await RemoteIndex.load(backend, join(root, `${name}-cache`), 2, { lean: true });
  const plan = new PushPlan((id) => remote.has(id));
  plan.add(ids, false);
  const stats = await pushObjects({ store, backend, remote, plan, tmpDir: join(root, 'tmp'), jobs: 2 });
  const reread = await RemoteIndex.load(backend, join(root, `${name}-check`), 2, { lean: true });
  return { stats, reread };
}

test('a first push finds its objects by reading the pack indexes, not one lookup per object; a small one looks them up', async () => {
  const { root, store, ids, lookups, close } = await storeOf(2000);
  const all = await push(root, store, ids, 'remote-all');
  assert.equal(all.stats.objectsSent, 2000);
  for (const id of ids) assert.equal(all.reread.has(id), true);
  assert.ok(lookups() < 100, `${lookups()} ids looked up one by one for a push of 2,000`);
  const few = await push(root, store, ids.slice(0, 5), 'remote-few');
  assert.equal(few.stats.objectsSent, 5);
  assert.ok(ids.slice(0, 5).every((id) => few.reread.has(id)) && !few.reread.has(ids[5]));
  await close();
});

test('a planned object in no local pack is refused before anything is sent', async () => {
  const { root, store, ids, close } = await storeOf(300);
  const absent = randomBytes(32).toString('hex');
  await assert.rejects(push(root, store, [...ids, absent], 'remote'), (e: unknown) => {
    assert.ok(e instanceof DvError && e.code === 'OBJECT_MISSING', String(e));
    assert.match(e.message, new RegExp(`cannot push: chunk ${absent}: missing;`));
    return true;
  });
  const sent = await fsp.readdir(join(root, 'remote'), { recursive: true });
  assert.equal(sent.filter((f) => String(f).endsWith('.pack')).length, 0, 'no pack was sent');
  await close();
});
