/**
 * Signed run records. With `attest.key` set, `dv repro` signs each run record it writes: a DSSE
 * envelope whose payload is the record's exact bytes (`dvrun 1` encoding), kept beside the
 * store as `<cache>/runsigs/<run id>` and pushed beside the record as `runs/<xx>/<key>.sig`.
 * The record itself is unchanged (its id, its format), so older dv reads it as before.
 *
 * With trusted keys configured, a record from a remote counts only when its envelope verifies
 * by a trusted key AND its payload is byte for byte the record that was fetched: a valid
 * signature over some other record proves nothing about this one.
 */
import { join } from 'node:path';
import { isId } from '../core/ids.js';
import { DvError } from '../errors.js';
import { readControlBytes, writeControlFile } from '../repo/control-file.js';
import type { RepoSession } from '../repo/repo.js';
import { remoteRunKey } from '../transfer/layout.js';
import { checkEnvelope, parseEnvelope, type Signer, signEnvelope } from './dsse.js';
import type { TrustedKeys } from './trust.js';

export const RUN_PAYLOAD_TYPE = 'application/vnd.dv.run.v1';
/** An envelope of one signature over a small record: anything larger is not one. */
export const MAX_RUN_SIG_BYTES = 64 * 1024;

/** Where a run record's signature lives on a remote (beside the record; not a key runKeyOfRemoteKey accepts). */
export const remoteRunSigKey = (key: string): string => `${remoteRunKey(key)}.sig`;

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

const sigPath = (s: RepoSession, runId: string): string => join(s.paths.cacheDir, 'runsigs', runId);

/** Keeps a run record's signature in the local store's directory. */
export async function saveRunSignature(s: RepoSession, runId: string, envelope: Buffer): Promise<void> {
  if (!isId(runId)) throw new DvError('ERROR', `not a run id: ${runId}`);
  await writeControlFile(sigPath(s, runId), envelope, { tmpDir: s.paths.tmpDir });
}

/** The signature kept for a run record, or undefined (never through a link: the cache may sit in the work tree). */
export async function loadRunSignature(s: RepoSession, runId: string): Promise<Buffer | undefined> {
  if (!isId(runId)) return undefined;
  return readControlBytes(sigPath(s, runId), { maxBytes: MAX_RUN_SIG_BYTES }).catch(() => undefined);
}
