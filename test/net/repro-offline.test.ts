/**
 * Network behaviour: `dv repro` with a remote whose S3 endpoint never answers (and the default
 * 30 s timeout) starts its stage within 5 s, and says how to skip the run-cache lookup.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { dv, dvOk, makeRepo } from '../helpers/cli.js';
import { hungServer } from '../helpers/hung-server.js';

const ENV = { AWS_ACCESS_KEY_ID: 'k', AWS_SECRET_ACCESS_KEY: 's', AWS_REGION: 'us-east-1' };

test('dv repro with a hung remote run cache starts its stage within 5 s and names --offline', { timeout: 90_000 }, async () => {
  const hung = await hungServer();
  const port = hung.port;
  try {
    const repo = await makeRepo();
    await dvOk(repo, ['remote', 'add', 's3', 's3://bucket/x', '--endpoint', `http://127.0.0.1:${port}`, '--default']);
    // The stage records when it started (ms since the epoch).
    const cmd = `node -e "require('fs').writeFileSync('started.txt', String(Date.now()))"`;
    await dvOk(repo, ['stage', 'add', '-n', 'mark', '-o', 'started.txt', '--', cmd]);
    const t0 = Date.now();
    const r = await dv(repo, ['repro'], ENV);
    const total = Date.now() - t0;
    assert.equal(r.code, 0, r.stderr);
    const startedAfter = Number(await fsp.readFile(join(repo, 'started.txt'), 'utf8')) - t0;
    console.log(`# dv repro, hung remote (timeout 30 s): stage started after ${startedAfter} ms, command took ${total} ms`);
    assert.ok(startedAfter < 5000, `the stage started after ${startedAfter} ms`);
    assert.ok(total < 10_000, `repro took ${total} ms`);
    assert.match(r.stderr, /^dv: remote s3 \(s3:\/\/bucket\/x\) is out of reach \(REMOTE_UNREACHABLE\): .*`dv repro --offline`/m);
  } finally {
    hung.close();
  }
});
