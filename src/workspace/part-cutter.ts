/**
 * The large-file path of a hash worker: parts of one file (core/chunker-split.ts) are read, cut
 * speculatively as if a chunk started at the part's first byte, resynchronised once the part's
 * entry (the previous part's exit) is known, hashed, and handed to the worker's `emit`.
 *
 * Entries pass between workers through shared memory, not through the main thread: the pool gives
 * every part of a file the same `exits` array (one slot per part: exit + 1, 0 while unknown). The
 * exit chain is the only serial step of the whole file, so it must never wait behind other work:
 * a worker looks at the slots its parked parts wait for between every step of its long loops
 * (each MiB read, every few cuts, every few chunks hashed), resynchronises at once (a few cuts)
 * and publishes the exit; when it has nothing else to do it waits on the slot itself.
 *
 * Invariants:
 * - The chunks of part k are exactly those the sequential chunker makes in [start, end)
 *   (resync in chunker-split.ts); exits[k] is written once, by the worker of part k, before
 *   anything of part k is emitted.
 * - A slot (part buffer and candidate list) is reused only after its part's chunks are written:
 *   `busy` settles then, and rejects with the part's failure, which surfaces at the next use of
 *   the slot or at 'seal' (and fails the job, as any other).
 * - Memory: SLOTS buffers of PART + max bytes per worker, whatever the file size.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { CHUNKER_V1 } from '../core/chunker.js';
import { CAND_RATIO, PART, resync, speculate, type CutFn, type Speculation } from '../core/chunker-split.js';

/**
 * Part `k` of a large file of `size` bytes: the chunks that start in [start, end). `exits` is the
 * file's shared exit array (a BigInt64Array over it, one slot per part, exit + 1; 0 while unknown).
 */
export interface FilePart {
  i: number;
  path: string;
  k: number;
  start: number;
  end: number;
  size: number;
  exits: SharedArrayBuffer;
}

/** One part's chunks as the worker's `emit` takes them (a ChunkRun, its offsets in `buf`, the file's kind). */
export interface PartRun {
  run: { i: number; part: number; ids: Uint8Array; lens: number[]; eof: boolean; size: number };
  offs: number[];
  buf: Buffer;
  kind: string;
}

export interface PartDeps {
  /** A buffer for the chunker (in its WebAssembly memory where there is one). */
  alloc(size: number): Buffer;
  seqCut: CutFn;
  scan(buf: Uint8Array, lo: number, hi: number, out: Uint32Array): number;
  hash(data: Uint8Array): Buffer;
  /** Sends the chunk ids and writes the new chunks; resolves once written (the buffer is free again). */
  emit(runs: PartRun[]): Promise<void>;
  /** Reports a part that could not be read (the main thread fails the operation). */
  fail(i: number, k: number, err: NodeJS.ErrnoException): void;
  kindOf(path: string): string;
}

/**
 * Part buffers per worker: one being cut while the other waits for its entry, the verdict and its
 * writes. (A third one let each worker run further ahead, but cost 25–80 MB of peak RSS at 2 GiB.)
 */
export const SLOTS = 2;
/** Bytes of a file part plus the max chunk that may run past its end. */
export const PART_READ = PART + CHUNKER_V1.max;
export const PART_CANDS = Math.ceil(PART_READ / CAND_RATIO);
const READ_STEP = 1 << 20;
/** Cuts (and chunk hashes) between two looks at the exits: about 1–2 MiB of work. */
const POLL_EVERY = 16;
/** An idle worker's wait on an exit slot is re-armed this often (a safety net: a store notifies it). */
const WAIT_MS = 200;

// Atomics.waitAsync (ES2024, in Node since 16): not in the ES2022 lib this project compiles against.
type WaitResult = { async: boolean; value: string | Promise<string> };
const waitAsync = (Atomics as unknown as { waitAsync(a: BigInt64Array, i: number, v: bigint, ms: number): WaitResult }).waitAsync;

interface Slot {
  buf: Buffer;
  list: Uint32Array;
  busy: Promise<void>;
}

interface Parked {
  part: FilePart;
  exits: BigInt64Array;
  slot: Slot;
  len: number;
  spec: Speculation;
  release: (e?: unknown) => void;
}

interface Ready {
  p: Parked;
  lens: number[];
  at: number;
}

const changed = (path: string): Error =>
  Object.assign(new Error(`${path} changed while being read: run the command again`), { code: 'EAGAIN' });

export class PartCutter {
  private readonly slots: Slot[];
  private turn = 0;
  /** Parts cut and waiting for their entry, in part order per file. */
  private parked: Parked[] = [];
  /** Parts resynchronised (exit published), waiting to be hashed and emitted, in order. */
  private ready: Ready[] = [];
  private flushing = false;
  private armed = false;
  private readonly probe = Buffer.allocUnsafe(1);
  private readonly cutPolled: CutFn;
  private cuts = 0;
  private slotWait = 0;
  private parts = 0;

  constructor(private readonly d: PartDeps) {
    this.slots = Array.from({ length: SLOTS }, () => {
      const b = d.alloc(PART_CANDS * 4);
      return { buf: d.alloc(PART_READ), list: new Uint32Array(b.buffer, b.byteOffset, PART_CANDS), busy: Promise.resolve() };
    });
    this.cutPolled = (b, s, e, eof, p) => {
      if (++this.cuts % POLL_EVERY === 0) this.poll();
      return d.seqCut(b, s, e, eof, p);
    };
  }

  /** What a worker prints under DV_POOL_STATS. */
  stats(): string {
    return `${this.parts} parts, waited ${this.slotWait.toFixed(0)} ms for a free part buffer`;
  }

  /** Every part handed in so far is written (rejects with the first failure). */
  async idle(): Promise<void> {
    await Promise.all(this.slots.map((s) => s.busy));
  }

  /**
   * Reads part `part` and cuts it speculatively (the bulk of the chunking, before its entry is
   * known), then parks it: it is finished when its entry arrives, while the worker takes its next job.
   */
  async run(part: FilePart): Promise<void> {
    const slot = this.slots[this.turn++ % SLOTS];
    const t0 = performance.now();
    await slot.busy;
    this.slotWait += performance.now() - t0;
    this.parts++;
    const { i, path, k, start, end, size } = part;
    const p = CHUNKER_V1;
    const buf = slot.buf;
    let fd: number | undefined;
    let len: number;
    let spec: Speculation;
    try {
      fd = openSync(path, 'r');
      if (fstatSync(fd).size !== size) throw changed(path);
      const readEnd = Math.min(end + p.max, size);
      len = readEnd - start;
      for (let got = 0; got < len; ) {
        const n = readSync(fd, buf, got, Math.min(READ_STEP, len - got), start + got);
        if (n === 0) throw changed(path);
        got += n;
        this.poll();
      }
      if (readEnd === size && readSync(fd, this.probe, 0, 1, size) !== 0) throw changed(path);
      spec = speculate(buf.subarray(0, len), end - start, len, readEnd === size, this.cutPolled, p);
    } catch (e) {
      this.d.fail(i, k, e as NodeJS.ErrnoException);
      return;
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
    let release!: (e?: unknown) => void;
    slot.busy = new Promise<void>((res, rej) => {
      release = (e) => (e === undefined ? res() : rej(e));
    });
    slot.busy.catch(() => undefined);
    this.parked.push({ part, exits: new BigInt64Array(part.exits), slot, len, spec, release });
    this.poll();
    this.flush();
    this.arm();
  }

  /** Resynchronises every parked part whose entry is known and publishes its exit at once. */
  private poll(): void {
    for (let found = true; found; ) {
      found = false;
      for (let x = 0; x < this.parked.length; x++) {
        const pk = this.parked[x];
        const k = pk.part.k;
        const at = k === 0 ? pk.part.start : Number(Atomics.load(pk.exits, k - 1)) - 1;
        if (at < 0) continue;
        this.parked.splice(x, 1);
        this.resolve(pk, at);
        found = true;
        break;
      }
    }
  }

  private resolve(pk: Parked, at: number): void {
    const { k, start, end, size } = pk.part;
    const p = CHUNKER_V1;
    let r: { lens: number[]; exit: number };
    try {
      const buf = pk.slot.buf.subarray(0, pk.len);
      r = resync(buf, pk.spec, at - start, end - start, pk.len, start + pk.len === size, this.d.seqCut, this.d.scan, pk.slot.list, p);
    } catch (e) {
      pk.release(e);
      return;
    }
    if (end < size) {
      Atomics.store(pk.exits, k, BigInt(start + r.exit + 1));
      Atomics.notify(pk.exits, k);
    }
    this.ready.push({ p: pk, lens: r.lens, at });
  }

  /** Hashes and emits the resynchronised parts, in order (looking at the exits between chunks). */
  private flush(): void {
    if (this.flushing) return;
    this.flushing = true;
    try {
      for (let r = this.ready.shift(); r; r = this.ready.shift()) {
        const { p: pk, lens, at } = r;
        const { i, path, k, start, end, size } = pk.part;
        try {
          const buf = pk.slot.buf.subarray(0, pk.len);
          const ids = Buffer.allocUnsafe(lens.length * 32);
          const offs: number[] = new Array(lens.length);
          let pos = at - start;
          for (let c = 0; c < lens.length; c++) {
            if (c % POLL_EVERY === POLL_EVERY - 1) this.poll();
            this.d.hash(buf.subarray(pos, pos + lens[c])).copy(ids, c * 32);
            offs[c] = pos;
            pos += lens[c];
          }
          const run = { i, part: k, ids, lens, eof: end === size, size };
          this.d.emit([{ run, offs, buf, kind: this.d.kindOf(path) }]).then(() => pk.release(), pk.release);
        } catch (e) {
          pk.release(e);
        }
      }
    } finally {
      this.flushing = false;
    }
  }

  /** With parts parked, waits (without blocking the worker's messages) for the first one's entry. */
  private arm(): void {
    if (this.armed || this.parked.length === 0) return;
    const pk = this.parked[0];
    const wake = (): void => {
      this.armed = false;
      this.poll();
      this.flush();
      this.arm();
    };
    this.armed = true;
    const w = waitAsync(pk.exits, pk.part.k - 1, 0n, WAIT_MS);
    if (typeof w.value === 'string') queueMicrotask(wake);
    else void w.value.then(wake);
  }
}
