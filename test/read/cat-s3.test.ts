/**
 * `dv cat <rev>:<path>` from an S3 remote (s3rver), in a clone that fetched nothing: the old
 * version byte for byte, with the bytes S3 sent (counted by a proxy in front of it) close to the
 * file's size, not the snapshot's.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { credsEnv, startS3rver, type S3TestServer } from '../helpers/s3server.js';
import { storeBytes } from '../helpers/cli.js';
import { startCountingProxy, type CountingProxy } from './counting-proxy.js';
import { dvBytes, twoVersionsPushed } from './setup.js';

let srv: S3TestServer;
let proxy: CountingProxy;
before(async () => {
  srv = await startS3rver();
  proxy = await startCountingProxy(srv.endpoint);
});
after(async () => {
  await proxy.stop();
  await srv.stop();
});

test('s3rver: dv cat v1:path from a fresh clone reads about the file, not the snapshot', async (t) => {
  await srv.createBucket('cat');
  const env = credsEnv(srv);
  const p = await twoVersionsPushed('s3://cat/project', ['--endpoint', proxy.endpoint], env);
  proxy.reset();
  const r = await dvBytes(p.b, ['cat', 'v1:data/large0.bin'], env);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(r.stdout.equals(p.v1), 'byte-identical to v1');
  const got = proxy.counts.getBytes;
  t.diagnostic(
    `file ${p.v1.length} B, snapshot ${p.v1Size} B: S3 sent ${got} B in ${JSON.stringify(proxy.counts.requests)} (${proxy.counts.rangedGets} ranged GETs)`,
  );
  assert.ok(got >= p.v1.length, `${got} bytes`);
  // The file, its manifest and trees, and the remote's pack indexes (a few KB here).
  assert.ok(got < p.v1.length * 1.05 + 512 * 1024, `S3 sent ${got} bytes for a file of ${p.v1.length}`);
  assert.ok(got * 5 < p.v1Size, `the snapshot is ${p.v1Size} bytes`);
  assert.ok(proxy.counts.rangedGets <= 12, `${proxy.counts.rangedGets} ranged GETs`);
  assert.equal(await storeBytes(p.b), 0, 'nothing written to the local store');

  // A path missing at that version: one line, nothing on stdout, and no pack data read.
  proxy.reset();
  const miss = await dvBytes(p.b, ['cat', 'v1:data/d0/none.dat'], env);
  assert.equal(miss.code, 15, miss.stderr);
  assert.equal(miss.stdout.length, 0);
  assert.match(miss.stderr, /^dv: error PATH_NOT_FOUND: v1:data\/d0\/none\.dat: no data\/d0\/none\.dat in this version\n$/);
});
