import { DvError } from '../errors.js';
import { classifyS3Error, shortBodyError, type S3ErrorContext } from './s3errors.js';

type Destroyable = { destroy?: (err?: Error) => void };

/**
 * Reads a GetObject body fully into one buffer and checks it holds exactly `expected`
 * bytes (when known): a body cut short or a dropped connection is a transient error.
 */
export async function readBody(body: unknown, expected: number | undefined, ctx: S3ErrorContext): Promise<Buffer> {
  if (body === undefined || body === null) {
    if (!expected) return Buffer.alloc(0);
    throw shortBodyError(ctx, 0, expected);
  }
  const stream = body as AsyncIterable<Uint8Array> & Destroyable;
  if (typeof stream[Symbol.asyncIterator] !== 'function') {
    throw new DvError('REMOTE_ERROR', `unexpected response body type for s3://${ctx.bucket}/${ctx.objectKey}`, { key: ctx.key, transient: false });
  }
  const chunks: Buffer[] = [];
  const out = expected !== undefined ? Buffer.allocUnsafe(expected) : undefined;
  let got = 0;
  try {
    for await (const chunk of stream) {
      if (out) {
        if (got + chunk.length > out.length) {
          stream.destroy?.();
          throw new DvError('REMOTE_ERROR', `the download of s3://${ctx.bucket}/${ctx.objectKey} sent more than the ${expected} bytes announced: try again`, { key: ctx.key, transient: true });
        }
        out.set(chunk, got);
      } else {
        chunks.push(Buffer.from(chunk));
      }
      got += chunk.length;
    }
  } catch (e) {
    stream.destroy?.();
    throw classifyS3Error(e, ctx);
  }
  if (!out) return Buffer.concat(chunks, got);
  if (got !== out.length) throw shortBodyError(ctx, got, out.length);
  return out;
}
