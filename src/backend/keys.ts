import { DvError } from '../errors.js';

const SEGMENT = /^[A-Za-z0-9._-]+$/;

function badSegment(seg: string): boolean {
  return !SEGMENT.test(seg) || seg === '.' || seg === '..';
}

/**
 * Throws a USAGE DvError unless `key` obeys the Backend key contract: relative,
 * '/'-separated segments of [A-Za-z0-9._-], no empty, '.' or '..' segment.
 */
export function validateKey(key: string): void {
  if (typeof key !== 'string' || key === '' || key.split('/').some(badSegment)) {
    throw new DvError('USAGE', `invalid storage key ${JSON.stringify(key)}: keys are relative '/'-separated names of [A-Za-z0-9._-]`, {
      key,
    });
  }
}

/**
 * Throws a USAGE DvError unless `prefix` can start a valid key: '' or a key whose last
 * segment may be partial or empty (so 'packs/' and 'packs/a' are both fine).
 */
export function validatePrefix(prefix: string): void {
  if (prefix === '') return;
  const segs = typeof prefix === 'string' ? prefix.split('/') : [''];
  const last = segs.pop() as string;
  const bad = segs.some(badSegment) || (last !== '' && !SEGMENT.test(last));
  if (bad) {
    throw new DvError('USAGE', `invalid storage key prefix ${JSON.stringify(prefix)}: use '/'-separated names of [A-Za-z0-9._-]`, {
      prefix,
    });
  }
}

/** Throws a USAGE DvError unless offset and length describe a byte range. */
export function validateRange(key: string, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0) {
    throw new DvError('USAGE', `invalid byte range offset=${offset} length=${length} for ${key}`, { key, offset, length });
  }
}

/** The error every backend throws when a range reaches past the end of an object. */
export function rangeError(location: string, key: string, offset: number, length: number, size: number): DvError {
  return new DvError(
    'OBJECT_CORRUPT',
    `${location}: ${key} holds ${size} bytes, fewer than the range ${offset}+${length} that was asked for: run dv fsck`,
    { key, offset, length, size },
  );
}

/** The error every backend throws when a value is larger than its reader accepts (never transient). */
export function tooLargeError(location: string, key: string, size: number | undefined, max: number): DvError {
  const what = size === undefined ? `sends more than ${max} bytes` : `is ${size} bytes`;
  return new DvError(
    'REMOTE_ERROR',
    `${location}: ${key} ${what}, more than the ${max} expected of it: the remote is damaged or hostile; refusing to read it`,
    { key, size, max, transient: false },
  );
}

/** The error a directory remote throws for a key that is not a regular file (a FIFO, device, socket or symlink). */
export function notRegularError(location: string, key: string, what: string): DvError {
  return new DvError(
    'REMOTE_ERROR',
    `${location}: ${key} is ${what}, not a regular file: refusing to open it (remove it from the remote)`,
    { key, transient: false },
  );
}

/** The first `length` bytes of a caller's buffer for `getRange(..., into)`, as a Buffer view (no copy); too small a buffer is USAGE. */
export function intoView(into: Uint8Array, length: number): Buffer {
  if (into.byteLength < length) {
    throw new DvError('USAGE', `a buffer of ${into.byteLength} bytes cannot hold a range of ${length}`, { length, size: into.byteLength });
  }
  return Buffer.from(into.buffer, into.byteOffset, length);
}
