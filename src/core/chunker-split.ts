/**
 * The cuts of one large input found in parts, by several workers at once, identical to the
 * sequential chunker (`nextCut` from offset 0).
 *
 * Why a worker cannot simply chunk its part from the part's first byte and resynchronise: with a
 * minimum size, a cut depends on where its chunk started, and on data without gear matches
 * (zeros, any run of max-size chunks) two chains that start at different offsets stay shifted
 * forever, so "wait until my cuts coincide with the true ones" may never happen.
 *
 * What makes parts independent instead: the gear hash is 32 bits shifted left once per byte, so
 * after 32 bytes it depends only on the last 32 bytes (the window). `nextCut(p)` starts hashing
 * at p + min, so for every i >= p + min + 31 its h at i equals the window hash W(i), which does
 * not depend on p. Hence:
 *   1. each worker lists, for its part, every position whose W(i) passes the easier mask
 *      (a "candidate", flagged when it also passes the harder one): no knowledge of p needed;
 *   2. given the true chunk start q entering the part (the exit of the previous part), the
 *      sequential chain is replayed exactly: the first 31 hashed bytes of each chunk are hashed
 *      for real (their h still depends on p), then the first candidate in range decides the cut
 *      with the same mask rule (harder before avg, easier after), else the chunk is max long.
 * Step 2 costs ~31 bytes of hashing per chunk, so the order between parts costs almost nothing.
 * A part [start, end) owns the chunks that start inside it; it reads up to end + max (a chunk
 * starting before end may run there). When candidates are implausibly dense (crafted data, more
 * than one per CAND_RATIO bytes) the part falls back to the sequential chunker from q.
 */
import { CHUNKER_V1, GEAR, MASK_L, MASK_S, type ChunkerParams } from './chunker.js';

/** Bytes of history the window hash depends on. */
export const WINDOW = 32;
const FLAG_S = 0x80000000;
/** Size of the parts a large file is cut in by the hash workers (the last part is shorter). */
export const PART = 8 * 1024 * 1024;
/** The candidate list holds one entry per this many bytes at most (random data: one per 16 KiB). */
export const CAND_RATIO = 64;

/** A sequential cut function with nextCut's contract (the JS reference or the WebAssembly one). */
export type CutFn = (buf: Uint8Array, start: number, end: number, eof: boolean, p: ChunkerParams) => number;

/**
 * JS reference of the candidate scan: hashes from `lo`; for every i in [lo + 31, hi) whose
 * window hash passes MASK_L writes i (| 1 << 31 when it passes MASK_S) into `out`, at most
 * out.length of them; returns how many.
 */
export function scanCandidates(buf: Uint8Array, lo: number, hi: number, out: Uint32Array): number {
  const g = GEAR;
  let h = 0;
  let n = 0;
  let i = lo;
  const warm = Math.min(lo + WINDOW - 1, hi);
  for (; i < warm; i++) h = ((h << 1) + g[buf[i]]) | 0;
  for (; i < hi; i++) {
    h = ((h << 1) + g[buf[i]]) | 0;
    if ((h & MASK_L) === 0) {
      out[n++] = (h & MASK_S) === 0 ? (i | FLAG_S) >>> 0 : i;
      if (n === out.length) return n;
    }
  }
  return n;
}

/** Where a part's candidate scan starts: hashing from start + min covers every chunk starting at or after start. */
export const scanFrom = (start: number, p: ChunkerParams = CHUNKER_V1): number => start + p.min;

export interface PartCuts {
  /** Lengths of the chunks that start in [from, until), in order. */
  lens: number[];
  /** The first chunk start at or after `until` (the next part's entry), or dataEnd at the end. */
  exit: number;
}

/**
 * The sequential chain from `from` (a true chunk start) through `until`, over buf[0, dataEnd),
 * where `eof` says dataEnd is the end of the input. Needs dataEnd >= until + max unless eof.
 * `cands` (count `n`) must list every candidate of [scanFrom(from') + 31, dataEnd) for some
 * from' <= from; undefined means "too dense", and the sequential `seq` is used instead.
 */
export function walkCuts(
  buf: Uint8Array,
  from: number,
  until: number,
  dataEnd: number,
  eof: boolean,
  cands: Uint32Array | undefined,
  n: number,
  seq: CutFn,
  p: ChunkerParams = CHUNKER_V1,
): PartCuts {
  if (!eof && dataEnd < until + p.max) throw new Error(`part data ends at ${dataEnd}, needs ${until + p.max}`);
  const lens: number[] = [];
  let pos = from;
  if (!cands) {
    while (pos < until) {
      const len = seq(buf, pos, dataEnd, eof, p);
      if (len <= 0) throw new Error(`no cut at ${pos} with data to ${dataEnd}`);
      lens.push(len);
      pos += len;
    }
    return { lens, exit: pos };
  }
  const g = GEAR;
  let c = 0;
  while (pos < until) {
    const avail = dataEnd - pos;
    let len: number;
    if (avail <= p.min)
      len = avail; // only at eof (checked above)
    else {
      const limit = pos + Math.min(avail, p.max);
      const normal = pos + Math.min(avail, p.avg);
      let i = pos + p.min;
      const warm = Math.min(i + WINDOW - 1, limit);
      let h = 0;
      len = -1;
      // Until the hash has seen a whole window it depends on pos: hash those bytes for real.
      for (; i < warm; i++) {
        h = ((h << 1) + g[buf[i]]) | 0;
        if ((h & (i < normal ? MASK_S : MASK_L)) === 0) {
          len = i + 1 - pos;
          break;
        }
      }
      if (len < 0) {
        // From here h is the window hash: the first candidate in [i, limit) that passes the
        // mask of its region decides. Starts only grow, so the cursor only moves forward.
        while (c < n && (cands[c] & ~FLAG_S) >>> 0 < i) c++;
        for (; c < n; c++) {
          const at = (cands[c] & ~FLAG_S) >>> 0;
          if (at >= limit) break;
          if (at >= normal || cands[c] & FLAG_S) {
            len = at + 1 - pos;
            break;
          }
        }
        if (len < 0) len = limit - pos;
      }
    }
    lens.push(len);
    pos += len;
  }
  return { lens, exit: pos };
}

/** A chain cut from offset 0 of a part as if a chunk started there: its starts before `until`, and its exit. */
export interface Speculation {
  starts: number[];
  exit: number;
}

/** Cuts buf from 0 with the sequential chunker until a cut reaches `until` (cheap: skips min bytes a chunk). */
export function speculate(
  buf: Uint8Array,
  until: number,
  dataEnd: number,
  eof: boolean,
  seq: CutFn,
  p: ChunkerParams = CHUNKER_V1,
): Speculation {
  const starts: number[] = [];
  let pos = 0;
  while (pos < until) {
    const n = seq(buf, pos, dataEnd, eof, p);
    if (n <= 0) throw new Error(`no cut at ${pos} with data to ${dataEnd}`);
    starts.push(pos);
    pos += n;
  }
  return { starts, exit: pos };
}

/** How many chunks the true chain is followed alone before the candidate scan takes over. */
export const RESYNC_STEPS = 4;

/**
 * The true chain from `from`, reusing the speculative chain from where the two meet: a chunk's
 * cut depends only on where it starts (and the data), so once the true chain reaches a start of
 * the speculative one, every later cut is the same. Chains that do not meet within RESYNC_STEPS
 * chunks (runs of max-size chunks shifted against each other never do) are finished by the
 * candidate scan and `walkCuts`, which is exact whatever the data. `list` is scratch room for
 * candidates (its length bounds them; a full list falls back to the sequential chunker).
 */
export function resync(
  buf: Uint8Array,
  spec: Speculation,
  from: number,
  until: number,
  dataEnd: number,
  eof: boolean,
  seq: CutFn,
  scan: (buf: Uint8Array, lo: number, hi: number, out: Uint32Array) => number,
  list: Uint32Array,
  p: ChunkerParams = CHUNKER_V1,
): PartCuts {
  const lens: number[] = [];
  let pos = from;
  for (let step = 0; pos < until; step++) {
    const j = indexOf(spec.starts, pos);
    if (j >= 0) {
      for (let x = j; x < spec.starts.length; x++) lens.push((spec.starts[x + 1] ?? spec.exit) - spec.starts[x]);
      return { lens, exit: spec.exit };
    }
    if (step === RESYNC_STEPS) {
      const lo = scanFrom(pos, p);
      const n = lo < dataEnd ? scan(buf, lo, dataEnd, list) : 0;
      const rest = walkCuts(buf, pos, until, dataEnd, eof, n === list.length ? undefined : list, n, seq, p);
      return { lens: lens.concat(rest.lens), exit: rest.exit };
    }
    const n = seq(buf, pos, dataEnd, eof, p);
    lens.push(n);
    pos += n;
  }
  return { lens, exit: pos };
}

/** Index of `x` in the ascending `a`, or -1. */
function indexOf(a: number[], x: number): number {
  let lo = 0;
  let hi = a.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid] === x) return mid;
    if (a[mid] < x) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

/**
 * The whole parallel protocol run in one thread (tests, and the reference for the workers):
 * cuts `buf` in parts of `partSize` (the last one shorter), each scanned on its own
 * window, and walked in order. Returns the chunk lengths, which must equal `chunkLengths(buf)`.
 */
export function splitChunkLengths(
  buf: Uint8Array,
  partSize: number,
  seq: CutFn,
  scan: (buf: Uint8Array, lo: number, hi: number, out: Uint32Array) => number = scanCandidates,
  p: ChunkerParams = CHUNKER_V1,
  ratio = CAND_RATIO,
  mode: 'scan' | 'speculate' = 'scan',
): number[] {
  const size = buf.length;
  const out: number[] = [];
  let entry = 0;
  for (const [start, end] of partsOf(size, partSize)) {
    const readEnd = Math.min(end + p.max, size);
    const part = buf.subarray(start, readEnd);
    const cands = new Uint32Array(Math.max(1, Math.ceil((readEnd - start) / ratio)));
    let r: PartCuts;
    if (mode === 'speculate') {
      const spec = speculate(part, end - start, part.length, readEnd === size, seq, p);
      r = resync(part, spec, entry - start, end - start, part.length, readEnd === size, seq, scan, cands, p);
    } else {
      const lo = scanFrom(0, p);
      const n = lo < part.length ? scan(part, lo, part.length, cands) : 0;
      r = walkCuts(part, entry - start, end - start, part.length, readEnd === size, n === cands.length ? undefined : cands, n, seq, p);
    }
    out.push(...r.lens);
    entry = start + r.exit;
  }
  return out;
}

/** [start, end) of each part of an input of `size` bytes: `partSize` each, the last one shorter. */
export function partsOf(size: number, partSize: number): [number, number][] {
  const count = Math.max(1, Math.ceil(size / partSize));
  const parts: [number, number][] = [];
  for (let k = 0; k < count; k++) parts.push([k * partSize, Math.min(size, (k + 1) * partSize)]);
  return parts;
}
