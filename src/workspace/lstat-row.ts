/**
 * `lstat` of one path into four numbers (size, mtimeMs, ino, mode), without a `Stats` object.
 * A scan lstats every file of the workspace, and under Node 20 each `lstatSync` also builds four
 * `Date`s and a 20-field object: at a million files that is about a third of `dv status`'s
 * time in JavaScript and most of its garbage. Node's own binding returns the numbers in one
 * shared Float64Array; it is used when this Node's `lstatSync` calls it exactly as we do (checked
 * on its source text, so an unknown calling convention is never tried) and its first answer
 * agrees with `lstatSync` field by field. Otherwise, or if anything about it throws while it
 * is being set up, every call goes through `lstatSync`: same numbers, only slower.
 *
 * Errors are `lstatSync`'s (ENOENT: undefined; anything else thrown as the binding throws it).
 */
import { lstatSync } from 'node:fs';

/** How many numbers one entry takes: size, mtimeMs, ino, mode (in this order). */
export const STAT_FIELDS = 4;

type RawLstat = (path: string, bigint: boolean, req: undefined, throwIfNoEntry: boolean) => Float64Array | undefined;

/** Offsets in the binding's stat array (node's src/node_file.h FillStatsArray order). */
const MODE = 1;
const INO = 7;
const SIZE = 8;
const MTIME_SEC = 12;
const MTIME_NSEC = 13;

/** `lstatSync`'s own call of the binding, as Node 20–22 write it (path, bigint, no request, throwIfNoEntry). */
const CALL_SHAPE = /binding\.lstat\(\s*[\w.()]+,\s*options\.bigint,\s*undefined,\s*options\.throwIfNoEntry,?\s*\)/;

let raw: RawLstat | null | undefined; // undefined: not set up yet; null: not usable
let checked = false;

function setUp(): RawLstat | null {
  try {
    // --pending-deprecation makes process.binding print a warning; the permission model refuses it.
    const flags = `${process.execArgv.join(' ')} ${process.env.NODE_OPTIONS ?? ''}`;
    if (/pending-deprecation|experimental-permission|--permission/.test(flags)) return null;
    if (!CALL_SHAPE.test(lstatSync.toString())) return null;
    const binding = (process as unknown as { binding?: (name: string) => { lstat?: unknown } }).binding?.('fs');
    const fn = binding?.lstat;
    if (typeof fn !== 'function') return null;
    return (path, bigint, req, throwIfNoEntry) => fn.call(binding, path, bigint, req, throwIfNoEntry) as Float64Array | undefined;
  } catch {
    return null;
  }
}

function viaNode(path: string, out: Float64Array, at: number): boolean {
  const st = lstatSync(path, { throwIfNoEntry: false });
  if (!st) return false;
  out[at] = st.size;
  out[at + 1] = st.mtimeMs;
  out[at + 2] = st.ino;
  out[at + 3] = st.mode;
  return true;
}

/** Which way lstatRow goes in this process (after its first call): Node's binding, or lstatSync. */
export function lstatRowMode(): 'binding' | 'lstatSync' | 'unused' {
  return raw === undefined ? 'unused' : raw === null ? 'lstatSync' : 'binding';
}

/**
 * Writes the lstat data of `path` to `out[at .. at + STAT_FIELDS)` and returns true, or returns
 * false when nothing is there (ENOENT). Symlinks are not followed.
 */
export function lstatRow(path: string, out: Float64Array, at: number): boolean {
  if (raw === undefined) raw = setUp();
  if (raw === null) return viaNode(path, out, at);
  const a = raw(path, false, undefined, false);
  if (a === undefined) return false;
  if (!(a instanceof Float64Array) || a.length < MTIME_NSEC + 1) {
    raw = null;
    return viaNode(path, out, at);
  }
  out[at] = a[SIZE];
  // As Node computes mtimeMs (msFromTimeSpec), so the numbers equal those the stat cache holds.
  out[at + 1] = a[MTIME_SEC] * 1e3 + a[MTIME_NSEC] / 1e6;
  out[at + 2] = a[INO];
  out[at + 3] = a[MODE];
  if (!checked) {
    checked = true;
    const mine = out.slice(at, at + STAT_FIELDS);
    if (!viaNode(path, out, at) || mine.some((v, k) => v !== out[at + k])) raw = null;
  }
  return true;
}
