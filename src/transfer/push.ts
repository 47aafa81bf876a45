/**
 * Sends objects the remote lacks, packed: objects are read from the local store (verified, so
 * nothing corrupt leaves), grouped into packs (chunks in file order, then structured objects),
 * and each pack is uploaded before its index. Uploads run in parallel, bounded by `jobs`.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import pLimit from 'p-limit';
import type { Backend } from '../backend/backend.js';
import type { ObjectStore } from '../store/object-store.js';
import { packPaths, writePack, type PendingObject } from '../store/pack.js';
import { remoteIndexKey, remotePackKey } from './layout.js';
import type { RemoteIndex } from './remote-index.js';

export const REMOTE_PACK_TARGET = 16 * 1024 * 1024;

export interface PushInput {
  store: ObjectStore;
  backend: Backend;
  remote: RemoteIndex;
  /** Object ids in upload order; `meta` marks structured objects (packed apart from chunks). */
  ids: Iterable<string>;
  meta: Set<string>;
  tmpDir: string;
  jobs: number;
  packTarget?: number;
  onProgress?: (p: PushProgress) => void;
}

export interface PushProgress {
  objects: number;
  bytes: number;
  totalObjects: number;
  totalBytes: number;
}

export interface PushStats {
  objectsSent: number;
  bytesSent: number;
  packsSent: number;
  alreadyThere: number;
}

export async function pushObjects(i: PushInput): Promise<PushStats> {
  const missingData: string[] = [];
  const missingMeta: string[] = [];
  let alreadyThere = 0;
  const seen = new Set<string>();
  for (const id of i.ids) {
    if (seen.has(id)) continue;
    seen.add(id);
    if (i.remote.has(id)) { alreadyThere++; continue; }
    (i.meta.has(id) ? missingMeta : missingData).push(id);
  }
  const stats: PushStats = { objectsSent: 0, bytesSent: 0, packsSent: 0, alreadyThere };
  const total = missingData.length + missingMeta.length;
  if (total === 0) return stats;
  const locs = await i.store.index.getLocations([...missingData, ...missingMeta]);
  const totalBytes = locs.reduce((n, l) => n + (l?.length ?? 0), 0);
  const progress: PushProgress = { objects: 0, bytes: 0, totalObjects: total, totalBytes };

  const outbox = join(i.tmpDir, `outbox-${process.pid}-${Date.now().toString(36)}`);
  const limit = pLimit(Math.max(1, i.jobs));
  const inflight = new Set<Promise<void>>();
  let failure: unknown;
  const target = i.packTarget ?? REMOTE_PACK_TARGET;

  const dispatch = async (batch: PendingObject[]): Promise<void> => {
    const { packId, entries, bytes } = await writePack(outbox, i.tmpDir, batch);
    const paths = packPaths(outbox, packId);
    const task = limit(async () => {
      if (failure) return;
      try {
        await i.backend.putFile(remotePackKey(packId), paths.pack);
        const idxBytes = await fsp.readFile(paths.idx);
        await i.backend.put(remoteIndexKey(packId), idxBytes);
        await i.remote.recordUpload(packId, idxBytes, entries);
        stats.packsSent++;
        stats.objectsSent += entries.length;
        stats.bytesSent += bytes;
        progress.objects += entries.length;
        progress.bytes += entries.reduce((n, e) => n + e.length, 0);
        i.onProgress?.(progress);
      } catch (e) {
        failure ??= e;
      } finally {
        await fsp.rm(paths.pack, { force: true });
        await fsp.rm(paths.idx, { force: true });
      }
    });
    inflight.add(task);
    void task.finally(() => inflight.delete(task));
    // Bound the packs waiting on disk: build at most `jobs` ahead of the uploads.
    while (inflight.size > i.jobs && !failure) await Promise.race(inflight);
  };

  try {
    for (const group of [missingData, missingMeta]) {
      let batch: PendingObject[] = [];
      let size = 0;
      for (const id of group) {
        if (failure) break;
        const o = await i.store.readStored(id);
        batch.push(o);
        size += o.data.length + 512;
        if (size >= target) { await dispatch(batch); batch = []; size = 0; }
      }
      if (batch.length > 0 && !failure) await dispatch(batch);
    }
    await Promise.all(inflight);
  } finally {
    await Promise.allSettled(inflight);
    await fsp.rm(outbox, { recursive: true, force: true });
  }
  if (failure) throw failure;
  return stats;
}
