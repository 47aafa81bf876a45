/**
 * The repack of `dv gc --remote`: live objects whose every copy is in a pack gc drops get a new
 * copy in a fresh pack, uploaded before its index, both before any old pack is marked.
 *
 * Each object is taken from the local store when it has it (verified there), else read from the
 * remote (its first copy that verifies), and stored alone (zstd where that saves space; a frame's
 * member leaves its frame). Invariants: at most `jobs` objects are read at once and one pack of
 * REMOTE_PACK_TARGET bytes is held in memory and on disk at a time; an object no copy of which
 * verifies stops the repack (OBJECT_CORRUPT) before anything is marked, so nothing is lost.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import pLimit from 'p-limit';
import { DvError } from '../errors.js';
import { maybeCompress } from '../store/codec.js';
import { MAX_OBJECT_BYTES } from '../store/pack-index.js';
import { packPaths, writePack, type PendingObject } from '../store/pack.js';
import { remoteIndexKey, remotePackKey } from './layout.js';
import { REMOTE_PACK_TARGET } from './push.js';
import type { Backend } from '../backend/backend.js';
import type { ObjectStore } from '../store/object-store.js';
import type { RemoteIndex } from './remote-index.js';
import { readRemoteObject } from './remote-structure.js';

interface RepackInput {
  backend: Backend;
  remote: RemoteIndex;
  store: ObjectStore;
  tmpDir: string;
  jobs: number;
}

export async function repackLive(i: RepackInput, ids: string[]): Promise<{ packs: number; objects: number; bytes: number }> {
  const outbox = join(i.tmpDir, `gc-repack-${process.pid}-${Date.now().toString(36)}`);
  const limit = pLimit(Math.max(1, i.jobs));
  const here = await i.store.hasMany(ids);
  let packs = 0;
  let objects = 0;
  let bytes = 0;
  try {
    let batch: PendingObject[] = [];
    let size = 0;
    const flush = async (): Promise<void> => {
      if (batch.length === 0) return;
      const { packId, entries } = await writePack(outbox, i.tmpDir, batch);
      bytes += (await fsp.stat(packPaths(outbox, packId).pack)).size;
      const paths = packPaths(outbox, packId);
      await i.backend.putFile(remotePackKey(packId), paths.pack);
      const idx = await fsp.readFile(paths.idx);
      await i.backend.put(remoteIndexKey(packId), idx);
      await i.remote.recordUpload(packId, idx, entries);
      await fsp.rm(paths.pack, { force: true });
      await fsp.rm(paths.idx, { force: true });
      packs++;
      objects += batch.length;
      batch = [];
      size = 0;
    };
    // Read `jobs` objects at a time, in the order of their first copy (neighbours in a pack stay neighbours).
    const order = ids.map((id, k) => ({ id, local: here[k] })).sort((a, b) => place(i, a.id).localeCompare(place(i, b.id)));
    for (let k = 0; k < order.length; k += i.jobs) {
      const group = order.slice(k, k + Math.max(1, i.jobs));
      const got = await Promise.all(group.map((o) => limit(() => readOne(i, o.id, o.local))));
      for (const o of got) {
        batch.push(o);
        size += o.data.length + 512;
        if (size >= REMOTE_PACK_TARGET) await flush();
      }
    }
    await flush();
  } finally {
    await fsp.rm(outbox, { recursive: true, force: true });
  }
  return { packs, objects, bytes };
}

const place = (i: RepackInput, id: string): string => {
  const c = i.remote.copies(id)[0];
  return c ? `${c.pack}:${String(c.offset).padStart(12, '0')}` : id;
};

async function readOne(i: RepackInput, id: string, local: boolean): Promise<PendingObject> {
  if (local) {
    const o = await i.store.readStored(id).catch(() => undefined);
    if (o) return o;
  }
  const raw = await readRemoteObject(i.backend, i.remote, id, MAX_OBJECT_BYTES);
  if (!raw)
    throw new DvError(
      'OBJECT_CORRUPT',
      `gc --remote stopped before deleting anything: no copy of live object ${id} on ${i.backend.location} verifies: ` +
        'run `dv fsck --remote --repair` from a clone that holds it',
      { id },
    );
  const { data, flags } = await maybeCompress(raw);
  return { id, data, flags, rawSize: raw.length };
}
