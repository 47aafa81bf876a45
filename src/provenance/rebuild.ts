/**
 * Signing what `dv repro --verify --rebuild` found: one receipt (receipt.ts) per rebuilt stage,
 * signed with `attest.key` and kept under each of its outs' snapshots (evidence-store.ts).
 *
 * Invariants: the signer is loaded before anything runs (no key: one refusal, nothing rebuilt);
 * a receipt records what dv.lock recorded (tree, snapshot, run) beside what the rebuild wrote,
 * mismatches included: a rebuild that did not reproduce is evidence too.
 */
import { DvError } from '../errors.js';
import type { Lockfile } from '../pipeline/lockfile.js';
import { captureEnv, codeState } from '../pipeline/state.js';
import { VERSION, type RepoSession } from '../repo/repo.js';
import { type Signer, signEnvelope } from './dsse.js';
import { buildReceipt } from './receipt.js';
import { saveReceipt } from './evidence-store.js';
import { INTOTO_PAYLOAD_TYPE } from './statement.js';
import { ATTEST_KEY, configuredSigner } from './trust.js';

/** What the rerun of one stage gave (ops/verify.ts's VerifyStage, structurally). */
export interface RebuiltStage {
  name: string;
  exitCode?: number;
  seconds: number;
  outs: { path: string; actual: string | null }[];
}

export interface RebuildReceipt {
  stage: string;
  artifacts: string[];
  matched: boolean;
  keyid: string;
  /** Where the receipt was kept (one file per out). */
  files: string[];
}

/** The signer for receipts; USAGE before anything is rebuilt when no trusted config names one. */
export async function rebuildSigner(s: RepoSession): Promise<Signer> {
  const signer = await configuredSigner(s.config, s.root);
  if (!signer)
    throw new DvError(
      'USAGE',
      `--rebuild signs a receipt, and no signing key is set: \`dv config --local ${ATTEST_KEY} PATH\` (make one with \`dv key gen PATH\`), or drop --rebuild`,
    );
  return signer;
}

/** Signs and keeps one receipt per rebuilt stage. */
export async function writeRebuildReceipts(
  s: RepoSession,
  signer: Signer,
  lock: Lockfile,
  stages: RebuiltStage[],
): Promise<RebuildReceipt[]> {
  const env = await captureEnv(s, await codeState(s.root));
  const at = new Date().toISOString();
  const out: RebuildReceipt[] = [];
  for (const st of stages) {
    const locked = lock.stages[st.name];
    if (!locked) continue;
    const statement = buildReceipt({
      reproduced: { stage: st.name, runKey: locked.key, run: locked.run, ranAt: locked.ranAt, cmd: locked.cmd },
      rebuild: { at, signer: signer.keyid, dv: VERSION, env, exitCode: st.exitCode ?? 0, seconds: st.seconds },
      outs: locked.outs.map((o) => {
        const rebuilt = st.outs.find((x) => x.path === o.path)?.actual ?? null;
        return { path: o.path, tree: o.id, snapshot: o.snapshot, rebuilt, matched: rebuilt === o.id };
      }),
      matched: false,
    });
    const envelope = signEnvelope(INTOTO_PAYLOAD_TYPE, Buffer.from(JSON.stringify(statement), 'utf8'), signer);
    const bytes = Buffer.from(JSON.stringify(envelope, null, 2) + '\n', 'utf8');
    const files = await saveReceipt(
      s,
      statement.predicate.outs.map((o) => o.snapshot),
      bytes,
    );
    out.push({
      stage: st.name,
      artifacts: statement.predicate.outs.map((o) => o.path),
      matched: statement.predicate.matched,
      keyid: signer.keyid,
      files,
    });
  }
  return out;
}
