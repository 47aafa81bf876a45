/**
 * Packs: many objects in one tar archive (so `tar tf` lists and salvages any pack), written
 * once and never modified. Layout under a packs directory: `<xx>/<packId>.pack` and
 * `<xx>/<packId>.idx`. The pack is written and renamed before its index, so an index only
 * ever names a complete pack.
 */
import { promises as fsp } from 'node:fs';
import { join, dirname } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createWriteStream } from 'node:fs';
import { blake3Hex } from '../core/hash.js';
import { fsError } from '../errors.js';
import { encodePackIndex, frameSum, type PackEntry } from './pack-index.js';
import { FLAG_FRAME, FLAG_ZSTD } from './codec.js';
import { writeFileAtomic } from './atomic.js';

/**
 * An object waiting to be packed. The objects of one frame (flag 2) share the very same `data`
 * Buffer (the compressed frame), which is written once, as one tar member.
 */
export interface PendingObject {
  id: string;
  data: Buffer;
  rawSize: number;
  flags: number;
  /** Offset inside the decompressed frame (flag 2). */
  inner?: number;
}

const BLOCK = 512;
const pad = (n: number): number => (BLOCK - (n % BLOCK)) % BLOCK;

export function packPaths(packsDir: string, packId: string): { pack: string; idx: string } {
  const base = join(packsDir, packId.slice(0, 2), packId);
  return { pack: base + '.pack', idx: base + '.idx' };
}

/** The tar entry name of an object inside a pack. */
export function entryName(id: string, flags: number): string {
  return flags === FLAG_ZSTD ? `${id}.zst` : flags === FLAG_FRAME ? `${id}.zsf` : id;
}

/**
 * Writes `objects` as one pack plus its index into `packsDir`, through a temp file in `tmpDir`.
 * Returns the pack id and the index entries; with `sums` (a pack of the local store, whose index
 * records them) each frame's members carry its `frameSum`.
 */
export async function writePack(
  packsDir: string,
  tmpDir: string,
  objects: PendingObject[],
  opts: { sums?: boolean } = {},
): Promise<{ packId: string; entries: PackEntry[]; bytes: number }> {
  const entries: PackEntry[] = [];
  const members: PendingObject[] = [];
  const frameAt = new Map<Buffer, { offset: number; sum?: string }>();
  let pos = 0;
  for (const o of objects) {
    const { id, rawSize, flags } = o;
    const length = o.data.length;
    if (flags !== FLAG_FRAME) entries.push({ id, offset: pos + BLOCK, length, rawSize, flags });
    else {
      // The members of a frame share its bytes (one tar member) and its place.
      const known = frameAt.get(o.data);
      const frame = known ?? { offset: pos + BLOCK, ...(opts.sums ? { sum: frameSum(o.data) } : {}) };
      entries.push({ id, offset: frame.offset, length, rawSize, flags, inner: o.inner ?? 0, ...(frame.sum ? { sum: frame.sum } : {}) });
      if (known) continue;
      frameAt.set(o.data, frame);
    }
    members.push(o);
    pos += BLOCK + length + pad(length);
  }
  const tmp = join(tmpDir, `pack-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}.tmp`);
  try {
    await fsp.mkdir(tmpDir, { recursive: true });
    const tar = (await import('tar-stream')).default;
    const p = tar.pack();
    const ws = createWriteStream(tmp);
    const done = pipeline(p, ws);
    for (const o of members) {
      const ok = p.entry({ name: entryName(o.id, o.flags), size: o.data.length, mode: 0o444, mtime: new Date(0) }, o.data);
      if (!ok) await new Promise((r) => p.once('drain', r));
    }
    p.finalize();
    await done;
  } catch (e) {
    await fsp.rm(tmp, { force: true });
    throw fsError(e, tmp);
  }
  const sealed = await sealPack(packsDir, tmpDir, tmp, pos + 2 * BLOCK, entries);
  return { ...sealed, bytes: pos + 2 * BLOCK };
}

/**
 * Makes a finished temp pack durable and visible: checks its size, fsyncs it, renames it to its
 * name (the hash of its index), then writes the index. An index only ever names a complete pack.
 */
export async function sealPack(
  packsDir: string,
  tmpDir: string,
  tmp: string,
  size: number,
  entries: PackEntry[],
): Promise<{ packId: string; entries: PackEntry[] }> {
  const idxBytes = encodePackIndex(entries);
  const packId = blake3Hex(idxBytes);
  const { pack: packPath, idx: idxPath } = packPaths(packsDir, packId);
  try {
    const fh = await fsp.open(tmp, 'r+');
    try {
      const st = await fh.stat();
      if (st.size !== size) throw new Error(`pack layout mismatch: ${st.size} != ${size}`);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fsp.mkdir(dirname(packPath), { recursive: true });
    await fsp.rename(tmp, packPath);
  } catch (e) {
    await fsp.rm(tmp, { force: true });
    throw fsError(e, packPath);
  }
  await writeFileAtomic(idxPath, idxBytes, tmpDir);
  return { packId, entries };
}

/** Lists the pack ids that have an index in `packsDir`. */
export async function listPackIds(packsDir: string): Promise<string[]> {
  const out: string[] = [];
  let fans: string[];
  try {
    fans = await fsp.readdir(packsDir);
  } catch {
    return out;
  }
  for (const fan of fans) {
    if (!/^[0-9a-f]{2}$/.test(fan)) continue;
    for (const f of await fsp.readdir(join(packsDir, fan))) {
      const m = /^([0-9a-f]{64})\.idx$/.exec(f);
      if (m) out.push(m[1]);
    }
  }
  return out.sort();
}
