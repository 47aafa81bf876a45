/**
 * The records of a DeclaredLedger (declared.ts), held off the JS heap: one record per object id,
 * numbered in the order first asked for, in pages of typed arrays (the id's 32 bytes, its claimed
 * size and file count as doubles, nine bytes of level, flags and who claimed it), found through an
 * open-addressing table of u32 record numbers at most half full: about 65-75 bytes an object,
 * where a Map of hex strings to claim objects cost some 200 bytes of heap (and a major GC marking
 * every one of them). Past the first 64 Ki records, pages of 1 Mi records and the table are mapped
 * on their own (mapped.ts): a dropped ledger gives its memory back to the system (a pull's checkout
 * does not run beside its fetch's records), and the part of a page not used yet is not resident.
 *
 * Invariants: every probe compares all 32 bytes, so a record is found exactly; an id that is no
 * 64-digit lowercase hex (never one decoded from an object: ids as callers give them) gets a
 * record through a Map of strings beside the table, so it is never confused with a hex id.
 * Who claimed an object is kept as "tree", "file manifest" or "snapshot" with the first 6 bytes
 * of its id (exactly what messages print), or as one of a few other strings, interned.
 */
import { mappedArrayBuffer, mappedUint32 } from './mapped.js';

const ID_BYTES = 32;
/** The first pages hold 4 Ki records (about 230 KiB), so a small walk (one tree loaded) stays small. */
const SMALL_BITS = 12;
const SMALL_PAGES = 16;
const SMALL_RECORDS = SMALL_PAGES << SMALL_BITS;
/** Then pages of 1 Mi records (57 MiB, mapped on their own; resident as they fill). */
const LARGE_BITS = 20;
/** Bytes a record: 32 of id, 16 of size and files, and META. */
const RECORD = ID_BYTES + 16 + 9;
const META = 9;
/** Meta bytes: flags, level, kind of claimant, then 6 bytes naming it. */
const M_FLAGS = 0;
const M_LEVEL = 1;
const M_BY = 2;
const M_BY_ID = 3;
const NO_LEVEL = 0xff;
const BY_KINDS = ['tree', 'file manifest', 'snapshot'] as const;
/** Claimant kind: a string interned in `names` (its number in the 6 bytes). */
const BY_NAMED = 0xff;
const HEX64 = /^[0-9a-f]{64}$/;
const SHORT_BY = /^(tree|file manifest|snapshot) ([0-9a-f]{12})$/;

interface Page {
  ids: Buffer;
  /** Size, files (NaN: none) per record. */
  nums: Float64Array;
  meta: Buffer;
}

export class ClaimTable {
  private readonly pages: Page[] = [];
  private count = 0;
  /** Records the pages can hold. */
  private capacity = 0;
  /** Where the record last passed to `page` lies in its page. */
  private k = 0;
  private slots = mappedUint32(1024);
  private readonly odd = new Map<string, number>();
  private readonly oddIds = new Map<number, string>();
  private readonly scratch = Buffer.alloc(ID_BYTES);
  private readonly names: string[] = [];
  private readonly nameNo = new Map<string, number>();

  /** Records held. */
  get size(): number {
    return this.count;
  }

  /** The record of `id`, or -1. */
  find(id: string): number {
    if (!HEX64.test(id)) return this.odd.get(id) ?? -1;
    this.scratch.write(id, 0, ID_BYTES, 'hex');
    const r = this.slots[this.slotOf(this.scratch)];
    return r === 0 ? -1 : r - 1;
  }

  /** The record of `id`, made (no flags, no claim) when there is none. */
  add(id: string): number {
    if (!HEX64.test(id)) {
      const r = this.odd.get(id);
      if (r !== undefined) return r;
      const fresh = this.append(undefined);
      this.odd.set(id, fresh);
      this.oddIds.set(fresh, id);
      return fresh;
    }
    this.scratch.write(id, 0, ID_BYTES, 'hex');
    const k = this.slotOf(this.scratch);
    if (this.slots[k] !== 0) return this.slots[k] - 1;
    const r = this.append(this.scratch);
    this.slots[k] = r + 1;
    if (this.count * 2 > this.slots.length) this.grow();
    return r;
  }

  /** The id of record `r`, as it was given. */
  id(r: number): string {
    if (!(r >= 0 && r < this.count)) throw new RangeError(`ClaimTable: no record ${r} (${this.count} held)`);
    const odd = this.oddIds.size > 0 ? this.oddIds.get(r) : undefined;
    if (odd !== undefined) return odd;
    const p = this.page(r);
    const o = this.k * ID_BYTES;
    return p.ids.toString('hex', o, o + ID_BYTES);
  }

  flags(r: number): number {
    const p = this.page(r);
    return p.meta[this.k * META + M_FLAGS];
  }

  setFlags(r: number, f: number): void {
    const p = this.page(r);
    p.meta[this.k * META + M_FLAGS] = f;
  }

  claimedSize(r: number): number {
    const p = this.page(r);
    return p.nums[this.k * 2];
  }

  files(r: number): number | undefined {
    const p = this.page(r);
    const f = p.nums[this.k * 2 + 1];
    return Number.isNaN(f) ? undefined : f;
  }

  setFiles(r: number, files: number | undefined): void {
    const p = this.page(r);
    p.nums[this.k * 2 + 1] = files ?? Number.NaN;
  }

  level(r: number): number | undefined {
    const p = this.page(r);
    const l = p.meta[this.k * META + M_LEVEL];
    return l === NO_LEVEL ? undefined : l;
  }

  /** Records a claim: size, file count and manifest level (a level outside 0..254 is kept as none: none is valid). */
  setClaim(r: number, c: { size: number; files?: number; level?: number }, by: string): void {
    const p = this.page(r);
    const k = this.k;
    p.nums[k * 2] = c.size;
    p.nums[k * 2 + 1] = c.files ?? Number.NaN;
    const level = c.level;
    p.meta[k * META + M_LEVEL] = level !== undefined && Number.isInteger(level) && level >= 0 && level < NO_LEVEL ? level : NO_LEVEL;
    const m = SHORT_BY.exec(by);
    if (m) {
      p.meta[k * META + M_BY] = BY_KINDS.indexOf(m[1] as (typeof BY_KINDS)[number]);
      p.meta.write(m[2], k * META + M_BY_ID, 6, 'hex');
      return;
    }
    let n = this.nameNo.get(by);
    if (n === undefined) {
      n = this.names.length;
      this.names.push(by);
      this.nameNo.set(by, n);
    }
    p.meta[k * META + M_BY] = BY_NAMED;
    p.meta.writeUInt32BE(n, k * META + M_BY_ID);
  }

  /** Who made the claim of record `r`, as it was given. */
  by(r: number): string {
    const p = this.page(r);
    const at = this.k * META;
    const kind = p.meta[at + M_BY];
    if (kind === BY_NAMED) return this.names[p.meta.readUInt32BE(at + M_BY_ID)];
    return `${BY_KINDS[kind]} ${p.meta.toString('hex', at + M_BY_ID, at + M_BY_ID + 6)}`;
  }

  /** The page of record `r`; the record's place in it is left in `k`. */
  private page(r: number): Page {
    if (r < SMALL_RECORDS) {
      this.k = r & ((1 << SMALL_BITS) - 1);
      return this.pages[r >>> SMALL_BITS];
    }
    const q = r - SMALL_RECORDS;
    this.k = q & ((1 << LARGE_BITS) - 1);
    return this.pages[SMALL_PAGES + (q >>> LARGE_BITS)];
  }

  /** A page of `records` records: ids, then sizes and files, then meta bytes, in one buffer (mapped when large). */
  private static newPage(records: number): Page {
    const buf = mappedArrayBuffer(records * RECORD);
    return {
      ids: Buffer.from(buf, 0, records * ID_BYTES),
      nums: new Float64Array(buf, records * ID_BYTES, records * 2),
      meta: Buffer.from(buf, records * (ID_BYTES + 16), records * META),
    };
  }

  /** A new record (id bytes from `src`, none for an odd id), with no flags and no claim. */
  private append(src: Buffer | undefined): number {
    const r = this.count;
    if (r >= 0xfffffffe) throw new RangeError('a ledger holds at most 2^32 - 2 objects');
    if (r === this.capacity) {
      const records = this.pages.length < SMALL_PAGES ? 1 << SMALL_BITS : 1 << LARGE_BITS;
      this.pages.push(ClaimTable.newPage(records));
      this.capacity += records;
    }
    const p = this.page(r);
    const k = this.k;
    if (src) src.copy(p.ids, k * ID_BYTES, 0, ID_BYTES);
    else p.ids.fill(0, k * ID_BYTES, (k + 1) * ID_BYTES);
    p.nums[k * 2] = Number.NaN;
    p.nums[k * 2 + 1] = Number.NaN;
    p.meta.fill(0, k * META, (k + 1) * META);
    p.meta[k * META + M_LEVEL] = NO_LEVEL;
    this.count++;
    return r;
  }

  /** The slot holding the record of the id in `src`, or the free slot where it would go. */
  private slotOf(src: Buffer): number {
    const mask = this.slots.length - 1;
    const head = src.readUInt32BE(0);
    let h = head & mask;
    for (let ref = this.slots[h]; ref !== 0; ref = this.slots[h]) {
      const ids = this.page(ref - 1).ids;
      const o = this.k * ID_BYTES;
      // The first four bytes rule out almost every other record before the full compare.
      if (ids.readUInt32BE(o) === head && ids.compare(src, 0, ID_BYTES, o, o + ID_BYTES) === 0) return h;
      h = (h + 1) & mask;
    }
    return h;
  }

  /** Doubles the table of record numbers (records themselves never move). */
  private grow(): void {
    const old = this.slots;
    this.slots = mappedUint32(old.length * 2);
    const mask = this.slots.length - 1;
    for (const ref of old) {
      if (ref === 0) continue;
      const ids = this.page(ref - 1).ids;
      let h = ids.readUInt32BE(this.k * ID_BYTES) & mask;
      while (this.slots[h] !== 0) h = (h + 1) & mask;
      this.slots[h] = ref;
    }
  }
}
