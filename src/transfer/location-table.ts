/**
 * Where each object a remote's pack indexes list lies, held off the JS heap: the index bytes of
 * each pack are kept as they came (47 or 51 bytes a row, already validated by decodePackIndex)
 * and an open-addressing table of (pack, row) pairs, at most half full, finds an id's row: about
 * 70 bytes an object where a Map of hex strings to location objects cost some 300 bytes of heap,
 * so a remote of a million files is read in tens of megabytes, not hundreds.
 *
 * Invariants: the first pack added that lists an id holds its preferred copy, later ones are
 * alternates in the order they were added (a re-push, a repack not yet collected: rare, so they
 * stay in a Map); every probe compares all 32 bytes of the id, so answers are exact; a forgotten
 * id leaves a tombstone the probes walk past, and is never found again. Locations are decoded
 * from the kept bytes when asked for; the frame members of a pack are sorted by offset the first
 * time one of its frames is asked about.
 */
import { MappedArena, mappedUint32 } from '../core/mapped.js';
import { FLAG_FRAME } from '../store/codec.js';
import { IDX_ENTRY_V2, IDX_MAGIC_V2, packIndexRows, type ObjectLocation } from '../store/pack-index.js';
import { toBytes } from './id-table.js';

/** One object of a remote frame. */
export interface FrameMember {
  id: string;
  rawSize: number;
  inner: number;
}

interface Pack {
  id: string;
  bytes: Buffer;
  rowBytes: number;
  rows: number;
  /** Rows of framed objects, by offset (built on the first frame lookup). */
  frames?: Uint32Array;
}

/** Where row 0 starts (the magic line and the row count: the same for both index versions). */
const HEADER = IDX_MAGIC_V2.length + 4;
const EMPTY = 0;
const GONE = 0xffffffff;

export class LocationTable {
  private readonly packs: Pack[] = [];
  private readonly ordinal = new Map<string, number>();
  private readonly alternates = new Map<string, { pack: number; row: number }[]>();
  /** Pack ordinal + 1 per slot (EMPTY, GONE: a forgotten id). */
  private slotPack = mappedUint32(1024);
  private slotRow = mappedUint32(1024);
  /** The index bytes of large remotes, in memory that goes back to the system with the table (core/mapped.ts). */
  private readonly arena = new MappedArena();
  private mask = 1023;
  private used = 0;
  private count = 0;

  get size(): number {
    return this.count;
  }

  /**
   * `bytes` to give to `addPack`, copied into the table's own memory once a remote's indexes add up
   * to a megabyte: the caller drops the buffer it read, whose hole its next read fills.
   */
  keep(bytes: Buffer): Buffer {
    return this.arena.keep(bytes);
  }

  /** Adds every row of the index `bytes` of `packId` (validated by decodePackIndex first). */
  addPack(packId: string, bytes: Buffer): void {
    const { size: rowBytes, count: rows } = packIndexRows(bytes, packId);
    const p = this.packs.length;
    this.packs.push({ id: packId, bytes, rowBytes, rows });
    if (!this.ordinal.has(packId)) this.ordinal.set(packId, p);
    for (let r = 0; r < rows; r++) {
      if ((this.used + 1) * 2 > this.slotPack.length) this.grow();
      const at = HEADER + r * rowBytes;
      const k = this.find(bytes, at);
      if (this.slotPack[k] === EMPTY) {
        this.slotPack[k] = p + 1;
        this.slotRow[k] = r;
        this.used++;
        this.count++;
        continue;
      }
      const id = bytes.toString('hex', at, at + 32);
      let more = this.alternates.get(id);
      if (!more) {
        more = [];
        this.alternates.set(id, more);
      }
      more.push({ pack: p, row: r });
    }
  }

  has(id: string): boolean {
    return this.slotOf(id) >= 0;
  }

  /** The preferred copy of `id`. */
  get(id: string): ObjectLocation | undefined {
    const k = this.slotOf(id);
    return k < 0 ? undefined : this.location(this.slotPack[k] - 1, this.slotRow[k]);
  }

  /** Every copy of `id`, the preferred one first. */
  copies(id: string): ObjectLocation[] {
    const first = this.get(id);
    if (!first) return [];
    return [first, ...(this.alternates.get(id) ?? []).map((a) => this.location(a.pack, a.row))];
  }

  /** Forgets every copy of `id`. */
  delete(id: string): void {
    const k = this.slotOf(id);
    if (k < 0) return;
    this.slotPack[k] = GONE;
    this.count--;
    this.alternates.delete(id);
  }

  /** Every id held (lowercase hex), in no particular order. */
  *keys(): IterableIterator<string> {
    for (let k = 0; k < this.slotPack.length; k++) {
      const s = this.slotPack[k];
      if (s === EMPTY || s === GONE) continue;
      const p = this.packs[s - 1];
      const at = HEADER + this.slotRow[k] * p.rowBytes;
      yield p.bytes.toString('hex', at, at + 32);
    }
  }

  /** Every object of the frame at `offset` in pack `packId` (its first index listed). */
  frameMembers(packId: string, offset: number): FrameMember[] {
    const n = this.ordinal.get(packId);
    if (n === undefined) return [];
    const p = this.packs[n];
    p.frames ??= this.framesOf(p);
    const rows = p.frames;
    const offsetOf = (r: number): number => p.bytes.readUIntBE(HEADER + r * p.rowBytes + 32, 6);
    let lo = 0;
    let hi = rows.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (offsetOf(rows[mid]) < offset) lo = mid + 1;
      else hi = mid;
    }
    const out: FrameMember[] = [];
    for (let k = lo; k < rows.length && offsetOf(rows[k]) === offset; k++) {
      const at = HEADER + rows[k] * p.rowBytes;
      out.push({ id: p.bytes.toString('hex', at, at + 32), rawSize: p.bytes.readUInt32BE(at + 42), inner: p.bytes.readUInt32BE(at + 47) });
    }
    return out;
  }

  private framesOf(p: Pack): Uint32Array {
    if (p.rowBytes !== IDX_ENTRY_V2) return new Uint32Array(0);
    const rows: number[] = [];
    for (let r = 0; r < p.rows; r++) if (p.bytes[HEADER + r * p.rowBytes + 46] === FLAG_FRAME) rows.push(r);
    const offsets = rows.map((r) => p.bytes.readUIntBE(HEADER + r * p.rowBytes + 32, 6));
    const order = rows.map((_, k) => k).sort((a, b) => offsets[a] - offsets[b] || rows[a] - rows[b]);
    return Uint32Array.from(order, (k) => rows[k]);
  }

  private location(pack: number, row: number): ObjectLocation {
    const p = this.packs[pack];
    const at = HEADER + row * p.rowBytes;
    const b = p.bytes;
    return {
      pack: p.id,
      offset: b.readUIntBE(at + 32, 6),
      length: b.readUInt32BE(at + 38),
      rawSize: b.readUInt32BE(at + 42),
      flags: b[at + 46],
      inner: p.rowBytes === IDX_ENTRY_V2 ? b.readUInt32BE(at + 47) : 0,
    };
  }

  private slotOf(id: string): number {
    const b = toBytes(id);
    if (!b) return -1;
    const k = this.find(b, 0);
    return this.slotPack[k] === EMPTY ? -1 : k;
  }

  /** The slot holding the id at `src[at]`, or the empty slot where it would go (tombstones are walked past). */
  private find(src: Buffer, at: number): number {
    let k = src.readUInt32BE(at) & this.mask;
    for (;;) {
      const s = this.slotPack[k];
      if (s === EMPTY) return k;
      if (s !== GONE) {
        const p = this.packs[s - 1];
        const o = HEADER + this.slotRow[k] * p.rowBytes;
        if (p.bytes.compare(src, at, at + 32, o, o + 32) === 0) return k;
      }
      k = (k + 1) & this.mask;
    }
  }

  /** Doubles the table; tombstones are dropped. */
  private grow(): void {
    const { slotPack, slotRow } = this;
    this.slotPack = mappedUint32(slotPack.length * 2);
    this.slotRow = mappedUint32(slotRow.length * 2);
    this.mask = this.slotPack.length - 1;
    this.used = 0;
    for (let k = 0; k < slotPack.length; k++) {
      const s = slotPack[k];
      if (s === EMPTY || s === GONE) continue;
      const p = this.packs[s - 1];
      const j = this.find(p.bytes, HEADER + slotRow[k] * p.rowBytes);
      this.slotPack[j] = s;
      this.slotRow[j] = slotRow[k];
      this.used++;
    }
  }
}
