/**
 * S3 server-side encryption (`dv remote add ... --sse AES256|aws:kms [--sse-kms-key-id K]
 * [--sse-bucket-key]`): every upload (PutObject, CreateMultipartUpload) carries the headers, as a
 * recording proxy in front of s3rver (and moto_server where installed, which also reports the
 * encryption it stored) sees; data round-trips; unknown or mismatched values are refused.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { S3Backend } from '../../src/backend/s3.js';
import { dv, dvOk, git, makeRepo, prng, tempDir } from '../helpers/cli.js';
import { credsEnv, startMoto, startS3rver, type S3TestServer } from '../helpers/s3server.js';
import { startRecordingProxy, type RecordingProxy, type Recorded } from './recording-proxy.js';
import { clonePull } from './fixture.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const SSE = 'x-amz-server-side-encryption';
const KMS_KEY = 'x-amz-server-side-encryption-aws-kms-key-id';
const BUCKET_KEY = 'x-amz-server-side-encryption-bucket-key-enabled';

/** The uploads among the recorded requests: PutObject (PUT without partNumber) and CreateMultipartUpload (POST ?uploads). */
const uploads = (reqs: Recorded[]): Recorded[] =>
  reqs.filter((r) => (r.method === 'PUT' && !/partNumber=/.test(r.query)) || (r.method === 'POST' && /(^|&)uploads(=|&|$)/.test(r.query)));

let buckets = 0;

for (const kind of ['s3rver', 'moto'] as const) {
  describe(`SSE on ${kind}`, () => {
    let srv: S3TestServer | undefined;
    let proxy: RecordingProxy | undefined;
    before(async () => {
      srv = kind === 's3rver' ? await startS3rver() : await startMoto();
      if (srv) proxy = await startRecordingProxy(srv.endpoint);
    });
    after(async () => {
      await proxy?.stop();
      await srv?.stop();
    });

    for (const mode of ['aws:kms', 'AES256'] as const) {
      test(`${kind}: --sse ${mode}: every upload of a push carries the headers; a fresh clone pulls byte-identical`, async (t) => {
        if (!srv || !proxy) return t.diagnostic('moto_server is not installed on this machine');
        const bucket = `sse-${++buckets}`;
        await srv.createBucket(bucket);
        const env = credsEnv(srv);
        const a = await makeRepo();
        await fsp.mkdir(join(a, 'data'));
        for (let i = 0; i < 4; i++) await fsp.writeFile(join(a, 'data', `f${i}.txt`), `row ${i}\n`.repeat(500));
        await fsp.writeFile(join(a, 'data', 'big.bin'), prng(3, 1_500_000));
        await dvOk(a, ['add', '-q', 'data']);
        const kms = mode === 'aws:kms' ? ['--sse-kms-key-id', 'alias/dv-test', '--sse-bucket-key'] : [];
        await dvOk(a, ['remote', 'add', 's3', `s3://${bucket}/p`, '--endpoint', proxy.endpoint, '--sse', mode, ...kms]);
        git(a, ['add', '-A']);
        git(a, ['commit', '-qm', 'data']);
        proxy.reset();
        await dvOk(a, ['push', '-q'], env);
        // A second version: more uploads, some of them small.
        await fsp.writeFile(join(a, 'data', 'f0.txt'), 'changed\n');
        await dvOk(a, ['commit', '-q', '-m', 'v2']);
        await dvOk(a, ['push', '-q'], env);
        const ups = uploads(proxy.requests);
        assert.ok(ups.length >= 4, `${ups.length} uploads`);
        for (const u of ups) {
          assert.equal(u.headers[SSE], mode, `${u.method} ${u.path}`);
          if (mode === 'aws:kms') {
            assert.equal(u.headers[KMS_KEY], 'alias/dv-test', `${u.method} ${u.path}`);
            assert.equal(u.headers[BUCKET_KEY], 'true', `${u.method} ${u.path}`);
          } else assert.deepEqual([u.headers[KMS_KEY], u.headers[BUCKET_KEY]], [undefined, undefined]);
        }
        if (kind === 'moto') {
          // moto keeps what each upload asked for: the stored objects say they are encrypted.
          const client = new S3Client({ endpoint: srv.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: srv.credentials });
          try {
            for (const u of ups) {
              const key = decodeURIComponent(u.path.split('/').slice(2).join('/'));
              const h = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
              assert.equal(h.ServerSideEncryption, mode, key);
            }
          } finally {
            client.destroy();
          }
        }
        git(a, ['commit', '-qam', 'v2']);
        const pull = await clonePull(a, env);
        assert.deepEqual([pull.code, pull.same], [0, true], pull.stderr);
      });
    }

    test(`${kind}: a multipart upload asks for SSE in CreateMultipartUpload`, async (t) => {
      if (!srv || !proxy) return t.diagnostic('moto_server is not installed on this machine');
      const bucket = `sse-${++buckets}`;
      await srv.createBucket(bucket);
      const backend = new S3Backend({
        bucket,
        prefix: 'p',
        endpoint: proxy.endpoint,
        credentials: srv.credentials,
        sse: { mode: 'aws:kms', kmsKeyId: 'alias/dv-test' },
        multipartThreshold: 5 * 1024 * 1024,
        partSize: 5 * 1024 * 1024,
      });
      const file = join(tempDir(), 'big');
      const bytes = prng(9, 11 * 1024 * 1024);
      await fsp.writeFile(file, bytes);
      proxy.reset();
      try {
        await backend.putFile('packs/ab/big.pack', file);
        const create = proxy.requests.filter((r) => r.method === 'POST' && /(^|&)uploads(=|&|$)/.test(r.query));
        const parts = proxy.requests.filter((r) => r.method === 'PUT' && /partNumber=/.test(r.query));
        assert.equal(create.length, 1, 'one multipart upload');
        assert.ok(parts.length >= 2, `${parts.length} parts`);
        assert.deepEqual([create[0].headers[SSE], create[0].headers[KMS_KEY]], ['aws:kms', 'alias/dv-test']);
        assert.deepEqual(await backend.get('packs/ab/big.pack'), bytes);
      } finally {
        await backend.close();
      }
    });
  });
}

test('SSE options: unknown or mismatched values are refused with one line, and nothing is added', async () => {
  const a = await makeRepo();
  const cases: [string[], RegExp][] = [
    [['--sse', 'aes256'], /^dv: error USAGE: remote\.s3\.sse aes256: give AES256 or aws:kms$/m],
    [
      ['--sse', 'AES256', '--sse-kms-key-id', 'k1'],
      /^dv: error USAGE: remote\.s3\.sseKmsKeyId needs remote\.s3\.sse aws:kms \(it is AES256\)/m,
    ],
    [['--sse-bucket-key'], /^dv: error USAGE: remote\.s3\.sseBucketKey needs remote\.s3\.sse aws:kms \(it is not set\)/m],
    [['--sse', 'aws:kms', '--sse-kms-key-id', 'bad key'], /^dv: error USAGE: remote\.s3\.sseKmsKeyId "bad key": give a KMS key id/m],
  ];
  for (const [args, re] of cases) {
    const r = await dv(a, ['remote', 'add', 's3', 's3://bucket/p', ...args]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, re);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
  const dir = await dv(a, ['remote', 'add', 'd', join(tempDir(), 'r'), '--sse', 'AES256']);
  assert.equal(dir.code, 2);
  assert.match(dir.stderr, /--sse is for S3 remotes/);
  assert.equal((await dv(a, ['remote', 'list', '--json'])).stdout.trim(), '[]', 'nothing added');
  await dvOk(a, ['remote', 'add', 's3', 's3://bucket/p', '--sse', 'aws:kms']);
  const set = await dv(a, ['config', 'remote.s3.sse', 'aws:kms:dsse']);
  assert.equal(set.code, 2);
  assert.match(set.stderr, /remote\.s3\.sse aws:kms:dsse: give AES256 or aws:kms/);
});
