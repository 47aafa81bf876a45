/**
 * Per-object compression. Stored objects carry a flags byte: 0 = raw, 1 = zstd.
 * Compression is kept only where it pays (at least 10% smaller); ids are always of the raw bytes.
 */
import { createRequire } from 'node:module';

export const FLAG_RAW = 0;
export const FLAG_ZSTD = 1;

type Zstd = { compress(b: Buffer, level?: number): Promise<Buffer>; decompress(b: Buffer): Promise<Buffer> };
let zstd: Zstd | null | undefined;

function loadZstd(): Zstd | null {
  if (zstd === undefined) {
    try {
      zstd = createRequire(import.meta.url)('@mongodb-js/zstd') as Zstd;
    } catch {
      zstd = null;
    }
  }
  return zstd;
}

/** Compresses `raw` when that saves at least 10%; returns the bytes to store and their flag. */
export async function maybeCompress(raw: Buffer): Promise<{ data: Buffer; flags: number }> {
  const z = loadZstd();
  if (!z || raw.length < 512) return { data: raw, flags: FLAG_RAW };
  const c = await z.compress(raw, 3);
  if (c.length <= raw.length * 0.9) return { data: c, flags: FLAG_ZSTD };
  return { data: raw, flags: FLAG_RAW };
}

/** Restores the raw bytes of a stored object. */
export async function decode(data: Buffer, flags: number): Promise<Buffer> {
  if (flags === FLAG_RAW) return data;
  if (flags === FLAG_ZSTD) {
    const z = loadZstd();
    if (!z) throw new Error('this object is zstd-compressed and the zstd module failed to load: reinstall dv with `npm ci`');
    return z.decompress(data);
  }
  throw new Error(`unknown object flags ${flags}`);
}
