/**
 * A set of object ids (32 bytes; lowercase hex outside) held in one buffer off the JS heap: open
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

  /** Adds the id in `src` at `at` (32 bytes). */
  addBytes(src: Buffer, at: number): void {
    if ((this.count + 1) * 2 > this.used.length) this.grow();
    const k = this.find(src, at);
    if (this.used[k]) return;
    src.copy(this.slots, k * ID_BYTES, at, at + ID_BYTES);
    this.used[k] = 1;
    this.count++;
  }

  add(hex: string): void {
    const b = toBytes(hex);
    if (b) this.addBytes(b, 0);
  }

  has(hex: string): boolean {
    const b = toBytes(hex);
    return b !== undefined && this.used[this.find(b, 0)] === 1;
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

const HEX64 = /^[0-9a-f]{64}$/;
const toBytes = (hex: string): Buffer | undefined => (HEX64.test(hex) ? Buffer.from(hex, 'hex') : undefined);
