/** `dv commit`: record new snapshots of the tracked paths that changed (or of the parts named). */
import type { RepoSession } from '../repo/repo.js';
import { pointerRelFor, usesGit } from '../workspace/pointers.js';
import { selectTrackedWithin } from '../workspace/tracked.js';
import { snapshotPath, snapshotWithin, withScanPool, type SnapshotEntry, type SnapshotOptions } from '../history/snapshot.js';
import { type CommitAttestation, signedCommit } from './attest-commit.js';
import { refuseIncomplete } from '../history/complete.js';
export interface CommitOptions extends SnapshotOptions {
  /** Paths to commit (relative to `cwd`); all tracked paths when empty. */
  paths?: string[];
  cwd?: string;
  /** Sign an attestation of each snapshot recorded (attest.key); default: config attest.signCommits. */
  sign?: boolean;
}

export type CommitEntry = SnapshotEntry;

export interface CommitResult {
  committed: CommitEntry[];
  /** Pointer files rewritten, for `git add` (none without git: `dv init --no-git`). */
  gitAdd: string[];
  bytesStored: number;
  objectsStored: number;
  /** With `sign`: the attestation kept for each snapshot recorded (ops/attest-commit.ts). */
  attestations?: CommitAttestation[];
}

/** Snapshots every changed tracked path (or the ones named; a path inside one records that part alone). */
export async function commit(s: RepoSession, opts: CommitOptions): Promise<CommitResult> {
  if (opts.sign !== false) return (await signedCommit(s, opts, commit)) ?? commit(s, { ...opts, sign: false });
  const selected = await selectTrackedWithin(s, opts.paths, opts.cwd ?? s.root, { named: true });
  const before = { ...s.store.stats };
  const committed: CommitEntry[] = [];
  await withScanPool(s, selected.length, async (pool) => {
    for (const { tracked: t, within } of selected) {
      if (within && t.pointer.kind === 'dir') committed.push(await snapshotWithin(s, t.rel, t.pointer.snapshot, within, opts));
      else {
        await refuseIncomplete(s, t);
        committed.push(await snapshotPath(s, t.rel, t.pointer.snapshot, { ...opts, pool }));
      }
    }
  });
  const gitAdd = (await usesGit(s)) ? committed.filter((c) => c.changed).map((c) => pointerRelFor(c.path)) : [];
  return {
    committed,
    gitAdd,
    bytesStored: s.store.stats.storedBytesWritten - before.storedBytesWritten,
    objectsStored: s.store.stats.objectsWritten - before.objectsWritten,
  };
}
