/**
 * Signed run records. With `attest.key` set, `dv repro` signs each run record it writes: a DSSE
 * envelope whose payload is the record's exact bytes (`dvrun 1` encoding), kept beside the
 * store as `<cache>/runsigs/<run id>` and pushed beside the record as `runs/<xx>/<key>.sig`.
 * (The files are kept by pipeline/run-cache.ts, the remote key is in transfer/layout.ts.)
 * The record itself is unchanged (its id, its format), so older dv reads it as before.
 *
 * With trusted keys configured, a record from a remote counts only when its envelope verifies
 * by a trusted key AND its payload is byte for byte the record that was fetched: a valid
 * signature over some other record proves nothing about this one.
 */
import { DvError } from '../errors.js';
import { MAX_RUN_SIG_BYTES } from '../pipeline/run-cache.js';
import { checkEnvelope, parseEnvelope, type Signer, signEnvelope } from './dsse.js';
import type { TrustedKeys } from './trust.js';

export const RUN_PAYLOAD_TYPE = 'application/vnd.dv.run.v1';

export function signRun(record: Buffer, signer: Signer): Buffer {
  return Buffer.from(JSON.stringify(signEnvelope(RUN_PAYLOAD_TYPE, record, signer)) + '\n', 'utf8');
}

export type RunTrust = { ok: true; keyid: string } | { ok: false; why: string };

/** Whether `envelope` is a trusted key's signature over exactly `record`; `why` completes "run record X ...". */
export function checkRunSignature(record: Buffer, envelope: Buffer | undefined, trusted: TrustedKeys): RunTrust {
  if (envelope === undefined) return { ok: false, why: 'is unsigned' };
  if (envelope.length > MAX_RUN_SIG_BYTES) return { ok: false, why: 'has a signature file too large to be one' };
  let env: ReturnType<typeof parseEnvelope>;
  try {
    env = parseEnvelope(envelope.toString('utf8'), 'signature');
  } catch (e) {
    if (e instanceof DvError) return { ok: false, why: 'has a malformed signature' };
    throw e;
  }
  if (env.payloadType !== RUN_PAYLOAD_TYPE) return { ok: false, why: `has a signature of another payload type (${env.payloadType})` };
  if (!env.payloadBytes.equals(record)) return { ok: false, why: 'has a signature over another record' };
  const c = checkEnvelope(env, trusted.keys);
  if (c.trustedBy.length > 0) return { ok: true, keyid: c.trustedBy[0] };
  return { ok: false, why: `${c.problems.join('; ')} (trusted keys: ${trusted.file})` };
}
