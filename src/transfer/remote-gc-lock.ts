/**
 * What `dv gc --remote` keeps because the store will not let it go (S3 Object Lock retention or a
 * legal hold; a delete refused for lack of permission). Invariants: gc asks before it deletes (a
 * due pack's index and pack, a pack it would repack), so a locked pack keeps its index and the
 * remote stays whole; a key reported here is kept, with the date it may go when the store says.
 * The S3 backend's `stat` reports retention (backend/s3lock.ts S3Stat); a directory reports none.
 */
import type { Backend } from '../backend/backend.js';
import type { S3Stat } from '../backend/s3.js';
import { DvError } from '../errors.js';

export interface LockedKey {
  key: string;
  /** What it is: a pack, a pack index, a run record (or its signature), one of gc's marks. */
  kind: 'pack' | 'index' | 'run' | 'bundle' | 'mark';
  /** ISO date its retention ends, or null when unknown (legal hold, permission refused). */
  retainUntil: string | null;
  /** GOVERNANCE or COMPLIANCE, or null when unknown. */
  mode: string | null;
}

const kindOf = (key: string): LockedKey['kind'] =>
  key.startsWith('packs/')
    ? 'pack'
    : key.startsWith('index/')
      ? 'index'
      : key.startsWith('runs/')
        ? 'run'
        : key.startsWith('bundles/')
          ? 'bundle'
          : 'mark';

/** The keys among `keys` the store holds under retention or legal hold now (one HEAD each). */
export async function lockedNow(backend: Backend, keys: string[], now = Date.now()): Promise<LockedKey[]> {
  const out: LockedKey[] = [];
  for (const key of keys) {
    const st = (await backend.stat(key)) as S3Stat | undefined;
    if (!st) continue;
    const retained = st.lockMode !== undefined && st.retainUntil !== undefined && st.retainUntil.getTime() > now;
    if (!retained && st.legalHold !== true) continue;
    out.push({ key, kind: kindOf(key), retainUntil: retained ? st.retainUntil!.toISOString() : null, mode: st.lockMode ?? null });
  }
  return out;
}

/** A delete the store refused (permanently), as a kept key; undefined for other failures. */
export function refusedDelete(e: unknown, key: string): LockedKey | undefined {
  if (!(e instanceof DvError) || !(e.code === 'PERMISSION_DENIED' || (e.code === 'REMOTE_ERROR' && e.data.transient === false)))
    return undefined;
  const until = typeof e.data.retainUntil === 'string' ? e.data.retainUntil : null;
  return { key, kind: kindOf(key), retainUntil: until, mode: typeof e.data.lockMode === 'string' ? e.data.lockMode : null };
}

/** The latest retention date among `locked`, or null. */
export function latestUntil(locked: LockedKey[]): string | null {
  let best: string | null = null;
  for (const l of locked) if (l.retainUntil !== null && (best === null || l.retainUntil > best)) best = l.retainUntil;
  return best;
}
