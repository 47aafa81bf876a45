/**
 * Where signed evidence about a snapshot is kept: beside the run signatures in the store's
 * directory, `<cache>/<kind>/<snapshot id>/<sha256 of the envelope>.json`, where kind is
 * `attestations` (`dv attest`, `dv commit --sign`) or `receipts` (`dv repro --verify --rebuild`,
 * one copy per out the receipt names). So the evidence of an artifact is one directory listing
 * away (`dv attest verify <artifact>`, `dv audit export`). Every file is signed: the files are a
 * cache of evidence, never trusted for what their names say; a reader verifies each.
 *
 * Invariants: names are checked (an id directory, a hex file name) before any path is joined;
 * files are read capped and never through a link (the cache may sit inside a work tree that came
 * with a clone); at most MAX_KEPT are listed per snapshot.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { isId } from '../core/ids.js';
import { readControlBytes, writeControlFile } from '../repo/control-file.js';
import type { RepoSession } from '../repo/repo.js';
import { MAX_ENVELOPE_BYTES } from './dsse.js';
import { receiptName } from './receipt.js';

export type EvidenceKind = 'attestations' | 'receipts';
const MAX_KEPT = 100;
/** At most this many snapshots' evidence is listed (`keptSnapshots`). */
const MAX_SNAPSHOTS = 100_000;
const NAME = /^[0-9a-f]{64}\.json$/;

const dirOf = (s: RepoSession, kind: EvidenceKind, snapshot: string): string => join(s.paths.cacheDir, kind, snapshot);

/** Keeps an envelope under each snapshot it is about; returns the files written. */
export async function saveEvidence(s: RepoSession, kind: EvidenceKind, snapshots: string[], bytes: Buffer): Promise<string[]> {
  const files: string[] = [];
  for (const snap of new Set(snapshots)) {
    if (!isId(snap)) continue;
    const file = join(dirOf(s, kind, snap), receiptName(bytes));
    await writeControlFile(file, bytes, { tmpDir: s.paths.tmpDir });
    files.push(file);
  }
  return files;
}

/** The envelopes kept for a snapshot, in name order (callers order them by what they say). */
export async function loadEvidence(s: RepoSession, kind: EvidenceKind, snapshot: string): Promise<{ file: string; bytes: Buffer }[]> {
  if (!isId(snapshot)) return [];
  const dir = dirOf(s, kind, snapshot);
  const names = (await fsp.readdir(dir).catch(() => [] as string[])).filter((n) => NAME.test(n)).sort();
  const out: { file: string; bytes: Buffer }[] = [];
  for (const n of names.slice(0, MAX_KEPT)) {
    const bytes = await readControlBytes(join(dir, n), { maxBytes: MAX_ENVELOPE_BYTES }).catch(() => undefined);
    if (bytes) out.push({ file: join(dir, n), bytes });
  }
  return out;
}

export const saveReceipt = (s: RepoSession, snapshots: string[], bytes: Buffer): Promise<string[]> =>
  saveEvidence(s, 'receipts', snapshots, bytes);
export const loadReceipts = (s: RepoSession, snapshot: string): Promise<{ file: string; bytes: Buffer }[]> =>
  loadEvidence(s, 'receipts', snapshot);

/** The snapshots some evidence of `kind` is kept for: id-named real directories (not links), at most MAX_SNAPSHOTS. */
export async function keptSnapshots(s: RepoSession, kind: EvidenceKind): Promise<string[]> {
  const dir = join(s.paths.cacheDir, kind);
  const st = await fsp.lstat(dir).catch(() => undefined);
  if (!st?.isDirectory()) return [];
  const out: string[] = [];
  for (const d of await fsp.readdir(dir, { withFileTypes: true })) {
    if (d.isDirectory() && isId(d.name)) out.push(d.name);
    if (out.length >= MAX_SNAPSHOTS) break;
  }
  return out.sort();
}
