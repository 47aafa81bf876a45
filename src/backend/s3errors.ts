import { DvError, isDvError } from '../errors.js';

/** What an S3 request was doing, so the error can name it. */
export interface S3ErrorContext {
  bucket: string;
  /** The full object key in the bucket, when the request was about one object. */
  objectKey?: string;
  /** The dv key (without the remote's prefix), reported as data.key. */
  key?: string;
  endpoint?: string;
}

const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'ECONNABORTED',
  'EHOSTDOWN',
  'TimeoutError',
  'RequestTimeoutException',
]);
const DROPPED = new Set(['ECONNRESET', 'EPIPE', 'ERR_STREAM_PREMATURE_CLOSE', 'UND_ERR_SOCKET']);
const AUTH = new Set([
  'AccessDenied',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'ExpiredToken',
  'InvalidToken',
  'TokenRefreshRequired',
  'CredentialsProviderError',
  'AuthorizationHeaderMalformed',
  'AllAccessDisabled',
]);
/** Worth retrying whatever the status: throttling, server trouble, a body damaged on the way, clock skew (the SDK corrects its offset). */
const RETRYABLE = new Set([
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'TooManyRequestsException',
  'RequestTimeout',
  'InternalError',
  'ServiceUnavailable',
  'BadDigest',
  'IncompleteBody',
  'XAmzContentSHA256Mismatch',
  'RequestTimeTooSkewed',
]);

interface SdkErrorShape {
  name?: string;
  code?: string;
  Code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  $response?: { statusCode?: number };
  errors?: Array<{ code?: string }>;
  cause?: { code?: string };
}

/** The error codes and names an SDK or Node error carries, wherever they hide. */
function namesOf(e: SdkErrorShape): string[] {
  const out = [e.code, e.Code, e.name, e.cause?.code, ...(e.errors ?? []).map((x) => x?.code)];
  return out.filter((x): x is string => typeof x === 'string' && x !== '' && x !== 'Error');
}

/**
 * Turns an S3 SDK or network error into a classified DvError whose message says what to
 * do and names the bucket and key. Transient REMOTE_ERRORs carry data.transient = true.
 */
export function classifyS3Error(err: unknown, ctx: S3ErrorContext): DvError {
  if (isDvError(err)) return err;
  const e = (err ?? {}) as SdkErrorShape;
  const names = namesOf(e);
  const has = (set: Set<string>) => names.some((n) => set.has(n));
  const status = e.$metadata?.httpStatusCode ?? e.$response?.statusCode;
  const where = ctx.objectKey !== undefined ? `s3://${ctx.bucket}/${ctx.objectKey}` : `s3://${ctx.bucket}`;
  const data: Record<string, unknown> = { bucket: ctx.bucket, status, awsCode: names[0] };
  if (ctx.key !== undefined) data.key = ctx.key;
  const detail = `${names[0] ?? 'HTTP'}${status ? ` ${status}` : ''}`;
  const mk = (code: ConstructorParameters<typeof DvError>[0], msg: string, extra: Record<string, unknown> = {}) =>
    new DvError(code, msg, { ...data, ...extra }, { cause: err });

  if (names.includes('NoSuchBucket')) {
    return mk('REMOTE_NOT_FOUND', `bucket ${ctx.bucket} does not exist: create it or fix the remote URL`);
  }
  if (names.includes('NoSuchKey') || (status === 404 && ctx.objectKey !== undefined)) {
    return missingError(ctx, err);
  }
  if (status === 404) {
    return mk('REMOTE_NOT_FOUND', `bucket ${ctx.bucket} was not found (${detail}): create it or fix the remote URL`);
  }
  if (has(RETRYABLE)) {
    return mk('REMOTE_ERROR', `the remote failed a request on ${where} (${detail}): try again later`, { transient: true });
  }
  if (has(AUTH) || status === 403) {
    return mk(
      'AUTH_FAILED',
      `access to ${where} was refused (${detail}): check the credentials (AWS_PROFILE, AWS_ACCESS_KEY_ID) and the bucket policy`,
    );
  }
  if (/region is missing/i.test(e.message ?? '')) {
    return mk('USAGE', `no AWS region configured for bucket ${ctx.bucket}: set the remote's region option or AWS_REGION`);
  }
  // The SDK renames ECONNRESET and EPIPE to TimeoutError: a dropped connection is checked first.
  const dropped = has(DROPPED) || /aborted|socket hang up|premature close/i.test(e.message ?? '');
  if (dropped) {
    return mk('REMOTE_ERROR', `the connection dropped during a request on ${where} (${detail}): try again`, { transient: true });
  }
  const host = ctx.endpoint ?? 'S3';
  if (names.some((n) => n === 'TimeoutError' || n === 'ETIMEDOUT')) {
    return mk(
      'REMOTE_UNREACHABLE',
      `no answer from ${host} in time for ${where} (${detail}): check the network or raise the remote's timeout, then try again`,
      { transient: true, timedOut: true },
    );
  }
  if (has(UNREACHABLE)) {
    return mk('REMOTE_UNREACHABLE', `cannot reach ${host} for ${where} (${detail}): check the endpoint and the network, then try again`, {
      transient: true,
    });
  }
  if (status !== undefined && (status >= 500 || status === 429)) {
    return mk('REMOTE_ERROR', `the remote failed a request on ${where} (${detail}): try again later`, { transient: true });
  }
  const why = (e.message ?? String(err)).split('\n')[0];
  return mk('REMOTE_ERROR', `the remote refused a request on ${where} (${detail}: ${why}): check the remote's URL and options`, {
    transient: false,
  });
}

/** The error for a key that is not in the bucket. */
export function missingError(ctx: S3ErrorContext, cause?: unknown): DvError {
  return new DvError(
    'OBJECT_MISSING',
    `s3://${ctx.bucket}/${ctx.objectKey} is missing from the remote`,
    { bucket: ctx.bucket, key: ctx.key },
    { cause },
  );
}

/** A transient error for a body that ended before its announced length. */
/** A download given up after `timeoutMs` (transient: a later try may get through). */
export function timedOutError(ctx: S3ErrorContext, got: number, timeoutMs: number): DvError {
  return new DvError(
    'REMOTE_UNREACHABLE',
    `the download of s3://${ctx.bucket}/${ctx.objectKey} got ${got} bytes in ${Math.round(timeoutMs / 1000)} s and was given up: check the network, or raise remote.NAME.timeout`,
    { bucket: ctx.bucket, key: ctx.key, got, transient: true, timedOut: true },
  );
}

export function shortBodyError(ctx: S3ErrorContext, got: number, expected: number): DvError {
  return new DvError(
    'REMOTE_ERROR',
    `the download of s3://${ctx.bucket}/${ctx.objectKey} stopped after ${got} of ${expected} bytes: try again`,
    { bucket: ctx.bucket, key: ctx.key, got, expected, transient: true },
  );
}
