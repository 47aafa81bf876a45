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
 * Invariants: `decodeBundleHeader` accepts only a header whose lengths account for every byte of
 * the bundle exactly, at most MAX_BUNDLE_MEMBERS members, in a bundle of at most MAX_BUNDLE_BYTES;
 * it never reads past the buffer it is given. A reader can so take the header first and then
 * only the members it needs (remote-bundles.ts); `decodeBundle` gives views of a whole one.
 */
import { DvError } from '../errors.js';

export const BUNDLE_MAGIC = Buffer.from('dvbdl 1\n');
const HEAD = BUNDLE_MAGIC.length + 4;
/** The fixed part of a header (magic, count): what a reader needs to learn its length. */
export const BUNDLE_HEAD = HEAD;
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

/** Bytes a reader takes first: the whole header of a bundle of up to ~1,800 members, and often more. */
export const BUNDLE_FIRST_READ = 64 * 1024;

/** One member as the header places it: its pack id, and its bytes' offset and length in the bundle. */
export interface BundleRow {
  packId: string;
  offset: number;
  length: number;
}

const malformed = (name: string, why: string): DvError =>
  new DvError('REMOTE_ERROR', `index bundle ${name} is malformed (${why})`, { transient: false });

/**
 * The length of the header of a bundle of `size` bytes whose first bytes are `top` (at least
 * HEAD of them, or all there are); DvError REMOTE_ERROR when they are no bundle's.
 */
export function bundleHeaderLength(top: Buffer, size: number, name: string): number {
  if (!Number.isSafeInteger(size) || size > MAX_BUNDLE_BYTES) throw malformed(name, `${size} bytes, more than ${MAX_BUNDLE_BYTES}`);
  if (top.length < HEAD || size < HEAD || !top.subarray(0, BUNDLE_MAGIC.length).equals(BUNDLE_MAGIC))
    throw malformed(name, 'not a dv index bundle');
  const count = top.readUInt32BE(BUNDLE_MAGIC.length);
  if (count > MAX_BUNDLE_MEMBERS) throw malformed(name, `${count} members`);
  if (HEAD + ROW * count > size) throw malformed(name, 'header past the end');
  return HEAD + ROW * count;
}

/**
 * The members a bundle of `size` bytes places, from its header (`header`: at least
 * bundleHeaderLength bytes); their lengths must account for every byte after it exactly.
 */
export function decodeBundleHeader(header: Buffer, size: number, name: string): BundleRow[] {
  const end = bundleHeaderLength(header, size, name);
  if (header.length < end) throw malformed(name, 'header cut short');
  const rows: BundleRow[] = [];
  let at = end;
  for (let row = HEAD; row < end; row += ROW) {
    const length = header.readUInt32BE(row + 32);
    if (length > size - at) throw malformed(name, `member ${rows.length} past the end`);
    rows.push({ packId: header.toString('hex', row, row + 32), offset: at, length });
    at += length;
  }
  if (at !== size) throw malformed(name, `${size - at} bytes after the last member`);
  return rows;
}

/** The members of a whole bundle `bytes` (the bundle `name`, for messages); DvError REMOTE_ERROR when malformed. */
export function decodeBundle(bytes: Buffer, name: string): BundleMember[] {
  return decodeBundleHeader(bytes, bytes.length, name).map((r) => ({
    packId: r.packId,
    bytes: bytes.subarray(r.offset, r.offset + r.length),
  }));
}
