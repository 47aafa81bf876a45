/**
 * A remote's index bundles (index-bundle.ts): written at the end of a push for the packs it
 * uploaded, read by a clone that lacks many pack indexes (each verified member goes into the
 * index cache as if downloaded alone), and removed by `dv gc --remote` once they name a pack it
 * deleted.
 *
 * Invariants:
 * - A bundle is only ever a copy: a member is used only for a pack the index/ listing names and
 *   only when its bytes hash to that pack's id; a bundle that does not match its own name, is too
 *   large or malformed is skipped with a warning (its packs' indexes are then read one by one).
 * - Bounded: at most MAX_BUNDLES listed, each read whole only up to MAX_BUNDLE_BYTES, at most
 *   MAX_TOTAL_BUNDLE_BYTES read in one load, READ_JOBS at once (so at most 2 x 16 MiB in memory).
 * - A clone reads a bundle once: a marker `<id>.bundle-read` in the index cache says it did, so a
 *   later pull reads only the bundles pushed since. A push marks the bundles it wrote.
 * - Deleting a bundle never loses anything (the index/ keys stay), so gc may delete one without a mark.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import pLimit from 'p-limit';
import type { Backend } from '../backend/backend.js';
import { blake3Hex } from '../core/hash.js';
import { DvError } from '../errors.js';
import { writeFileAtomic } from '../store/atomic.js';
import { BUNDLES_PREFIX, bundleIdOfKey, remoteBundleKey } from './layout.js';
import { BUNDLE_MAGIC, bundleSize, decodeBundle, encodeBundle, MAX_BUNDLE_BYTES, MAX_BUNDLE_MEMBERS } from './index-bundle.js';

const MAX_BUNDLES = 100_000;
const MAX_TOTAL_BUNDLE_BYTES = 2 * 1024 * 1024 * 1024;
const READ_JOBS = 2;
/** Bundles are read only when at least this many pack indexes are missing from the cache (one GET saves nothing). */
export const BUNDLE_WORTH = 2;
const READ_MARK = '.bundle-read';

/** The marker of a bundle read (or written) by this clone, in the index cache. */
export const bundleMarker = (cacheDir: string, id: string): string => join(cacheDir, `${id}${READ_MARK}`);

/** The bundle ids this clone has read, from the names in its index cache. */
export function bundlesRead(names: string[]): Set<string> {
  const re = /^([0-9a-f]{64})\.bundle-read$/;
  const out = new Set<string>();
  for (const n of names) {
    const m = re.exec(n);
    if (m) out.add(m[1]);
  }
  return out;
}

export interface FromBundles {
  /** Pack ids whose verified index was written into the cache. */
  got: Set<string>;
  /** Bundles downloaded. */
  downloaded: number;
}

/**
 * Reads the remote's unread bundles while `need` (pack ids the listing names and the cache lacks)
 * is not empty, and writes each member it needs, once verified, to `cacheDir/<packId>.idx`.
 * Markers of bundles no longer listed are removed. Warnings name what was skipped and why.
 */
export async function indexesFromBundles(
  backend: Backend,
  cacheDir: string,
  need: Set<string>,
  read: Set<string>,
  warnings: string[],
): Promise<FromBundles> {
  const got = new Set<string>();
  const listed: { id: string; key: string; size: number }[] = [];
  for await (const { key, size } of backend.list(BUNDLES_PREFIX)) {
    const id = bundleIdOfKey(key);
    if (!id) continue;
    if (listed.length >= MAX_BUNDLES) {
      throw new DvError(
        'REMOTE_ERROR',
        `${backend.location} lists more than ${MAX_BUNDLES} index bundles: more than dv reads from a remote; it is damaged or hostile`,
        { location: backend.location, transient: false },
      );
    }
    listed.push({ id, key, size });
  }
  const live = new Set(listed.map((b) => b.id));
  for (const id of read) if (!live.has(id)) await fsp.rm(bundleMarker(cacheDir, id), { force: true });
  let budget = MAX_TOTAL_BUNDLE_BYTES;
  let downloaded = 0;
  const limit = pLimit(READ_JOBS);
  await Promise.all(
    listed
      .filter((b) => !read.has(b.id))
      .map((b) =>
        limit(async () => {
          if (need.size === 0) return;
          if (b.size > MAX_BUNDLE_BYTES || b.size > budget) {
            warnings.push(`${backend.location}: ${b.key} is listed at ${b.size} bytes, more than dv reads of a bundle: ignored`);
            return;
          }
          budget -= b.size;
          let bytes: Buffer;
          try {
            bytes = await backend.get(b.key, { maxBytes: b.size });
          } catch (e) {
            // Gone since the listing (a remote gc), or refused: the indexes are read one by one.
            if (e instanceof DvError && (e.code === 'OBJECT_MISSING' || (e.code === 'REMOTE_ERROR' && e.data.transient === false))) return;
            throw e;
          }
          downloaded++;
          const members = verifiedMembers(backend, b.key, b.id, bytes, warnings);
          for (const m of members ?? []) {
            if (!need.has(m.packId) || blake3Hex(m.bytes) !== m.packId) continue;
            need.delete(m.packId);
            await writeFileAtomic(join(cacheDir, `${m.packId}.idx`), m.bytes);
            got.add(m.packId);
          }
          await writeFileAtomic(bundleMarker(cacheDir, b.id), '');
        }),
      ),
  );
  return { got, downloaded };
}

/** The members of a downloaded bundle, or undefined (with a warning) when it is not what its name says. */
function verifiedMembers(backend: Backend, key: string, id: string, bytes: Buffer, warnings: string[]) {
  if (blake3Hex(bytes) !== id) {
    warnings.push(`${backend.location}: ${key} does not match its name (damaged): ignored`);
    return undefined;
  }
  try {
    return decodeBundle(bytes, key);
  } catch (e) {
    if (!(e instanceof DvError)) throw e;
    warnings.push(`${backend.location}: ${e.message}: ignored`);
    return undefined;
  }
}

/**
 * Uploads bundles of the indexes of `packIds` (packs this push uploaded, their indexes in the
 * cache), each at most MAX_BUNDLE_BYTES, and marks them read. Nothing for fewer than BUNDLE_WORTH
 * packs. Returns how many it wrote. Indexes read back from the cache are checked against their names.
 */
export async function writeBundles(backend: Backend, cacheDir: string, packIds: readonly string[]): Promise<number> {
  if (packIds.length < BUNDLE_WORTH) return 0;
  let written = 0;
  let group: { packId: string; bytes: Buffer }[] = [];
  const empty = bundleSize([]);
  let size = empty;
  const flush = async (): Promise<void> => {
    if (group.length >= BUNDLE_WORTH) {
      const bytes = encodeBundle(group);
      const id = blake3Hex(bytes);
      await backend.put(remoteBundleKey(id), bytes);
      await writeFileAtomic(bundleMarker(cacheDir, id), '');
      written++;
    }
    group = [];
    size = empty;
  };
  for (const packId of packIds) {
    const bytes = await fsp.readFile(join(cacheDir, `${packId}.idx`)).catch(() => undefined);
    if (!bytes || blake3Hex(bytes) !== packId) continue;
    const adds = bundleSize([bytes.length]) - empty;
    if (empty + adds > MAX_BUNDLE_BYTES) continue;
    if (size + adds > MAX_BUNDLE_BYTES || group.length >= MAX_BUNDLE_MEMBERS) await flush();
    group.push({ packId, bytes });
    size += adds;
  }
  await flush();
  return written;
}

/**
 * Deletes (through `del`) every listed bundle that names a pack in `removed`, reading only each
 * bundle's header (two small ranges). A bundle whose header cannot be read as one is deleted too:
 * no push writes it. Returns how many went.
 */
export async function pruneBundles(
  backend: Backend,
  removed: ReadonlySet<string>,
  del: (key: string) => Promise<boolean>,
): Promise<number> {
  if (removed.size === 0) return 0;
  const keys: { key: string; size: number }[] = [];
  for await (const { key, size } of backend.list(BUNDLES_PREFIX)) {
    if (!bundleIdOfKey(key)) continue;
    if (keys.length >= MAX_BUNDLES) break;
    keys.push({ key, size });
  }
  let gone = 0;
  for (const { key, size } of keys) {
    const names = await memberIds(backend, key, size);
    if (names && !names.some((p) => removed.has(p))) continue;
    if (await del(key)) gone++;
  }
  return gone;
}

/** The pack ids a bundle's header names, or undefined when it is not a bundle's header; [] when gone. */
async function memberIds(backend: Backend, key: string, size: number): Promise<string[] | undefined> {
  const head = BUNDLE_MAGIC.length + 4;
  if (size < head || size > MAX_BUNDLE_BYTES) return undefined;
  try {
    const top = await backend.getRange(key, 0, head);
    if (!top.subarray(0, BUNDLE_MAGIC.length).equals(BUNDLE_MAGIC)) return undefined;
    const count = top.readUInt32BE(BUNDLE_MAGIC.length);
    if (count > MAX_BUNDLE_MEMBERS || head + 36 * count > size) return undefined;
    const rows = count > 0 ? await backend.getRange(key, head, 36 * count) : Buffer.alloc(0);
    const ids: string[] = [];
    for (let k = 0; k < count; k++) ids.push(rows.toString('hex', 36 * k, 36 * k + 32));
    return ids;
  } catch (e) {
    if (e instanceof DvError && e.code === 'OBJECT_MISSING') return [];
    throw e;
  }
}
