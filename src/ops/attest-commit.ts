/**
 * Signing at `dv commit` (with `attest.key` configured, `dv commit --sign`, or `attest.signCommits`):
 * each snapshot the commit records gets an attestation, as `dv attest` writes, kept in the
 * store's directory so `dv attest verify <path>` finds it. commit.ts calls `signedCommit` in one
 * line and passes itself, so the commit code stays the commit's.
 *
 * Invariants: the signing key is loaded before the commit starts: without one, a single refusal
 * and nothing changed; the inner commit gets `sign: false`, so it never signs twice.
 */
import { DvError } from '../errors.js';
import { getKey } from '../repo/config.js';
import type { RepoSession } from '../repo/repo.js';
import { ATTEST_KEY, configuredSigner, trustedValue } from '../provenance/trust.js';
import { buildStatement, signAndKeep } from './attest.js';

export const SIGN_COMMITS = 'attest.signCommits';

export interface CommitAttestation {
  path: string;
  snapshot: string;
  keyid: string;
  /** Where the attestation was kept. */
  file: string;
}

/**
 * `sign` given, else `attest.signCommits` from this clone's local config or the global one (never
 * the committed file), else whether a signing key is configured: with `attest.key` set, a commit
 * signs what it records, as `dv repro` signs its run records (`attest.signCommits false` opts out).
 */
async function wantsSigning(s: RepoSession, sign: boolean | undefined): Promise<boolean> {
  if (sign !== undefined) return sign;
  const v = getKey(s.config.levels.local, SIGN_COMMITS) ?? getKey(s.config.levels.global, SIGN_COMMITS);
  if (v !== undefined) return v === 'true';
  return trustedValue(s.config, ATTEST_KEY) !== undefined;
}

/**
 * Runs `commit` and signs an attestation of every snapshot it recorded, when signing is asked
 * for; undefined when it is not (the caller commits as usual).
 */
export async function signedCommit<
  O extends { sign?: boolean },
  R extends { committed: { path: string; snapshot: string; changed: boolean }[] },
>(s: RepoSession, opts: O, commit: (s: RepoSession, o: O) => Promise<R>): Promise<(R & { attestations: CommitAttestation[] }) | undefined> {
  if (!(await wantsSigning(s, opts.sign))) return undefined;
  const signer = await configuredSigner(s.config, s.root);
  if (!signer)
    throw new DvError(
      'USAGE',
      `dv commit --sign (or ${SIGN_COMMITS}) needs a signing key, and none is set: \`dv config --local ${ATTEST_KEY} PATH\` (\`dv key gen PATH\` makes one); nothing was committed`,
    );
  const r = await commit(s, { ...opts, sign: false });
  const attestations: CommitAttestation[] = [];
  for (const c of r.committed) {
    if (!c.changed) continue;
    const statement = await buildStatement(s, c.snapshot, s.root);
    const { kept } = await signAndKeep(s, statement, signer);
    attestations.push({ path: c.path, snapshot: c.snapshot, keyid: signer.keyid, file: kept });
  }
  return { ...r, attestations };
}
