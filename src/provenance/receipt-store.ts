/**
 * Where rebuild receipts are kept: beside the run signatures in the store's directory,
 * `<cache>/receipts/<snapshot id>/<sha256 of the envelope>.json`, one copy per out the receipt
 * names, so the receipts of an artifact are one directory listing away (`dv attest verify`,
 * `dv audit export`). A receipt is signed: the files are a cache of evidence, never trusted for
 * what their names say; whoever reads one verifies its signature and subject.
 *
 * Invariants: names are checked (an id directory, a hex file name) before any path is joined;
 * files are read capped and never through a link (the cache may sit inside a work tree that came
 * with a clone); at most MAX_RECEIPTS are listed per snapshot.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { isId } from '../core/ids.js';
import { readControlBytes, writeControlFile } from '../repo/control-file.js';
import type { RepoSession } from '../repo/repo.js';
import { receiptName } from './receipt.js';

/** A receipt envelope holds one stage's outs and environment: far below this. */
export const MAX_RECEIPT_BYTES = 4 * 1024 * 1024;
const MAX_RECEIPTS = 100;
const NAME = /^[0-9a-f]{64}\.json$/;

const dirOf = (s: RepoSession, snapshot: string): string => join(s.paths.cacheDir, 'receipts', snapshot);

/** Keeps a receipt under each snapshot it is about; returns the files written. */
export async function saveReceipt(s: RepoSession, snapshots: string[], bytes: Buffer): Promise<string[]> {
  const files: string[] = [];
  for (const snap of new Set(snapshots)) {
    if (!isId(snap)) continue;
    const file = join(dirOf(s, snap), receiptName(bytes));
    await writeControlFile(file, bytes, { tmpDir: s.paths.tmpDir });
    files.push(file);
  }
  return files;
}

/** The receipts kept for a snapshot (newest name order is meaningless: callers sort by what they say). */
export async function loadReceipts(s: RepoSession, snapshot: string): Promise<{ file: string; bytes: Buffer }[]> {
  if (!isId(snapshot)) return [];
  const dir = dirOf(s, snapshot);
  const names = (await fsp.readdir(dir).catch(() => [] as string[])).filter((n) => NAME.test(n)).sort();
  const out: { file: string; bytes: Buffer }[] = [];
  for (const n of names.slice(0, MAX_RECEIPTS)) {
    const bytes = await readControlBytes(join(dir, n), { maxBytes: MAX_RECEIPT_BYTES }).catch(() => undefined);
    if (bytes) out.push({ file: join(dir, n), bytes });
  }
  return out;
}
