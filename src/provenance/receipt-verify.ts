/**
 * Rebuild receipts checked in a repository (`dv attest verify`): a receipt given as the file to
 * verify (trusted signature, the named artifact among its subjects, each subject's snapshot in
 * the store with the recorded tree and still what the workspace records, and whether the rebuild
 * matched), and the receipts kept for an attested snapshot, reported beside the attestation.
 *
 * Invariants: nothing of a receipt is read before a trusted key's signature verified (rebuild.ts);
 * a receipt that verifies but records a mismatch is reported as not reproduced, a distinct
 * outcome from a receipt that does not verify.
 */
import type { KeyObject } from 'node:crypto';
import { loadSnapshot } from '../history/objects.js';
import { loadPipeline } from '../pipeline/state.js';
import type { RepoSession } from '../repo/repo.js';
import { findTracked } from '../workspace/pointers.js';
import { checkReceipt, type ReceiptReport } from './receipt.js';
import { loadReceipts } from './evidence-store.js';

export interface ReceiptVerdict {
  /** Present when the signature verified and the receipt parsed. */
  report?: ReceiptReport;
  signedBy: string[];
  /** One line per thing that does not hold (not counting a mismatch the receipt records). */
  failures: string[];
  /** The receipt verifies, and says the rebuild did not reproduce the artifact. */
  notReproduced: boolean;
}

/** The snapshot the workspace records for an out now (dv.lock, else its pointer file). */
export async function currentSnapshot(s: RepoSession, path: string): Promise<string | undefined> {
  const lock = await loadPipeline(s.root).catch(() => undefined);
  for (const x of Object.values(lock?.lock.stages ?? {})) {
    const o = x.outs.find((y) => y.path === path);
    if (o) return o.snapshot;
  }
  return (await findTracked(s.root).catch(() => [])).find((t) => t.rel === path)?.pointer.snapshot;
}

/** A receipt file verified for `artifact` (a repository path; absent: every out it names). */
export async function verifyReceiptFile(
  s: RepoSession,
  text: string,
  file: string,
  trusted: { file: string; keys: Map<string, KeyObject> },
  artifact?: string,
): Promise<ReceiptVerdict> {
  const c = checkReceipt(text, file, trusted.keys);
  if (!c.ok) return { signedBy: [], failures: c.problems.map((p) => `${p} (trusted keys: ${trusted.file})`), notReproduced: false };
  const v: ReceiptVerdict = { report: c.report, signedBy: c.signedBy, failures: [], notReproduced: false };
  const outs = c.statement.predicate.outs;
  const named = artifact === undefined ? outs : outs.filter((o) => o.path === artifact || artifact.startsWith(o.path + '/'));
  if (named.length === 0) {
    v.failures.push(
      `${artifact} is not a subject of this receipt: it is about ${outs.map((o) => o.path).join(', ')} (a receipt of another artifact)`,
    );
    return v;
  }
  for (const o of named) {
    const snap = await loadSnapshot(s.store, o.snapshot).catch(() => undefined);
    if (!snap) v.failures.push(`${o.path}: snapshot ${o.snapshot.slice(0, 12)} is not in the local store (run \`dv fetch\`)`);
    else if (snap.tree !== o.tree || snap.path !== o.path)
      v.failures.push(
        `${o.path}: snapshot ${o.snapshot.slice(0, 12)} holds ${snap.path} tree ${snap.tree.slice(0, 12)}, the receipt names tree ${o.tree.slice(0, 12)}`,
      );
    const now = await currentSnapshot(s, o.path);
    if (now === undefined) v.failures.push(`${o.path}: neither dv.lock nor a pointer file names it`);
    else if (now !== o.snapshot)
      v.failures.push(
        `${o.path}: the workspace records snapshot ${now.slice(0, 12)}, the receipt is about ${o.snapshot.slice(0, 12)} (an older or other version)`,
      );
  }
  if (v.failures.length === 0 && !c.report.matched) {
    v.notReproduced = true;
    for (const m of c.report.mismatches) v.failures.push(`not reproduced: ${m}`);
  }
  return v;
}

/** The kept receipts of a snapshot that trusted keys signed, oldest rebuild first; others are left out. */
export async function storedReceiptReports(
  s: RepoSession,
  snapshot: string,
  path: string,
  trusted: Map<string, KeyObject>,
): Promise<ReceiptReport[]> {
  const out: ReceiptReport[] = [];
  for (const r of await loadReceipts(s, snapshot)) {
    const c = checkReceipt(r.bytes.toString('utf8'), r.file, trusted, { snapshot, path });
    if (c.ok) out.push(c.report);
  }
  return out.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
}
