/**
 * Network behaviour: against an S3 endpoint that accepts connections and never answers, push,
 * fetch and status --remote fail in about the remote's timeout (not attempts × timeout), with
 * one line naming the remote host and what to do; a refused connection fails in seconds.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { hungServer } from '../helpers/hung-server.js';
import { join } from 'node:path';
import { dv, dvOk, makeRepo } from '../helpers/cli.js';

const TIMEOUT_S = 3;
// Process start-up (node, the SDK's import) comes on top of the timeout; under load it is ~1-2 s.
const STARTUP_ALLOWANCE_MS = 2500;

async function repoWithRemote(endpoint: string): Promise<string> {
  const repo = await makeRepo();
  await fsp.writeFile(join(repo, 'a.txt'), 'a\n');
  await dvOk(repo, ['add', 'a.txt']);
  await dvOk(repo, ['remote', 'add', 's3', 's3://bucket/x', '--endpoint', endpoint, '--default']);
  await dvOk(repo, ['config', 'remote.s3.timeout', String(TIMEOUT_S)]);
  return repo;
}

const ENV = { AWS_ACCESS_KEY_ID: 'k', AWS_SECRET_ACCESS_KEY: 's', AWS_REGION: 'us-east-1' };

for (const args of [['push'], ['fetch'], ['status', '--remote']]) {
  test(`dv ${args.join(' ')} against a hung S3 server fails in the remote's timeout`, { timeout: 60_000 }, async () => {
    const hung = await hungServer();
    try {
      const repo = await repoWithRemote(`http://127.0.0.1:${hung.port}`);
      const t0 = Date.now();
      const r = await dv(repo, args, ENV);
      const elapsed = Date.now() - t0;
      console.log(`# dv ${args.join(' ')}: hung server, timeout ${TIMEOUT_S} s: failed after ${elapsed} ms (exit ${r.code})`);
      assert.notEqual(r.code, 0, r.stdout);
      assert.match(
        r.stderr,
        /^dv: error REMOTE_UNREACHABLE: no answer from http:\/\/127\.0\.0\.1:\d+ in time for s3:\/\/bucket .*raise the remote's timeout/m,
      );
      assert.equal(
        r.stderr
          .trim()
          .split('\n')
          .filter((l) => l.startsWith('dv: error')).length,
        1,
        r.stderr,
      );
      assert.ok(elapsed >= TIMEOUT_S * 1000 - 100, `gave up after ${elapsed} ms, before the timeout`);
      assert.ok(elapsed <= TIMEOUT_S * 1100 + STARTUP_ALLOWANCE_MS, `took ${elapsed} ms for a ${TIMEOUT_S} s timeout`);
    } finally {
      hung.close();
    }
  });
}

test('dv push to a port that refuses connections fails in seconds', { timeout: 60_000 }, async () => {
  const hung = await hungServer();
  const port = hung.port;
  hung.close(); // now nothing listens there
  const repo = await repoWithRemote(`http://127.0.0.1:${port}`);
  await dvOk(repo, ['config', 'remote.s3.timeout', '30']);
  const t0 = Date.now();
  const r = await dv(repo, ['push'], ENV);
  const elapsed = Date.now() - t0;
  console.log(`# dv push: connection refused, timeout 30 s: failed after ${elapsed} ms (exit ${r.code})`);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /^dv: error REMOTE_UNREACHABLE: .*127\.0\.0\.1/m);
  assert.ok(elapsed < 10_000, `took ${elapsed} ms`);
});
