/**
 * Attestations as `dv gc --remote` roots: an attestation file (`dv attest ARTIFACT -o
 * NAME.intoto.json`, or a `.intoto.jsonl` of several envelopes) committed anywhere in the git
 * history gc reads keeps the artifact's snapshot and every input snapshot it names (internal
 * parameters, stage deps, resolved dependencies), with their history, even once the branch that
 * made the artifact is deleted. So do the attestations this clone keeps (`dv attest`, `dv commit`
 * with a signing key: `.dv/cache/attestations/<snapshot>/`), committed or not.
 *
 * Invariants: signatures are not checked (a forged or untrusted file only makes gc keep more, never
 * less); a file that is not a dv attestation is skipped; at most MAX_FILES blobs of at most
 * MAX_ENVELOPE_BYTES each are read, one at a time; nothing is written.
 */
import { isId } from '../core/ids.js';
import { DvError } from '../errors.js';
import { MAX_ENVELOPE_BYTES, parseEnvelope } from '../provenance/dsse.js';
import { DV_SNAPSHOT, INTOTO_PAYLOAD_TYPE, parseStatement } from '../provenance/statement.js';
import { keptSnapshots, loadEvidence } from '../provenance/evidence-store.js';
import { gitOut } from '../repo/git-pointers.js';
import type { RepoSession } from '../repo/repo.js';

const MAX_FILES = 10_000;

/** Whether a path in a git tree names an attestation file. */
export const isAttestationPath = (path: string): boolean => /\.intoto\.jsonl?$/.test(path);

/** The snapshot ids the attestations in these git blobs name. */
export async function attestedSnapshots(root: string, blobs: string[]): Promise<string[]> {
  if (blobs.length > MAX_FILES)
    throw new DvError('USAGE', `gc --remote stopped: git history holds more than ${MAX_FILES} attestation files (*.intoto.json)`, {});
  const out = new Set<string>();
  for (const blob of blobs) {
    const size = Number((await gitOut(root, ['cat-file', '-s', blob])).toString('utf8').trim());
    if (!(size <= MAX_ENVELOPE_BYTES)) continue;
    const text = (await gitOut(root, ['cat-file', 'blob', blob])).toString('utf8');
    // One envelope (pretty-printed JSON), else one per line (.jsonl).
    const whole = snapshotsOf(text, `git blob ${blob}`);
    const ids = whole ?? text.split('\n').flatMap((line) => (line.trim() === '' ? [] : (snapshotsOf(line, `git blob ${blob}`) ?? [])));
    for (const id of ids) out.add(id);
  }
  return [...out];
}

/** The snapshot ids the attestations kept in this clone's store directory name. */
export async function keptAttestedSnapshots(s: RepoSession): Promise<string[]> {
  const out = new Set<string>();
  for (const snap of await keptSnapshots(s, 'attestations'))
    for (const { file, bytes } of await loadEvidence(s, 'attestations', snap))
      for (const id of snapshotsOf(bytes.toString('utf8'), file) ?? []) out.add(id);
  return [...out];
}

/** The snapshots one envelope's statement names; undefined when `doc` is not a DSSE envelope. */
function snapshotsOf(doc: string, what: string): string[] | undefined {
  let env: ReturnType<typeof parseEnvelope>;
  try {
    env = parseEnvelope(doc, what);
  } catch (e) {
    if (e instanceof DvError) return undefined;
    throw e;
  }
  if (env.payloadType !== INTOTO_PAYLOAD_TYPE) return [];
  try {
    const b = parseStatement(env.payloadBytes, what).predicate.buildDefinition;
    const ids = [b.internalParameters.snapshot];
    for (const st of b.internalParameters.stages) for (const d of st.deps) if (d.snapshot) ids.push(d.snapshot);
    for (const r of b.resolvedDependencies) {
      const id = r.digest?.[DV_SNAPSHOT];
      if (typeof id === 'string') ids.push(id);
    }
    return ids.filter(isId);
  } catch (e) {
    if (e instanceof DvError) return [];
    throw e;
  }
}
