import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, test } from 'node:test';
import { openBackend, parseRemoteUrl } from '../../src/backend/open.js';
import { LocalBackend } from '../../src/backend/local.js';
import { S3Backend } from '../../src/backend/s3.js';
import { isDvError } from '../../src/errors.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

function usage(url: string): void {
  assert.throws(
    () => parseRemoteUrl(url, '/base'),
    (e: unknown) => {
      assert.ok(isDvError(e, 'USAGE'), String(e));
      assert.ok(e.message.includes(JSON.stringify(url)), e.message);
      return true;
    },
  );
}

describe('parseRemoteUrl', () => {
  test('directory paths: absolute, relative to cwd, file://', () => {
    assert.deepEqual(parseRemoteUrl('/mnt/share/dv', '/base'), { kind: 'local', path: '/mnt/share/dv' });
    assert.deepEqual(parseRemoteUrl('/mnt/share/dv/', '/base'), { kind: 'local', path: '/mnt/share/dv' });
    assert.deepEqual(parseRemoteUrl('../remote', '/base/repo'), { kind: 'local', path: '/base/remote' });
    assert.deepEqual(parseRemoteUrl('store', '/base'), { kind: 'local', path: '/base/store' });
    assert.deepEqual(parseRemoteUrl('file:///srv/dv%20data', '/base'), { kind: 'local', path: '/srv/dv data' });
    assert.deepEqual(parseRemoteUrl(pathToFileURL('/tmp/x').href), { kind: 'local', path: '/tmp/x' });
  });

  test('s3 URLs: bucket and optional prefix', () => {
    assert.deepEqual(parseRemoteUrl('s3://my-bucket'), { kind: 's3', bucket: 'my-bucket', prefix: '' });
    assert.deepEqual(parseRemoteUrl('s3://my-bucket/'), { kind: 's3', bucket: 'my-bucket', prefix: '' });
    assert.deepEqual(parseRemoteUrl('s3://my.bucket/team/dv/'), { kind: 's3', bucket: 'my.bucket', prefix: 'team/dv' });
    assert.deepEqual(parseRemoteUrl('S3://bkt/p'), { kind: 's3', bucket: 'bkt', prefix: 'p' });
  });

  test('anything else is a USAGE error naming the URL', () => {
    for (const url of [
      '',
      '   ',
      'http://host/x',
      'gs://bucket/x',
      'ssh://host/dir',
      's3://',
      's3://B_ad',
      's3://ab',
      's3://bucket/../x',
      's3://bucket//x',
      's3://bucket/a?x=1',
      'file://remote-host/dir',
      'host:dir',
    ]) {
      usage(url);
    }
  });
});

describe('openBackend', () => {
  test('a directory gives a retried LocalBackend that works', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'dv-open-'));
    try {
      const be = await openBackend(path.basename(dir), { cwd: path.dirname(dir) });
      assert.equal(be.location, dir);
      assert.ok(!(be instanceof LocalBackend), 'wrapped in retries');
      await be.check();
      await be.put('a/b', Buffer.from('x'));
      assert.equal((await be.get('a/b')).toString(), 'x');
      assert.ok((await openBackend(dir, { retry: false })) instanceof LocalBackend);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('create lets a local remote come into being on first write', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'dv-open-'));
    try {
      const be = await openBackend(path.join(dir, 'new', 'remote'), { create: true });
      await be.put('k', Buffer.from('v'));
      await be.check();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('an s3 URL gives an S3Backend with its options', async () => {
    const raw = await openBackend('s3://bkt/pre/fix', { retry: false, s3: { endpoint: 'http://127.0.0.1:9', region: 'eu-west-1' } });
    assert.ok(raw instanceof S3Backend);
    assert.equal(raw.location, 's3://bkt/pre/fix');
    await raw.close?.();
    const wrapped = await openBackend('s3://bkt', { s3: { endpoint: 'http://127.0.0.1:9' } });
    assert.equal(wrapped.location, 's3://bkt');
    await wrapped.close?.();
  });
});
