// The conformance suite against moto_server, a more faithful S3 imitation, where it is
// installed. Without it this file still runs and checks that it really is absent.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { withRetry } from '../../src/backend/retry.js';
import { S3Backend, type S3BackendOptions } from '../../src/backend/s3.js';
import { findOnPath, startMoto, type S3TestServer } from '../helpers/s3server.js';
import { collect, rejectsWith, runConformance } from './conformance.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const BUCKET = 'dv-moto';
const installed = findOnPath('moto_server') !== undefined;
let server: Promise<S3TestServer | undefined> | undefined;
const open: S3Backend[] = [];

async function moto(): Promise<S3TestServer> {
  server ??= startMoto().then(async (srv) => {
    await srv?.createBucket(BUCKET);
    return srv;
  });
  const srv = await server;
  assert.ok(srv, 'moto_server is on PATH but did not start');
  return srv;
}

async function backend(opts: Partial<S3BackendOptions> = {}): Promise<S3Backend> {
  const srv = await moto();
  const be = new S3Backend({ bucket: BUCKET, endpoint: srv.endpoint, credentials: srv.credentials, ...opts });
  open.push(be);
  return be;
}

after(async () => {
  await Promise.all(open.map((b) => b.close()));
  const srv = server && (await server);
  await srv?.stop();
});

if (!installed) {
  test('moto_server is not installed: startMoto() reports it as absent', async () => {
    assert.equal(findOnPath('moto_server'), undefined);
    assert.equal(await startMoto(), undefined);
  });
} else {
  // Retried as dv uses it: moto answers an HTML 500 to concurrent PUTs of one key.
  runConformance('moto_server', async () => ({
    backend: withRetry(await backend({ prefix: 'conf', listPageSize: 7 }), { baseMs: 5 }),
    teardown: async () => undefined,
  }));

  describe('S3Backend on moto_server', () => {
    test('a missing bucket is REMOTE_NOT_FOUND', async () => {
      const be = await backend({ bucket: 'no-such-bucket' });
      await rejectsWith(be.check(), 'REMOTE_NOT_FOUND');
      await rejectsWith(be.get('a'), 'REMOTE_NOT_FOUND');
      await rejectsWith(collect(be.list('')), 'REMOTE_NOT_FOUND');
    });

    test("checksum 'when_supported' round trips (moto decodes aws-chunked)", async () => {
      const be = await backend({ prefix: 'cks', checksum: 'when_supported' });
      const data = Buffer.alloc(300_000, 7);
      await be.put('x', data);
      assert.ok((await be.get('x')).equals(data));
    });

    test('with authentication on, unknown credentials are AUTH_FAILED', async () => {
      // INITIAL_NO_AUTH_ACTION_COUNT=0 makes moto check every request against its IAM users.
      const strict = await startMoto({ INITIAL_NO_AUTH_ACTION_COUNT: '0' });
      assert.ok(strict);
      try {
        const be = new S3Backend({
          bucket: BUCKET,
          endpoint: strict.endpoint,
          credentials: { accessKeyId: 'AKIAWRONGWRONGWRONG1', secretAccessKey: 'x' },
        });
        open.push(be);
        await rejectsWith(be.check(), 'AUTH_FAILED');
        await rejectsWith(be.put('a', Buffer.from('x')), 'AUTH_FAILED');
      } finally {
        await strict.stop();
      }
    });
  });
}
