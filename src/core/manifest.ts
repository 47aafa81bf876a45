/**
 * A file larger than one chunk is a Merkle tree of manifest nodes. A node lists children in
 * file order: chunks at level 0, nodes below it at higher levels, each with the number of
 * bytes it covers. Node boundaries are content-defined (a child whose id ends in a zero byte
 * closes its node), so an edit in a 100 GB file rewrites only the few nodes on its path.
 *
 * Encoding: "dvfile 1\n", u8 level, u32be count, then count × (32-byte id, u48be size).
 */
import { DvError } from '../errors.js';

export const MANIFEST_MAGIC = Buffer.from('dvfile 1\n');
const HEADER = MANIFEST_MAGIC.length + 5;
const ENTRY = 38;
const MAX_FANOUT = 1024;
/** No manifest node is larger than this (a full node): a remote that says otherwise lies. */
export const MAX_MANIFEST_BYTES = HEADER + MAX_FANOUT * ENTRY;

export interface ManifestNode {
  level: number;
  children: { id: string; size: number }[];
}

export function encodeManifest(node: ManifestNode): Buffer {
  const n = node.children.length;
  const out = Buffer.alloc(HEADER + n * ENTRY);
  MANIFEST_MAGIC.copy(out, 0);
  out.writeUInt8(node.level, MANIFEST_MAGIC.length);
  out.writeUInt32BE(n, MANIFEST_MAGIC.length + 1);
  let o = HEADER;
  for (const c of node.children) {
    out.write(c.id, o, 32, 'hex');
    out.writeUIntBE(c.size, o + 32, 6);
    o += ENTRY;
  }
  return out;
}

export function decodeManifest(bytes: Uint8Array, id = '?'): ManifestNode {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const bad = (why: string): DvError => new DvError('BAD_OBJECT', `file manifest ${id.slice(0, 12)} is malformed: ${why}`, { id });
  if (b.length < HEADER || !b.subarray(0, MANIFEST_MAGIC.length).equals(MANIFEST_MAGIC)) throw bad('missing header');
  const level = b.readUInt8(MANIFEST_MAGIC.length);
  const n = b.readUInt32BE(MANIFEST_MAGIC.length + 1);
  if (level > 8) throw bad(`level ${level} is too deep`);
  if (n === 0 || n > MAX_FANOUT || b.length !== HEADER + n * ENTRY) throw bad(`wrong length for ${n} entries`);
  const children: { id: string; size: number }[] = [];
  for (let o = HEADER; o < b.length; o += ENTRY) {
    children.push({ id: b.toString('hex', o, o + 32), size: b.readUIntBE(o + 32, 6) });
  }
  return { level, children };
}

/**
 * Builds the manifest tree of one file from its chunks, streaming: only the open node of
 * each level is in memory. `store` receives each finished node's bytes and returns its id.
 */
export class ManifestBuilder {
  private readonly levels: { children: { id: string; size: number }[]; flushed: boolean }[] = [];
  constructor(private readonly store: (node: Buffer) => string) {}

  add(id: string, size: number): void {
    this.push(0, id, size);
  }

  private push(level: number, id: string, size: number): void {
    if (!this.levels[level]) this.levels[level] = { children: [], flushed: false };
    const lvl = this.levels[level];
    lvl.children.push({ id, size });
    // The last hex pair of the id is "00" with probability 1/256: a content-defined boundary.
    if (id.endsWith('00') || lvl.children.length >= MAX_FANOUT) this.flush(level);
  }

  private flush(level: number): void {
    const lvl = this.levels[level];
    const children = lvl.children;
    lvl.children = [];
    lvl.flushed = true;
    const nodeId = this.store(encodeManifest({ level, children }));
    this.push(
      level + 1,
      nodeId,
      children.reduce((s, c) => s + c.size, 0),
    );
  }

  /** The file id, and whether it names a manifest (false: the file is one chunk). */
  finish(): { id: string; chunked: boolean } {
    if (this.levels.length === 0) throw new Error('ManifestBuilder.finish() with no chunks');
    if (this.levels.length === 1 && !this.levels[0].flushed && this.levels[0].children.length === 1) {
      return { id: this.levels[0].children[0].id, chunked: false };
    }
    for (let level = 0; ; level++) {
      const lvl = this.levels[level];
      const top = level === this.levels.length - 1;
      if (top && !lvl.flushed) {
        if (level > 0 && lvl.children.length === 1) return { id: lvl.children[0].id, chunked: true };
        const children = lvl.children;
        return { id: this.store(encodeManifest({ level, children })), chunked: true };
      }
      if (lvl.children.length > 0) this.flush(level);
    }
  }
}
