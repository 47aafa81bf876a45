// Direct GETs (src/backend/s3direct.ts): ranged bodies read in place into the caller's memory over a
// socket of their own, against s3rver, behind the fault proxy and behind a proxy that answers in
// chunks (which the direct reader hands back to the SDK's handler).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import * as http from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import type { Backend, RangeSink } from '../../src/backend/backend.js';
import { isTransient, withRetry } from '../../src/backend/retry.js';
import { S3Backend } from '../../src/backend/s3.js';
import { isDvError } from '../../src/errors.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { startS3rver, type S3TestServer } from '../helpers/s3server.js';
import { rejectsWith } from './conformance.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const BUCKET = 'dv-direct';
const TIMEOUT_MS = 800;

/** A sink over a ring like a fetch's slot: room where the next bytes go, and how many pieces arrived in place. */
function slotSink(size: number): { sink: RangeSink; bytes: () => Buffer; inPlace: () => number; copied: () => number } {
  const ring = new SharedArrayBuffer(size + 8192);
  const view = Buffer.from(ring, 4096, size);
  let filled = 0;
  let inPlace = 0;
  let copied = 0;
  const sink: RangeSink = (piece) => {
    if (piece.buffer === ring && piece.byteOffset === view.byteOffset + filled) inPlace++;
    else {
      copied++;
      piece.copy(view, filled);
    }
    filled += piece.length;
  };
  sink.room = () => (filled < size ? view.subarray(filled) : undefined);
  return { sink, bytes: () => view.subarray(0, filled), inPlace: () => inPlace, copied: () => copied };
}

/** A proxy that forwards to `target` and answers every body in chunks (no Content-Length), counting requests. */
async function startChunkedProxy(target: string): Promise<{ endpoint: string; gets: () => number; stop: () => Promise<void> }> {
  const up = new URL(target);
  let gets = 0;
  const server = http.createServer((req, res) => {
    if (req.method === 'GET') gets++;
    const fwd = http.request({ host: up.hostname, port: up.port, method: req.method, path: req.url, headers: req.headers }, (ur) => {
      const h = { ...ur.headers };
      delete h['content-length'];
      res.writeHead(ur.statusCode ?? 502, { ...h, 'transfer-encoding': 'chunked' });
      ur.pipe(res);
    });
    req.pipe(fwd);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    gets: () => gets,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A server that answers every request with a 503 and `xml`, with a Content-Length (as S3 does), then closes. */
async function startCanned(xml: string): Promise<{ endpoint: string; stop: () => Promise<void> }> {
  const server = createServer((sock) => {
    sock.once('data', () =>
      sock.end(`HTTP/1.1 503 Slow Down\r\ncontent-type: application/xml\r\ncontent-length: ${Buffer.byteLength(xml)}\r\n\r\n${xml}`),
    );
    sock.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('direct GETs: ranged bodies read in place', () => {
  let srv: S3TestServer;
  let proxy: FaultProxy;
  const open: S3Backend[] = [];
  const data = randomBytes(6 * 1024 * 1024 + 777);

  function raw(endpoint: string): S3Backend {
    const be = new S3Backend({ bucket: BUCKET, prefix: 'd', endpoint, credentials: srv.credentials, timeoutMs: TIMEOUT_MS });
    open.push(be);
    return be;
  }
  const retried = (endpoint: string): Backend => withRetry(raw(endpoint), { baseMs: 1, maxMs: 20 });

  before(async () => {
    srv = await startS3rver();
    await srv.createBucket(BUCKET);
    proxy = await startFaultProxy(srv.endpoint, [], 99);
    await raw(srv.endpoint).put('big/x', data);
  });
  after(async () => {
    await Promise.all(open.map((b) => b.close()));
    await proxy?.stop();
    await srv?.stop();
  });
  beforeEach(() => {
    proxy.setRules([]);
    proxy.reset();
  });

  test('a streamed range goes into the sink in place, every byte once, in order', async () => {
    const want = data.subarray(1234, 1234 + 5 * 1024 * 1024);
    const s = slotSink(want.length);
    await retried(srv.endpoint).getRangeTo!('big/x', 1234, want.length, s.sink);
    assert.ok(s.bytes().equals(want));
    assert.ok(s.inPlace() > 0, 'pieces were read where the sink wanted them');
    assert.ok(s.inPlace() > s.copied(), `in place ${s.inPlace()}, copied ${s.copied()}`);
  });

  test('a sink that fills up takes the rest as copies; a sink failure passes through as it is', async () => {
    const want = data.subarray(0, 3 * 1024 * 1024);
    const small = slotSink(1024 * 1024);
    const rest: Buffer[] = [];
    const sink: RangeSink = (piece) => {
      if (small.sink.room!()) return small.sink(piece);
      rest.push(Buffer.from(piece));
    };
    sink.room = small.sink.room;
    await raw(srv.endpoint).getRangeTo!('big/x', 0, want.length, sink);
    assert.ok(Buffer.concat([small.bytes(), ...rest]).equals(want));
    const oops = new Error('the sink broke');
    const bad: RangeSink = async () => {
      throw oops;
    };
    bad.room = () => undefined;
    await assert.rejects(retried(srv.endpoint).getRangeTo!('big/x', 0, 100_000, bad), (e: unknown) => e === oops);
  });

  test('errors through a direct GET are classified as the SDK path classifies them', async () => {
    const s = slotSink(100);
    const m = await rejectsWith(raw(srv.endpoint).getRangeTo!('big/missing', 0, 100, s.sink), 'OBJECT_MISSING');
    assert.equal(m.key, 'big/missing');
    await rejectsWith(raw(srv.endpoint).getRangeTo!('big/x', data.length - 10, 11, s.sink), 'OBJECT_CORRUPT');
    await rejectsWith(raw(srv.endpoint).getRange('big/x', data.length - 10, 11, Buffer.alloc(11)), 'OBJECT_CORRUPT');
    const canned = await startCanned(
      '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>',
    );
    try {
      const d = await rejectsWith(raw(canned.endpoint).getRangeTo!('big/x', 0, 100, slotSink(100).sink), 'REMOTE_ERROR');
      assert.equal(d.status, 503);
      assert.equal(d.awsCode, 'SlowDown');
      assert.equal(d.transient, true);
    } finally {
      await canned.stop();
    }
    // The fault proxy's 500 comes in chunks: asked again through the SDK's handler, which gets the bytes.
    proxy.setRules([{ kind: 'error500', method: 'GET', times: 1 }]);
    const s2 = slotSink(100);
    await raw(proxy.endpoint).getRangeTo!('big/x', 0, 100, s2.sink);
    assert.ok(s2.bytes().equals(data.subarray(0, 100)));
    assert.equal(proxy.counts.GET, 2);
    const refused = new S3Backend({
      bucket: BUCKET,
      endpoint: srv.endpoint,
      credentials: { accessKeyId: 'NOT-S3RVER', secretAccessKey: 'x' },
      timeoutMs: TIMEOUT_MS,
    });
    open.push(refused);
    await rejectsWith(refused.getRange('d/big/x', 0, 10, Buffer.alloc(10)), 'AUTH_FAILED');
  });

  test('a body cut short, too long or stalled is a transient error; with retries the sink still sees each byte once', async () => {
    const want = data.subarray(10, 10 + 2 * 1024 * 1024);
    for (const kind of ['truncate', 'overlong', 'stall'] as const) {
      proxy.setRules([{ kind, method: 'GET', times: 1 }]);
      const e = await raw(proxy.endpoint).getRangeTo!('big/x', 10, want.length, slotSink(want.length).sink).then(
        () => undefined,
        (x: unknown) => x,
      );
      assert.ok(isDvError(e) && isTransient(e), `${kind}: ${String(e)}`);
    }
    proxy.reset();
    proxy.setRules([
      { kind: 'truncate', method: 'GET', times: 1 },
      { kind: 'overlong', method: 'GET', times: 1 },
    ]);
    const s = slotSink(want.length);
    await retried(proxy.endpoint).getRangeTo!('big/x', 10, want.length, s.sink);
    assert.ok(s.bytes().equals(want));
    assert.equal(proxy.faults.truncate, 1);
    assert.equal(proxy.faults.overlong, 1);
  });

  test('a server that answers in chunks is asked again through the SDK handler, and the bytes still arrive', async () => {
    const chunked = await startChunkedProxy(srv.endpoint);
    try {
      const want = data.subarray(5, 5 + 300_000);
      const s = slotSink(want.length);
      await raw(chunked.endpoint).getRangeTo!('big/x', 5, want.length, s.sink);
      assert.ok(s.bytes().equals(want));
      assert.equal(chunked.gets(), 2, 'once directly (refused: no Content-Length), once through the SDK');
      const into = Buffer.alloc(want.length);
      assert.ok((await raw(chunked.endpoint).getRange('big/x', 5, want.length, into)).equals(want));
    } finally {
      await chunked.stop();
    }
  });

  test("a profile's credentials (their module loaded at the first request) sign the requests", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dv-profile-'));
    const saved = { creds: process.env.AWS_SHARED_CREDENTIALS_FILE, config: process.env.AWS_CONFIG_FILE };
    try {
      await writeFile(join(dir, 'credentials'), `[ml]\naws_access_key_id = ${srv.credentials.accessKeyId}\naws_secret_access_key = x\n`);
      process.env.AWS_SHARED_CREDENTIALS_FILE = join(dir, 'credentials');
      process.env.AWS_CONFIG_FILE = join(dir, 'config');
      const be = new S3Backend({ bucket: BUCKET, prefix: 'd', endpoint: srv.endpoint, profile: 'ml', timeoutMs: TIMEOUT_MS });
      open.push(be);
      assert.ok((await be.getRange('big/x', 100, 1000, Buffer.alloc(1000))).equals(data.subarray(100, 1100)));
      const other = new S3Backend({ bucket: BUCKET, prefix: 'd', endpoint: srv.endpoint, profile: 'absent', timeoutMs: TIMEOUT_MS });
      open.push(other);
      await assert.rejects(other.get('big/x'), (e: unknown) => isDvError(e) && e.code !== 'OBJECT_MISSING');
    } finally {
      for (const [k, v] of [
        ['AWS_SHARED_CREDENTIALS_FILE', saved.creds],
        ['AWS_CONFIG_FILE', saved.config],
      ] as const) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('many direct GETs at once each get their own bytes', async () => {
    const be = retried(srv.endpoint);
    const reads = Array.from({ length: 12 }, (_, k) => ({ at: k * 400_000, len: 300_000 + k * 1000 }));
    const got = await Promise.all(
      reads.map(async ({ at, len }) => {
        const s = slotSink(len);
        await be.getRangeTo!('big/x', at, len, s.sink);
        return s.bytes();
      }),
    );
    for (const [k, { at, len }] of reads.entries()) assert.ok(got[k].equals(data.subarray(at, at + len)), `read ${k}`);
  });
});
