/**
 * Crash safety of the transfers: `dv push` to s3rver and `dv pull` from it, killed with SIGKILL
 * at seeded points spread over a measured run. After each kill the same command run again
 * finishes, fsck is clean, and the data a fresh clone pulls (or the pulled workspace) is exact.
 */
import { before, after, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { DeleteObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { dv, dvOk, makeRepo, describeTree, git, tempDir, type Manifest } from '../helpers/cli.js';
import { makeDataset } from '../helpers/data.js';
import { startS3rver, credsEnv, type S3TestServer } from '../helpers/s3server.js';
import { copyTree, exists, runKillSeries, TEMP_NAME, type KillSeries } from '../helpers/kill.js';
import { inspectRepo } from '../helpers/repo-check.js';
import { RepoSession } from '../../src/repo/repo.js';
import { remoteStatus } from '../../src/ops/remote-status.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const DATA = { files: 300, dirs: 10, large: [1_200_000, 800_000], seed: 21 };

async function emptyBucket(srv: S3TestServer, bucket: string): Promise<void> {
  const client = new S3Client({ endpoint: srv.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: srv.credentials });
  try {
    for (;;) {
      const r = await client.send(new ListObjectsV2Command({ Bucket: bucket }));
      const keys = (r.Contents ?? []).map((o) => o.Key!);
      if (keys.length === 0) break;
      await Promise.all(keys.map((Key) => client.send(new DeleteObjectCommand({ Bucket: bucket, Key }))));
    }
  } finally {
    client.destroy();
  }
}

describe('SIGKILL during push to and pull from S3 (s3rver)', () => {
  let srv: S3TestServer;
  let env: Record<string, string>;
  let want: Manifest;
  let tPush: string; // data added, remote s3://killpush/k configured, committed to git
  let tPull: string; // a clone of a repository whose data is on s3://killpull/p
  const cleanup: string[] = [];
  const results: string[] = [];

  before(async () => {
    srv = await startS3rver();
    env = credsEnv(srv);
    // For the in-process remote status checks.
    Object.assign(process.env, env);
    await srv.createBucket('killpush');
    await srv.createBucket('killpull');
    tPush = await makeRepo();
    cleanup.push(tPush);
    await makeDataset(join(tPush, 'data'), DATA);
    want = await describeTree(join(tPush, 'data'));
    await dvOk(tPush, ['add', '-q', 'data']);
    await dvOk(tPush, ['remote', 'add', 's3', 's3://killpush/k', '--endpoint', srv.endpoint]);
    git(tPush, ['add', '-A']);
    git(tPush, ['commit', '-qm', 'data']);

    const origin = copyTree(tPush);
    cleanup.push(origin);
    await dvOk(origin, ['config', 'remote.s3.url', 's3://killpull/p']);
    await dvOk(origin, ['push', '-q'], env);
    git(origin, ['commit', '-qam', 'remote for pulls']);
    const parent = tempDir('dv-kill-pull-');
    cleanup.push(parent);
    tPull = join(parent, 'clone');
    git(parent, ['clone', '-q', origin, tPull]);
  });

  after(async () => {
    await srv?.stop();
    for (const d of cleanup) await fsp.rm(d, { recursive: true, force: true });
  });

  async function series(t: TestContext, o: KillSeries): Promise<void> {
    const res = await runKillSeries({ ...o, env });
    results.push(res.summary);
    t.diagnostic(res.summary);
    assert.ok(res.midRun >= Math.ceil(o.count / 4), `only ${res.midRun} of ${res.tried} kill points landed mid-run`);
  }

  test('push: killed at 20 points, the rerun completes the remote; a fresh clone pulls exact data', async (t) => {
    let verifiedByPull = 0;
    await series(t, {
      name: 'push',
      template: tPush,
      args: ['push', '-q'],
      count: 20,
      seed: 505,
      prepare: () => emptyBucket(srv, 'killpush'),
      started: (dir) => exists(join(dir, '.dv', 'remotes', 's3')),
      check: async (dir, k) => {
        const reachedRemote = k.killed && (await exists(join(dir, '.dv', 'remotes', 's3')));
        const r = await dv(dir, ['push', '-q'], env);
        assert.equal(r.code, 0, `rerun: ${r.stderr}`);
        const rep = await inspectRepo(dir);
        assert.equal(rep.fsck.ok, true, JSON.stringify(rep.fsck.problems.slice(0, 3)));
        assert.deepEqual(await describeTree(join(dir, 'data')), want, 'push never touches the workspace');
        const s = await RepoSession.open({ cwd: dir, write: false });
        try {
          const st = await remoteStatus(s);
          assert.equal(st.upToDate, true, `the remote holds everything: ${JSON.stringify(st)}`);
        } finally {
          await s.close();
        }
        // A kill before the remote was touched leaves nothing to check beyond a normal push.
        if (!reachedRemote) return;
        verifiedByPull++;
        const parent = tempDir('dv-kill-verify-');
        try {
          const b = join(parent, 'b');
          git(parent, ['clone', '-q', dir, b]);
          const p = await dv(b, ['pull', '-q'], env);
          assert.equal(p.code, 0, `pull from the remote the killed push left: ${p.stderr}`);
          assert.deepEqual(await describeTree(join(b, 'data')), want);
        } finally {
          await fsp.rm(parent, { recursive: true, force: true });
        }
      },
    });
    t.diagnostic(`push: ${verifiedByPull} kills that had reached the remote verified by a fresh clone's pull`);
  });

  test('pull: killed at 10 points, the rerun finishes; workspace exact, fsck clean', async (t) => {
    await series(t, {
      name: 'pull',
      template: tPull,
      args: ['pull', '-q'],
      count: 10,
      seed: 606,
      started: (dir) => exists(join(dir, '.dv', 'lock')),
      check: async (dir) => {
        const now = await describeTree(join(dir, 'data')).catch(() => ({}) as Manifest);
        const temps = Object.keys(now).filter((p) => TEMP_NAME.test(p));
        for (const [p, d] of Object.entries(now)) if (!temps.includes(p)) assert.equal(d, want[p], `${p} is half-written`);
        const r = await dv(dir, ['pull', '-q'], env);
        assert.equal(r.code, 0, `rerun: ${r.stderr}`);
        assert.deepEqual(await describeTree(join(dir, 'data')), want);
        assert.equal(await exists(join(dir, '.dv', 'lock')), false);
        const rep = await inspectRepo(dir);
        assert.equal(rep.fsck.ok, true, JSON.stringify(rep.fsck.problems.slice(0, 3)));
        assert.equal(rep.status.clean, true);
        // SIGKILL can leave a write worker's temp file beside its target (never data); the rerun removed it.
        for (const p of temps)
          assert.match(p, /(^|\/)\.[^/]*\.?\d+\.t[0-9a-z]{5}\.w\d+\.dvtmp$/, `${p}: only write-worker temp files may be left`);
      },
    });
    t.diagnostic(results.join('\n'));
  });
});
