/**
 * A byte budget on the bodies the AWS SDK reads whole by itself: ListObjectsV2 pages. A page of
 * 1,000 keys is a few hundred KB; a server that announces or streams more is broken or hostile,
 * and the SDK would otherwise buffer all of it (and parse it) in memory.
 *
 * Installed as a middleware inside the deserializer: it sees the raw response first, refuses an
 * announced Content-Length over the budget, and wraps the body so that a stream running past it
 * fails as it goes (the request is torn down, nothing more is read).
 */
import { Transform, type Readable } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import { DvError } from '../errors.js';

/** The most a listing page may hold. */
export const LIST_BODY_MAX = 16 * 1024 * 1024;

const tooBig = (where: string, bytes: number | string): DvError =>
  new DvError(
    'REMOTE_ERROR',
    `listing ${where}: the server sent a page of ${bytes} bytes, over the ${LIST_BODY_MAX} a listing page can need: a broken or hostile server`,
    { transient: false },
  );

/** Caps ListObjectsV2 bodies of `client` at `max` bytes. */
export function capListBodies(client: S3Client, where: string, max = LIST_BODY_MAX): void {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const out = await next(args);
      if ((context as { commandName?: string }).commandName !== 'ListObjectsV2Command') return out;
      const res = out.response as { headers?: Record<string, string>; body?: unknown };
      const announced = Number(res.headers?.['content-length']);
      const body = res.body as Readable | undefined;
      if (Number.isFinite(announced) && announced > max) {
        body?.destroy?.();
        throw tooBig(where, announced);
      }
      if (body && typeof body.pipe === 'function') {
        let seen = 0;
        const counter = new Transform({
          transform(chunk: Buffer, _enc, done) {
            seen += chunk.length;
            if (seen > max) {
              body.destroy();
              done(tooBig(where, `more than ${max}`));
            } else done(null, chunk);
          },
        });
        body.on('error', (e) => counter.destroy(e));
        res.body = body.pipe(counter);
      }
      return out;
    },
    { step: 'deserialize', priority: 'low', name: 'dvListBodyCap' },
  );
}
