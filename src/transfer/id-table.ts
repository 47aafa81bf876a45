/**
 * Sets and lists of object ids held off the JS heap.
 *
 * IdTable: a set of object ids (32 bytes; lowercase hex outside) held in one buffer: open
 * addressing with linear probing, 32 bytes a slot, at most half full, so about 64 bytes an id
 * where a Set of hex strings costs some 150 bytes of heap an id (plus what a Map's values cost).
 * Ids are BLAKE3 hashes, so their first four bytes place them; every probe compares all 32 bytes,
 * so the set answers exactly (a push must never skip an object the remote lacks).
 */
const ID_BYTES = 32;

export class IdTable {
  private slots: Buffer;
  private used: Uint8Array;
  private mask: number;
  private count = 0;

  constructor(expected = 0) {
    let cap = 1024;
    while (cap < expected * 2) cap *= 2;
    this.slots = Buffer.alloc(cap * ID_BYTES);
    this.used = new Uint8Array(cap);
    this.mask = cap - 1;
  }

  get size(): number {
    return this.count;
  }

  /** Adds the id in `src` at `at` (32 bytes); false when it was there already. */
  addBytes(src: Buffer, at: number): boolean {
    if ((this.count + 1) * 2 > this.used.length) this.grow();
    const k = this.find(src, at);
    if (this.used[k]) return false;
    src.copy(this.slots, k * ID_BYTES, at, at + ID_BYTES);
    this.used[k] = 1;
    this.count++;
    return true;
  }

  /** Adds `hex` (a lowercase hex id; anything else is ignored); false when it was there already or is no id. */
  add(hex: string): boolean {
    const b = toBytes(hex);
    return b ? this.addBytes(b, 0) : false;
  }

  has(hex: string): boolean {
    const b = toBytes(hex);
    return b !== undefined && this.hasBytes(b, 0);
  }

  /** Whether the id in `src` at `at` (32 bytes) is in the set. */
  hasBytes(src: Buffer, at: number): boolean {
    return this.used[this.find(src, at)] === 1;
  }

  /** The slot holding the id at `src[at]`, or the free slot where it would go. */
  private find(src: Buffer, at: number): number {
    let k = src.readUInt32BE(at) & this.mask;
    while (this.used[k] && this.slots.compare(src, at, at + ID_BYTES, k * ID_BYTES, (k + 1) * ID_BYTES) !== 0) k = (k + 1) & this.mask;
    return k;
  }

  private grow(): void {
    const { slots, used } = this;
    this.slots = Buffer.alloc(slots.length * 2);
    this.used = new Uint8Array(used.length * 2);
    this.mask = this.used.length - 1;
    this.count = 0;
    for (let k = 0; k < used.length; k++) if (used[k]) this.addBytes(slots, k * ID_BYTES);
  }
}

/** Ids a page of an IdList holds: 64 Ki ids, 2 MiB of ids and 256 KiB of tags. */
const PAGE_IDS = 1 << 16;

/**
 * A list of object ids in the order they were appended, 32 bytes each plus a u32 tag (a caller's
 * number, e.g. where the object lies), in pages off the JS heap: about 36 bytes an id, and it never
 * copies what it holds to grow (a page is added).
 */
export class IdList {
  private readonly pages: { ids: Buffer; tags: Uint32Array }[] = [];
  private count = 0;

  get length(): number {
    return this.count;
  }

  /** Appends the id in `src` at `at` (32 bytes) with `tag`. */
  pushBytes(src: Buffer, at: number, tag = 0): void {
    const k = this.count % PAGE_IDS;
    if (k === 0) this.pages.push({ ids: Buffer.allocUnsafe(PAGE_IDS * ID_BYTES), tags: new Uint32Array(PAGE_IDS) });
    const page = this.pages[this.pages.length - 1];
    src.copy(page.ids, k * ID_BYTES, at, at + ID_BYTES);
    page.tags[k] = tag;
    this.count++;
  }

  /** The id at `k` (lowercase hex). */
  id(k: number): string {
    const o = (k % PAGE_IDS) * ID_BYTES;
    return this.page(k).ids.toString('hex', o, o + ID_BYTES);
  }

  /** Whether the id at `k` is the 32 bytes of `src` at `at`. */
  equals(k: number, src: Buffer, at: number): boolean {
    const o = (k % PAGE_IDS) * ID_BYTES;
    return this.page(k).ids.compare(src, at, at + ID_BYTES, o, o + ID_BYTES) === 0;
  }

  /** The first four bytes of the id at `k` (big-endian): where a hash table places it. */
  head(k: number): number {
    return this.page(k).ids.readUInt32BE((k % PAGE_IDS) * ID_BYTES);
  }

  tag(k: number): number {
    return this.page(k).tags[k % PAGE_IDS];
  }

  setTag(k: number, tag: number): void {
    this.page(k).tags[k % PAGE_IDS] = tag;
  }

  private page(k: number): { ids: Buffer; tags: Uint32Array } {
    if (!(k >= 0 && k < this.count)) throw new RangeError(`IdList: no id at ${k} (length ${this.count})`);
    return this.pages[Math.floor(k / PAGE_IDS)];
  }
}

const HEX64 = /^[0-9a-f]{64}$/;
/** The 32 bytes of a lowercase hex id, or undefined for anything else. */
export const toBytes = (hex: string): Buffer | undefined => (HEX64.test(hex) ? Buffer.from(hex, 'hex') : undefined);
