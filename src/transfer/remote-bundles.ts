/**
 * A remote's index bundles (index-bundle.ts): written at the end of a push for the packs it
 * uploaded (and by gc for the packs it repacks), read by a clone that lacks more pack indexes than
 * there are bundles it has not read (each verified member goes into the index cache as if
 * downloaded alone), and removed by `dv gc --remote` once they name a pack whose index is gone,
 * or are no bundle at all.
 *
 * Invariants:
 * - A bundle is only ever a copy: a member is used only for a pack the index/ listing names and
 *   the cache lacks, and only when its bytes hash to that pack's id. Nothing about bundles can
 *   fail a load: a bundle that is malformed, too large or unreadable (refused, gone, the network)
 *   is a warning, and its packs' indexes are read one by one as before bundles existed.
 * - A reader takes a bundle's header first (BUNDLE_FIRST_READ bytes, more only for a header that
 *   long; a fresh clone, which needs every member, takes CLONE_FIRST_READ: a small bundle whole),
 *   then only the runs of members it needs: a clone that already holds most indexes does not
 *   download whole bundles to find the few it lacks.
 * - Bounded: at most MAX_BUNDLES listed (and MAX_BUNDLE_KEYS keys of any name); every read within
 *   MAX_BUNDLE_BYTES and, across a load, MAX_TOTAL_BUNDLE_BYTES; READ_JOBS bundles at once (at most
 *   2 x 32 MiB in memory: a run read past the header's first read is joined to it). A member is
 *   used only at the size the listing gives its index, so its bytes also count in the index
 *   listing's own budget (remote-index.ts).
 * - A clone reads a bundle's header once: a marker `<id>.bundle-read` in the index cache (an empty
 *   file, not fsynced: a lost one costs a header read) says it did; a push marks the bundles it wrote.
 * - Deleting a bundle never loses anything (the index/ keys stay), so gc may delete one without a mark.
 *   Like an index already cached, a bundle may lend the index of a pack a gc deletes between a
 *   clone's listing and its read: the fetch then finds the pack gone and says so (as a cached index).
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import pLimit from 'p-limit';
import type { Backend } from '../backend/backend.js';
import { blake3Hex } from '../core/hash.js';
import { DvError } from '../errors.js';
import { BUNDLES_PREFIX, bundleIdOfKey, remoteBundleKey, remoteIndexKey } from './layout.js';
import {
  BUNDLE_FIRST_READ,
  BUNDLE_HEAD,
  type BundleRow,
  bundleHeaderLength,
  bundleSize,
  decodeBundleHeader,
  encodeBundle,
  MAX_BUNDLE_BYTES,
  MAX_BUNDLE_MEMBERS,
} from './index-bundle.js';

const MAX_BUNDLES = 100_000;
/** Keys of any name a bundles/ listing reads: junk keys without end are refused too. */
const MAX_BUNDLE_KEYS = 2 * MAX_BUNDLES;
const MAX_TOTAL_BUNDLE_BYTES = 2 * 1024 * 1024 * 1024;
const READ_JOBS = 2;
/** Needed members closer than this are read with one range (the bytes between are read and dropped). */
const RUN_GAP = 1024 * 1024;
/** Bundles are read only when at least this many pack indexes are missing from the cache (one GET saves nothing). */
export const BUNDLE_WORTH = 2;
/**
 * A fresh clone's first read of a bundle: a push of up to ~40 packs writes a bundle this small, which
 * then comes in one GET instead of a header and a run (a round trip costs more than these bytes).
 */
const CLONE_FIRST_READ = 1024 * 1024;
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

const interrupted = (e: unknown): boolean => e instanceof DvError && e.code === 'INTERRUPTED';
const isByteCount = (n: number): boolean => Number.isSafeInteger(n) && n >= 0;
/** A remote's answer that will not change by asking again (malformed, too large): the bundle is skipped. */
export const isRefusedContent = (e: DvError): boolean => e.code === 'REMOTE_ERROR' && e.data.transient === false;
/** Writes a marker (or removes one); a marker is only a saving, so a failure to is ignored. */
const mark = (path: string): Promise<void> => fsp.writeFile(path, '').catch(() => undefined);
const unmark = (path: string): Promise<void> => fsp.rm(path, { force: true }).catch(() => undefined);

export interface ListedBundle {
  id: string;
  key: string;
  size: number;
}

/**
 * The bundle keys a remote lists: at most MAX_BUNDLES bundles, and MAX_BUNDLE_KEYS keys of any
 * name under bundles/ (past either it is damaged or hostile).
 */
async function listBundles(backend: Backend): Promise<ListedBundle[]> {
  const listed: ListedBundle[] = [];
  let keys = 0;
  for await (const { key, size } of backend.list(BUNDLES_PREFIX)) {
    if (++keys > MAX_BUNDLE_KEYS || listed.length >= MAX_BUNDLES) {
      const what = keys > MAX_BUNDLE_KEYS ? `${MAX_BUNDLE_KEYS} keys under ${BUNDLES_PREFIX}` : `${MAX_BUNDLES} index bundles`;
      throw new DvError('REMOTE_ERROR', `${backend.location} lists more than ${what}: it is damaged or hostile`, { transient: false });
    }
    const id = bundleIdOfKey(key);
    if (id) listed.push({ id, key, size });
  }
  return listed;
}

export interface FromBundles {
  /** Pack ids whose verified index was written into the cache. */
  got: Set<string>;
  /** Requests made for bundles (LIST pages not counted). */
  requests: number;
}

/**
 * Reads the remote's unread bundles while `need` (pack id -> its index's listed size: the indexes
 * the listing names and the cache lacks) is not empty, and writes each member it needs, once
 * verified, to `cacheDir/<packId>.idx`. Only worth it when the unread bundles are fewer than the
 * indexes needed (each costs a read at least; a clone that read none before lacks only a push's
 * few): else nothing is read. Markers of bundles no longer listed are removed. Never throws but
 * to stop (Ctrl-C) or on a bug: what goes wrong is a line in `warnings`, and the indexes not
 * found are read one by one.
 */
export async function indexesFromBundles(
  backend: Backend,
  cacheDir: string,
  need: Map<string, number>,
  read: Set<string>,
  warnings: string[],
  /** The cache holds no index (a fresh clone): it needs every member. */
  fresh = false,
): Promise<FromBundles> {
  const out: FromBundles = { got: new Set(), requests: 0 };
  // A fresh clone needs every member: a small bundle comes whole with its header.
  const firstRead = fresh ? CLONE_FIRST_READ : BUNDLE_FIRST_READ;
  let listed: ListedBundle[];
  try {
    listed = await listBundles(backend);
  } catch (e) {
    if (!(e instanceof DvError) || interrupted(e)) throw e;
    warnings.push(`${backend.location}: index bundles not read (${e.message}): pack indexes read one by one`);
    return out;
  }
  const live = new Set(listed.map((b) => b.id));
  for (const id of read) if (!live.has(id)) await unmark(bundleMarker(cacheDir, id));
  const unread = listed.filter((b) => !read.has(b.id));
  if (unread.length >= need.size) return out;
  const budget = { left: MAX_TOTAL_BUNDLE_BYTES };
  // Once set (a refusal, the budget spent), the other bundles are not read: one warning, not one per bundle.
  let stopped = false;
  const limit = pLimit(READ_JOBS);
  await Promise.all(
    unread.map((b) =>
      limit(async () => {
        if (need.size === 0 || stopped) return;
        try {
          await readBundle(backend, cacheDir, b, need, budget, out, firstRead);
          await mark(bundleMarker(cacheDir, b.id));
        } catch (e) {
          if (!(e instanceof DvError) || interrupted(e)) throw e;
          if (e.code === 'OBJECT_MISSING') return;
          const skip = isRefusedContent(e) && !(e instanceof BudgetSpent);
          if (!skip) {
            // The other read in flight meets the same refusal: said once.
            if (stopped) return;
            stopped = true;
          }
          warnings.push(`${backend.location}: ${b.key}: ${e.message}: ${skip ? 'ignored' : 'pack indexes read one by one'}`);
        }
      }),
    ),
  );
  return out;
}

/** The bytes of index bundles one load may read are spent. */
class BudgetSpent extends DvError {
  constructor() {
    super('REMOTE_ERROR', `more than ${MAX_TOTAL_BUNDLE_BYTES} bytes of index bundles`, { transient: false });
  }
}

/**
 * Bundle `b`'s header: its first bytes (up to BUNDLE_FIRST_READ, read through `take`) and the
 * members it places; DvError REMOTE_ERROR (not transient) when it is no bundle.
 */
async function readHeader(
  b: ListedBundle,
  take: (offset: number, length: number) => Promise<Buffer>,
  firstRead = BUNDLE_FIRST_READ,
): Promise<{ first: Buffer; rows: BundleRow[] }> {
  if (!isByteCount(b.size) || b.size > MAX_BUNDLE_BYTES || b.size < BUNDLE_HEAD)
    throw new DvError('REMOTE_ERROR', `listed at ${b.size} bytes, which no bundle is (at most ${MAX_BUNDLE_BYTES})`, {
      transient: false,
    });
  const first = await take(0, Math.min(b.size, firstRead));
  const length = bundleHeaderLength(first, b.size, b.key);
  const header = length <= first.length ? first : Buffer.concat([first, await take(first.length, length - first.length)]);
  return { first, rows: decodeBundleHeader(header, b.size, b.key) };
}

/**
 * Reads bundle `b`'s header, then the runs of the members `need` names at the size the listing
 * gave their index (a damaged index key is then seen as damaged, and counted in the listing's
 * budget); writes each one that hashes to its pack id to the cache (not fsynced: a torn file
 * fails that hash when read, and is read again).
 */
async function readBundle(
  backend: Backend,
  cacheDir: string,
  b: ListedBundle,
  need: Map<string, number>,
  budget: { left: number },
  out: FromBundles,
  firstRead: number,
): Promise<void> {
  const take = async (offset: number, length: number): Promise<Buffer> => {
    if (length > budget.left) throw new BudgetSpent();
    budget.left -= length;
    out.requests++;
    return backend.getRange(b.key, offset, length);
  };
  const { first, rows } = await readHeader(b, take, firstRead);
  for (const run of runsOf(rows.filter((r) => need.get(r.packId) === r.length))) {
    const start = run[0].offset;
    const end = run[run.length - 1].offset + run[run.length - 1].length;
    // The header's first read often holds members too: only what lies past it is asked for.
    const bytes =
      end <= first.length
        ? first.subarray(start, end)
        : start >= first.length
          ? await take(start, end - start)
          : Buffer.concat([first.subarray(start), await take(first.length, end - first.length)]);
    for (const r of run) {
      const member = bytes.subarray(r.offset - start, r.offset - start + r.length);
      if (!need.has(r.packId) || blake3Hex(member) !== r.packId) continue;
      need.delete(r.packId);
      await fsp.writeFile(join(cacheDir, `${r.packId}.idx`), member);
      out.got.add(r.packId);
    }
  }
}

/** Rows (in bundle order) grouped into runs read with one range each: members at most RUN_GAP apart. */
function runsOf(rows: BundleRow[]): BundleRow[][] {
  const runs: BundleRow[][] = [];
  for (const r of rows) {
    const last = runs[runs.length - 1];
    const prev = last?.[last.length - 1];
    if (prev && r.offset - (prev.offset + prev.length) <= RUN_GAP) last.push(r);
    else runs.push([r]);
  }
  return runs;
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
    if (group.length > 0) {
      const bytes = encodeBundle(group);
      const id = blake3Hex(bytes);
      await backend.put(remoteBundleKey(id), bytes);
      await mark(bundleMarker(cacheDir, id));
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
 * writeBundles for a push or a gc whose packs and indexes are all there: a remote's refusal is
 * returned as a warning line (`what` names the bundle), not thrown; Ctrl-C and bugs are.
 */
export async function writeBundlesOrWarn(
  backend: Backend,
  cacheDir: string,
  packIds: readonly string[],
  what: string,
): Promise<{ written: number; warning?: string }> {
  try {
    return { written: await writeBundles(backend, cacheDir, packIds) };
  } catch (e) {
    if (!(e instanceof DvError) || interrupted(e)) throw e;
    return { written: 0, warning: `${what} was not written (${e.message}): a fresh clone reads its indexes one by one` };
  }
}

/**
 * Deletes (through `del`) every listed bundle that names a pack whose index is gone (`indexed`
 * says which the caller saw listed; a pack it did not see is asked for again, as a push may have
 * just finished), or that is no bundle at all (no push writes one). Headers are read `jobs` at a
 * time; a bundle that cannot be read now is kept for the next run. Returns how many went.
 */
export async function pruneBundles(
  backend: Backend,
  indexed: ReadonlySet<string>,
  del: (key: string) => Promise<boolean>,
  jobs: number,
  /** Packs whose index the caller deleted (or, in a dry run, would have). */
  removed: ReadonlySet<string> = new Set(),
): Promise<number> {
  const listed = await listBundles(backend);
  const limit = pLimit(Math.max(1, jobs));
  const indexGone = async (packId: string): Promise<boolean> =>
    removed.has(packId) || (!indexed.has(packId) && !(await backend.stat(remoteIndexKey(packId))));
  const gone = await Promise.all(
    listed.map((b) =>
      limit(async () => {
        let rows: BundleRow[];
        try {
          rows = (await readHeader(b, (offset, length) => backend.getRange(b.key, offset, length))).rows;
        } catch (e) {
          if (!(e instanceof DvError) || interrupted(e)) throw e;
          // Malformed (no push writes it): it goes. Anything else (gone, refused, the network): kept.
          return isRefusedContent(e) ? del(b.key) : false;
        }
        for (const r of rows) if (await indexGone(r.packId)) return del(b.key);
        return false;
      }),
    ),
  );
  return gone.filter(Boolean).length;
}
