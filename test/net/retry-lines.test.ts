/**
 * Network behaviour: retries are visible. Against an S3 endpoint that answers every request
 * 503 SlowDown, `dv push` prints a line per retry on stderr naming the request and the cause;
 * -q prints none, and --json keeps them off stdout.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { dv, dvOk, makeRepo } from '../helpers/cli.js';

const ENV = { AWS_ACCESS_KEY_ID: 'k', AWS_SECRET_ACCESS_KEY: 's', AWS_REGION: 'us-east-1' };
const SLOW_DOWN =
  '<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>';

test('dv push prints a line per retry of a request the server answers SlowDown', { timeout: 60_000 }, async () => {
  let requests = 0;
  const srv = createServer((req, res) => {
    requests++;
    req.resume();
    res.writeHead(503, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(SLOW_DOWN) });
    res.end(SLOW_DOWN);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  try {
    const repo = await makeRepo();
    await fsp.writeFile(join(repo, 'a.txt'), 'a\n');
    await dvOk(repo, ['add', 'a.txt']);
    await dvOk(repo, ['remote', 'add', 's3', 's3://bucket/x', '--endpoint', `http://127.0.0.1:${port}`, '--default']);
    await dvOk(repo, ['config', 'remote.s3.timeout', '5']);

    const r = await dv(repo, ['push'], ENV);
    assert.notEqual(r.code, 0);
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('dv: retrying'));
    console.log(`# ${lines.length} retry lines, first: ${lines[0]}`);
    assert.ok(lines.length >= 2, r.stderr);
    assert.match(lines[0], /^dv: retrying s3:\/\/bucket\/x\/ \(2\/6\): .*SlowDown/);
    assert.match(lines[1], /\(3\/6\)/);
    assert.equal(lines.length, requests - 1, `${requests} requests, stderr:\n${r.stderr}`);
    assert.match(r.stderr, /^dv: error REMOTE_ERROR: .*SlowDown/m);

    const q = await dv(repo, ['-q', 'push'], ENV);
    assert.notEqual(q.code, 0);
    assert.doesNotMatch(q.stderr, /retrying/);

    const j = await dv(repo, ['--json', 'push'], ENV);
    assert.notEqual(j.code, 0);
    assert.doesNotMatch(j.stdout, /retrying/);
    assert.match(j.stderr, /^dv: retrying /m);
  } finally {
    srv.close();
  }
});
