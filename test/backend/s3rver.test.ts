import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import pLimit from 'p-limit';
import { S3Backend, type S3BackendOptions } from '../../src/backend/s3.js';
import { freePort, startS3rver, type S3TestServer } from '../helpers/s3server.js';
import { collect, rejectsWith, runConformance, sorted } from './conformance.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const BUCKET = 'dv-test';
let server: Promise<S3TestServer> | undefined;
const open: S3Backend[] = [];

/** One s3rver for the whole file, started on first use. */
async function s3(): Promise<S3TestServer> {
  server ??= startS3rver().then(async (srv) => {
    await srv.createBucket(BUCKET);
    return srv;
  });
  return server;
}

async function backend(opts: Partial<S3BackendOptions> = {}): Promise<S3Backend> {
  const srv = await s3();
  const be = new S3Backend({ bucket: BUCKET, endpoint: srv.endpoint, credentials: srv.credentials, ...opts });
  open.push(be);
  return be;
}

after(async () => {
  await Promise.all(open.map((b) => b.close()));
  if (server) await (await server).stop();
});

runConformance('s3rver', async () => ({
  backend: await backend({ prefix: 'conf/run1', listPageSize: 7 }),
  teardown: async () => undefined,
}));

describe('S3Backend on s3rver', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'dv-s3rver-t-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('the prefix is where the objects land; a prefix-less backend sees them', async () => {
    const inner = await backend({ prefix: '/layout/p/' });
    assert.equal(inner.location, `s3://${BUCKET}/layout/p`);
    await inner.put('packs/ab/x', Buffer.from('data'));
    const outer = await backend();
    assert.deepEqual(await collect(outer.list('layout/')), [{ key: 'layout/p/packs/ab/x', size: 4 }]);
    assert.equal((await outer.get('layout/p/packs/ab/x')).toString(), 'data');
  });

  test('lists 1100 keys across pages of 1000', async () => {
    const be = await backend({ prefix: 'many' });
    const limit = pLimit(32);
    const keys = Array.from({ length: 1100 }, (_, i) => `k/${String(i).padStart(5, '0')}`);
    const t0 = Date.now();
    await Promise.all(keys.map((k) => limit(() => be.put(k, Buffer.from(k)))));
    const listed = sorted(await collect(be.list('k/')));
    assert.deepEqual(
      listed.map((e) => e.key),
      keys,
    );
    assert.ok(listed.every((e) => e.size === 7));
    assert.ok(Date.now() - t0 < 20_000, `took ${Date.now() - t0} ms`);
  });

  test("checksum 'when_supported' with buffer and multipart bodies stores the exact bytes", async () => {
    const be = await backend({ prefix: 'cks', checksum: 'when_supported', multipartThreshold: 6 * 1024 * 1024, partSize: 5 * 1024 * 1024 });
    const small = randomBytes(100_000);
    await be.put('small', small);
    assert.ok((await be.get('small')).equals(small));
    const data = randomBytes(12 * 1024 * 1024 + 5);
    const f = path.join(dir, 'mp');
    await writeFile(f, data);
    await be.putFile('multi', f);
    assert.deepEqual(await be.stat('multi'), { size: data.length });
    assert.ok((await be.get('multi')).equals(data));
  });

  test('a missing bucket is REMOTE_NOT_FOUND naming it', async () => {
    const be = await backend({ bucket: 'no-such-bucket' });
    const d = await rejectsWith(be.check(), 'REMOTE_NOT_FOUND');
    assert.equal(d.bucket, 'no-such-bucket');
    await rejectsWith(be.put('a', Buffer.from('x')), 'REMOTE_NOT_FOUND');
    await rejectsWith(be.get('a'), 'REMOTE_NOT_FOUND');
    await rejectsWith(collect(be.list('')), 'REMOTE_NOT_FOUND');
  });

  test('a wrong access key id is AUTH_FAILED', async () => {
    const be = await backend({ credentials: { accessKeyId: 'NOT-S3RVER', secretAccessKey: 'x' } });
    await rejectsWith(be.check(), 'AUTH_FAILED');
    await rejectsWith(be.put('a', Buffer.from('x')), 'AUTH_FAILED');
    await rejectsWith(be.get('a'), 'AUTH_FAILED');
  });

  test('a closed port is REMOTE_UNREACHABLE, quickly', async () => {
    const port = await freePort();
    const be = await backend({ endpoint: `http://127.0.0.1:${port}`, timeoutMs: 1000 });
    const t0 = Date.now();
    await rejectsWith(be.check(), 'REMOTE_UNREACHABLE');
    await rejectsWith(be.get('a'), 'REMOTE_UNREACHABLE');
    assert.ok(Date.now() - t0 < 3000, `took ${Date.now() - t0} ms`);
  });
});
