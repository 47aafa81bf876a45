import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import {
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type GetObjectCommandOutput,
} from '@aws-sdk/client-s3';
import type { fromNodeProviderChain } from '@aws-sdk/credential-providers';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { DvError, fsError, isDvError } from '../errors.js';
import type { Backend, GetOptions, RangeSink } from './backend.js';
import { intoView, rangeError, validateKey, validatePrefix, validateRange } from './keys.js';
import { capErrorBodies } from './s3error-body.js';
import { classifyS3Error, missingError, type S3ErrorContext } from './s3errors.js';
import { bufferTarget, readBody, readDirect, streamBody, type BodyLimits } from './s3body.js';
import { DIRECT, DirectHandler } from './s3direct.js';
import { capListBodies } from './s3list-cap.js';
import { checkLockEnabled, deleteVersions, lockOfHead, lockParams, type LockIo, type S3ObjectLock, type S3Stat } from './s3lock.js';

export type { S3ObjectLock, S3Stat } from './s3lock.js';

const MiB = 1024 * 1024;
/** The slowest transfer rate tolerated before a request counts as hung (bytes per ms). */
const MIN_RATE = (256 * 1024) / 1000;

export interface S3BackendOptions {
  bucket: string;
  /** Key prefix inside the bucket, without leading or trailing '/'. */
  prefix?: string;
  /** S3-compatible endpoint URL (MinIO, R2, ...); path-style addressing is then the default. */
  endpoint?: string;
  region?: string;
  /** AWS profile for the standard credential chain. */
  profile?: string;
  /** Explicit credentials, bypassing the environment (tests, embedding). */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  forcePathStyle?: boolean;
  /** Flexible checksums; 'when_required' avoids aws-chunked bodies that some stores store verbatim. */
  checksum?: 'when_required' | 'when_supported';
  /** Connect and idle timeout; a request's total timeout grows with its body size. Default 30 s. */
  timeoutMs?: number;
  /** The SDK's own attempts. Keep 1: withRetry retries the same way for every backend. */
  maxAttempts?: number;
  maxSockets?: number;
  /** Files above this size are uploaded in parts. Default 64 MiB. */
  multipartThreshold?: number;
  partSize?: number;
  /** ListObjectsV2 MaxKeys, lowered by tests to exercise pagination. */
  listPageSize?: number;
  /** Server-side encryption asked for on every upload (PutObject and CreateMultipartUpload). */
  sse?: S3Sse;
  /** S3 Object Lock retention on every upload under its prefixes (s3lock.ts); the bucket must have Object Lock enabled. */
  objectLock?: S3ObjectLock;
}

/** S3 server-side encryption: SSE-S3 (AES256) or SSE-KMS, with an optional key and S3 Bucket Key. */
export interface S3Sse {
  mode: 'AES256' | 'aws:kms';
  /** aws:kms only: the key id, alias or ARN (the account's default key when absent). */
  kmsKeyId?: string;
  /** aws:kms only: use an S3 Bucket Key (fewer KMS calls). */
  bucketKey?: boolean;
}

/** The request parameters that ask for `sse`, for PutObject and CreateMultipartUpload alike. */
function sseParams(sse: S3Sse | undefined): {
  ServerSideEncryption?: 'AES256' | 'aws:kms';
  SSEKMSKeyId?: string;
  BucketKeyEnabled?: boolean;
} {
  if (!sse) return {};
  return {
    ServerSideEncryption: sse.mode,
    ...(sse.mode === 'aws:kms' && sse.kmsKeyId ? { SSEKMSKeyId: sse.kmsKeyId } : {}),
    ...(sse.mode === 'aws:kms' && sse.bucketKey !== undefined ? { BucketKeyEnabled: sse.bucketKey } : {}),
  };
}

/**
 * A Backend over an S3 bucket (AWS or S3-compatible). Every download is checked against
 * its announced length; lists skip keys dv cannot use (such as 'dir/' markers).
 */
export class S3Backend implements Backend {
  readonly location: string;
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly prefix: string;
  private readonly opts: S3BackendOptions;
  private readonly agent: HttpAgent | HttpsAgent;
  /** The one check that the bucket has Object Lock enabled, before the first upload with retention. */
  private lockChecked?: Promise<void>;

  constructor(opts: S3BackendOptions) {
    this.opts = opts;
    this.bucket = opts.bucket;
    const p = (opts.prefix ?? '').replace(/^\/+|\/+$/g, '');
    this.prefix = p === '' ? '' : `${p}/`;
    this.location = `s3://${opts.bucket}${p ? `/${p}` : ''}`;
    const timeoutMs = opts.timeoutMs ?? 30_000;
    const https = !opts.endpoint || opts.endpoint.startsWith('https:');
    const agentOpts = { keepAlive: true, maxSockets: opts.maxSockets ?? 64 };
    this.agent = https ? new HttpsAgent(agentOpts) : new HttpAgent(agentOpts);
    const checksum = opts.checksum === 'when_supported' ? 'WHEN_SUPPORTED' : 'WHEN_REQUIRED';
    this.client = new S3Client({
      region: opts.region ?? (opts.endpoint ? 'us-east-1' : undefined),
      endpoint: opts.endpoint,
      forcePathStyle: opts.forcePathStyle ?? opts.endpoint !== undefined,
      credentials: opts.credentials ?? (opts.profile ? profileChain(opts.profile) : undefined),
      maxAttempts: opts.maxAttempts ?? 1,
      followRegionRedirects: true,
      requestChecksumCalculation: checksum,
      responseChecksumValidation: checksum,
      // Ranged GETs over plain http read their bodies in place (s3direct.ts); every other request goes through the SDK's handler.
      requestHandler: new DirectHandler(
        new NodeHttpHandler({
          connectionTimeout: timeoutMs,
          socketTimeout: timeoutMs,
          requestTimeout: this.requestTimeout(this.partSize()),
          throwOnRequestTimeout: true,
          httpAgent: https ? undefined : (this.agent as HttpAgent),
          httpsAgent: https ? (this.agent as HttpsAgent) : undefined,
        }),
        { connectMs: timeoutMs, idleMs: timeoutMs },
      ),
    });
    capListBodies(this.client, this.location);
    capErrorBodies(this.client, timeoutMs);
  }

  async check(): Promise<void> {
    const ctx = { bucket: this.bucket, endpoint: this.opts.endpoint };
    await this.send(ctx, 0, (o) => this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.prefix, MaxKeys: 1 }), o));
    if (this.opts.objectLock) await this.checkLock();
  }

  async put(key: string, data: Uint8Array): Promise<void> {
    validateKey(key);
    await this.putBuffer(key, Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  }

  async putFile(key: string, localPath: string): Promise<void> {
    validateKey(key);
    const st = await fs.stat(localPath).catch((e) => {
      throw localError(e, localPath);
    });
    // At most one part goes through PutObject with a buffer: lib-storage would send a stream.
    if (st.size <= Math.max(this.opts.multipartThreshold ?? 64 * MiB, this.partSize())) {
      const body = await fs.readFile(localPath).catch((e) => {
        throw localError(e, localPath);
      });
      return this.putBuffer(key, body);
    }
    const ctx = this.ctx(key);
    const lock = lockParams(this.opts.objectLock, key);
    if (lock.ObjectLockMode) await this.checkLock();
    const source = createReadStream(localPath);
    let sourceError: unknown;
    source.once('error', (e) => {
      sourceError = e;
    });
    // Loaded here: lib-storage costs every command that opens a remote ~80 ms of module loading.
    const { Upload } = await import('@aws-sdk/lib-storage');
    const upload = new Upload({
      client: this.client,
      // lib-storage sends these with CreateMultipartUpload (or the PutObject of a single part).
      // With retention, S3 wants a checksum on every part: a CRC32 the SDK computes per part.
      params: {
        Bucket: this.bucket,
        Key: ctx.objectKey,
        Body: source,
        ...sseParams(this.opts.sse),
        ...lock,
        ...(lock.ObjectLockMode ? { ChecksumAlgorithm: 'CRC32' as const } : {}),
      },
      partSize: this.partSize(),
      queueSize: 4,
      // Left to us: lib-storage's own abort would hide the real cause behind the abort's error.
      leavePartsOnError: true,
    });
    try {
      await upload.done();
    } catch (e) {
      source.destroy();
      if (upload.uploadId) {
        const abort = new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: ctx.objectKey, UploadId: upload.uploadId });
        await this.client.send(abort).catch(() => undefined);
      }
      throw sourceError ? localError(sourceError, localPath) : classifyS3Error(e, ctx);
    }
    const stored = await this.stat(key);
    if (stored?.size !== st.size) {
      throw new DvError(
        'REMOTE_ERROR',
        `${ctx.objectKey} in bucket ${this.bucket} holds ${stored?.size} bytes after an upload of ${st.size}: if ${localPath} did not change meanwhile, set the remote's checksum option to when_required`,
        { bucket: this.bucket, key, transient: false },
      );
    }
  }

  async get(key: string, opts: GetOptions = {}): Promise<Buffer> {
    validateKey(key);
    const ctx = this.ctx(key);
    const res = await this.send(ctx, 0, (o) => this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: ctx.objectKey }), o));
    return readBody(res.Body, res.ContentLength, ctx, this.limits(res.ContentLength ?? opts.maxBytes ?? 0, opts.maxBytes));
  }

  async getRange(key: string, offset: number, length: number, into?: Uint8Array): Promise<Buffer> {
    validateKey(key);
    validateRange(key, offset, length);
    const ctx = this.ctx(key);
    const target = into ? intoView(into, length) : undefined;
    if (length === 0) {
      const st = await this.stat(key);
      if (!st) throw missingError(ctx);
      if (offset > st.size) throw rangeError(this.location, key, offset, length, st.size);
      return Buffer.alloc(0);
    }
    const res = await this.sendRange(ctx, key, offset, length, target !== undefined);
    if (res.ContentRange === undefined && res.ContentLength !== undefined && res.ContentLength !== length) {
      // A store that ignored the Range header sent the whole object.
      // Only up to the end of the range is of use: a body larger than that is refused unread.
      const whole = await readBody(res.Body, res.ContentLength, ctx, this.limits(offset + length, offset + length));
      if (whole.length < offset + length) throw rangeError(this.location, key, offset, length, whole.length);
      if (!target) return whole.subarray(offset, offset + length);
      target.set(whole.subarray(offset, offset + length));
      return target;
    }
    if (target && (await readDirect(res.Body, length, ctx, this.limits(length), bufferTarget(target)))) return target;
    // The body goes straight into the caller's buffer (or one of exactly `length`), never through a list of chunks;
    // that buffer bounds it: a byte more is a damaged response (transient), as a byte less is.
    return readBody(res.Body, length, ctx, { ...this.limits(length), into: target });
  }

  /** As getRange, with the body handed to `sink` as it arrives: one GET of a whole pack needs no buffer of its size. */
  async getRangeTo(key: string, offset: number, length: number, sink: RangeSink): Promise<void> {
    validateKey(key);
    validateRange(key, offset, length);
    const ctx = this.ctx(key);
    if (length === 0) return sink(await this.getRange(key, offset, 0));
    const room = sink.room;
    const res = await this.sendRange(ctx, key, offset, length, room !== undefined);
    if (res.ContentRange === undefined && res.ContentLength !== undefined && res.ContentLength !== length) {
      // A store that ignored the Range header: as getRange, whole up to the range's end, then handed over at once.
      const whole = await readBody(res.Body, res.ContentLength, ctx, this.limits(offset + length, offset + length));
      if (whole.length < offset + length) throw rangeError(this.location, key, offset, length, whole.length);
      return sink(whole.subarray(offset, offset + length));
    }
    // A sink with room gets the body read into it in place (s3direct.ts), where the request went that way.
    if (room && (await readDirect(res.Body, length, ctx, this.limits(length), { room, take: sink }))) return;
    return streamBody(res.Body, length, ctx, this.limits(length), sink);
  }

  /** Sends a ranged GetObject: a range past the object's end is OBJECT_CORRUPT (as every backend says it). */
  private async sendRange(
    ctx: S3ErrorContext,
    key: string,
    offset: number,
    length: number,
    direct = false,
  ): Promise<GetObjectCommandOutput> {
    const cmd = new GetObjectCommand({ Bucket: this.bucket, Key: ctx.objectKey, Range: `bytes=${offset}-${offset + length - 1}` });
    let res: GetObjectCommandOutput;
    try {
      res = await this.send(ctx, 0, (o) => this.client.send(cmd, direct ? ({ ...o, [DIRECT]: true } as typeof o) : o));
    } catch (e) {
      if (!isDvError(e) || (e.data.awsCode !== 'InvalidRange' && e.data.status !== 416)) throw e;
      const st = await this.stat(key);
      if (!st) throw missingError(ctx);
      throw rangeError(this.location, key, offset, length, st.size);
    }
    const total = Number(/\/(\d+)$/.exec(res.ContentRange ?? '')?.[1] ?? NaN);
    if (!Number.isNaN(total) && total < offset + length) {
      (res.Body as { destroy?: () => void } | undefined)?.destroy?.();
      throw rangeError(this.location, key, offset, length, total);
    }
    return res;
  }

  /** The size, and (S3Stat) the Object Lock state S3 reports for the current version. */
  async stat(key: string): Promise<S3Stat | undefined> {
    validateKey(key);
    const ctx = this.ctx(key);
    try {
      const res = await this.send(ctx, 0, (o) => this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: ctx.objectKey }), o));
      return { size: res.ContentLength ?? 0, ...lockOfHead(res) };
    } catch (e) {
      if (isDvError(e, 'OBJECT_MISSING')) return undefined;
      throw e;
    }
  }

  async *list(prefix: string): AsyncIterable<{ key: string; size: number }> {
    validatePrefix(prefix);
    const ctx = { bucket: this.bucket, endpoint: this.opts.endpoint };
    let token: string | undefined;
    do {
      const cmd = new ListObjectsV2Command({
        Bucket: this.bucket,
        Prefix: this.prefix + prefix,
        ContinuationToken: token,
        MaxKeys: this.opts.listPageSize,
      });
      const res = await this.send(ctx, 0, (o) => this.client.send(cmd, o));
      for (const o of res.Contents ?? []) {
        const key = (o.Key ?? '').slice(this.prefix.length);
        if (!isUsableKey(key)) continue;
        // Every byte bound a reader sets from a listed size fails open on NaN (a non-number <Size>).
        const size = o.Size ?? 0;
        if (!Number.isSafeInteger(size) || size < 0) {
          throw new DvError(
            'REMOTE_ERROR',
            `listing ${this.location} gave ${key} the size ${String(o.Size)}, not a byte count: it is damaged or hostile`,
            {
              bucket: this.bucket,
              transient: false,
            },
          );
        }
        yield { key, size };
      }
      token = res.IsTruncated ? res.NextContinuationToken : undefined;
      if (res.IsTruncated && !token) {
        throw new DvError('REMOTE_ERROR', `listing ${this.location} returned a truncated page without a continuation token`, {
          bucket: this.bucket,
          transient: false,
        });
      }
    } while (token);
  }

  async delete(key: string): Promise<void> {
    validateKey(key);
    const ctx = this.ctx(key);
    // With Object Lock (a versioned bucket): every version, never one under retention (s3lock.ts).
    if (this.opts.objectLock) return deleteVersions(this.lockIo(), key, this.prefix + key);
    try {
      await this.send(ctx, 0, (o) => this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: ctx.objectKey }), o));
    } catch (e) {
      if (!isDvError(e, 'OBJECT_MISSING')) throw e;
    }
  }

  async close(): Promise<void> {
    this.client.destroy();
    this.agent.destroy();
  }

  /** Checks once that the bucket has Object Lock enabled (BAD_CONFIG otherwise); every caller waits for the same answer. */
  private checkLock(): Promise<void> {
    // A failed check is not remembered: a retry after a dropped connection asks again.
    this.lockChecked ??= checkLockEnabled(this.lockIo(), this.opts.objectLock!).catch((e: unknown) => {
      this.lockChecked = undefined;
      throw e;
    });
    return this.lockChecked;
  }

  private lockIo(): LockIo {
    return { client: this.client, bucket: this.bucket, location: this.location, send: (ctx, call) => this.send(ctx, 0, call) };
  }

  private async putBuffer(key: string, body: Buffer): Promise<void> {
    const ctx = this.ctx(key);
    const lock = lockParams(this.opts.objectLock, key);
    if (lock.ObjectLockMode) await this.checkLock();
    // Content-MD5 lets the store reject a body damaged on the way.
    const md5 = createHash('md5').update(body).digest('base64');
    const cmd = new PutObjectCommand({
      Bucket: this.bucket,
      Key: ctx.objectKey,
      Body: body,
      ContentLength: body.length,
      ContentMD5: md5,
      ...sseParams(this.opts.sse),
      ...lock,
    });
    await this.send(ctx, body.length, (o) => this.client.send(cmd, o));
  }

  /** Runs one SDK call with a timeout sized for its body and classifies its failure. */
  private async send<T>(ctx: S3ErrorContext, bodyBytes: number, call: (o: { requestTimeout: number }) => Promise<T>): Promise<T> {
    try {
      return await call({ requestTimeout: this.requestTimeout(bodyBytes) });
    } catch (e) {
      throw classifyS3Error(e, ctx);
    }
  }

  private ctx(key: string): S3ErrorContext {
    return { bucket: this.bucket, key, objectKey: this.prefix + key, endpoint: this.opts.endpoint };
  }

  private partSize(): number {
    return this.opts.partSize ?? 16 * MiB;
  }

  /** Budget and deadline for a response body of `bytes` (the deadline grows with the size, as requestTimeout). */
  private limits(bytes: number, maxBytes?: number): BodyLimits {
    return { maxBytes, timeoutMs: this.requestTimeout(bytes), location: this.location };
  }

  private requestTimeout(bodyBytes: number): number {
    return (this.opts.timeoutMs ?? 30_000) + Math.ceil(bodyBytes / MIN_RATE);
  }
}

/**
 * The credential chain of an AWS profile, its module loaded at the first request that needs it (not
 * when a remote is opened: a pull pays for every module it loads). The SDK memoizes what it returns.
 */
function profileChain(profile: string): ReturnType<typeof fromNodeProviderChain> {
  let chain: Promise<ReturnType<typeof fromNodeProviderChain>> | undefined;
  return async (o) => {
    chain ??= import('@aws-sdk/credential-providers').then((m) => m.fromNodeProviderChain({ profile }));
    return (await chain)(o);
  };
}

function isUsableKey(key: string): boolean {
  try {
    validateKey(key);
    return true;
  } catch {
    return false;
  }
}

function localError(e: unknown, file: string): unknown {
  if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
    return new DvError('PATH_NOT_FOUND', `cannot upload ${file}: it does not exist`, { path: file }, { cause: e });
  }
  return fsError(e, file);
}
