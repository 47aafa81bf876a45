/**
 * The objects `dv gc --remote` keeps: everything reachable from the root snapshots (their parents,
 * trees, manifests and chunks), read from the local store when it has them, else from the remote
 * (one ranged read of that small object, verified).
 *
 * Invariants: breadth first, every object visited once (memoised), so no recursion depth is chosen
 * by the data; structured reads are capped (MAX_MANIFEST_BYTES, MAX_META_BYTES) and verified by
 * hash. A structured object the remote lists but holds no good copy of stops gc (OBJECT_CORRUPT):
 * what it reaches is unknown, so nothing may be judged dead; one neither side holds was never
 * pushed, and what it would reach is left to the grace. Nothing is written.
 */
import pLimit from 'p-limit';
import type { Backend } from '../backend/backend.js';
import { decodeManifest, MAX_MANIFEST_BYTES } from '../core/manifest.js';
import { decodeSnapshot } from '../core/snapshot.js';
import { decodeTree } from '../core/tree.js';
import { DvError } from '../errors.js';
import type { ObjectStore } from '../store/object-store.js';
import type { RemoteIndex } from './remote-index.js';
import { readRemoteObject } from './remote-structure.js';

const MAX_META_BYTES = 64 * 1024 * 1024;

type Kind = 'snapshot' | 'tree' | 'manifest';

/** Adds to `live` every object reachable from `roots` (snapshots) that the walk can read. */
export async function walkLive(
  i: { backend: Backend; remote: RemoteIndex; store: ObjectStore; jobs: number },
  roots: string[],
  live: Set<string>,
): Promise<void> {
  const visited = new Set<string>();
  const limit = pLimit(Math.max(1, i.jobs));
  let level: { id: string; kind: Kind }[] = roots.map((id) => ({ id, kind: 'snapshot' }));
  while (level.length > 0) {
    const fresh = level.filter((w) => !visited.has(w.id) && visited.add(w.id));
    const bytes = await Promise.all(fresh.map((w) => limit(() => readMeta(i, w.id, w.kind))));
    const next: typeof level = [];
    fresh.forEach((w, k) => {
      const b = bytes[k];
      if (b === undefined) return;
      live.add(w.id);
      if (w.kind === 'snapshot') {
        const snap = decodeSnapshot(b, w.id);
        next.push({ id: snap.tree, kind: 'tree' });
        for (const p of snap.parents) next.push({ id: p, kind: 'snapshot' });
      } else if (w.kind === 'tree') {
        for (const e of decodeTree(b, w.id).entries) {
          if (e.type === 'dir') next.push({ id: e.id, kind: 'tree' });
          else if (e.type === 'file' && e.chunked) next.push({ id: e.id, kind: 'manifest' });
          else if (e.type === 'file') live.add(e.id);
        }
      } else {
        const node = decodeManifest(b, w.id);
        for (const c of node.children) {
          if (node.level > 0) next.push({ id: c.id, kind: 'manifest' });
          else live.add(c.id);
        }
      }
    });
    level = next;
  }
}

async function readMeta(
  i: { backend: Backend; remote: RemoteIndex; store: ObjectStore },
  id: string,
  kind: Kind,
): Promise<Buffer | undefined> {
  const local = await i.store.get(id).catch(() => undefined);
  if (local) return local;
  if (!i.remote.has(id)) return undefined;
  const got = await readRemoteObject(i.backend, i.remote, id, kind === 'manifest' ? MAX_MANIFEST_BYTES : MAX_META_BYTES);
  if (got) return got;
  throw new DvError(
    'OBJECT_CORRUPT',
    `gc --remote stopped: ${i.backend.location} lists ${kind} ${id} but no copy of it verifies, so what it reaches is unknown: ` +
      'run `dv fsck --remote --repair` from a clone that holds it, then gc again',
    { id },
  );
}
