/**
 * Reads one file, cuts it into content-defined chunks, hashes them, and (when a sink is
 * given) stores the chunks the store lacks. Streams through a reused buffer, so memory stays
 * flat whatever the file size; builds the file's manifest tree on the way.
 */
import { promises as fsp } from 'node:fs';
import { nextCut, CHUNKER_V1 } from '../core/chunker.js';
import { blake3Hex } from '../core/hash.js';
import { ManifestBuilder } from '../core/manifest.js';
import { fsError } from '../errors.js';

/** Where new objects go. `null` means hash only (status, diff against the workspace). */
export interface ObjectSink {
  hasMany(ids: string[]): Promise<boolean[]>;
  put(id: string, raw: Buffer, compress: boolean): Promise<boolean>;
}

export interface IngestResult {
  id: string;
  chunked: boolean;
  size: number;
}

export const READ_BUFFER_BYTES = 8 * 1024 * 1024;

/** Reusable state for ingesting files one after another. */
export class Ingester {
  private readonly buf = Buffer.allocUnsafe(READ_BUFFER_BYTES);
  bytesRead = 0;
  constructor(private readonly sink: ObjectSink | null, private readonly onBytes?: (n: number) => void) {}

  async file(path: string): Promise<IngestResult> {
    let fh;
    try {
      fh = await fsp.open(path, 'r');
    } catch (e) {
      throw fsError(e, path);
    }
    try {
      return await this.read(fh, path);
    } finally {
      await fh.close();
    }
  }

  private async read(fh: fsp.FileHandle, path: string): Promise<IngestResult> {
    const buf = this.buf;
    const nodes: { id: string; bytes: Buffer }[] = [];
    const builder = new ManifestBuilder((bytes) => {
      const id = blake3Hex(bytes);
      nodes.push({ id, bytes });
      return id;
    });
    let start = 0;
    let end = 0;
    let eof = false;
    let size = 0;
    // Compression pays for text-like data and never for random or already-compressed data:
    // after a few chunks that do not shrink, stop trying (but probe again now and then).
    let misses = 0;
    let probe = 0;
    while (!eof || start < end) {
      if (!eof) {
        if (start > 0) {
          buf.copyWithin(0, start, end);
          end -= start;
          start = 0;
        }
        const { bytesRead } = await fh.read(buf, end, buf.length - end, null).catch((e) => { throw fsError(e, path); });
        if (bytesRead === 0) eof = true;
        end += bytesRead;
        size += bytesRead;
        this.bytesRead += bytesRead;
        this.onBytes?.(bytesRead);
      }
      const cuts: { id: string; s: number; n: number }[] = [];
      for (;;) {
        const n = nextCut(buf, start, end, eof, CHUNKER_V1);
        if (n <= 0) break;
        cuts.push({ id: blake3Hex(buf.subarray(start, start + n)), s: start, n });
        start += n;
      }
      if (this.sink && cuts.length > 0) {
        const have = await this.sink.hasMany(cuts.map((c) => c.id));
        for (let i = 0; i < cuts.length; i++) {
          if (have[i]) continue;
          const c = cuts[i];
          const tryIt = misses < 4 || ++probe % 32 === 0;
          const compressed = await this.sink.put(c.id, Buffer.from(buf.subarray(c.s, c.s + c.n)), tryIt);
          if (tryIt) misses = compressed ? 0 : misses + 1;
        }
      }
      for (const c of cuts) builder.add(c.id, c.n);
      if (eof && start >= end) break;
    }
    if (size === 0) builder.add(blake3Hex(Buffer.alloc(0)), 0);
    if (size === 0 && this.sink) {
      const id = blake3Hex(Buffer.alloc(0));
      if (!(await this.sink.hasMany([id]))[0]) await this.sink.put(id, Buffer.alloc(0), false);
    }
    const result = builder.finish();
    if (this.sink && nodes.length > 0) {
      const have = await this.sink.hasMany(nodes.map((n) => n.id));
      for (let i = 0; i < nodes.length; i++) if (!have[i]) await this.sink.put(nodes[i].id, nodes[i].bytes, false);
    }
    return { ...result, size };
  }
}
