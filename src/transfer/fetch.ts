/**
 * Brings objects from a remote into the local store, breadth first from root snapshots:
 * snapshots, then trees level by level, then manifests and chunks. Missing objects are located
 * through the remote's pack indexes and read with ranged GETs that merge neighbours; every
 * object is verified by hash before it is stored. Nothing read from the remote is trusted:
 * tree entries are validated when decoded, sizes are bounded.
 */
import pLimit from 'p-limit';
import type { Backend } from '../backend/backend.js';
import { blake3Hex } from '../core/hash.js';
import { decodeManifest } from '../core/manifest.js';
import { decodeSnapshot } from '../core/snapshot.js';
import { decodeTree } from '../core/tree.js';
import { DvError } from '../errors.js';
import { decode } from '../store/codec.js';
import type { ObjectStore } from '../store/object-store.js';
import { SyncPackWriter } from '../store/pack-writer.js';
import { remotePackKey } from './layout.js';
import type { RemoteIndex, RemoteLoc } from './remote-index.js';

type Kind = 'snapshot' | 'tree' | 'manifest' | 'chunk';
interface Want { id: string; kind: Kind }

export interface FetchInput {
  store: ObjectStore;
  backend: Backend;
  remote: RemoteIndex;
  roots: string[];
  /** Objects wanted as they are, without following anything they name (run records). */
  leaves?: string[];
  /** Follow snapshot parents (all history), not only the snapshots named. */
  history: boolean;
  jobs: number;
  onProgress?: (p: { objects: number; bytes: number }) => void;
}

export interface FetchStats {
  objectsFetched: number;
  bytesFetched: number;
  requests: number;
}

const MAX_OBJECT = 64 * 1024 * 1024;
const MAX_RANGE = 4 * 1024 * 1024;
const MAX_GAP = 64 * 1024;

export async function fetchObjects(i: FetchInput): Promise<FetchStats> {
  const stats: FetchStats = { objectsFetched: 0, bytesFetched: 0, requests: 0 };
  const visited = new Set<string>();
  let level: Want[] = [...i.roots.map((id): Want => ({ id, kind: 'snapshot' })), ...(i.leaves ?? []).map((id): Want => ({ id, kind: 'chunk' }))];
  while (level.length > 0) {
    const fresh = level.filter((w) => !visited.has(w.id) && (visited.add(w.id), true));
    const have = await i.store.hasMany(fresh.map((w) => w.id));
    await download(i, fresh.filter((_, k) => !have[k]), stats);
    const next: Want[] = [];
    for (const w of fresh) {
      if (w.kind === 'chunk') continue;
      const bytes = await i.store.get(w.id).catch(async (e) => {
        // A corrupt local copy was just forgotten by the index: fetch a good one.
        if (!(e instanceof DvError && e.code === 'OBJECT_CORRUPT')) throw e;
        await download(i, [w], stats);
        return i.store.get(w.id);
      });
      if (w.kind === 'snapshot') {
        const s = decodeSnapshot(bytes, w.id);
        next.push({ id: s.tree, kind: 'tree' });
        if (i.history) for (const p of s.parents) next.push({ id: p, kind: 'snapshot' });
      } else if (w.kind === 'tree') {
        for (const e of decodeTree(bytes, w.id).entries) {
          if (e.type === 'dir') next.push({ id: e.id, kind: 'tree' });
          else if (e.type === 'file') next.push({ id: e.id, kind: e.chunked ? 'manifest' : 'chunk' });
        }
      } else {
        const node = decodeManifest(bytes, w.id);
        for (const c of node.children) next.push({ id: c.id, kind: node.level > 0 ? 'manifest' : 'chunk' });
      }
    }
    level = next;
  }
  await i.store.flush();
  return stats;
}

interface Range { pack: string; start: number; end: number; objects: { id: string; loc: RemoteLoc }[] }

/**
 * Downloads objects with merged ranged GETs and verifies each. Chunks are written straight into
 * a pack file as they arrive (sealed at the end, or every pack's worth), so memory holds only the
 * ranges in flight; structured objects, read again by the walk, go through the store's buffer.
 */
async function download(i: FetchInput, wants: Want[], stats: FetchStats): Promise<void> {
  if (wants.length === 0) return;
  const byPack = new Map<string, { id: string; loc: RemoteLoc }[]>();
  const absent: string[] = [];
  const chunks = new Set<string>();
  for (const { id, kind } of wants) {
    if (kind === 'chunk') chunks.add(id);
    const loc = i.remote.objects.get(id);
    if (!loc) { absent.push(id); continue; }
    if (loc.length > MAX_OBJECT || loc.rawSize > MAX_OBJECT) throw new DvError('BAD_OBJECT', `the remote index says object ${id} is ${loc.length} bytes: refusing an object this large`, { id });
    let list = byPack.get(loc.pack);
    if (!list) byPack.set(loc.pack, (list = []));
    list.push({ id, loc });
  }
  if (absent.length > 0) {
    throw new DvError('OBJECT_MISSING', `${absent.length} object(s) are neither here nor on ${i.backend.location} (first: ${absent[0]}): push them from the clone that has them`, { missing: absent.slice(0, 100) });
  }
  const ranges: Range[] = [];
  for (const [pack, list] of byPack) {
    list.sort((a, b) => a.loc.offset - b.loc.offset);
    let cur: Range | undefined;
    for (const o of list) {
      const end = o.loc.offset + o.loc.length;
      if (cur && o.loc.offset - cur.end <= MAX_GAP && end - cur.start <= MAX_RANGE && o.loc.offset >= cur.end) {
        cur.end = end;
        cur.objects.push(o);
      } else {
        cur = { pack, start: o.loc.offset, end, objects: [o] };
        ranges.push(cur);
      }
    }
  }
  const limit = pLimit(Math.max(1, i.jobs));
  const writer = new SyncPackWriter(i.store.tmpDir, i.store.packTarget);
  const seals: Promise<void>[] = [];
  const seal = (): void => {
    const done = writer.finish();
    if (done) seals.push(i.store.sealPack(done.tmp, done.size, done.entries));
  };
  let failure: unknown;
  await Promise.all(ranges.map((r) => limit(async () => {
    if (failure) return;
    try {
      const data = await i.backend.getRange(remotePackKey(r.pack), r.start, r.end - r.start);
      stats.requests++;
      for (const { id, loc } of r.objects) {
        const stored = data.subarray(loc.offset - r.start, loc.offset - r.start + loc.length);
        let raw: Buffer;
        try {
          raw = await decode(stored, loc.flags);
        } catch {
          throw new DvError('OBJECT_CORRUPT', `object ${id} from ${i.backend.location} cannot be decompressed: the remote copy is damaged`, { id });
        }
        if (raw.length !== loc.rawSize || blake3Hex(raw) !== id) {
          throw new DvError('OBJECT_CORRUPT', `object ${id} from ${i.backend.location} does not match its hash: the remote copy is damaged`, { id, pack: r.pack });
        }
        if (failure) return;
        if (chunks.has(id)) {
          writer.add(id, stored, loc.rawSize, loc.flags);
          if (writer.size >= writer.target) seal();
        } else {
          await i.store.putStored(id, Buffer.from(stored), loc.flags, loc.rawSize);
        }
        stats.objectsFetched++;
        stats.bytesFetched += loc.length;
      }
      i.onProgress?.({ objects: stats.objectsFetched, bytes: stats.bytesFetched });
    } catch (e) {
      failure ??= e;
    }
  })));
  if (failure) writer.abort();
  else seal();
  const sealed = await Promise.allSettled(seals);
  failure ??= sealed.find((x): x is PromiseRejectedResult => x.status === 'rejected')?.reason;
  if (failure) throw failure;
}
