/**
 * The gear loop of `chunker.ts` compiled to WebAssembly by a tiny encoder in this file: the module
 * (a few hundred bytes) is assembled from the instruction lists below when this file loads, so
 * there is no binary to download or build step to run, and no toolchain beyond Node.
 *
 * Invariants: `cut` returns exactly what the JS reference `nextCut` returns for the same bytes
 * and parameters (property-tested), and `scan` reports exactly the positions whose full 32-byte
 * window hash passes the 14-bit mask (bit 31 set when it also passes the 16-bit one), the same
 * as `scanCandidates` in chunker-split.ts. The gear table is copied from `GEAR` into the first
 * KiB of memory, so the table stays defined in one place. Memory never grows: views handed out
 * by `alloc` stay valid for the chunker's life.
 */
import { GEAR, MASK_L, MASK_S, type ChunkerParams, CHUNKER_V1 } from './chunker.js';

// ---- a minimal encoder: only what the two functions need ----
const I32 = 0x7f;
const VOID = 0x40;
const op = {
  block: 0x02,
  loop: 0x03,
  if: 0x04,
  else: 0x05,
  end: 0x0b,
  br: 0x0c,
  brIf: 0x0d,
  ret: 0x0f,
  drop: 0x1a,
  select: 0x1b,
  get: 0x20,
  set: 0x21,
  tee: 0x22,
  load: 0x28,
  load8u: 0x2d,
  store: 0x36,
  const: 0x41,
  eqz: 0x45,
  eq: 0x46,
  ltU: 0x49,
  leS: 0x4c,
  geU: 0x4f,
  add: 0x6a,
  sub: 0x6b,
  and: 0x71,
  or: 0x72,
  shl: 0x74,
} as const;

/** Signed LEB128 (i32 constants). */
function sleb(v: number): number[] {
  const out: number[] = [];
  v |= 0;
  for (;;) {
    const b = v & 0x7f;
    v >>= 7;
    if ((v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}
/** Unsigned LEB128 (sizes, indices). */
function uleb(v: number): number[] {
  const out: number[] = [];
  do {
    let b = v & 0x7f;
    v >>>= 7;
    if (v !== 0) b |= 0x80;
    out.push(b);
  } while (v !== 0);
  return out;
}
const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];
const str = (s: string): number[] => vec([...Buffer.from(s)].map((b) => [b]));
const get = (l: number): number[] => [op.get, l];
const set = (l: number): number[] => [op.set, l];
const tee = (l: number): number[] => [op.tee, l];
const k = (v: number): number[] => [op.const, ...sleb(v)];
// h = (h << 1) + gear[mem[i]]: the gear step, leaving h on the stack.
const gearStep = (h: number, i: number): number[] => [
  ...get(h),
  ...k(1),
  op.shl,
  ...get(i),
  op.load8u,
  0,
  0,
  ...k(2),
  op.shl,
  op.load,
  2,
  0,
  op.add,
  ...tee(h),
];
const inc = (l: number): number[] => [...get(l), ...k(1), op.add, ...set(l)];

// cut(start, end, eof, min, avg, max, maskS, maskL) -> length | -1; mirrors nextCut line by line.
// Each of its two loops (harder mask up to normal, easier one up to limit) takes 4 bytes a turn,
// then the last 0-3 bytes one at a time.
const C = {
  start: 0,
  end: 1,
  eof: 2,
  min: 3,
  avg: 4,
  max: 5,
  maskS: 6,
  maskL: 7,
  avail: 8,
  limit: 9,
  normal: 10,
  h: 11,
  i: 12,
  bound4: 13,
};
const minOf = (a: number[], b: number[]): number[] => [...a, ...b, ...a, ...b, op.ltU, op.select];
// One byte at i + off: step the hash; when it passes `mask` return the length i + off + 1 - start.
const cutByte = (off: number, mask: number): number[] => [
  ...get(C.h),
  ...k(1),
  op.shl,
  ...get(C.i),
  op.load8u,
  0,
  ...uleb(off),
  ...k(2),
  op.shl,
  op.load,
  2,
  0,
  op.add,
  ...tee(C.h),
  ...get(mask),
  op.and,
  op.eqz,
  op.if,
  VOID,
  ...get(C.i),
  ...k(off + 1),
  op.add,
  ...get(C.start),
  op.sub,
  op.ret,
  op.end,
];
// while (i < bound) { body; i += by }
const whileBelow = (i: number, bound: number, body: number[], by: number): number[] => [
  op.block,
  VOID,
  ...get(i),
  ...get(bound),
  op.geU,
  op.brIf,
  0,
  op.loop,
  VOID,
  ...body,
  ...get(i),
  ...k(by),
  op.add,
  ...tee(i),
  ...get(bound),
  op.ltU,
  op.brIf,
  0,
  op.end,
  op.end,
];
// for (; i < bound; i++) step(off), where step handles the byte at i + off: 4 bytes a turn while 4
// remain (up to bound4 = bound - ((bound - i) & 3), a scratch local), then the last 0-3 one by one.
const fourATurn = (i: number, bound: number, bound4: number, step: (off: number) => number[]): number[] => [
  ...get(bound),
  ...get(bound),
  ...get(i),
  op.sub,
  ...k(3),
  op.and,
  op.sub,
  ...set(bound4),
  ...whileBelow(i, bound4, [...step(0), ...step(1), ...step(2), ...step(3)], 4),
  ...whileBelow(i, bound, step(0), 1),
];
// for (; i < bound; i++) with the test of `mask`.
const cutRegion = (bound: number, mask: number): number[] => fourATurn(C.i, bound, C.bound4, (off) => cutByte(off, mask));
const cutBody: number[] = [
  ...get(C.end),
  ...get(C.start),
  op.sub,
  ...set(C.avail),
  // if (avail <= min) return eof ? avail : -1
  ...get(C.avail),
  ...get(C.min),
  op.leS,
  op.if,
  VOID,
  ...get(C.avail),
  ...k(-1),
  ...get(C.eof),
  op.select,
  op.ret,
  op.end,
  ...get(C.start),
  ...minOf(get(C.avail), get(C.max)),
  op.add,
  ...set(C.limit),
  ...get(C.start),
  ...minOf(get(C.avail), get(C.avg)),
  op.add,
  ...set(C.normal),
  ...get(C.start),
  ...get(C.min),
  op.add,
  ...set(C.i),
  ...cutRegion(C.normal, C.maskS),
  ...cutRegion(C.limit, C.maskL),
  // if (limit - start === max || eof) return limit - start; return -1
  ...get(C.limit),
  ...get(C.start),
  op.sub,
  ...k(-1),
  ...get(C.limit),
  ...get(C.start),
  op.sub,
  ...get(C.max),
  op.eq,
  ...get(C.eof),
  op.or,
  op.select,
  op.end,
];

// scan(lo, hi, out, cap, thrS, thrL) -> count. Hashes from lo; for every i in [lo+31, hi) whose
// window hash is below thrL (unsigned: the same as passing the 14-bit high mask) writes i
// (| 1 << 31 when also below thrS) to out; stops after cap. The main loop takes 4 bytes a turn.
const S = { lo: 0, hi: 1, out: 2, cap: 3, thrS: 4, thrL: 5, h: 6, i: 7, n: 8, warm: 9, hi4: 10 };
// One byte at i + off: step the hash; on a candidate append it (and return when the list is full).
const scanByte = (off: number): number[] => [
  ...get(S.h),
  ...k(1),
  op.shl,
  ...get(S.i),
  op.load8u,
  0,
  ...uleb(off),
  ...k(2),
  op.shl,
  op.load,
  2,
  0,
  op.add,
  ...tee(S.h),
  ...get(S.thrL),
  op.ltU,
  op.if,
  VOID,
  ...get(S.out),
  ...get(S.n),
  ...k(2),
  op.shl,
  op.add,
  ...get(S.i),
  ...k(off),
  op.add,
  ...tee(S.warm),
  ...k(0x80000000 | 0),
  op.or,
  ...get(S.warm),
  ...get(S.h),
  ...get(S.thrS),
  op.ltU,
  op.select,
  op.store,
  2,
  0,
  ...inc(S.n),
  ...get(S.n),
  ...get(S.cap),
  op.eq,
  op.if,
  VOID,
  ...get(S.n),
  op.ret,
  op.end,
  op.end,
];
const scanBody: number[] = [
  ...get(S.lo),
  ...set(S.i),
  ...minOf([...get(S.lo), ...k(31)].concat(op.add), get(S.hi)),
  ...set(S.warm),
  ...whileBelow(S.i, S.warm, [...gearStep(S.h, S.i), op.drop], 1),
  ...fourATurn(S.i, S.hi, S.hi4, scanByte),
  ...get(S.n),
  op.end,
];

/** The module's bytes: imports memory "e"."m", exports cut and scan. */
export function chunkerWasmBytes(): Uint8Array<ArrayBuffer> {
  const func = (params: number, results: number): number[] => [0x60, ...vec(Array(params).fill([I32])), ...vec(Array(results).fill([I32]))];
  const code = (locals: number, body: number[]): number[] => {
    const b = [...vec(locals ? [[...uleb(locals), I32]] : []), ...body];
    return [...uleb(b.length), ...b];
  };
  return Uint8Array.from([
    0x00,
    0x61,
    0x73,
    0x6d,
    0x01,
    0x00,
    0x00,
    0x00,
    ...section(1, vec([func(8, 1), func(6, 1)])),
    ...section(2, vec([[...str('e'), ...str('m'), 0x02, 0x00, ...uleb(1)]])),
    ...section(3, vec([[0], [1]])),
    ...section(
      7,
      vec([
        [...str('cut'), 0x00, 0],
        [...str('scan'), 0x00, 1],
      ]),
    ),
    ...section(10, vec([code(6, cutBody), code(5, scanBody)])),
  ]);
}

let compiled: WebAssembly.Module | undefined;
// (h & mask) === 0 for a mask of high bits is h < the value of its lowest set bit (unsigned).
const THR_S = (~MASK_S >>> 0) + 1;
const THR_L = (~MASK_L >>> 0) + 1;
const GEAR_BYTES = 1024;
const PAGE = 65536;

/**
 * A chunker over its own fixed-size WebAssembly memory. Buffers from `alloc` live in that memory;
 * `cut` and `scan` take offsets into it (`offsetOf`). Loads synchronously, so it works in any
 * worker at start-up; `WasmChunker.create` returns undefined where WebAssembly is unavailable.
 */
export class WasmChunker {
  readonly memory: WebAssembly.Memory;
  private readonly cutFn: (...a: number[]) => number;
  private readonly scanFn: (...a: number[]) => number;
  private top = GEAR_BYTES;

  private constructor(bytes: number) {
    compiled ??= new WebAssembly.Module(chunkerWasmBytes());
    const pages = Math.ceil((GEAR_BYTES + bytes) / PAGE) + 1;
    this.memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
    const inst = new WebAssembly.Instance(compiled, { e: { m: this.memory } });
    this.cutFn = inst.exports.cut as (...a: number[]) => number;
    this.scanFn = inst.exports.scan as (...a: number[]) => number;
    const view = new DataView(this.memory.buffer);
    for (let j = 0; j < 256; j++) view.setUint32(j * 4, GEAR[j], true);
  }

  /** A chunker with room for `bytes` of buffers, or undefined where WebAssembly cannot load. */
  static create(bytes: number): WasmChunker | undefined {
    try {
      return new WasmChunker(bytes);
    } catch {
      return undefined;
    }
  }

  /** A Buffer of `size` bytes inside this chunker's memory (8-byte aligned, never freed). */
  alloc(size: number): Buffer {
    const at = this.top;
    if (at + size > this.memory.buffer.byteLength) throw new Error(`chunker memory exhausted (${size} bytes asked)`);
    this.top = (at + size + 7) & ~7;
    return Buffer.from(this.memory.buffer, at, size);
  }

  /** Where `buf` (from `alloc`) starts in this memory. */
  offsetOf(buf: Uint8Array): number {
    if (buf.buffer !== this.memory.buffer) throw new Error("buffer is not in this chunker's memory");
    return buf.byteOffset;
  }

  /** `nextCut(buf, start, end, eof, p)` for a `buf` from `alloc`. */
  nextCut(buf: Uint8Array, start: number, end: number, eof: boolean, p: ChunkerParams = CHUNKER_V1): number {
    const base = this.offsetOf(buf);
    return this.cutFn(base + start, base + end, eof ? 1 : 0, p.min, p.avg, p.max, MASK_S, MASK_L);
  }

  /**
   * Window-hash candidates of `buf[lo+31, hi)` written as positions relative to `buf` into `out`
   * (a Uint32Array view over a buffer from `alloc`), at most `out.length`; returns how many.
   */
  scan(buf: Uint8Array, lo: number, hi: number, out: Uint32Array): number {
    const base = this.offsetOf(buf);
    if (out.buffer !== this.memory.buffer) throw new Error("candidate list is not in this chunker's memory");
    if (hi - lo <= 31 || out.length === 0) return 0;
    const n = this.scanFn(base + lo, base + hi, out.byteOffset, out.length, THR_S, THR_L);
    for (let j = 0; j < n; j++) out[j] = ((out[j] & 0x7fffffff) - base) | (out[j] & 0x80000000);
    return n;
  }
}
