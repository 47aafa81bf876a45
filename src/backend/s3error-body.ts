/**
 * A byte budget and a deadline on the error bodies of S3 answers (any status outside 2xx), which
 * the SDK reads whole by itself to find the error's code. S3 sends a few hundred bytes of XML: a
 * body over ERROR_BODY_MAX is a broken or hostile server, and one still arriving after the
 * request's timeout is hung (the SDK's request timeout ends with the head, and the socket's idle
 * timeout lets a trickle of a byte a second live for ever).
 *
 * Installed inside the deserializer (as s3list-cap.ts): it reads an error body itself, within the
 * budget and the deadline, and hands the SDK the bytes, so a refusal is thrown before the SDK's
 * error parsing, as one DvError. And outside it: a response the SDK cannot deserialize (a header
 * it cannot read) has its body destroyed, so its connection closes now, not at its idle timeout.
 */
import type { Readable } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import { DvError } from '../errors.js';

/** The most an error body may hold. */
export const ERROR_BODY_MAX = 1024 * 1024;

type Body = Readable & AsyncIterable<Buffer>;

/** Caps the error bodies of `client`'s answers at `max` bytes, read within `timeoutMs`. */
export function capErrorBodies(client: S3Client, timeoutMs: number, max = ERROR_BODY_MAX): void {
  client.middlewareStack.add(
    (next) => async (args) => {
      const out = await next(args);
      const res = out.response as { statusCode?: number; body?: unknown };
      const body = res.body as Body | undefined;
      const status = res.statusCode ?? 200;
      if ((status >= 200 && status < 300) || !body || typeof body[Symbol.asyncIterator] !== 'function') return out;
      const input = (args as { input?: { Bucket?: string; Key?: string } }).input ?? {};
      const where = `s3://${input.Bucket ?? '?'}${input.Key !== undefined ? `/${input.Key}` : ''}`;
      const data = { bucket: input.Bucket, status };
      res.body = await readCapped(body, max, timeoutMs).catch((e: unknown) => {
        if (e === TOO_BIG) {
          throw new DvError(
            'REMOTE_ERROR',
            `${where} answered HTTP ${status} with an error body over ${max} bytes: a broken or hostile server`,
            {
              ...data,
              transient: false,
            },
          );
        }
        if (e !== LATE) throw e;
        throw new DvError(
          'REMOTE_UNREACHABLE',
          `the error answer (HTTP ${status}) of ${where} did not end within ${Math.ceil(timeoutMs / 1000)} s: check the network, or raise remote.NAME.timeout`,
          { ...data, transient: true, timedOut: true },
        );
      });
      return out;
    },
    { step: 'deserialize', priority: 'low', name: 'dvErrorBodyCap' },
  );
  client.middlewareStack.add(
    (next) => async (args) => {
      try {
        return await next(args);
      } catch (e) {
        const body = (e as { $response?: { body?: { destroy?: () => void } } } | undefined)?.$response?.body;
        if (typeof body?.destroy === 'function') body.destroy();
        throw e;
      }
    },
    { step: 'deserialize', priority: 'high', name: 'dvReleaseUnreadBody' },
  );
}

const TOO_BIG = new Error('error body over budget');
const LATE = new Error('error body past its deadline');

/** The body's bytes; rejects with TOO_BIG past `max`, with LATE past `timeoutMs` (the body destroyed either way). */
async function readCapped(body: Body, max: number, timeoutMs: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let seen = 0;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    body.destroy();
  }, timeoutMs);
  try {
    for await (const part of body) {
      seen += part.length;
      if (seen > max) throw TOO_BIG;
      parts.push(Buffer.from(part));
    }
  } catch (e) {
    body.destroy();
    throw timedOut ? LATE : e;
  } finally {
    clearTimeout(timer);
  }
  if (timedOut) throw LATE;
  return Buffer.concat(parts, seen);
}
