/**
 * Where things live on a remote. Packs and their indexes are immutable and named by the
 * BLAKE3 of the index; the index is written after its pack, so a listed index always names a
 * complete pack, and an interrupted push leaves at most an unindexed (invisible) pack behind.
 *
 *   packs/<xx>/<packId>.pack     tar archive of objects
 *   index/<xx>/<packId>.idx      (id, offset, length, raw size, flags) for every object in it
 *   runs/<xx>/<runKey>           a run record (the remote run cache), written after the packs
 *                                holding its outs; the first one pushed for a key stays
 *   bundles/<xx>/<id>.bundle     the indexes of a push's packs in one object (index-bundle.ts),
 *                                named by its BLAKE3: a copy that saves a fresh clone one GET
 *                                per pack; the index/ keys stay the truth (which packs exist)
 */
export const PACKS_PREFIX = 'packs/';
export const INDEX_PREFIX = 'index/';
export const RUNS_PREFIX = 'runs/';
export const BUNDLES_PREFIX = 'bundles/';

export const remotePackKey = (packId: string): string => `${PACKS_PREFIX}${packId.slice(0, 2)}/${packId}.pack`;
export const remoteIndexKey = (packId: string): string => `${INDEX_PREFIX}${packId.slice(0, 2)}/${packId}.idx`;

export const remoteBundleKey = (id: string): string => `${BUNDLES_PREFIX}${id.slice(0, 2)}/${id}.bundle`;

export const remoteRunKey = (key: string): string => `${RUNS_PREFIX}${key.slice(0, 2)}/${key}`;

/** Where a run record's signature lives (beside the record; not a key runKeyOfRemoteKey accepts). */
export const remoteRunSigKey = (key: string): string => `${remoteRunKey(key)}.sig`;

/** The run key named by a run-cache key, or undefined for other keys. */
export function runKeyOfRemoteKey(key: string): string | undefined {
  const m = /^runs\/([0-9a-f]{2})\/([0-9a-f]{64})$/.exec(key);
  return m && m[2].startsWith(m[1]) ? m[2] : undefined;
}

/** The pack id named by an index key, or undefined for keys that are not pack indexes. */
export function packIdOfIndexKey(key: string): string | undefined {
  const m = /^index\/([0-9a-f]{2})\/([0-9a-f]{64})\.idx$/.exec(key);
  return m && m[2].startsWith(m[1]) ? m[2] : undefined;
}

/** The bundle id named by a bundle key, or undefined for other keys. */
export function bundleIdOfKey(key: string): string | undefined {
  const m = /^bundles\/([0-9a-f]{2})\/([0-9a-f]{64})\.bundle$/.exec(key);
  return m && m[2].startsWith(m[1]) ? m[2] : undefined;
}
