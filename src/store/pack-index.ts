/**
 * The index that travels with a pack: (id, offset, length, raw size, flags[, inner]) per object,
 * sorted by id. A pack's name is the BLAKE3 of its index bytes, so reading an index
 * verifies it, and each object read through it is verified by its own id.
 *
 * Encoding v1: "dvidx 1\n", u32be count, count × (32-byte id, u48be offset, u32be length,
 * u32be raw size, u8 flags). v2 ("dvidx 2\n") adds a u32be `inner` to each entry: for a framed
 * object (flag 2) offset/length name the whole zstd frame in the pack (shared by every object
 * of that frame) and inner is the object's offset inside the decompressed frame; 0 otherwise.
 * Packs without frames are written as v1, so older readers keep reading them.
 */
import { blake3Hex } from '../core/hash.js';
import { DvError } from '../errors.js';
import { FLAG_FRAME, MAX_FRAME_BYTES } from './codec.js';

export const IDX_MAGIC = Buffer.from('dvidx 1\n');
export const IDX_MAGIC_V2 = Buffer.from('dvidx 2\n');
const HEADER = IDX_MAGIC.length + 4;
export const IDX_ENTRY = 47;
export const IDX_ENTRY_V2 = 51;
/** No object dv writes comes near this (chunks are at most 256 KiB, trees a few MB); bigger claims are damage. */
export const MAX_OBJECT_BYTES = 1 << 30;
/** A compressed frame is never bigger than this (frames are only kept when they save 10%). */
export const MAX_FRAME_STORED = MAX_FRAME_BYTES + (64 << 10);

/**
 * Where an object's bytes are: a pack, its stored bytes there, and (flag 2) its place inside the
 * decompressed frame. The one location shape, of the local index (`store/index-db.ts`) and of a
 * remote's indexes (`transfer/remote-index.ts`).
 */
export interface ObjectLocation {
  pack: string;
  offset: number;
  length: number;
  rawSize: number;
  flags: number;
  /** Offset inside the decompressed frame (flag 2); 0 otherwise. */
  inner: number;
}

/** One row of a pack index: an object and its location inside that pack (`inner` only for flag 2). */
export interface PackEntry extends Omit<ObjectLocation, 'pack' | 'inner'> {
  id: string;
  inner?: number;
  /**
   * For a frame this store wrote: `frameSum` of its stored bytes as written (every member carries
   * it). Local only: kept in the index's record of the pack (store/index-db.ts), never in a pack
   * index file, so a pack's name and what travels are unchanged.
   */
  sum?: string;
}

/**
 * What a frame's stored bytes hash to (the first 16 bytes of their BLAKE3, hex): recorded when the
 * frame is written, so a push can check a local frame by hashing its stored bytes (~4 GB/s on
 * large inputs) instead of decompressing it and hashing every member (transfer/verify-pack.ts).
 */
export const frameSum = (stored: Uint8Array): string => blake3Hex(stored).slice(0, 32);

const SUM_ROW = 6 + 16;

/** The sums of a pack's frames, one row per frame (u48be offset, 16 bytes): empty for a pack without any. */
export function encodeFrameSums(entries: PackEntry[]): Buffer {
  const sums = new Map<number, string>();
  for (const e of entries) if (e.flags === FLAG_FRAME && e.sum) sums.set(e.offset, e.sum);
  const out = Buffer.alloc(sums.size * SUM_ROW);
  let o = 0;
  for (const [offset, sum] of sums) {
    out.writeUIntBE(offset, o, 6);
    out.write(sum, o + 6, 16, 'hex');
    o += SUM_ROW;
  }
  return out;
}

/** Frame offset → sum, as `encodeFrameSums` wrote them; a value of any other length holds none. */
export function decodeFrameSums(b: Buffer | undefined): Map<number, string> {
  const sums = new Map<number, string>();
  if (!b || b.length % SUM_ROW !== 0) return sums;
  for (let o = 0; o < b.length; o += SUM_ROW) sums.set(b.readUIntBE(o, 6), b.toString('hex', o + 6, o + SUM_ROW));
  return sums;
}

/** The location of pack index row `e` of pack `pack`. */
export function locationIn(pack: string, e: PackEntry): ObjectLocation {
  return { pack, offset: e.offset, length: e.length, rawSize: e.rawSize, flags: e.flags, inner: e.inner ?? 0 };
}

export function encodePackIndex(entries: PackEntry[]): Buffer {
  const sorted = [...entries].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const v2 = sorted.some((e) => e.flags === FLAG_FRAME);
  const size = v2 ? IDX_ENTRY_V2 : IDX_ENTRY;
  const out = Buffer.alloc(HEADER + sorted.length * size);
  (v2 ? IDX_MAGIC_V2 : IDX_MAGIC).copy(out, 0);
  out.writeUInt32BE(sorted.length, IDX_MAGIC.length);
  let o = HEADER;
  for (const e of sorted) {
    out.write(e.id, o, 32, 'hex');
    out.writeUIntBE(e.offset, o + 32, 6);
    out.writeUInt32BE(e.length, o + 38);
    out.writeUInt32BE(e.rawSize, o + 42);
    out.writeUInt8(e.flags, o + 46);
    if (v2) out.writeUInt32BE(e.inner ?? 0, o + 47);
    o += size;
  }
  return out;
}

/**
 * The rows of an encoded pack index, checked for its header and length only: row k's id is the 32
 * bytes at `header + k * size`, its stored length the u32be at 38 past that (for scans that read
 * the rows in place, without an object per row; `decodePackIndex` checks every row).
 */
export function packIndexRows(bytes: Buffer, name = '?'): { header: number; size: number; count: number } {
  const bad = (why: string): DvError => new DvError('BAD_OBJECT', `pack index ${name.slice(0, 12)} is malformed: ${why}`, { pack: name });
  if (bytes.length < HEADER) throw bad('missing header');
  const magic = bytes.subarray(0, IDX_MAGIC.length);
  const v2 = magic.equals(IDX_MAGIC_V2);
  if (!v2 && !magic.equals(IDX_MAGIC)) throw bad('missing header');
  const size = v2 ? IDX_ENTRY_V2 : IDX_ENTRY;
  const count = bytes.readUInt32BE(IDX_MAGIC.length);
  if (bytes.length !== HEADER + count * size) throw bad('wrong length');
  return { header: HEADER, size, count };
}

export function decodePackIndex(bytes: Buffer, name = '?'): PackEntry[] {
  const bad = (why: string): DvError => new DvError('BAD_OBJECT', `pack index ${name.slice(0, 12)} is malformed: ${why}`, { pack: name });
  const { size } = packIndexRows(bytes, name);
  const v2 = size === IDX_ENTRY_V2;
  const out: PackEntry[] = [];
  // Objects of one frame share its range: they must agree on its length.
  const frames = new Map<number, number>();
  for (let o = HEADER; o < bytes.length; o += size) {
    const flags = bytes.readUInt8(o + 46);
    const offset = bytes.readUIntBE(o + 32, 6);
    const length = bytes.readUInt32BE(o + 38);
    const rawSize = bytes.readUInt32BE(o + 42);
    const inner = v2 ? bytes.readUInt32BE(o + 47) : 0;
    if (flags > (v2 ? FLAG_FRAME : 1)) throw bad(`unknown flags ${flags}`);
    if (length > MAX_OBJECT_BYTES || rawSize > MAX_OBJECT_BYTES) throw bad('an object larger than dv ever writes');
    const e: PackEntry = { id: bytes.toString('hex', o, o + 32), offset, length, rawSize, flags };
    if (flags === FLAG_FRAME) {
      if (length > MAX_FRAME_STORED || inner + rawSize > MAX_FRAME_BYTES)
        throw bad(`framed object ${e.id} lies beyond what a frame may hold`);
      if ((frames.get(offset) ?? length) !== length) throw bad(`objects of the frame at ${offset} disagree on its length`);
      frames.set(offset, length);
      e.inner = inner;
    } else if (inner !== 0) {
      throw bad(`object ${e.id} is not framed but has an inner offset`);
    }
    out.push(e);
  }
  return out;
}
