/**
 * Content-defined chunking, FastCDC family: a 32-bit gear hash whose high bits are tested,
 * with normalized chunking (a harder mask before the average size, an easier one after).
 * Everything here is part of the on-disk format: changing the gear table, the masks or the
 * sizes changes chunk boundaries and so every id. The golden-vector test pins it.
 * `nextCut` here is the reference: the WebAssembly loop (chunker-wasm.ts) and the parallel split
 * (chunker-split.ts) must cut exactly where it does, and are property-tested against it.
 */

export interface ChunkerParams {
  readonly name: string;
  readonly min: number;
  readonly avg: number;
  readonly max: number;
}

export const CHUNKER_V1: ChunkerParams = Object.freeze({ name: 'fastcdc-gear32-v1', min: 32 * 1024, avg: 64 * 1024, max: 256 * 1024 });

/** The gear table: 256 pseudo-random 32-bit words from splitmix32 with a fixed seed. */
export const GEAR: Uint32Array = (() => {
  const t = new Uint32Array(256);
  let s = 0x64762d31; // "dv-1"
  for (let i = 0; i < 256; i++) {
    s = (s + 0x9e3779b9) | 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    t[i] = (z ^ (z >>> 16)) >>> 0;
  }
  return t;
})();

// Mask with `bits` ones in the high end of a 32-bit word, as a signed int for `&` tests.
const highMask = (bits: number): number => (~0 << (32 - bits)) | 0;
export const MASK_S = highMask(16); // before avg: harder to match, fewer tiny chunks
export const MASK_L = highMask(14); // after avg: easier to match, fewer chunks at max

/**
 * Length of the chunk that starts at `start` in `buf[start, end)`. Returns -1 when no cut was
 * found and more data may follow (`eof` false and fewer than `max` bytes available).
 */
export function nextCut(buf: Uint8Array, start: number, end: number, eof: boolean, p: ChunkerParams = CHUNKER_V1): number {
  const avail = end - start;
  if (avail <= p.min) return eof ? avail : -1;
  const limit = start + Math.min(avail, p.max);
  const normal = start + Math.min(avail, p.avg);
  const g = GEAR;
  let h = 0;
  let i = start + p.min;
  for (; i < normal; i++) {
    h = ((h << 1) + g[buf[i]]) | 0;
    if ((h & MASK_S) === 0) return i + 1 - start;
  }
  for (; i < limit; i++) {
    h = ((h << 1) + g[buf[i]]) | 0;
    if ((h & MASK_L) === 0) return i + 1 - start;
  }
  if (limit - start === p.max || eof) return limit - start;
  return -1;
}

/** Cuts a whole in-memory buffer into chunk lengths (tests and small inputs). */
export function chunkLengths(buf: Uint8Array, p: ChunkerParams = CHUNKER_V1): number[] {
  const out: number[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const n = nextCut(buf, pos, buf.length, true, p);
    out.push(n);
    pos += n;
  }
  return out;
}
