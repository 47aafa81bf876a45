// The classification table of S3 and network failures, without a server.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isTransient } from '../../src/backend/retry.js';
import { classifyS3Error } from '../../src/backend/s3errors.js';
import type { ErrorCode } from '../../src/errors.js';

const ctx = { bucket: 'bkt', objectKey: 'pre/k', key: 'k', endpoint: 'http://s3.example' };

function sdk(name: string, status?: number, extra: Record<string, unknown> = {}): Error {
  return Object.assign(new Error(`${name} happened`), { name, $metadata: { httpStatusCode: status }, ...extra });
}
function net(code: string, name = 'Error'): Error {
  return Object.assign(new Error(`connect ${code}`), { code, name });
}

const cases: Array<[string, unknown, ErrorCode, boolean, typeof ctx | { bucket: string }]> = [
  ['NoSuchKey', sdk('NoSuchKey', 404), 'OBJECT_MISSING', false, ctx],
  ['HEAD 404', sdk('NotFound', 404), 'OBJECT_MISSING', false, ctx],
  ['NoSuchBucket', sdk('NoSuchBucket', 404), 'REMOTE_NOT_FOUND', false, ctx],
  ['bucket-level 404', sdk('NotFound', 404), 'REMOTE_NOT_FOUND', false, { bucket: 'bkt' }],
  ['AccessDenied', sdk('AccessDenied', 403), 'AUTH_FAILED', false, ctx],
  ['InvalidAccessKeyId', sdk('InvalidAccessKeyId', 403), 'AUTH_FAILED', false, ctx],
  ['SignatureDoesNotMatch', sdk('SignatureDoesNotMatch', 403), 'AUTH_FAILED', false, ctx],
  ['bare 403', sdk('Forbidden', 403), 'AUTH_FAILED', false, ctx],
  ['no credentials', sdk('CredentialsProviderError'), 'AUTH_FAILED', false, ctx],
  ['ECONNREFUSED', net('ECONNREFUSED'), 'REMOTE_UNREACHABLE', true, ctx],
  ['ENOTFOUND', net('ENOTFOUND'), 'REMOTE_UNREACHABLE', true, ctx],
  ['EHOSTUNREACH', net('EHOSTUNREACH'), 'REMOTE_UNREACHABLE', true, ctx],
  [
    'AggregateError of refusals',
    Object.assign(new AggregateError([net('ECONNREFUSED')]), { errors: [net('ECONNREFUSED')] }),
    'REMOTE_UNREACHABLE',
    true,
    ctx,
  ],
  ['request timeout', net('ETIMEDOUT', 'TimeoutError'), 'REMOTE_UNREACHABLE', true, ctx],
  ['reset renamed TimeoutError by the SDK', net('ECONNRESET', 'TimeoutError'), 'REMOTE_ERROR', true, ctx],
  ['aborted body', Object.assign(new Error('aborted'), { code: 'ECONNRESET' }), 'REMOTE_ERROR', true, ctx],
  ['SlowDown', sdk('SlowDown', 503), 'REMOTE_ERROR', true, ctx],
  ['InternalError', sdk('InternalError', 500), 'REMOTE_ERROR', true, ctx],
  ['HTML 502', sdk('Unknown', 502), 'REMOTE_ERROR', true, ctx],
  ['429', sdk('TooManyRequests', 429), 'REMOTE_ERROR', true, ctx],
  ['BadDigest', sdk('BadDigest', 400), 'REMOTE_ERROR', true, ctx],
  ['clock skew', sdk('RequestTimeTooSkewed', 403), 'REMOTE_ERROR', true, ctx],
  ['other 400', sdk('InvalidArgument', 400), 'REMOTE_ERROR', false, ctx],
  ['no region', new Error('Region is missing'), 'USAGE', false, ctx],
];

for (const [what, err, code, transient, c] of cases) {
  test(`S3 error classification: ${what} → ${code}${transient ? ' (transient)' : ''}`, () => {
    const e = classifyS3Error(err, c);
    assert.equal(e.code, code, e.message);
    assert.equal(isTransient(e), transient);
    assert.equal(e.cause, err);
    assert.ok(e.message.includes('bkt'), e.message);
    assert.ok(!e.message.includes('\n'));
    if (code === 'OBJECT_MISSING') assert.equal(e.data.key, 'k');
  });
}
