/**
 * The range buffers of a fetch: a few fixed slots in one SharedArrayBuffer that the main thread
 * downloads into and the fetch workers read from (fetch-pool.ts), so a range is neither allocated
 * nor copied nor moved between threads: a fresh 16 MiB buffer per range made V8 run a full
 * mark-compact every few ranges (external memory pressure), about a fifth of a pull's CPU.
 *
 * Invariants: a slot is held by one range from `take` until `give` (after the worker that read it
 * answered), so nothing writes a slot while it is read; at most `count` slots exist, so the ring
 * bounds the memory of the ranges in flight; waiting takers are woken in order.
 */
export class RangeSlots {
  readonly ring: SharedArrayBuffer;
  private readonly free: number[] = [];
  private readonly waiting: ((k: number) => void)[] = [];

  /** `count` slots of `size` bytes each. */
  constructor(
    readonly count: number,
    readonly size: number,
  ) {
    this.ring = new SharedArrayBuffer(count * size);
    for (let k = 0; k < count; k++) this.free.push(k);
  }

  /** A free slot (waits for one). */
  take(): Promise<number> {
    const k = this.free.pop();
    if (k !== undefined) return Promise.resolve(k);
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  give(k: number): void {
    const next = this.waiting.shift();
    if (next) next(k);
    else this.free.push(k);
  }

  /** Where slot `k` starts in the ring. */
  offset(k: number): number {
    return k * this.size;
  }

  /** Slot `k` as a Buffer (a view of the ring, no copy). */
  view(k: number): Buffer {
    return Buffer.from(this.ring, this.offset(k), this.size);
  }
}
