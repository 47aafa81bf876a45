/**
 * The index that travels with a pack: (id, offset, length, raw size, flags) per object,
 * sorted by id. A pack's name is the BLAKE3 of its index bytes, so reading an index
 * verifies it, and each object read through it is verified by its own id.
 *
 * Encoding: "dvidx 1\n", u32be count, count × (32-byte id, u48be offset, u32be length,
 * u32be raw size, u8 flags).
 */
import { DvError } from '../errors.js';

export const IDX_MAGIC = Buffer.from('dvidx 1\n');
const HEADER = IDX_MAGIC.length + 4;
export const IDX_ENTRY = 47;
/** No object dv writes comes near this (chunks are at most 256 KiB, trees a few MB); bigger claims are damage. */
export const MAX_OBJECT_BYTES = 1 << 30;

export interface PackEntry {
  id: string;
  offset: number;
  length: number;
  rawSize: number;
  flags: number;
}

export function encodePackIndex(entries: PackEntry[]): Buffer {
  const sorted = [...entries].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const out = Buffer.alloc(HEADER + sorted.length * IDX_ENTRY);
  IDX_MAGIC.copy(out, 0);
  out.writeUInt32BE(sorted.length, IDX_MAGIC.length);
  let o = HEADER;
  for (const e of sorted) {
    out.write(e.id, o, 32, 'hex');
    out.writeUIntBE(e.offset, o + 32, 6);
    out.writeUInt32BE(e.length, o + 38);
    out.writeUInt32BE(e.rawSize, o + 42);
    out.writeUInt8(e.flags, o + 46);
    o += IDX_ENTRY;
  }
  return out;
}

export function decodePackIndex(bytes: Buffer, name = '?'): PackEntry[] {
  const bad = (why: string): DvError => new DvError('BAD_OBJECT', `pack index ${name.slice(0, 12)} is malformed: ${why}`, { pack: name });
  if (bytes.length < HEADER || !bytes.subarray(0, IDX_MAGIC.length).equals(IDX_MAGIC)) throw bad('missing header');
  const n = bytes.readUInt32BE(IDX_MAGIC.length);
  if (bytes.length !== HEADER + n * IDX_ENTRY) throw bad('wrong length');
  const out: PackEntry[] = [];
  for (let o = HEADER; o < bytes.length; o += IDX_ENTRY) {
    const flags = bytes.readUInt8(o + 46);
    if (flags > 1) throw bad(`unknown flags ${flags}`);
    if (bytes.readUInt32BE(o + 38) > MAX_OBJECT_BYTES || bytes.readUInt32BE(o + 42) > MAX_OBJECT_BYTES) throw bad('an object larger than dv ever writes');
    out.push({
      id: bytes.toString('hex', o, o + 32),
      offset: bytes.readUIntBE(o + 32, 6),
      length: bytes.readUInt32BE(o + 38),
      rawSize: bytes.readUInt32BE(o + 42),
      flags,
    });
  }
  return out;
}
