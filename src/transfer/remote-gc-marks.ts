/**
 * The marks of `dv gc --remote`: the first phase of its two-phase delete, and what a push reads so
 * that it never relies on a pack that gc is about to remove.
 *
 *   gc/packs/<xx>/<packId>.<ms>     pack <packId> (with its index, if any) was found unreferenced at <ms>
 *   gc/runs/<xx>/<runKey>.<ms>      run record <runKey> was found unreferenced at <ms>
 *
 * A mark is an empty object whose key says everything, so one LIST reads every mark (no GETs).
 * Invariants: a mark names a pack or run record that gc may delete on a LATER run, once the mark
 * is older than the grace and the thing is still unreferenced; a push treats an object whose every
 * copy is in a marked (or vanished) pack as absent and sends it again (`guardPush`), before it
 * uploads and again after; marks are only ever added by gc and removed by gc or by a push that
 * wrote the very same pack again. Listings are bounded (MAX_MARKS).
 */
import type { Backend } from '../backend/backend.js';
import { DvError } from '../errors.js';
import { INDEX_PREFIX, packIdOfIndexKey, remoteIndexKey } from './layout.js';
import type { RemoteIndex } from './remote-index.js';

export const GC_PREFIX = 'gc/';
const MAX_MARKS = 400_000;
/** Keys per LIST page (S3's default). */
const LIST_PAGE = 1000;

export type MarkKind = 'packs' | 'runs';

export const markKey = (kind: MarkKind, id: string, ms: number): string => `${GC_PREFIX}${kind}/${id.slice(0, 2)}/${id}.${ms}`;

/** The kind, id and time of a mark key, or undefined for other keys. */
export function parseMarkKey(key: string): { kind: MarkKind; id: string; ms: number } | undefined {
  const m = /^gc\/(packs|runs)\/([0-9a-f]{2})\/([0-9a-f]{64})\.([0-9]{1,15})$/.exec(key);
  if (!m || !m[3].startsWith(m[2])) return undefined;
  return { kind: m[1] as MarkKind, id: m[3], ms: Number(m[4]) };
}

export interface Marks {
  /** Packs marked, with the time of their oldest mark, and every mark key of each. */
  packs: Map<string, { ms: number; keys: string[] }>;
  runs: Map<string, { ms: number; keys: string[] }>;
}

/** Every mark on the remote (one LIST of `gc/`). */
export async function listMarks(backend: Backend): Promise<Marks> {
  const marks: Marks = { packs: new Map(), runs: new Map() };
  let n = 0;
  for await (const { key } of backend.list(GC_PREFIX)) {
    const m = parseMarkKey(key);
    if (!m) continue;
    if (++n > MAX_MARKS)
      throw new DvError('REMOTE_ERROR', `${backend.location} lists more than ${MAX_MARKS} gc marks: it is damaged or hostile`, {
        location: backend.location,
        transient: false,
      });
    const map = marks[m.kind];
    const had = map.get(m.id);
    if (had) {
      had.ms = Math.min(had.ms, m.ms);
      had.keys.push(key);
    } else map.set(m.id, { ms: m.ms, keys: [key] });
  }
  return marks;
}

/** Pack ids with an index on the remote now (one LIST of `index/`). */
export async function listIndexedPacks(backend: Backend): Promise<Set<string>> {
  const out = new Set<string>();
  for await (const { key } of backend.list(INDEX_PREFIX)) {
    const id = packIdOfIndexKey(key);
    if (id) out.add(id);
  }
  return out;
}

/** Ids of `ids` the remote lists whose every copy is in a pack that is marked, or no longer indexed. */
export function reliedOnDoomed(remote: RemoteIndex, ids: Iterable<string>, marked: Set<string>, indexed?: Set<string>): string[] {
  const out: string[] = [];
  if (marked.size === 0 && !indexed) return out;
  for (const id of ids) {
    const copies = remote.copies(id);
    if (copies.length === 0) continue;
    if (copies.every((c) => marked.has(c.pack) || (indexed !== undefined && !indexed.has(c.pack)))) out.push(id);
  }
  return out;
}

/**
 * Runs a push (`send`) so that it survives a concurrent `dv gc --remote`: objects whose copies gc
 * has marked are forgotten (so sent again) before the push, and after it the marks and indexes are
 * listed again: what the push relied on that gc marked or removed meanwhile is sent again, and
 * the marks of packs the push wrote again under the same name are removed. At most three rounds.
 */
export async function guardPush<T>(
  backend: Backend,
  remote: RemoteIndex,
  ids: string[],
  send: (ids: string[], round: number) => Promise<T>,
  /** Keys the push wrote (noteWrites): a pack written again under a marked name is unmarked. */
  written?: Set<string>,
): Promise<T> {
  let marks = await listMarks(backend);
  remote.forget(reliedOnDoomed(remote, ids, new Set(marks.packs.keys())));
  let result = await send(ids, 0);
  for (let round = 1; round <= 3; round++) {
    marks = await listMarks(backend);
    const indexed = await stillIndexed(backend, remote, ids);
    const mine = new Set([...(written ?? [])].map(packIdOfIndexKey).filter((p): p is string => p !== undefined));
    await unmarkRewritten(backend, marks, mine);
    const again = reliedOnDoomed(remote, ids, new Set([...marks.packs.keys()].filter((p) => !mine.has(p))), indexed);
    if (again.length === 0) return result;
    remote.forget(again);
    result = await send(again, round);
  }
  return result;
}

/**
 * Packs that hold copies of `ids` and are indexed now: one LIST of `index/`, or a HEAD per pack
 * where that takes fewer requests than the LIST's pages (a few packs relied on in a large remote).
 */
async function stillIndexed(backend: Backend, remote: RemoteIndex, ids: string[]): Promise<Set<string>> {
  const packs = new Set<string>();
  for (const id of ids) {
    for (const c of remote.copies(id)) packs.add(c.pack);
    if (packs.size >= Math.ceil(remote.packs.size / LIST_PAGE)) return listIndexedPacks(backend);
  }
  const out = new Set<string>();
  for (const p of packs) if (await backend.stat(remoteIndexKey(p))) out.add(p);
  return out;
}

/** A pack written by this push whose name gc had marked (the same objects, so the same name) is live again. */
export async function unmarkRewritten(backend: Backend, marks: Marks, mine: Set<string>): Promise<void> {
  for (const pack of mine) for (const key of marks.packs.get(pack)?.keys ?? []) await backend.delete(key);
}

/**
 * guardPush for a lean index (which knows which ids the remote holds, not where): the packs gc has
 * marked are left out of the index before the push, so what only they hold counts as absent and
 * is sent; after the push, marks and indexes are listed again, and if a pack the push relied on
 * was marked or removed meanwhile, the index is loaded again without it and `send` runs again
 * (it walks what it needs anew). At most three rounds.
 */
export async function guardLeanPush<T>(
  backend: Backend,
  load: (exclude: ReadonlySet<string>) => Promise<RemoteIndex>,
  first: RemoteIndex,
  send: (remote: RemoteIndex, round: number) => Promise<T>,
  written: Set<string>,
): Promise<T> {
  const excluded = new Set((await listMarks(backend)).packs.keys());
  let remote = excluded.size > 0 ? await load(excluded) : first;
  let result = await send(remote, 0);
  for (let round = 1; round <= 3; round++) {
    const marks = await listMarks(backend);
    const indexed = await listIndexedPacks(backend);
    const mine = new Set([...written].map(packIdOfIndexKey).filter((p): p is string => p !== undefined));
    await unmarkRewritten(backend, marks, mine);
    const doomed = [...remote.packs].filter((p) => (marks.packs.has(p) && !mine.has(p)) || !indexed.has(p));
    if (doomed.length === 0) return result;
    for (const p of doomed) excluded.add(p);
    remote = await load(excluded);
    result = await send(remote, round);
  }
  return result;
}
