/**
 * Where each object a remote's pack indexes list lies, with the rows on disk: every row (already
 * validated by packIndexRows / decodePackIndex) is copied, in one fixed shape, into a spill file
 * of the table's own (created, opened and unlinked at once: nothing else can open it, and nothing
 * is left behind by a kill), and an open-addressing table of (row number, first four bytes of the
 * id), at most half full, finds an id's row: about 16 bytes of memory an object, where the index
 * bytes held in memory with the table cost some 67 and a Map of hex strings to location objects
 * some 300. A lookup reads its row back with one positional read (the page cache holds the file).
 *
 * Invariants: the first pack added that lists an id holds its preferred copy, later ones are
 * alternates in the order they were added (a re-push, a repack not yet collected: rare, so they
 * stay in a Map); a probe compares the id's first four bytes in memory and all 32 bytes of the row
 * read back before it answers, so answers are exact; a forgotten id leaves a tombstone the probes
 * walk past, and is never found again. The frame members of a pack are read back and sorted by
 * offset the first time one of its frames is asked about.
 */
import { closeSync, openSync, readSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mappedUint32 } from '../core/mapped.js';
import { fsError } from '../errors.js';
import { FLAG_FRAME } from '../store/codec.js';
import { IDX_ENTRY_V2, packIndexRows, type ObjectLocation } from '../store/pack-index.js';
import { toBytes } from './id-table.js';

/** One object of a remote frame. */
export interface FrameMember {
  id: string;
  rawSize: number;
  inner: number;
}

/** Rows of a pack index in the spill file: where the first is, how many. */
export interface Kept {
  first: number;
  rows: number;
  /** The pack's number among the packs kept. */
  pack: number;
}

/** A spill row: id 32, offset 6, length 4, raw size 4, flags 1 (as a pack index row), inner 4, pack number 4. */
const ROW = 55;
const R_OFFSET = 32;
const R_LENGTH = 38;
const R_RAW = 42;
const R_FLAGS = 46;
const R_INNER = 47;
const R_PACK = 51;
/** Row number + 1 per slot; EMPTY, GONE (a forgotten id). */
const EMPTY = 0;
const GONE = 0xffffffff;
/** Rows copied into the spill file per write. */
const WRITE_ROWS = 8192;
/**
 * Rows are read back by blocks of BLOCK_ROWS (4,070 bytes, a page's worth), BLOCKS of them held,
 * least recently used dropped first (~1 MiB): a pull looks a large file's chunks up in the order
 * their pack lists them, so one read serves 74 lookups (16,384 reads of 55 bytes were ~50 ms of a
 * 1 GiB pull's start), and a lookup that misses costs one read, as before.
 */
const BLOCK_ROWS = 74;
const BLOCKS = 256;

/** Closes the spill file of a table nobody holds any more. */
const spills = new FinalizationRegistry<number>((fd) => {
  try {
    closeSync(fd);
  } catch {
    // Closed already.
  }
});

export class LocationTable {
  /** Pack ids by the number `keep` gave them. */
  private readonly packIds: string[] = [];
  /** Pack number of the first pack added under each id (frame members are read from it). */
  private readonly ordinal = new Map<string, { pack: number; first: number; rows: number }>();
  private readonly alternates = new Map<string, number[]>();
  /** Frames of a pack, sorted by offset: row numbers and their offsets (built on the first frame lookup). */
  private readonly frames = new Map<number, { rows: Uint32Array; offsets: Float64Array }>();
  private slotRow = mappedUint32(1024);
  private slotHead = mappedUint32(1024);
  private mask = 1023;
  private used = 0;
  private count = 0;
  private fd = -1;
  private rows = 0;
  private readonly row = Buffer.alloc(ROW);
  /** The row `row` holds (-1: none). */
  private rowIn = -1;
  /** Blocks of rows read back, by block number, least recently used first (only blocks whose rows are all written). */
  private readonly blocks = new Map<number, Buffer>();

  /** `dir`: where the spill file is made (a remote's cache directory; the system's temp directory when none). */
  constructor(private readonly dir: string = tmpdir()) {}

  get size(): number {
    return this.count;
  }

  /** Makes room for `n` ids at once (a load that knows how many rows come): the table is not grown row by row. */
  reserve(n: number): void {
    let cap = this.slotRow.length;
    while ((this.used + n) * 2 > cap) cap *= 2;
    if (cap > this.slotRow.length) this.rehash(cap);
  }

  /**
   * Copies the rows of the index `bytes` of `packId` (validated by decodePackIndex first) into the
   * spill file, where `add` makes them visible; the caller drops `bytes`.
   */
  keep(packId: string, bytes: Buffer): Kept {
    const { header, size, count } = packIndexRows(bytes, packId);
    const fd = this.spill();
    const pack = this.packIds.length;
    this.packIds.push(packId);
    const first = this.rows;
    if (first + count >= GONE - 1) throw new RangeError('a remote index holds at most 2^32 - 2 rows');
    const out = Buffer.alloc(Math.min(count, WRITE_ROWS) * ROW);
    for (let r = 0; r < count; ) {
      const n = Math.min(count - r, WRITE_ROWS);
      for (let k = 0; k < n; k++) {
        const at = header + (r + k) * size;
        const o = k * ROW;
        bytes.copy(out, o, at, at + 47);
        out.writeUInt32BE(size === IDX_ENTRY_V2 ? bytes.readUInt32BE(at + 47) : 0, o + R_INNER);
        out.writeUInt32BE(pack, o + R_PACK);
      }
      this.write(fd, out.subarray(0, n * ROW), (first + r) * ROW);
      r += n;
    }
    this.rows += count;
    return { first, rows: count, pack };
  }

  /** Makes the rows kept for `packId` visible: ids not held yet get their preferred copy here, the others an alternate. */
  add(packId: string, kept: Kept): void {
    if (!this.ordinal.has(packId)) this.ordinal.set(packId, kept);
    const end = kept.first + kept.rows;
    const block = Buffer.alloc(Math.min(kept.rows, WRITE_ROWS) * ROW);
    for (let from = kept.first; from < end; from += WRITE_ROWS) {
      const n = Math.min(end - from, WRITE_ROWS);
      this.readInto(block, n * ROW, from * ROW);
      for (let j = 0; j < n; j++) this.place(block.subarray(j * ROW, j * ROW + 32), from + j);
    }
  }

  /** Gives the id in `id` (32 bytes) at row `r` a slot, or makes the row an alternate of the id's slot. */
  private place(id: Buffer, r: number): void {
    if ((this.used + 1) * 2 > this.slotRow.length) this.rehash(this.slotRow.length * 2);
    const k = this.find(id);
    if (this.slotRow[k] === EMPTY) {
      this.slotRow[k] = r + 1;
      this.slotHead[k] = id.readUInt32BE(0);
      this.used++;
      this.count++;
      return;
    }
    const hex = id.toString('hex');
    let more = this.alternates.get(hex);
    if (!more) {
      more = [];
      this.alternates.set(hex, more);
    }
    more.push(r);
  }

  /** Adds every row of the index `bytes` of `packId` (validated by decodePackIndex first). */
  addPack(packId: string, bytes: Buffer): void {
    this.add(packId, this.keep(packId, bytes));
  }

  has(id: string): boolean {
    return this.slotOf(id) >= 0;
  }

  /** The preferred copy of `id`. */
  get(id: string): ObjectLocation | undefined {
    const k = this.slotOf(id);
    return k < 0 ? undefined : this.location(this.slotRow[k] - 1);
  }

  /** Every copy of `id`, the preferred one first. */
  copies(id: string): ObjectLocation[] {
    const first = this.get(id);
    if (!first) return [];
    return [first, ...(this.alternates.get(id) ?? []).map((r) => this.location(r))];
  }

  /** Forgets every copy of `id`. */
  delete(id: string): void {
    const k = this.slotOf(id);
    if (k < 0) return;
    this.slotRow[k] = GONE;
    this.count--;
    this.alternates.delete(id);
  }

  /** Every id held (lowercase hex), in no particular order. */
  *keys(): IterableIterator<string> {
    for (let k = 0; k < this.slotRow.length; k++) {
      const s = this.slotRow[k];
      if (s === EMPTY || s === GONE) continue;
      yield this.read(s - 1).toString('hex', 0, 32);
    }
  }

  /** Every object of the frame at `offset` in pack `packId` (its first index listed). */
  frameMembers(packId: string, offset: number): FrameMember[] {
    const p = this.ordinal.get(packId);
    if (p === undefined) return [];
    let f = this.frames.get(p.pack);
    if (!f) {
      f = this.framesOf(p);
      this.frames.set(p.pack, f);
    }
    let lo = 0;
    let hi = f.rows.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (f.offsets[mid] < offset) lo = mid + 1;
      else hi = mid;
    }
    const out: FrameMember[] = [];
    for (let k = lo; k < f.rows.length && f.offsets[k] === offset; k++) {
      const b = this.read(f.rows[k]);
      out.push({ id: b.toString('hex', 0, 32), rawSize: b.readUInt32BE(R_RAW), inner: b.readUInt32BE(R_INNER) });
    }
    return out;
  }

  /** The framed rows of a pack, sorted by offset (then by row: the index's order). */
  private framesOf(p: { first: number; rows: number }): { rows: Uint32Array; offsets: Float64Array } {
    const rows: number[] = [];
    const offsets: number[] = [];
    for (let r = p.first; r < p.first + p.rows; r++) {
      const b = this.read(r);
      if (b[R_FLAGS] !== FLAG_FRAME) continue;
      rows.push(r);
      offsets.push(b.readUIntBE(R_OFFSET, 6));
    }
    const order = rows.map((_, k) => k).sort((a, b) => offsets[a] - offsets[b] || rows[a] - rows[b]);
    return { rows: Uint32Array.from(order, (k) => rows[k]), offsets: Float64Array.from(order, (k) => offsets[k]) };
  }

  private location(r: number): ObjectLocation {
    const b = this.read(r);
    return {
      pack: this.packIds[b.readUInt32BE(R_PACK)],
      offset: b.readUIntBE(R_OFFSET, 6),
      length: b.readUInt32BE(R_LENGTH),
      rawSize: b.readUInt32BE(R_RAW),
      flags: b[R_FLAGS],
      inner: b.readUInt32BE(R_INNER),
    };
  }

  private slotOf(id: string): number {
    const b = toBytes(id);
    if (!b) return -1;
    const k = this.find(b);
    const s = this.slotRow[k];
    return s === EMPTY ? -1 : k;
  }

  /** The slot holding the id in `src` (32 bytes), or the empty slot where it would go (tombstones are walked past). */
  private find(src: Buffer): number {
    const head = src.readUInt32BE(0);
    let k = head & this.mask;
    for (;;) {
      const s = this.slotRow[k];
      if (s === EMPTY) return k;
      // The first four bytes rule out almost every other id before the row is read back.
      if (s !== GONE && this.slotHead[k] === head && this.read(s - 1).compare(src, 0, 32, 0, 32) === 0) return k;
      k = (k + 1) & this.mask;
    }
  }

  /** Moves the slots into a table of `cap` slots; tombstones are dropped. */
  private rehash(cap: number): void {
    const { slotRow, slotHead } = this;
    this.slotRow = mappedUint32(cap);
    this.slotHead = mappedUint32(cap);
    this.mask = cap - 1;
    this.used = 0;
    for (let k = 0; k < slotRow.length; k++) {
      const s = slotRow[k];
      if (s === EMPTY || s === GONE) continue;
      let j = slotHead[k] & this.mask;
      while (this.slotRow[j] !== EMPTY) j = (j + 1) & this.mask;
      this.slotRow[j] = s;
      this.slotHead[j] = slotHead[k];
      this.used++;
    }
  }

  /** Row `r` of the spill file: a view valid until the next read. */
  private read(r: number): Buffer {
    const b = Math.floor(r / BLOCK_ROWS);
    // Rows never change once written: a block whose rows are all written can be held.
    if ((b + 1) * BLOCK_ROWS <= this.rows) {
      let block = this.blocks.get(b);
      if (block) this.blocks.delete(b);
      else block = this.readBlock(b);
      this.blocks.set(b, block);
      const at = (r - b * BLOCK_ROWS) * ROW;
      return block.subarray(at, at + ROW);
    }
    // A lookup reads the row it found again to answer.
    if (r === this.rowIn) return this.row;
    this.rowIn = -1;
    this.readInto(this.row, ROW, r * ROW);
    this.rowIn = r;
    return this.row;
  }

  /** Reads block `b` into a fresh buffer, or into the least recently used one's when BLOCKS are held. */
  private readBlock(b: number): Buffer {
    let block: Buffer;
    if (this.blocks.size >= BLOCKS) {
      const [oldest, buf] = this.blocks.entries().next().value as [number, Buffer];
      this.blocks.delete(oldest);
      block = buf;
    } else block = Buffer.allocUnsafe(BLOCK_ROWS * ROW);
    this.readInto(block, BLOCK_ROWS * ROW, b * BLOCK_ROWS * ROW);
    return block;
  }

  private readInto(b: Buffer, length: number, at: number): void {
    let got = 0;
    while (got < length) {
      const n = readSync(this.fd, b, got, length - got, at + got);
      if (n === 0) throw new Error(`location table: the spill file ends at ${at + got}, before the rows asked for`);
      got += n;
    }
  }

  private write(fd: number, b: Buffer, at: number): void {
    let done = 0;
    try {
      while (done < b.length) done += writeSync(fd, b, done, b.length - done, at + done);
    } catch (e) {
      throw fsError(e, this.dir);
    }
  }

  /** The spill file, made on the first rows kept: opened, then unlinked (the descriptor keeps it). */
  private spill(): number {
    if (this.fd >= 0) return this.fd;
    const path = join(this.dir, `.locations-${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}.tmp`);
    try {
      this.fd = openSync(path, 'wx+', 0o600);
    } catch (e) {
      throw fsError(e, path);
    }
    unlinkSync(path);
    spills.register(this, this.fd);
    return this.fd;
  }
}
