/**
 * S3 Object Lock for a remote (`dv remote add NAME s3://... --object-lock-days N
 * [--object-lock-mode governance|compliance]`), used by S3Backend. Invariants:
 * - Every upload of a key under `prefixes` (packs, pack indexes, run records; never gc's marks,
 *   which must stay deletable) carries ObjectLockMode and ObjectLockRetainUntilDate = now + days.
 *   S3 requires a body checksum on such uploads: PutObject sends Content-MD5, a multipart upload
 *   a CRC32 per part (`lockParams`).
 * - Nothing is uploaded with retention before the bucket was seen to have Object Lock enabled
 *   (`checkLockEnabled`, once per backend): a bucket without it is refused with one line.
 * - `deleteVersions` never asks S3 to delete a version under retention or legal hold: it reads each
 *   version's retention first and refuses with `lockedError` (REMOTE_ERROR, not transient,
 *   `data.objectLock`, the date) when one is; a delete S3 refuses anyway (AccessDenied: no
 *   permission to read retention) gets the same error. Versions past their retention are deleted by
 *   id, so their bytes go: a plain DELETE on a versioned bucket (Object Lock needs versioning) only
 *   hides them behind a delete marker. Listing is bounded (MAX_VERSION_PAGES).
 */
import {
  DeleteObjectCommand,
  GetObjectLockConfigurationCommand,
  HeadObjectCommand,
  type HeadObjectCommandOutput,
  ListObjectVersionsCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { DvError, isDvError } from '../errors.js';
import type { S3ErrorContext } from './s3errors.js';

const DAY_MS = 86_400_000;
/** A key has one version normally (a re-pushed pack two); its listing also holds siblings such as `<key>.sig`. */
const MAX_VERSION_PAGES = 20;

export interface S3ObjectLock {
  mode: 'GOVERNANCE' | 'COMPLIANCE';
  /** Retention of each upload, in days from the upload. */
  days: number;
  /** Keys under these prefixes are uploaded with retention; other keys are not. */
  prefixes: readonly string[];
  /** Where the setting comes from, for messages: `remote.origin.objectLockDays`, `--object-lock-days`. */
  setting?: string;
}

/** `Backend.stat` of an S3 remote: the size, and the Object Lock state of the current version when S3 reports it. */
export interface S3Stat {
  size: number;
  retainUntil?: Date;
  lockMode?: string;
  legalHold?: boolean;
}

/** What S3Backend lends these functions: its client, and its `send` (timeouts, classified errors). */
export interface LockIo {
  client: S3Client;
  bucket: string;
  location: string;
  send<T>(ctx: S3ErrorContext, call: (o: { requestTimeout: number }) => Promise<T>): Promise<T>;
}

/** The request parameters for an upload of `key` (relative to the remote's prefix): retention, or nothing. */
export function lockParams(
  lock: S3ObjectLock | undefined,
  key: string,
  now = Date.now(),
): { ObjectLockMode?: 'GOVERNANCE' | 'COMPLIANCE'; ObjectLockRetainUntilDate?: Date } {
  if (!lock || !lock.prefixes.some((p) => key.startsWith(p))) return {};
  return { ObjectLockMode: lock.mode, ObjectLockRetainUntilDate: new Date(now + lock.days * DAY_MS) };
}

/** The Object Lock fields of a HeadObject answer (absent when S3 reports none). */
export function lockOfHead(res: HeadObjectCommandOutput): Omit<S3Stat, 'size'> {
  const out: Omit<S3Stat, 'size'> = {};
  if (res.ObjectLockRetainUntilDate) out.retainUntil = new Date(res.ObjectLockRetainUntilDate);
  if (res.ObjectLockMode) out.lockMode = res.ObjectLockMode;
  if (res.ObjectLockLegalHoldStatus === 'ON') out.legalHold = true;
  return out;
}

/** Whether S3 would refuse to delete a version in this state now. */
export function isRetained(st: Omit<S3Stat, 'size'>, now = Date.now()): boolean {
  return st.legalHold === true || (st.lockMode !== undefined && st.retainUntil !== undefined && st.retainUntil.getTime() > now);
}

/** The refusal to delete a key under Object Lock: kept, with the date it may go (when known). */
export function lockedError(location: string, key: string, st: Omit<S3Stat, 'size'> = {}): DvError {
  const until = st.legalHold ? 'under a legal hold' : st.retainUntil ? `retained until ${st.retainUntil.toISOString()}` : 'locked';
  return new DvError('REMOTE_ERROR', `${location}/${key} is under S3 Object Lock (${st.lockMode ?? 'retention'}, ${until}): it stays`, {
    key,
    objectLock: true,
    retainUntil: st.retainUntil?.toISOString() ?? null,
    lockMode: st.lockMode ?? null,
    transient: false,
  });
}

/** Refuses (BAD_CONFIG) a bucket that does not have Object Lock enabled. */
export async function checkLockEnabled(io: LockIo, lock: S3ObjectLock): Promise<void> {
  const ctx = { bucket: io.bucket };
  const refuse = (why: string): DvError =>
    new DvError(
      'BAD_CONFIG',
      `${lock.setting ?? 'object lock'}: bucket ${io.bucket} ${why}, so dv cannot upload with retention: ` +
        'use a bucket created with Object Lock enabled, or drop the option',
      { bucket: io.bucket, objectLock: 'disabled' },
    );
  try {
    const res = await io.send(ctx, (o) => io.client.send(new GetObjectLockConfigurationCommand({ Bucket: io.bucket }), o));
    if (res.ObjectLockConfiguration?.ObjectLockEnabled !== 'Enabled') throw refuse('does not have Object Lock enabled');
  } catch (e) {
    if (isDvError(e) && e.data.awsCode === 'ObjectLockConfigurationNotFoundError') throw refuse('has no Object Lock configuration');
    throw e;
  }
}

/**
 * Deletes every version of `key` (and its delete markers), after checking that none is under
 * retention or legal hold: all or nothing, so no older version becomes current.
 */
export async function deleteVersions(io: LockIo, key: string, objectKey: string, now = Date.now()): Promise<void> {
  const ctx: S3ErrorContext = { bucket: io.bucket, key, objectKey };
  const versions: { id: string; marker: boolean }[] = [];
  let keyMarker: string | undefined;
  let versionMarker: string | undefined;
  for (let page = 0; ; page++) {
    if (page >= MAX_VERSION_PAGES)
      throw new DvError(
        'REMOTE_ERROR',
        `${io.location}/${key} lists more than ${MAX_VERSION_PAGES} pages of versions: dv deletes no more`,
        {
          key,
          transient: false,
        },
      );
    const cmd = new ListObjectVersionsCommand({
      Bucket: io.bucket,
      Prefix: objectKey,
      KeyMarker: keyMarker,
      VersionIdMarker: versionMarker,
    });
    const res = await io.send(ctx, (o) => io.client.send(cmd, o));
    for (const v of res.Versions ?? []) if (v.Key === objectKey && v.VersionId) versions.push({ id: v.VersionId, marker: false });
    for (const d of res.DeleteMarkers ?? []) if (d.Key === objectKey && d.VersionId) versions.push({ id: d.VersionId, marker: true });
    if (!res.IsTruncated) break;
    keyMarker = res.NextKeyMarker;
    versionMarker = res.NextVersionIdMarker;
  }
  for (const v of versions) {
    if (v.marker) continue;
    const head = new HeadObjectCommand({ Bucket: io.bucket, Key: objectKey, VersionId: v.id });
    const st = lockOfHead(await io.send(ctx, (o) => io.client.send(head, o)));
    if (isRetained(st, now)) throw lockedError(io.location, key, st);
  }
  for (const v of versions) {
    try {
      await io.send(ctx, (o) => io.client.send(new DeleteObjectCommand({ Bucket: io.bucket, Key: objectKey, VersionId: v.id }), o));
    } catch (e) {
      if (isDvError(e, 'OBJECT_MISSING')) continue;
      // Retention dv could not read (no s3:GetObjectRetention), or set since: S3 refuses, the key stays.
      if (isDvError(e) && e.data.awsCode === 'AccessDenied') throw lockedError(io.location, key);
      throw e;
    }
  }
}
