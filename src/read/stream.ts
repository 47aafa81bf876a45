/**
 * The bytes of one file as a Node Readable, chunk after chunk in file order: each chunk from the
 * local store when it holds it, else from the remote with ranged reads of that file's chunks only
 * (neighbours in one pack merged into one read of at most RANGE_MAX, as fetch does).
 *
 * Invariants:
 * - nothing is emitted before it is verified: every chunk's BLAKE3 is checked against its id, and
 *   its size against what the file's manifest declares (before a byte is downloaded, from the
 *   remote's index, then again on the bytes); a damaged remote copy is read again from another
 *   index listing it, else the stream fails with OBJECT_CORRUPT after the verified bytes only;
 * - memory is constant for any file size: at most MAX_JOBS reads and about WINDOW bytes are in
 *   flight ahead of the consumer, the manifest walk holds one node per level (chunks.ts), and the
 *   Readable buffers at most HIGH_WATER bytes (backpressure stops the read-ahead);
 * - the bytes emitted add up to the file's declared size (or to the range asked for), or the
 *   stream fails; a range starts at the chunk that holds its first byte (chunks.ts skips what
 *   lies before it unread) and stops reading at its end.
 */
import { Readable } from 'node:stream';
import { blake3Hex } from '../core/hash.js';
import type { FileEntry } from '../core/tree.js';
import { DvError } from '../errors.js';
import { decodeFrame, FLAG_FRAME } from '../store/codec.js';
import type { ObjectLocation } from '../store/pack-index.js';
import { fileChunks } from './chunks.js';
import { checkLoc, extract, missing, type ObjectSource, type RemoteHandle } from './source.js';

/** Largest merged ranged read (stored bytes). */
const RANGE_MAX = 2 * 1024 * 1024;
/** Largest hole between two wanted objects that is read through rather than split. */
const GAP_MAX = 64 * 1024;
/** Most raw bytes one read hands out (a chunk repeated in a file is one object read once per job). */
const JOB_MAX = 4 * 1024 * 1024;
/** Raw bytes read ahead of the consumer, and reads in flight at once. */
const WINDOW = 8 * 1024 * 1024;
const MAX_JOBS = 4;
/** What the Readable itself buffers before it stops asking (bytes). */
const HIGH_WATER = 256 * 1024;

interface Piece {
  id: string;
  size: number;
  /** Where the remote holds it; absent: the local store does. */
  loc?: ObjectLocation;
}

interface Job {
  pieces: Piece[];
  bytes: number;
  /** The file offset of its first piece. */
  offset: number;
  remote?: { pack: string; start: number; end: number; lastStart: number; lastEnd: number };
}

const EMPTY_ID = (): string => blake3Hex(Buffer.alloc(0));

/** The copy of a chunk to read: the first listed with the declared size (a bad index's copy may come first). */
function pick(h: RemoteHandle, id: string, size: number): ObjectLocation {
  const copies = h.index.copies(id);
  if (copies.length === 0) throw missing(h, id);
  const loc = copies.find((c) => c.rawSize === size) ?? copies[0];
  checkLoc(h, id, 'chunk', loc, size);
  return loc;
}

/** A byte range of a file: `start` inclusive, `end` exclusive, 0 <= start < end <= size. */
export interface ByteRange {
  start: number;
  end: number;
}

/** The reads that bring the file's chunks (those of `range`), in file order. */
async function* plan(src: ObjectSource, entry: FileEntry, range: ByteRange): AsyncGenerator<Job> {
  let cur: Job | undefined;
  // An empty file still has its one (empty) chunk checked.
  const stop = Math.max(range.end, 1);
  for await (const run of fileChunks(src, entry, range.start)) {
    if (run.offset >= stop) break;
    const batch = run.chunks;
    const local = await src.localSizes(batch.map((c) => c.id));
    let pos = run.offset;
    for (const [k, c] of batch.entries()) {
      const at = pos;
      pos += c.size;
      if (at >= stop) break;
      if (c.size === 0) {
        // Only an empty file has an empty chunk, and it must be the empty chunk.
        if (c.id !== EMPTY_ID()) throw new DvError('BAD_OBJECT', `${entry.name} is declared empty but names chunk ${c.id.slice(0, 12)}`);
        continue;
      }
      if (local[k] !== undefined) {
        if (local[k] !== c.size)
          throw new DvError(
            'BAD_OBJECT',
            `chunk ${c.id.slice(0, 12)} is ${local[k]} bytes, its file declares ${c.size}: refusing data whose sizes lie`,
            { id: c.id },
          );
        if (cur && !cur.remote && cur.bytes + c.size <= RANGE_MAX) {
          cur.pieces.push(c);
          cur.bytes += c.size;
          continue;
        }
        if (cur) yield cur;
        cur = { pieces: [c], bytes: c.size, offset: at };
        continue;
      }
      const h = await src.handle();
      const loc = pick(h, c.id, c.size);
      const start = loc.offset;
      const end = loc.offset + loc.length;
      const r = cur?.remote;
      if (r && r.pack === loc.pack && cur!.bytes + c.size <= JOB_MAX) {
        // The same object again (a frame's next chunk, a repeated chunk), or a neighbour further on.
        const same = start === r.lastStart && end === r.lastEnd;
        if (same || (start >= r.end && start - r.end <= GAP_MAX && end - r.start <= RANGE_MAX)) {
          if (!same) Object.assign(r, { end, lastStart: start, lastEnd: end });
          cur!.pieces.push({ ...c, loc });
          cur!.bytes += c.size;
          continue;
        }
      }
      if (cur) yield cur;
      cur = { pieces: [{ ...c, loc }], bytes: c.size, offset: at, remote: { pack: loc.pack, start, end, lastStart: start, lastEnd: end } };
    }
  }
  if (cur) yield cur;
}

/** Runs one read: the verified raw bytes of its pieces, in order. */
async function run(src: ObjectSource, job: Job): Promise<Buffer[]> {
  if (!job.remote) return Promise.all(job.pieces.map(async (p) => (await src.local(p.id)) ?? src.fetchOne(p.id, 'chunk', p.size)));
  const h = await src.handle();
  const r = job.remote;
  let data: Buffer | undefined;
  try {
    data = await src.range(h, r.pack, r.start, r.end - r.start);
  } catch (e) {
    // A pack shorter than its index says: each object is tried through its other copies.
    if (!(e instanceof DvError && e.code === 'OBJECT_CORRUPT')) throw e;
  }
  const frames = new Map<number, Promise<Buffer | undefined>>();
  const out: Buffer[] = [];
  for (const p of job.pieces) {
    const loc = p.loc!;
    let raw: Buffer | undefined;
    if (data) {
      const view = data.subarray(loc.offset - r.start, loc.offset - r.start + loc.length);
      let frame: Buffer | undefined;
      if (loc.flags === FLAG_FRAME) {
        let f = frames.get(loc.offset);
        if (!f) {
          f = decodeFrame(view).catch(() => undefined);
          frames.set(loc.offset, f);
        }
        frame = await f;
      }
      raw = await extract(h, p.id, loc, view, frame).catch((e) => {
        if (e instanceof DvError && e.code === 'OBJECT_CORRUPT') return undefined;
        throw e;
      });
      if (raw) src.stats.remoteObjects++;
    }
    // A copy that failed to verify: every listed copy is tried; the last failure is the error.
    out.push(raw ?? (await src.fetchOne(p.id, 'chunk', p.size)));
  }
  return out;
}

/** The file's bytes (of `range`), verified, with bounded read-ahead. */
async function* fileBytes(src: ObjectSource, entry: FileEntry, range: ByteRange): AsyncGenerator<Buffer> {
  const jobs = plan(src, entry, range);
  const running: { job: Job; result: Promise<Buffer[]> }[] = [];
  let ahead = 0;
  let planned = false;
  let emitted = 0;
  try {
    for (;;) {
      while (!planned && (running.length === 0 || (running.length < MAX_JOBS && ahead < WINDOW))) {
        const n = await jobs.next();
        if (n.done) {
          planned = true;
          break;
        }
        const result = run(src, n.value);
        // Awaited in order below; a read failing while an earlier one is emitted is not "unhandled".
        result.catch(() => undefined);
        running.push({ job: n.value, result });
        ahead += n.value.bytes;
      }
      const head = running.shift();
      if (!head) break;
      let pos = head.job.offset;
      for (const b of await head.result) {
        // Whole chunks are verified; only the part inside the range is emitted.
        const part = b.subarray(Math.max(0, range.start - pos), Math.max(0, Math.min(b.length, range.end - pos)));
        pos += b.length;
        if (part.length === 0) continue;
        emitted += part.length;
        yield part;
      }
      ahead -= head.job.bytes;
    }
  } finally {
    // Stopped early (destroyed, or a read failed): the reads in flight end before the stream
    // closes, so none touches the store after its owner closed it.
    await Promise.allSettled(running.map((r) => r.result));
    await jobs.return(undefined);
  }
  if (emitted !== range.end - range.start)
    throw new DvError(
      'BAD_OBJECT',
      `${entry.name} is declared ${entry.size} bytes, its chunks hold ${emitted}: refusing data whose sizes lie`,
    );
}

/**
 * A stream of one file's bytes (of `range`, default all); `onClose` runs once when it ends, fails
 * or is destroyed.
 */
export function openFile(src: ObjectSource, entry: FileEntry, onClose?: () => Promise<void>, range?: ByteRange): Readable {
  if (
    range &&
    !(
      Number.isSafeInteger(range.start) &&
      Number.isSafeInteger(range.end) &&
      0 <= range.start &&
      range.start < range.end &&
      range.end <= entry.size
    )
  )
    throw new DvError('USAGE', `bytes ${range.start}-${range.end} are not a range inside ${entry.name} (${entry.size} bytes)`);
  const stream = Readable.from(fileBytes(src, entry, range ?? { start: 0, end: entry.size }), {
    objectMode: false,
    highWaterMark: HIGH_WATER,
  });
  if (onClose) stream.once('close', () => void onClose().catch(() => undefined));
  return stream;
}
