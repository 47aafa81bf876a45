import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { dv, dvOk, dvJson, makeRepo, describeTree, git, tempDir, prng, DV_BIN } from '../helpers/cli.js';
import { makeDataset } from '../helpers/data.js';
import { startS3rver, credsEnv, startMoto, type S3TestServer } from '../helpers/s3server.js';
import { startFaultProxy } from '../helpers/fault-proxy.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

async function listKeys(srv: S3TestServer, bucket: string, prefix = ''): Promise<string[]> {
  const client = new S3Client({ endpoint: srv.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: srv.credentials });
  const keys: string[] = [];
  let token: string | undefined;
  try {
    do {
      const r = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
      for (const o of r.Contents ?? []) keys.push(o.Key!);
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
  } finally {
    client.destroy();
  }
  return keys;
}

/** Repo A with a dataset, a pointer committed to git, and an S3 remote at `endpoint`. */
async function repoWithData(endpoint: string, bucket: string, opts: { files: number; large?: number[] }): Promise<string> {
  const a = await makeRepo();
  await makeDataset(join(a, 'data'), { files: opts.files, dirs: 20, large: opts.large });
  await dvOk(a, ['add', '-q', 'data']);
  await dvOk(a, ['remote', 'add', 's3', `s3://${bucket}/team/project`, '--endpoint', endpoint]);
  git(a, ['add', '-A']);
  git(a, ['commit', '-qm', 'data']);
  return a;
}

async function cloneAndPull(a: string, env: Record<string, string>): Promise<string> {
  const b = join(tempDir(), 'clone');
  git(tempDir(), ['clone', '-q', a, b]);
  const r = await dv(b, ['pull', '--json'], env);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(await describeTree(join(b, 'data')), await describeTree(join(a, 'data')), 'byte-identical tree');
  return b;
}

for (const kind of ['s3rver', 'moto'] as const) {
  describe(`S3 end to end on ${kind}`, () => {
    let srv: S3TestServer | undefined;
    before(async () => {
      srv = kind === 's3rver' ? await startS3rver() : await startMoto();
    });
    after(async () => {
      await srv?.stop();
    });

    test(`${kind}: the server runs where installed`, () => {
      if (kind === 's3rver') assert.ok(srv, 's3rver must always run');
      else assert.ok(srv !== undefined || process.env.CI_REQUIRE_MOTO !== '1', 'moto_server required by CI_REQUIRE_MOTO');
    });

    test(`${kind}: push 3,000 files as tens of objects, clone, pull byte-identical; a no-op push costs a handful of requests`, async (t) => {
      if (!srv) return t.diagnostic('moto_server is not installed on this machine');
      await srv.createBucket('e2e');
      const env = credsEnv(srv);
      const proxy = await startFaultProxy(srv.endpoint, []);
      try {
        const a = await repoWithData(proxy.endpoint, 'e2e', { files: 3000, large: [5_000_000] });
        const p = await dvJson(a, ['push'], env);
        assert.ok(p.objectsSent > 3000);
        const keys = await listKeys(srv, 'e2e');
        assert.ok(keys.length <= 20, `${keys.length} objects on the bucket`);
        assert.ok(
          keys.every((k) =>
            /^team\/project\/(packs\/[0-9a-f]{2}\/[0-9a-f]{64}\.pack|index\/[0-9a-f]{2}\/[0-9a-f]{64}\.idx|bundles\/[0-9a-f]{2}\/[0-9a-f]{64}\.bundle)$/.test(
              k,
            ),
          ),
          keys.join('\n'),
        );
        // One index bundle: the push's indexes in one object.
        assert.equal(keys.filter((k) => k.includes('/bundles/')).length, 1, keys.join('\n'));
        proxy.reset();
        const again = await dv(a, ['push', '--json'], env);
        assert.equal(JSON.parse(again.stdout).objectsSent, 0);
        const requests = Object.values(proxy.counts).reduce((x, y) => x + y, 0);
        assert.ok(requests <= 5, `a push with nothing new made ${requests} requests: ${JSON.stringify(proxy.counts)}`);
        const b = await cloneAndPull(a, env);
        assert.equal((await dvJson(b, ['fsck'])).ok, true);
      } finally {
        await proxy.stop();
      }
    });
  });
}

describe('S3 under faults, kills and concurrency (s3rver)', () => {
  let srv: S3TestServer;
  before(async () => {
    srv = await startS3rver();
  });
  after(async () => {
    await srv.stop();
  });

  test('about 10% of requests failing (503 SlowDown, resets, bodies cut short) does not fail push or pull, and data is exact', async () => {
    await srv.createBucket('faults');
    const env = credsEnv(srv);
    const proxy = await startFaultProxy(
      srv.endpoint,
      [
        { kind: 'slowdown', probability: 0.04 },
        { kind: 'reset', probability: 0.03 },
        { kind: 'truncate', probability: 0.03, method: 'GET' },
        { kind: 'error500', probability: 0.02 },
      ],
      7,
    );
    try {
      const a = await repoWithData(proxy.endpoint, 'faults', { files: 1500, large: [40_000_000] });
      const r = await dv(a, ['push', '-j', '4', '--json'], env);
      assert.equal(r.code, 0, r.stderr);
      await cloneAndPull(a, env);
      const injected = (): number => Object.values(proxy.faults).reduce((x, y) => x + y, 0);
      // A round is some 25 requests (a seeded draw, in an order the parallel transfers vary): more
      // fresh clones pull until at least three faults were met, each checked byte for byte.
      for (let round = 0; round < 4 && injected() < 3; round++) await cloneAndPull(a, env);
      const faults = injected();
      assert.ok(faults >= 3, `faults injected: ${JSON.stringify(proxy.faults)} over ${JSON.stringify(proxy.counts)}`);
    } finally {
      await proxy.stop();
    }
  });

  test('a push killed with SIGKILL mid-transfer, run again, completes and sends only the remainder', async () => {
    await srv.createBucket('killed');
    const env = credsEnv(srv);
    const a = await makeRepo();
    await fsp.mkdir(join(a, 'data'));
    for (let i = 0; i < 6; i++) await fsp.writeFile(join(a, 'data', `part${i}.bin`), prng(100 + i, 12_000_000));
    await dvOk(a, ['add', '-q', 'data']);
    await dvOk(a, ['remote', 'add', 's3', 's3://killed/x', '--endpoint', srv.endpoint]);
    git(a, ['add', '-A']);
    git(a, ['commit', '-qm', 'data']);
    const child = spawn(process.execPath, [DV_BIN, 'push', '-j', '1'], { cwd: a, env: { ...process.env, ...env }, stdio: 'ignore' });
    const exited = new Promise((r) => child.on('exit', r));
    for (let i = 0; i < 400; i++) {
      if ((await listKeys(srv, 'killed', 'x/index/')).length >= 1) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    child.kill('SIGKILL');
    await exited;
    const indexed = (await listKeys(srv, 'killed', 'x/index/')).length;
    assert.ok(indexed >= 1 && indexed < 5, `killed after ${indexed} packs`);
    const p = JSON.parse((await dv(a, ['push', '--json'], env)).stdout);
    assert.ok(p.alreadyThere > 0, 'the second push found what the first one sent');
    assert.ok(p.objectsSent > 0 && p.alreadyThere + p.objectsSent >= 1000);
    const again = JSON.parse((await dv(a, ['push', '--json'], env)).stdout);
    assert.equal(again.objectsSent, 0);
    await cloneAndPull(a, env);
  });

  test('two clones pushing to the same remote at the same time both succeed and nothing is lost', async () => {
    await srv.createBucket('shared');
    const env = credsEnv(srv);
    const origin = await repoWithData(srv.endpoint, 'shared', { files: 10 });
    const b = join(tempDir(), 'b');
    const c = join(tempDir(), 'c');
    git(tempDir(), ['clone', '-q', origin, b]);
    git(tempDir(), ['clone', '-q', origin, c]);
    for (const [repo, seed] of [
      [b, 2],
      [c, 3],
    ] as const) {
      git(repo, ['config', 'user.email', 't@e.st']);
      git(repo, ['config', 'user.name', 'T']);
      await makeDataset(join(repo, `more${seed}`), { files: 800, dirs: 8, seed, large: [6_000_000] });
      await dvOk(repo, ['add', '-q', `more${seed}`]);
    }
    const [rb, rc] = await Promise.all([dv(b, ['push', 'more2', '--json'], env), dv(c, ['push', 'more3', '--json'], env)]);
    assert.equal(rb.code, 0, rb.stderr);
    assert.equal(rc.code, 0, rc.stderr);
    for (const [repo, path] of [
      [b, 'more2'],
      [c, 'more3'],
    ] as const) {
      git(repo, ['add', '-A']);
      git(repo, ['commit', '-qm', path]);
      const fresh = join(tempDir(), 'fresh');
      git(tempDir(), ['clone', '-q', repo, fresh]);
      const r = await dv(fresh, ['pull', path], env);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(await describeTree(join(fresh, path)), await describeTree(join(repo, path)));
    }
  });

  test('missing bucket, wrong credentials and an unreachable endpoint: one line, a code, nothing written', async () => {
    await srv.createBucket('errs');
    const a = await repoWithData(srv.endpoint, 'errs', { files: 5 });
    await dvOk(a, ['remote', 'add', 'nobucket', 's3://no-such-bucket/x', '--endpoint', srv.endpoint]);
    await dvOk(a, ['remote', 'add', 'down', 's3://errs/x', '--endpoint', 'http://127.0.0.1:9']);
    const before = await describeTree(join(a, 'data'));
    let r = await dv(a, ['push', '-r', 'nobucket'], credsEnv(srv));
    assert.equal(r.code, 33, r.stderr);
    assert.match(r.stderr, /^dv: error REMOTE_NOT_FOUND: .*no-such-bucket/);
    r = await dv(a, ['push', '-r', 's3'], { ...credsEnv(srv), AWS_ACCESS_KEY_ID: 'WRONG' });
    assert.equal(r.code, 32, r.stderr);
    assert.match(r.stderr, /AUTH_FAILED/);
    const down = await dv(a, ['pull', '-r', 'down'], credsEnv(srv));
    assert.equal(down.code, 31, down.stderr);
    assert.match(down.stderr, /REMOTE_UNREACHABLE/);
    // A read's first request is the index listing (no check before it): it says the same.
    const gone = await dv(a, ['pull', '-r', 'nobucket'], credsEnv(srv));
    assert.equal(gone.code, 33, gone.stderr);
    assert.match(gone.stderr, /^dv: error REMOTE_NOT_FOUND: bucket no-such-bucket does not exist/);
    const refused = await dv(a, ['fetch', '-r', 's3'], { ...credsEnv(srv), AWS_ACCESS_KEY_ID: 'WRONG' });
    assert.equal(refused.code, 32, refused.stderr);
    assert.match(refused.stderr, /AUTH_FAILED/);
    // One error line; the retries before it each have their own `dv: retrying` line.
    for (const x of [down, gone, refused])
      assert.equal(
        x.stderr
          .trim()
          .split('\n')
          .filter((l) => !l.startsWith('dv: retrying ')).length,
        1,
      );
    assert.deepEqual(await describeTree(join(a, 'data')), before);
  });
});
