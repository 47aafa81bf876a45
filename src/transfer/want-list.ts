/**
 * The wants of a fetch's walk held off the JS heap: a level's objects (a flat directory of a million
 * files is one level of a million chunks) as the number of each object's record in the walk's
 * ledger (core/declared.ts `ref`, which holds the id once) and its kind, in pages of typed arrays:
 * 5 bytes a want, where an array of { id, kind } objects cost some 150 bytes of heap and a list of
 * ids 36 bytes.
 * Invariant: answers the wants in the order pushed.
 */
import type { ObjectLocation } from '../store/pack-index.js';

export type Kind = 'snapshot' | 'tree' | 'manifest' | 'chunk';
export interface Want {
  id: string;
  kind: Kind;
  /** A chunk's declared size (none: a leaf wanted as it is), which the copy read must have. */
  size?: number;
  /** The remote's copies of it, when the caller looked them up already. */
  copies?: ObjectLocation[];
}

const KINDS: readonly Kind[] = ['snapshot', 'tree', 'manifest', 'chunk'];
/** Wants a page holds: 64 Ki, 320 KiB. */
const PAGE_BITS = 16;
const PAGE = 1 << PAGE_BITS;

/** A list of (record number, kind) in the order pushed. */
export class WantList {
  private readonly pages: { refs: Uint32Array; kinds: Uint8Array }[] = [];
  private count = 0;

  get length(): number {
    return this.count;
  }

  push(ref: number, kind: Kind): void {
    const k = this.count & (PAGE - 1);
    if (k === 0) this.pages.push({ refs: new Uint32Array(PAGE), kinds: new Uint8Array(PAGE) });
    const page = this.pages[this.pages.length - 1];
    page.refs[k] = ref;
    page.kinds[k] = KINDS.indexOf(kind);
    this.count++;
  }

  /** The record number of want `k`. */
  ref(k: number): number {
    return this.page(k).refs[k & (PAGE - 1)];
  }

  kind(k: number): Kind {
    return KINDS[this.page(k).kinds[k & (PAGE - 1)]];
  }

  private page(k: number): { refs: Uint32Array; kinds: Uint8Array } {
    if (!(k >= 0 && k < this.count)) throw new RangeError(`WantList: no want at ${k} (length ${this.count})`);
    return this.pages[k >>> PAGE_BITS];
  }
}

/**
 * The chunks a fetch's walk has named and not fetched yet, at most a batch of them, each with the
 * size its tree entry or manifest declares and who declared it: chunks keep no record in the walk's
 * ledger, so the fetch holds each naming to the chunk's real size when the batch is fetched
 * (core/declared.ts `checkChunk`). A chunk named twice in one batch is wanted once, and a second,
 * different claim on it is a lie. Memory is bounded by the batch, not by the dataset.
 */
export class ChunkWants {
  readonly ids: string[] = [];
  /** Declared sizes (undefined: a leaf, wanted without a claim). */
  readonly sizes: (number | undefined)[] = [];
  readonly by: string[] = [];
  /** The declared sizes added up. */
  declared = 0;
  private readonly at = new Map<string, number>();

  get length(): number {
    return this.ids.length;
  }

  /**
   * Adds a naming of chunk `id`; answers the index of an earlier naming in this batch when there was
   * one (the caller checks the claims agree), else -1.
   */
  add(id: string, size: number | undefined, by: string): number {
    const k = this.at.get(id);
    if (k !== undefined) {
      if (this.sizes[k] === undefined && size !== undefined) {
        this.sizes[k] = size;
        this.by[k] = by;
        this.declared += size;
      }
      return k;
    }
    this.at.set(id, this.ids.length);
    this.ids.push(id);
    this.sizes.push(size);
    this.by.push(by);
    this.declared += size ?? 0;
    return -1;
  }
}
