import { DvError } from '../errors.js';
import { tooLargeError } from './keys.js';
import { DirectBody, type DirectTarget } from './s3direct.js';
import { classifyS3Error, shortBodyError, timedOutError, type S3ErrorContext } from './s3errors.js';

type Destroyable = { destroy?: (err?: Error) => void };

export interface BodyLimits {
  /** The most bytes accepted (refused before reading when Content-Length says more). */
  maxBytes?: number;
  /** The whole body must arrive within this many ms: a trickle of a byte a second fails. */
  timeoutMs: number;
  /** For messages: where the body comes from. */
  location: string;
  /** Where the body goes when `expected` is known (exactly `expected` bytes): read in place, no allocation. */
  into?: Buffer;
}

/**
 * Reads a GetObject body fully into one buffer and checks it holds exactly `expected`
 * bytes (when known): a body cut short or a dropped connection is a transient error. The body
 * is held to a byte budget and a deadline while it streams, so a hostile server can neither
 * fill memory nor hold the command forever (the socket's idle timeout alone lets a trickle live).
 */
export async function readBody(body: unknown, expected: number | undefined, ctx: S3ErrorContext, limits: BodyLimits): Promise<Buffer> {
  const stream = body as (AsyncIterable<Uint8Array> & Destroyable) | undefined | null;
  if (limits.maxBytes !== undefined && expected !== undefined && expected > limits.maxBytes) {
    stream?.destroy?.();
    throw tooLargeError(limits.location, ctx.key ?? ctx.objectKey ?? '?', expected, limits.maxBytes);
  }
  if (stream === undefined || stream === null) {
    if (!expected) return Buffer.alloc(0);
    throw shortBodyError(ctx, 0, expected);
  }
  if (typeof stream[Symbol.asyncIterator] !== 'function') {
    throw new DvError('REMOTE_ERROR', `unexpected response body type for s3://${ctx.bucket}/${ctx.objectKey}`, {
      key: ctx.key,
      transient: false,
    });
  }
  const chunks: Buffer[] = [];
  const out = expected === undefined ? undefined : (limits.into?.subarray(0, expected) ?? Buffer.allocUnsafe(expected));
  const got = await pump(stream, ctx, limits, expected, (chunk, at) => {
    if (out) out.set(chunk, at);
    else chunks.push(Buffer.from(chunk));
  });
  if (!out) return Buffer.concat(chunks, got);
  if (got !== out.length) throw shortBodyError(ctx, got, out.length);
  return out;
}

/**
 * Hands a GetObject body of exactly `expected` bytes to `sink` piece by piece, awaiting each (the
 * socket waits meanwhile), under the same deadline as readBody; a byte more or less is a damaged
 * response (transient). Nothing is buffered here: memory is the sink's business.
 */
export async function streamBody(
  body: unknown,
  expected: number,
  ctx: S3ErrorContext,
  limits: BodyLimits,
  sink: (piece: Buffer) => void | Promise<void>,
): Promise<void> {
  const stream = body as (AsyncIterable<Uint8Array> & Destroyable) | undefined | null;
  if (stream === undefined || stream === null || typeof stream[Symbol.asyncIterator] !== 'function') {
    if (expected === 0) return;
    throw shortBodyError(ctx, 0, expected);
  }
  const got = await pump(stream, ctx, limits, expected, (chunk) =>
    sink(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)),
  );
  if (got !== expected) throw shortBodyError(ctx, got, expected);
}

/**
 * Reads a direct body (s3direct.ts) of exactly `expected` bytes into `target`, under the same
 * deadline as readBody: a Content-Length other than `expected` is a damaged response (transient),
 * refused before a byte is read; a failure of `take` passes through as it is. Undefined when `body`
 * is no direct body (the caller then reads it as a stream).
 */
export async function readDirect(
  body: unknown,
  expected: number,
  ctx: S3ErrorContext,
  limits: BodyLimits,
  target: DirectTarget,
): Promise<true | undefined> {
  if (!(body instanceof DirectBody)) return undefined;
  if (body.length !== expected) {
    body.destroy();
    if (body.length < expected) throw shortBodyError(ctx, body.length, expected);
    throw overlongError(ctx, expected);
  }
  let timedOut = false;
  let takeFailed: { e: unknown } | undefined;
  let got = 0;
  const timer = setTimeout(() => {
    timedOut = true;
    body.destroy(new Error('body deadline passed'));
  }, limits.timeoutMs);
  try {
    await body.readInto({
      room: () => target.room(),
      take: (piece) => {
        got += piece.length;
        try {
          const r = target.take(piece);
          if (!(r instanceof Promise)) return r;
          return r.catch((e: unknown) => {
            takeFailed = { e };
            throw e;
          });
        } catch (e) {
          takeFailed = { e };
          throw e;
        }
      },
    });
  } catch (e) {
    if (takeFailed) throw takeFailed.e;
    if (timedOut) throw timedOutError(ctx, got, limits.timeoutMs);
    throw e instanceof DvError ? e : classifyS3Error(e, ctx);
  } finally {
    clearTimeout(timer);
  }
  return true;
}

/** A body longer than announced (transient: a later try may get it whole). */
function overlongError(ctx: S3ErrorContext, expected: number): DvError {
  return new DvError(
    'REMOTE_ERROR',
    `the download of s3://${ctx.bucket}/${ctx.objectKey} sent more than the ${expected} bytes announced: try again`,
    { key: ctx.key, transient: true },
  );
}

/** A target that fills `out` from its start: in place where the reader can, else by copy. */
export function bufferTarget(out: Buffer): DirectTarget & { got: () => number } {
  let at = 0;
  return {
    got: () => at,
    room: () => (at < out.length ? out.subarray(at) : undefined),
    take: (piece) => {
      if (piece.buffer !== out.buffer || piece.byteOffset !== out.byteOffset + at) out.set(piece, at);
      at += piece.length;
    },
  };
}

/**
 * The one body loop of readBody and streamBody: each piece goes to `take` (awaited: the socket
 * waits) at its offset, within the deadline, the byte budget (`limits.maxBytes`) and, when known,
 * the announced length (a byte more is a damaged response, transient). Returns the bytes read; a
 * failure of `take` itself passes through as it is (never taken for a network error).
 */
async function pump(
  stream: AsyncIterable<Uint8Array> & Destroyable,
  ctx: S3ErrorContext,
  limits: BodyLimits,
  expected: number | undefined,
  take: (chunk: Uint8Array, at: number) => void | Promise<void>,
): Promise<number> {
  let got = 0;
  let timedOut = false;
  let takeFailed: { e: unknown } | undefined;
  const timer = setTimeout(() => {
    timedOut = true;
    stream.destroy?.(new Error('body deadline passed'));
  }, limits.timeoutMs);
  try {
    for await (const chunk of stream) {
      if (timedOut) break;
      if (limits.maxBytes !== undefined && got + chunk.length > limits.maxBytes) {
        stream.destroy?.();
        throw tooLargeError(limits.location, ctx.key ?? ctx.objectKey ?? '?', undefined, limits.maxBytes);
      }
      if (expected !== undefined && got + chunk.length > expected) {
        stream.destroy?.();
        throw overlongError(ctx, expected);
      }
      const at = got;
      got += chunk.length;
      try {
        await take(chunk, at);
      } catch (e) {
        takeFailed = { e };
        throw e;
      }
    }
  } catch (e) {
    stream.destroy?.();
    if (takeFailed) throw takeFailed.e;
    if (!timedOut) throw e instanceof DvError ? e : classifyS3Error(e, ctx);
  } finally {
    clearTimeout(timer);
  }
  if (timedOut) throw timedOutError(ctx, got, limits.timeoutMs);
  return got;
}
