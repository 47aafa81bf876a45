/**
 * A Backend stores bytes by key: a remote (local directory, S3 bucket) seen as a flat
 * key space. It knows nothing about objects, packs or ids; `transfer/` builds on it.
 *
 * Contract, shared by every implementation and checked by one conformance suite:
 * - Keys are relative, '/'-separated, made of [A-Za-z0-9._-] segments, never empty segments,
 *   never '.' or '..'. Implementations reject other keys with a USAGE DvError.
 * - `put`/`putFile` are atomic: a reader sees the whole value or nothing, never a prefix.
 *   They are idempotent: writing the same key again with the same bytes is harmless.
 * - `get`/`getRange` of a missing key throw DvError 'OBJECT_MISSING' with data.key set;
 *   every other failure is classified into 'REMOTE_UNREACHABLE', 'AUTH_FAILED',
 *   'REMOTE_NOT_FOUND' (bucket/directory absent), 'NO_SPACE', 'PERMISSION_DENIED' or
 *   'REMOTE_ERROR'. `isTransient(err)` says whether retrying may help.
 * - `getRange` returns exactly `length` bytes or throws; a short body is an error. With `into`
 *   (at least `length` bytes, a SharedArrayBuffer view allowed) the bytes are read into its start
 *   and the result is a view of it, so a caller can reuse one buffer for many reads (no allocation,
 *   no garbage); a failed read may have written into it.
 * - `getRangeTo` (optional) hands the same bytes as `getRange` to a sink, in order, in pieces of any
 *   size (each valid only during the call), so one GET of a whole pack needs no buffer of its size; the
 *   sink's promise is awaited before the next piece (back-pressure). It resolves once exactly `length`
 *   bytes were handed over, else throws as `getRange` does (after some pieces, maybe).
 * - `get(key, { maxBytes })` refuses a value larger than `maxBytes` with 'REMOTE_ERROR' (not
 *   transient) before reading it when its size is known, and while reading it otherwise.
 * - Nothing blocks forever: a directory remote opens only regular files (never a FIFO, device,
 *   socket or symlink), and a network body that trickles fails once its deadline passes.
 * - `list(prefix)` yields every key starting with `prefix`, with its size, across pages.
 * - `delete` of a missing key succeeds.
 * - `sweepLeftovers` (optional) removes only what writes that never finished left (a killed `put`'s
 *   temp file, never listed as a key), and only what was untouched for the age it is given.
 */
export interface GetOptions {
  /** The most bytes the caller accepts (a remote index from its listed size, say). */
  maxBytes?: number;
}

/**
 * Takes the pieces of a streamed range in order; a piece is valid only until the returned promise settles.
 * `room`, when given, is memory where a backend may read the next bytes in place (a piece that is a view
 * of it, from its start, is already where the sink wants it); undefined when there is none now. It is
 * asked right after a piece was handed over, maybe before that piece's promise settled (nothing is read
 * into it before then).
 */
export type RangeSink = ((piece: Buffer) => void | Promise<void>) & { room?: () => Buffer | undefined };

/** What `sweepLeftovers` found (and removed, unless a dry run): files and their bytes. */
export interface Leftovers {
  files: number;
  bytes: number;
}

export interface Backend {
  /** Human-readable location, e.g. `/mnt/share/dv` or `s3://bucket/prefix`. */
  readonly location: string;
  put(key: string, data: Uint8Array): Promise<void>;
  /** Uploads a local file (multipart where the backend supports it for large files). */
  putFile(key: string, localPath: string): Promise<void>;
  get(key: string, opts?: GetOptions): Promise<Buffer>;
  getRange(key: string, offset: number, length: number, into?: Uint8Array): Promise<Buffer>;
  getRangeTo?(key: string, offset: number, length: number, sink: RangeSink): Promise<void>;
  /** Size of the key, or undefined when it does not exist. */
  stat(key: string): Promise<{ size: number } | undefined>;
  list(prefix: string): AsyncIterable<{ key: string; size: number }>;
  delete(key: string): Promise<void>;
  /**
   * Removes the leftovers of writes that never finished (a killed `put`'s temp file) untouched for
   * at least `olderThanMs`; with `dryRun` only counts them. Absent where a store keeps none under its
   * keys (S3: an unfinished multipart upload is not an object; a bucket's lifecycle rule aborts them).
   */
  sweepLeftovers?(olderThanMs: number, dryRun: boolean): Promise<Leftovers>;
  /** Checks that the location exists and is usable; throws a classified DvError if not. */
  check(): Promise<void>;
  close?(): Promise<void>;
}
