/**
 * The wants of a fetch's walk held off the JS heap: a level's objects (a flat directory of a million
 * files is one level of a million chunks) as the number of each object's record in the walk's
 * ledger (core/declared.ts `ref`, which holds the id once) and its kind, in pages of typed arrays:
 * 5 bytes a want, where an array of { id, kind } objects cost some 150 bytes of heap and a list of
 * ids 36 bytes.
 * Invariant: answers the wants in the order pushed.
 */
export type Kind = 'snapshot' | 'tree' | 'manifest' | 'chunk';
export interface Want {
  id: string;
  kind: Kind;
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
