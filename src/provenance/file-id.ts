/**
 * A file's dv id computed from its bytes alone, with no store: cut by the pinned chunker, each
 * chunk hashed, and the manifest tree built as ingest builds it (its nodes hashed, not kept). So
 * an auditor's copy of the data can be checked against the ids a tree names, offline.
 *
 * Invariants: the file is opened without following a link and must be a regular file; memory is
 * one read window (WINDOW bytes, at least the chunker's max) and the manifest's open nodes.
 */
import { constants as fsc, promises as fsp } from 'node:fs';
import { CHUNKER_V1, nextCut } from '../core/chunker.js';
import { blake3Hex } from '../core/hash.js';
import { ManifestBuilder } from '../core/manifest.js';

const WINDOW = 4 * 1024 * 1024;

/** The id of the file at `path` (and its size), or a reason it has none: not a regular file, unreadable. */
export async function fileIdOf(path: string): Promise<{ id: string; size: number } | { problem: string }> {
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(path, fsc.O_RDONLY | (fsc.O_NOFOLLOW ?? 0) | (fsc.O_NONBLOCK ?? 0));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return { problem: code === 'ENOENT' ? 'missing' : code === 'ELOOP' ? 'a symbolic link' : `unreadable (${code})` };
  }
  try {
    if (!(await fh.stat()).isFile()) return { problem: 'not a regular file' };
    const builder = new ManifestBuilder((node) => blake3Hex(node));
    const buf = Buffer.alloc(WINDOW);
    let start = 0;
    let end = 0;
    let eof = false;
    let size = 0;
    let chunks = 0;
    // Each turn cuts one chunk or reads more: the window always holds at least one max chunk.
    for (;;) {
      if (!eof && end - start < CHUNKER_V1.max) {
        buf.copy(buf, 0, start, end);
        end -= start;
        start = 0;
        const { bytesRead } = await fh.read(buf, end, buf.length - end, null);
        end += bytesRead;
        if (bytesRead === 0) eof = true;
        continue;
      }
      if (start === end) break;
      const n = nextCut(buf, start, end, eof);
      if (n < 0) {
        eof = eof || end === buf.length;
        continue;
      }
      builder.add(blake3Hex(buf.subarray(start, start + n)), n);
      chunks++;
      size += n;
      start += n;
    }
    // An empty file is one empty chunk, as ingest stores it.
    if (chunks === 0) builder.add(blake3Hex(Buffer.alloc(0)), 0);
    return { id: builder.finish().id, size };
  } finally {
    await fh.close();
  }
}
