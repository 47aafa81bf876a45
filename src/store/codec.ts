/**
 * Object compression. Stored objects carry a flags byte: 0 = raw, 1 = zstd (the object alone),
 * 2 = framed (one zstd frame holding several consecutive chunks; the object is the slice
 * [inner, inner + rawSize) of the decompressed frame). Compression is kept only where it pays
 * (at least 10% smaller); ids are always of the raw bytes. Nothing is decompressed before its
 * zstd header and block headers bound the output (`zstdBound`).
 */
import { createRequire } from 'node:module';

export const FLAG_RAW = 0;
export const FLAG_ZSTD = 1;
export const FLAG_FRAME = 2;

/** Raw bytes a writer gathers into one frame. */
export const FRAME_TARGET = 2 << 20;
/** No frame dv reads may decompress to more than this (writers stay near FRAME_TARGET). */
export const MAX_FRAME_BYTES = 4 << 20;
/** No zstd object dv reads may decompress to more than this (chunks ≤ 256 KiB, trees a few MB). */
export const MAX_ZSTD_OBJECT = 64 << 20;
/**
 * Measured on the benchmark CSV (200 MB; CPU per 50 MB): 1 MiB frames level 3 61.8 MB (0.29 s),
 * 4 61.0 MB (0.30 s), 6 56.8 MB (0.65 s); 2 MiB frames level 3 60.7 MB (0.26 s), 4 59.5 MB
 * (0.26 s), 6 55.5 MB (0.65 s). 2 MiB at level 4 meets the 61 MB target at level 3's cost.
 */
export const FRAME_LEVEL = 4;

type Zstd = { compress(b: Buffer, level: number): Promise<Buffer>; decompress(b: Buffer): Promise<Buffer> };
let zstd: Zstd | null | undefined;

function loadZstd(): Zstd | null {
  if (zstd === undefined) {
    try {
      // bindings.js, not index.js: index.js drops the level argument.
      zstd = createRequire(import.meta.url)('@mongodb-js/zstd/bindings.js') as Zstd;
    } catch {
      zstd = null;
    }
  }
  return zstd;
}

/** Compresses `raw` when that saves at least 10%; returns the bytes to store and their flag. */
export async function maybeCompress(raw: Buffer, level = 3): Promise<{ data: Buffer; flags: number }> {
  const z = loadZstd();
  if (!z || raw.length < 512) return { data: raw, flags: FLAG_RAW };
  const c = await z.compress(raw, level);
  if (c.length <= raw.length * 0.9) return { data: c, flags: FLAG_ZSTD };
  return { data: raw, flags: FLAG_RAW };
}

/** Compresses a frame's worth of raw bytes; undefined when that does not save 10% (or no zstd). */
export async function compressFrame(raw: Buffer, level = FRAME_LEVEL): Promise<Buffer | undefined> {
  const z = loadZstd();
  if (!z) return undefined;
  const c = await z.compress(raw, level);
  return c.length <= raw.length * 0.9 ? c : undefined;
}

/**
 * An upper bound of what one zstd frame decompresses to, read from its headers alone: the
 * declared content size when present, else the sum of its blocks' maximum sizes. Throws when
 * `data` is not exactly one well-formed zstd frame (trailing bytes, a second frame, a skippable
 * frame, a reserved bit or block type) or when the bound exceeds `cap`.
 */
export function zstdBound(data: Uint8Array, cap: number): number {
  const bad = (why: string): Error => new Error(`not a zstd frame dv accepts: ${why}`);
  if (data.length < 6 || data[0] !== 0x28 || data[1] !== 0xb5 || data[2] !== 0x2f || data[3] !== 0xfd) throw bad('no zstd magic');
  const fhd = data[4];
  if (fhd & 0x08) throw bad('reserved bit set');
  const fcsFlag = fhd >> 6;
  const single = (fhd >> 5) & 1;
  const checksum = (fhd >> 2) & 1;
  const dictLen = [0, 1, 2, 4][fhd & 3];
  const fcsLen = [single ? 1 : 0, 2, 4, 8][fcsFlag];
  let o = 5;
  let window = Infinity;
  if (!single) {
    const wd = data[o++];
    const base = 2 ** (10 + (wd >> 3));
    window = base + (base / 8) * (wd & 7);
  }
  o += dictLen;
  let declared: number | undefined;
  if (fcsLen > 0) {
    if (o + fcsLen > data.length) throw bad('truncated header');
    let v = 0;
    for (let k = fcsLen - 1; k >= 0; k--) v = v * 256 + data[o + k];
    declared = fcsLen === 2 ? v + 256 : v;
    o += fcsLen;
    if (single) window = declared;
  }
  if (declared !== undefined && declared > cap) throw bad(`declares ${declared} bytes, more than ${cap}`);
  const blockMax = Math.min(window, 128 * 1024);
  let bound = 0;
  for (;;) {
    if (o + 3 > data.length) throw bad('truncated block header');
    const h = data[o] | (data[o + 1] << 8) | (data[o + 2] << 16);
    o += 3;
    const type = (h >> 1) & 3;
    const size = h >>> 3;
    if (type === 3) throw bad('reserved block type');
    if (size > blockMax) throw bad('block larger than allowed');
    if (type === 0) {
      bound += size;
      o += size;
    } else if (type === 1) {
      bound += size;
      o += 1;
    } else {
      bound += blockMax;
      o += size;
    }
    if (bound > cap && declared === undefined) throw bad(`may decompress to more than ${cap} bytes`);
    if (h & 1) break;
  }
  o += checksum * 4;
  if (o !== data.length) throw bad(o > data.length ? 'truncated' : 'trailing bytes after the frame');
  return declared ?? bound;
}

async function decompress(data: Buffer, cap: number): Promise<Buffer> {
  const z = loadZstd();
  if (!z) throw new Error('this object is zstd-compressed and the zstd module failed to load: reinstall dv with `npm ci`');
  const bound = zstdBound(data, cap);
  const out = await z.decompress(data);
  if (out.length > bound) throw new Error('zstd frame decompressed beyond its headers');
  return out;
}

/** Restores the raw bytes of a stored object (flags 0 or 1). */
export async function decode(data: Buffer, flags: number): Promise<Buffer> {
  if (flags === FLAG_RAW) return data;
  if (flags === FLAG_ZSTD) return decompress(data, MAX_ZSTD_OBJECT);
  throw new Error(`unknown object flags ${flags}`);
}

/** Decompresses a whole frame (flag 2), bounded by MAX_FRAME_BYTES before anything is allocated. */
export function decodeFrame(data: Buffer): Promise<Buffer> {
  return decompress(data, MAX_FRAME_BYTES);
}

/** The raw bytes of one framed object from its decompressed frame; undefined when out of range. */
export function sliceFrame(frame: Buffer, inner: number, rawSize: number): Buffer | undefined {
  return inner + rawSize <= frame.length ? frame.subarray(inner, inner + rawSize) : undefined;
}
