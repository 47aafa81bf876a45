/**
 * An index bundle: the pack indexes of one push in a single remote object, so a clone that has
 * none of them cached reads them with one GET instead of one per pack (restic packs many packs'
 * entries into one index file for the same reason). A bundle only copies: every member is the
 * exact bytes of a pack index, which its pack id (the BLAKE3 of those bytes) verifies, and the
 * index/ listing alone says which packs exist, so a bundle can neither add nor hide a pack.
 *
 * Layout: `dvbdl 1\n`, u32 count, then count x (32-byte pack id, u32 length), then the members'
 * bytes in that order. All integers big-endian.
 *
 * Invariants: `decodeBundle` accepts only a header whose lengths account for every byte exactly,
 * at most MAX_BUNDLE_MEMBERS members, in a bundle of at most MAX_BUNDLE_BYTES; it never reads
 * past the buffer and allocates nothing per member but its small record (the bytes are views).
 */
import { DvError } from '../errors.js';

export const BUNDLE_MAGIC = Buffer.from('dvbdl 1\n');
const HEAD = BUNDLE_MAGIC.length + 4;
const ROW = 36;
/** A push writes bundles of at most this many bytes (more go into further bundles); larger ones are refused. */
export const MAX_BUNDLE_BYTES = 16 * 1024 * 1024;
export const MAX_BUNDLE_MEMBERS = 65_536;

export interface BundleMember {
  packId: string;
  /** The member's bytes: a view of the bundle. */
  bytes: Buffer;
}

/** The bytes of a bundle of `members` (each a pack index and its id). */
export function encodeBundle(members: { packId: string; bytes: Uint8Array }[]): Buffer {
  if (members.length > MAX_BUNDLE_MEMBERS) throw new Error(`a bundle holds at most ${MAX_BUNDLE_MEMBERS} indexes`);
  const head = Buffer.alloc(HEAD + ROW * members.length);
  BUNDLE_MAGIC.copy(head, 0);
  head.writeUInt32BE(members.length, BUNDLE_MAGIC.length);
  members.forEach((m, k) => {
    const at = HEAD + ROW * k;
    head.write(m.packId, at, 32, 'hex');
    head.writeUInt32BE(m.bytes.length, at + 32);
  });
  return Buffer.concat([head, ...members.map((m) => m.bytes)]);
}

/** The size a bundle of members of these byte lengths has. */
export const bundleSize = (lengths: number[]): number => HEAD + lengths.reduce((n, l) => n + ROW + l, 0);

/** The members of `bytes` (the bundle `name`, for messages); DvError REMOTE_ERROR when malformed. */
export function decodeBundle(bytes: Buffer, name: string): BundleMember[] {
  const bad = (why: string): DvError => new DvError('REMOTE_ERROR', `index bundle ${name} is malformed (${why})`, { transient: false });
  if (bytes.length > MAX_BUNDLE_BYTES) throw bad(`${bytes.length} bytes, more than ${MAX_BUNDLE_BYTES}`);
  if (bytes.length < HEAD || !bytes.subarray(0, BUNDLE_MAGIC.length).equals(BUNDLE_MAGIC)) throw bad('not a dv index bundle');
  const count = bytes.readUInt32BE(BUNDLE_MAGIC.length);
  if (count > MAX_BUNDLE_MEMBERS) throw bad(`${count} members`);
  let at = HEAD + ROW * count;
  if (at > bytes.length) throw bad('header past the end');
  const out: BundleMember[] = [];
  for (let k = 0; k < count; k++) {
    const row = HEAD + ROW * k;
    const length = bytes.readUInt32BE(row + 32);
    if (length > bytes.length - at) throw bad(`member ${k} past the end`);
    out.push({ packId: bytes.toString('hex', row, row + 32), bytes: bytes.subarray(at, at + length) });
    at += length;
  }
  if (at !== bytes.length) throw bad(`${bytes.length - at} bytes after the last member`);
  return out;
}
