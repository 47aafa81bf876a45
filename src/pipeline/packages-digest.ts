/**
 * The Python package set in one line, as dv.lock keeps it: `sha256:<hex> (N packages)`, the
 * SHA-256 of the sorted `name==version` lines. The full list stays in the run record and the
 * outs' snapshots (env-extra.ts captures it). Pure.
 */
import { createHash } from 'node:crypto';

const DIGEST = /^sha256:([0-9a-f]{64}) \((\d+) packages?\)$/;

/**
 * The package set in one line, as dv.lock keeps it (the full list is in the run record and the
 * outs' snapshots): `sha256:<hex> (N packages)`, the SHA-256 of the sorted `name==version` lines.
 * A value that already is a digest is returned as it is, so old and new records compare.
 */
export function packagesDigest(pkgs: Record<string, string> | string): string {
  if (typeof pkgs === 'string') return pkgs;
  const names = Object.keys(pkgs).sort();
  const h = createHash('sha256');
  for (const n of names) h.update(`${n}==${pkgs[n]}\n`);
  return `sha256:${h.digest('hex')} (${names.length} package${names.length === 1 ? '' : 's'})`;
}

/** The count and hex of a digest line; undefined when `v` is not one. */
export function parseDigest(v: unknown): { hex: string; count: number } | undefined {
  const m = typeof v === 'string' ? DIGEST.exec(v) : null;
  return m ? { hex: m[1], count: Number(m[2]) } : undefined;
}
