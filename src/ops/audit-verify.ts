/**
 * `dv audit verify bundle.tar [--trusted-keys FILE] [--data DIR]`: checks an audit bundle with
 * nothing but the bundle (and the auditor's keys and copy of the data): no repository, no git, no
 * network, so it opens no session (lock mode `none`). The checks are provenance/bundle-verify.ts;
 * the tar is read bounded and in memory, never extracted (provenance/bundle.ts).
 */
import { promises as fsp } from 'node:fs';
import { initHash } from '../core/hash.js';
import { DvError } from '../errors.js';
import { readBundle } from '../provenance/bundle.js';
import { type BundleVerifyResult, verifyBundle } from '../provenance/bundle-verify.js';
import { loadPublicKeys } from '../provenance/keys.js';

export interface AuditVerifyOptions {
  /** The bundle (`dv audit export` wrote it). */
  file: string;
  /** Public keys to accept (PEM or ssh-ed25519 lines); absent: the bundle's own keys.pub, reported as such. */
  trustedKeys?: string;
  /** A copy of the data, laid out as in the repository: each raw input file's bytes are checked too. */
  data?: string;
}

export interface AuditVerifyResult extends BundleVerifyResult {
  bundle: string;
}

export async function auditVerify(o: AuditVerifyOptions): Promise<AuditVerifyResult> {
  await initHash();
  const trusted = o.trustedKeys !== undefined ? await loadPublicKeys(o.trustedKeys, '--trusted-keys') : undefined;
  if (o.data !== undefined && !(await fsp.stat(o.data).catch(() => undefined))?.isDirectory())
    throw new DvError('USAGE', `--data ${o.data}: not a directory (give a copy of the data, laid out as in the repository)`, {
      data: o.data,
    });
  const entries = await readBundle(o.file);
  const r = await verifyBundle(entries, { ...(trusted ? { trusted } : {}), ...(o.data !== undefined ? { dataDir: o.data } : {}) });
  return { bundle: o.file, ...r };
}
