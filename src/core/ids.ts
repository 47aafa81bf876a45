/** Object ids: BLAKE3-256 as 64 lowercase hex characters; prefixes of at least 4. */
import { DvError } from '../errors.js';

export const ID_HEX_LENGTH = 64;
export const MIN_PREFIX = 4;
const ID_RE = /^[0-9a-f]{64}$/;
const PREFIX_RE = /^[0-9a-f]{4,64}$/;

export function isId(s: unknown): s is string {
  return typeof s === 'string' && ID_RE.test(s);
}

export function isIdPrefix(s: string): boolean {
  return PREFIX_RE.test(s);
}

/** Throws BAD_OBJECT naming `where` unless `s` is a full id. */
export function assertId(s: unknown, where: string): string {
  if (!isId(s)) throw new DvError('BAD_OBJECT', `${where}: invalid object id ${JSON.stringify(s)?.slice(0, 80)}`, { where });
  return s;
}

export function shortId(id: string): string {
  return id.slice(0, 12);
}
