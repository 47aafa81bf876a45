/**
 * Where a reader gets objects: the local store when it holds them, else the default (or named)
 * remote, opened on the first miss only, with ranged reads of exactly the object's bytes.
 *
 * Invariants: every object handed out was verified against its id (the local store verifies on
 * read, and a corrupt local copy is read from the remote instead; a remote copy is decoded within
 * its caps and re-hashed here). Nothing is written to the
 * local store: a reader holds no writer lock, so fetched trees and manifests live only as long
 * as the read. A remote copy that fails to verify is tried through the next index listing it
 * (at most MAX_COPIES); sizes the remote's index claims are capped before a byte is read.
 */
import type { Backend } from '../backend/backend.js';
import { blake3Hex } from '../core/hash.js';
import { MAX_MANIFEST_BYTES } from '../core/manifest.js';
import { DvError } from '../errors.js';
import { decode, decodeFrame, FLAG_FRAME, sliceFrame } from '../store/codec.js';
import type { ObjectStore } from '../store/object-store.js';
import { MAX_FRAME_STORED } from '../store/pack-index.js';
import { remotePackKey } from '../transfer/layout.js';
import type { RemoteIndex } from '../transfer/remote-index.js';
import type { ObjectLocation } from '../store/pack-index.js';

/** An opened remote: its backend and what its pack indexes list. */
export interface RemoteHandle {
  name: string;
  backend: Backend;
  index: RemoteIndex;
}

/** What a read cost on the remote. */
export interface ReadStats {
  /** Ranged reads of pack data (index downloads are not counted). */
  requests: number;
  /** Bytes of pack data downloaded. */
  bytes: number;
  /** Objects (chunks, trees, manifests) read from the remote. */
  remoteObjects: number;
  /** Objects read from the local store. */
  localObjects: number;
}

export type StructuredKind = 'snapshot' | 'tree' | 'manifest';

/** No tree or snapshot dv reads from a remote is larger (a directory of ~500k entries). */
export const MAX_STRUCTURED_BYTES = 64 * 1024 * 1024;
/** No chunk dv writes is larger than 256 KiB; a remote claiming more than this is refused. */
export const MAX_CHUNK_BYTES = 64 * 1024 * 1024;
/** Copies of one object tried before giving up (each index listing it is one copy). */
const MAX_COPIES = 8;

const capOf = (kind: StructuredKind | 'chunk'): number =>
  kind === 'manifest' ? MAX_MANIFEST_BYTES : kind === 'chunk' ? MAX_CHUNK_BYTES : MAX_STRUCTURED_BYTES;

export class ObjectSource {
  readonly stats: ReadStats = { requests: 0, bytes: 0, remoteObjects: 0, localObjects: 0 };
  private remote?: Promise<RemoteHandle>;
  private closed = false;

  constructor(
    readonly store: ObjectStore,
    private readonly connect: () => Promise<RemoteHandle>,
  ) {}

  /** The remote, opened (and its indexes loaded) on first use. */
  handle(): Promise<RemoteHandle> {
    if (this.closed) return Promise.reject(new DvError('ERROR', 'read after the reader was closed'));
    this.remote ??= this.connect();
    return this.remote;
  }

  /** Whether the local store holds each id (one index lookup). */
  async localSizes(ids: string[]): Promise<(number | undefined)[]> {
    return this.store.sizesOf(ids);
  }

  /** A snapshot, tree or manifest node, verified: from the local store, else from the remote. */
  async object(id: string, kind: StructuredKind): Promise<Buffer> {
    if ((await this.store.sizesOf([id]))[0] !== undefined) {
      const local = await this.local(id);
      if (local) return local;
    }
    return this.fetchOne(id, kind);
  }

  /**
   * An object from the local store, verified; undefined when the local copy is corrupt (the store
   * has just forgotten it, and the caller reads the remote's instead, as fetch does).
   */
  async local(id: string): Promise<Buffer | undefined> {
    try {
      const raw = await this.store.get(id);
      this.stats.localObjects++;
      return raw;
    } catch (e) {
      if (e instanceof DvError && e.code === 'OBJECT_CORRUPT') return undefined;
      throw e;
    }
  }

  /** One object from the remote alone (not through the local store), verified, trying each listed copy. */
  async fetchOne(id: string, kind: StructuredKind | 'chunk', size?: number): Promise<Buffer> {
    const h = await this.handle();
    const copies = h.index.copies(id).slice(0, MAX_COPIES);
    if (copies.length === 0) throw missing(h, id);
    let failure: unknown;
    for (const loc of copies) {
      try {
        checkLoc(h, id, kind, loc, size);
        const stored = await this.range(h, loc.pack, loc.offset, loc.length);
        const raw = await extract(h, id, loc, stored);
        this.stats.remoteObjects++;
        return raw;
      } catch (e) {
        if (!(e instanceof DvError) || !['OBJECT_CORRUPT', 'BAD_OBJECT'].includes(e.code)) throw e;
        failure = e;
      }
    }
    throw failure;
  }

  /** Reads `length` bytes of a remote pack, counted in the stats. */
  async range(h: RemoteHandle, pack: string, offset: number, length: number): Promise<Buffer> {
    const data = await h.backend.getRange(remotePackKey(pack), offset, length);
    this.stats.requests++;
    this.stats.bytes += data.length;
    return data;
  }

  async close(): Promise<void> {
    this.closed = true;
    const r = this.remote;
    this.remote = undefined;
    if (r) await r.then((h) => h.backend.close?.()).catch(() => undefined);
  }
}

/** OBJECT_MISSING, or BAD_OBJECT when the remote had indexes refused (the object is likely in one). */
export function missing(h: RemoteHandle, id: string): DvError {
  if (h.index.warnings.length > 0)
    return new DvError(
      'BAD_OBJECT',
      `object ${id} is in no usable index on ${h.backend.location}, and ${h.index.warnings.length} index(es) there were refused: ${h.index.warnings[0]}`,
      { id },
    );
  return new DvError(
    'OBJECT_MISSING',
    `object ${id} is neither in the local store nor on remote ${h.name} (${h.backend.location}): push it from the clone that has it`,
    { id },
  );
}

/**
 * Refuses a copy whose index entry claims more than such an object can be, or another size than
 * its parent declared (`size`), before anything is downloaded.
 */
export function checkLoc(h: RemoteHandle, id: string, kind: StructuredKind | 'chunk', loc: ObjectLocation, size?: number): void {
  const cap = capOf(kind);
  if (loc.rawSize > cap || loc.length > (loc.flags === FLAG_FRAME ? MAX_FRAME_STORED : cap))
    throw new DvError(
      'BAD_OBJECT',
      `the index of ${h.backend.location} says ${kind} ${id} is ${loc.rawSize} bytes: refusing an object this large`,
      { id },
    );
  if (size !== undefined && loc.rawSize !== size)
    throw new DvError(
      'BAD_OBJECT',
      `the index of ${h.backend.location} says ${kind} ${id} is ${loc.rawSize} bytes, its file declares ${size}: refusing data whose sizes lie`,
      { id },
    );
}

export const damaged = (h: RemoteHandle, id: string, pack: string, why: string): DvError =>
  new DvError('OBJECT_CORRUPT', `object ${id} from ${h.backend.location} ${why}: the remote copy is damaged (pack ${pack})`, {
    id,
    pack,
  });

/** The raw bytes of one object from its stored bytes (alone, or its whole frame), verified. */
export async function extract(h: RemoteHandle, id: string, loc: ObjectLocation, stored: Buffer, frame?: Buffer): Promise<Buffer> {
  let raw: Buffer | undefined;
  if (loc.flags === FLAG_FRAME) {
    const whole = frame ?? (await decodeFrame(stored).catch(() => undefined));
    if (!whole) throw damaged(h, id, loc.pack, 'cannot be decompressed');
    raw = sliceFrame(whole, loc.inner, loc.rawSize);
  } else {
    raw = await decode(stored, loc.flags).catch(() => undefined);
    if (!raw) throw damaged(h, id, loc.pack, 'cannot be decompressed');
  }
  if (!raw || raw.length !== loc.rawSize || blake3Hex(raw) !== id) throw damaged(h, id, loc.pack, 'does not match its hash');
  return raw;
}
