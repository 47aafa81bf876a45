// S3Backend + withRetry against s3rver behind a fault-injecting proxy.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import pLimit from 'p-limit';
import type { Backend } from '../../src/backend/backend.js';
import { isTransient, withRetry, type RetryOptions } from '../../src/backend/retry.js';
import { S3Backend, type S3BackendOptions } from '../../src/backend/s3.js';
import { isDvError } from '../../src/errors.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { startS3rver, type S3TestServer } from '../helpers/s3server.js';
import { rejectsWith } from './conformance.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const BUCKET = 'dv-faults';
const TIMEOUT_MS = 800;

describe('retries through a fault proxy in front of s3rver', () => {
  let srv: S3TestServer;
  let proxy: FaultProxy;
  let dir: string;
  const open: S3Backend[] = [];

  function raw(opts: Partial<S3BackendOptions> = {}): S3Backend {
    const be = new S3Backend({
      bucket: BUCKET,
      prefix: 'f',
      endpoint: proxy.endpoint,
      credentials: srv.credentials,
      timeoutMs: TIMEOUT_MS,
      ...opts,
    });
    open.push(be);
    return be;
  }
  function retried(opts: RetryOptions = {}, s3: Partial<S3BackendOptions> = {}): Backend {
    return withRetry(raw(s3), { baseMs: 1, maxMs: 20, ...opts });
  }

  before(async () => {
    srv = await startS3rver();
    await srv.createBucket(BUCKET);
    proxy = await startFaultProxy(srv.endpoint, [], 1234);
    dir = await mkdtemp(path.join(tmpdir(), 'dv-faults-'));
  });
  after(async () => {
    await Promise.all(open.map((b) => b.close()));
    await proxy?.stop();
    await srv?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    proxy.setRules([]);
    proxy.reset();
  });

  test('503 SlowDown twice, then OK: the put succeeds on the third attempt', async () => {
    const retries: number[] = [];
    const be = retried({ onRetry: (i) => retries.push(i.attempt) });
    proxy.setRules([{ kind: 'slowdown', method: 'PUT', times: 2 }]);
    const data = randomBytes(5000);
    await be.put('slow/x', data);
    assert.deepEqual(retries, [1, 2]);
    assert.equal(proxy.counts.PUT, 3);
    assert.ok((await be.get('slow/x')).equals(data));
  });

  test('500 on every attempt gives up after `attempts` with a transient REMOTE_ERROR', async () => {
    const be = retried({ attempts: 4 });
    proxy.setRules([{ kind: 'error500', method: 'GET' }]);
    const d = await rejectsWith(be.get('any'), 'REMOTE_ERROR');
    assert.equal(d.transient, true);
    assert.equal(d.status, 500);
    assert.equal(proxy.counts.GET, 4);
  });

  test('a missing object is not retried even behind a flaky proxy', async () => {
    const be = retried({ attempts: 5 });
    await rejectsWith(be.get('never/there'), 'OBJECT_MISSING');
    assert.equal(proxy.counts.GET, 1);
  });

  test('a body cut short is detected as transient and retried', async () => {
    const data = randomBytes(300_000);
    await raw().put('cut/x', data);
    proxy.setRules([{ kind: 'truncate', method: 'GET', times: 1 }]);
    await assert.rejects(raw().get('cut/x'), (e: unknown) => isDvError(e, 'REMOTE_ERROR') && isTransient(e));
    proxy.setRules([{ kind: 'truncate', method: 'GET', times: 1 }]);
    assert.ok((await retried().get('cut/x')).equals(data));
    proxy.setRules([{ kind: 'truncate', method: 'GET', times: 1 }]);
    assert.ok((await retried().getRange('cut/x', 1000, 200_000)).equals(data.subarray(1000, 201_000)));
  });

  test('a ranged read into a caller buffer: filled exactly; a body cut short or too long is refused as transient, then retried in place', async () => {
    const data = randomBytes(400_000);
    await raw().put('into/x', data);
    const ring = new SharedArrayBuffer(300_000);
    const into = Buffer.from(ring, 4096, 250_000);
    const want = data.subarray(5000, 255_000);
    const got = await raw().getRange('into/x', 5000, 250_000, into);
    assert.ok(got.equals(want));
    assert.equal(got.buffer, ring, 'read in place, not into a buffer of its own');
    proxy.setRules([{ kind: 'truncate', method: 'GET', times: 1 }]);
    await assert.rejects(raw().getRange('into/x', 5000, 250_000, into), (e: unknown) => isDvError(e, 'REMOTE_ERROR') && isTransient(e));
    proxy.setRules([{ kind: 'overlong', method: 'GET', times: 1 }]);
    const d = await rejectsWith(raw().getRange('into/x', 5000, 250_000, into), 'REMOTE_ERROR');
    assert.equal(d.transient, true);
    assert.equal(ring.byteLength, 300_000);
    into.fill(0);
    proxy.reset();
    proxy.setRules([
      { kind: 'truncate', method: 'GET', times: 1 },
      { kind: 'overlong', method: 'GET', times: 1 },
    ]);
    const again = await retried().getRange('into/x', 5000, 250_000, into);
    assert.ok(again.equals(want) && again.buffer === ring);
    assert.equal(proxy.faults.truncate, 1);
    assert.equal(proxy.faults.overlong, 1);
  });

  test('a streamed range cut short resumes after the bytes handed over: the sink sees each byte once, in order', async () => {
    const data = randomBytes(3_000_000);
    await raw().put('stream/x', data);
    const want = data.subarray(12_345, 2_912_345);
    const take = async (be: Backend): Promise<{ got: Buffer; pieces: number }> => {
      const parts: Buffer[] = [];
      await be.getRangeTo!('stream/x', 12_345, want.length, (p) => {
        parts.push(Buffer.from(p));
      });
      return { got: Buffer.concat(parts), pieces: parts.length };
    };
    proxy.setRules([{ kind: 'truncate', method: 'GET', times: 1 }]);
    const cut = await take(raw()).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(isDvError(cut, 'REMOTE_ERROR') && isTransient(cut), 'without retries a cut body is a transient error');
    proxy.reset();
    proxy.setRules([
      { kind: 'truncate', method: 'GET', times: 1 },
      { kind: 'overlong', method: 'GET', times: 1 },
    ]);
    const { got, pieces } = await take(retried());
    assert.equal(got.length, want.length, 'no byte twice, none missing');
    assert.ok(got.equals(want));
    assert.ok(pieces > 1, 'streamed in pieces');
    assert.equal(proxy.faults.truncate, 1);
    assert.ok((proxy.counts.GET ?? 0) >= 2, 'the rest was asked for again');
  });

  test('a connection reset before the response is retried', async () => {
    const be = retried();
    proxy.setRules([{ kind: 'reset', times: 2 }]);
    await be.put('reset/x', Buffer.from('abc'));
    assert.equal((await be.get('reset/x')).toString(), 'abc');
    assert.equal(proxy.faults.reset, 2);
  });

  test('a hung server is abandoned by the request timeout, then retried', async () => {
    await raw().put('hang/x', Buffer.from('hello'));
    proxy.setRules([{ kind: 'hang', method: 'GET', times: 1 }]);
    const t0 = Date.now();
    await assert.rejects(raw().get('hang/x'), (e: unknown) => isDvError(e, 'REMOTE_UNREACHABLE') && isTransient(e));
    const waited = Date.now() - t0;
    assert.ok(waited >= TIMEOUT_MS - 50 && waited < TIMEOUT_MS * 4, `waited ${waited} ms`);
    proxy.setRules([{ kind: 'hang', method: 'GET', times: 1 }]);
    assert.equal((await retried().get('hang/x')).toString(), 'hello');
  });

  test('a body that stalls halfway is abandoned by the idle timeout, then retried', async () => {
    const data = randomBytes(200_000);
    await raw().put('stall/x', data);
    proxy.setRules([{ kind: 'stall', method: 'GET', times: 1 }]);
    const t0 = Date.now();
    await assert.rejects(raw().get('stall/x'), (e: unknown) => isDvError(e) && isTransient(e));
    assert.ok(Date.now() - t0 < TIMEOUT_MS * 4);
    proxy.setRules([{ kind: 'stall', method: 'GET', times: 1 }]);
    assert.ok((await retried().get('stall/x')).equals(data));
  });

  test('a failing multipart part reports the real cause and the retried upload succeeds', async () => {
    const s3 = { multipartThreshold: 6 * 1024 * 1024, partSize: 5 * 1024 * 1024 };
    const data = randomBytes(11 * 1024 * 1024);
    const f = path.join(dir, 'mp');
    await writeFile(f, data);
    // The first PUT of a multipart upload is its first part.
    proxy.setRules([{ kind: 'error500', method: 'PUT', times: 1 }]);
    const d = await rejectsWith(raw(s3).putFile('mp/x', f), 'REMOTE_ERROR');
    assert.equal(d.status, 500);
    proxy.setRules([{ kind: 'slowdown', method: 'PUT', times: 2 }]);
    const be = retried({}, s3);
    await be.putFile('mp/x', f);
    assert.ok((await be.get('mp/x')).equals(data));
  });

  test('~15% random faults over 200 puts and gets: every byte comes back', async () => {
    proxy.setRules([
      { kind: 'slowdown', probability: 0.05 },
      { kind: 'error500', probability: 0.03 },
      { kind: 'reset', probability: 0.03 },
      { kind: 'truncate', method: 'GET', probability: 0.04 },
      { kind: 'delay', probability: 0.03, delayMs: 20 },
    ]);
    let retries = 0;
    const be = retried({ attempts: 10, onRetry: () => retries++ });
    const limit = pLimit(8);
    const blobs = Array.from({ length: 100 }, (_, i) => randomBytes(1 + ((i * 7919) % 100_000)));
    await Promise.all(blobs.map((b, i) => limit(() => be.put(`rand/${i}`, b))));
    const back = await Promise.all(blobs.map((_, i) => limit(() => be.get(`rand/${i}`))));
    for (const [i, b] of back.entries()) assert.ok(b.equals(blobs[i]!), `object ${i}`);
    const injected = Object.values(proxy.faults).reduce((a, b) => a + b, 0);
    assert.ok(injected >= 15, `only ${injected} faults injected`);
    assert.ok(retries >= injected - (proxy.faults.delay ?? 0), `${retries} retries for ${injected} faults`);
  });
});
