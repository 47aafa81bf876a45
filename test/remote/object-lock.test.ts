/**
 * S3 Object Lock on moto_server (`dv remote add ... --object-lock-days N [--object-lock-mode M]`),
 * against buckets created with ObjectLockEnabledForBucket. moto enforces retention on versioned
 * deletes (AccessDenied until RetainUntilDate) and refuses a retention upload without Content-MD5
 * or a checksum, so what is tested here is what S3 does:
 * - every pack, index and run record a push uploads carries the mode and a retain-until date of
 *   now + N days (and a body checksum); gc's marks carry none;
 * - gc cannot delete a locked unreachable pack and says so (exit 0, the pack and its date in text
 *   and --json), keeps pack and index, fsck --remote is clean and a fresh clone pulls byte-identical;
 * - expiry: a day cannot pass in a test, so the test shortens the retention of governance-mode
 *   objects to 2 s from now (PutObjectRetention with BypassGovernanceRetention, as an AWS admin
 *   with s3:BypassGovernanceRetention can), waits for it, and the next gc deletes every version
 *   (nothing left behind a delete marker);
 * - compliance mode: the objects carry COMPLIANCE and gc keeps them the same way;
 * - a bucket without Object Lock is refused at `remote add` (USAGE, nothing written) and, for a
 *   remote whose config gained the option later, at the first push (BAD_CONFIG, nothing uploaded);
 * - a multipart upload (lib-storage) asks for the retention and sends a CRC32 with every part (moto
 *   does not apply a multipart upload's retention to the object, so only the requests are checked).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { CreateBucketCommand, HeadObjectCommand, ListObjectVersionsCommand, PutObjectRetentionCommand, S3Client } from '@aws-sdk/client-s3';
import { openBackend } from '../../src/backend/open.js';
import { S3Backend } from '../../src/backend/s3.js';
import { dv, dvJson, dvOk, git, prng, tempDir } from '../helpers/cli.js';
import { credsEnv, startMoto, type S3TestServer } from '../helpers/s3server.js';
import { startRecordingProxy, type RecordingProxy, type Recorded } from './recording-proxy.js';
import { clonePull, freshClone, listed, packsOf, team, type RemoteFixture } from './fixture.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const DAY = 86_400_000;
let buckets = 0;

describe('S3 Object Lock on moto', () => {
  let srv: S3TestServer | undefined;
  let proxy: RecordingProxy | undefined;
  let admin: S3Client | undefined;
  before(async () => {
    srv = await startMoto();
    if (!srv) return;
    proxy = await startRecordingProxy(srv.endpoint);
    admin = new S3Client({ endpoint: srv.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: srv.credentials });
  });
  after(async () => {
    admin?.destroy();
    await proxy?.stop();
    await srv?.stop();
  });

  const bucket = async (lock: boolean): Promise<string> => {
    const name = `lock-${++buckets}`;
    await admin!.send(new CreateBucketCommand({ Bucket: name, ObjectLockEnabledForBucket: lock }));
    return name;
  };
  const fixture = async (lockArgs: string[], lock = true): Promise<RemoteFixture> => {
    const url = `s3://${await bucket(lock)}/team`;
    return {
      kind: 's3rver',
      url,
      addArgs: ['--endpoint', proxy!.endpoint, ...lockArgs],
      env: credsEnv(srv!),
      raw: await openBackend(url, { retry: false, s3: { endpoint: srv!.endpoint, credentials: srv!.credentials } }),
      packBytesSent: () => undefined,
      resetCounts: () => proxy!.reset(),
    };
  };
  const head = (fx: RemoteFixture, key: string) => {
    const [b, ...p] = fx.url.slice(5).split('/');
    return admin!.send(new HeadObjectCommand({ Bucket: b, Key: `${p.join('/')}/${key}` }));
  };
  /** Every version (and delete marker) of `key` still in the bucket. */
  const versions = async (fx: RemoteFixture, key: string): Promise<number> => {
    const [b, ...p] = fx.url.slice(5).split('/');
    const objectKey = `${p.join('/')}/${key}`;
    const res = await admin!.send(new ListObjectVersionsCommand({ Bucket: b, Prefix: objectKey }));
    return [...(res.Versions ?? []), ...(res.DeleteMarkers ?? [])].filter((v) => v.Key === objectKey).length;
  };
  /** Pushes data no commit names: its packs are what gc may collect. */
  const scratch = async (a: string, fx: RemoteFixture): Promise<string[]> => {
    const before = new Set((await packsOf(fx.raw)).map((p) => p.id));
    await fsp.mkdir(join(a, 'scratch'));
    await fsp.writeFile(join(a, 'scratch', 'r.bin'), prng(21, 600_000));
    await dvOk(a, ['add', '-q', 'scratch']);
    await dvOk(a, ['push', '-q'], fx.env);
    return (await packsOf(fx.raw)).filter((p) => !before.has(p.id)).map((p) => p.id);
  };
  const packKey = (id: string): string => `packs/${id.slice(0, 2)}/${id}.pack`;
  const indexKey = (id: string): string => `index/${id.slice(0, 2)}/${id}.idx`;

  test('governance: uploads carry the retention; gc keeps a locked pack and says so; after the retention ends it goes', async (t) => {
    if (!srv) return t.diagnostic('moto_server is not installed on this machine');
    const fx = await fixture(['--object-lock-days', '1']);
    proxy!.reset();
    const t0 = Date.now();
    const a = await team(fx);
    const ups = proxy!.requests.filter((r: Recorded) => r.method === 'PUT' && /\/(packs|index|runs)\//.test(r.path));
    assert.ok(ups.length >= 2, `${ups.length} uploads`);
    for (const u of ups) {
      assert.equal(u.headers['x-amz-object-lock-mode'], 'GOVERNANCE', u.path);
      const until = Date.parse(String(u.headers['x-amz-object-lock-retain-until-date']));
      assert.ok(Math.abs(until - (t0 + DAY)) < 10 * 60_000, `${u.path}: retain until ${u.headers['x-amz-object-lock-retain-until-date']}`);
      assert.ok(u.headers['content-md5'] || u.headers['x-amz-sdk-checksum-algorithm'], `${u.path} carries no checksum`);
    }
    for (const p of await packsOf(fx.raw)) {
      const h = await head(fx, packKey(p.id));
      assert.equal(h.ObjectLockMode, 'GOVERNANCE');
      assert.ok(h.ObjectLockRetainUntilDate && h.ObjectLockRetainUntilDate.getTime() > Date.now() + DAY - 3_600_000);
    }
    const dead = await scratch(a, fx);
    assert.ok(dead.length >= 1);
    const b = freshClone(a);
    const first = await dvJson(b, ['gc', '--remote', '--grace', '0'], fx.env);
    assert.equal(first.packsMarked, dead.length);
    const marks = await listed(fx.raw, 'gc/');
    assert.equal(marks.length, dead.length);
    assert.equal((await head(fx, marks[0].key)).ObjectLockMode, undefined, 'a mark must stay deletable');
    // Due now, but under retention: kept, reported with its date, exit 0.
    const second = await dv(b, ['gc', '--remote', '--grace', '0', '--json'], fx.env);
    assert.equal(second.code, 0, second.stderr);
    const r = JSON.parse(second.stdout);
    assert.deepEqual([r.packsRemoved, r.bytesRemoved, r.packsLocked], [0, 0, dead.length]);
    const lockedPacks = r.locked.filter((l: { kind: string }) => l.kind === 'pack');
    assert.deepEqual(lockedPacks.map((l: { key: string }) => l.key).sort(), dead.map(packKey).sort());
    for (const l of r.locked) {
      assert.equal(l.mode, 'GOVERNANCE');
      assert.ok(Math.abs(Date.parse(l.retainUntil) - (t0 + DAY)) < 10 * 60_000, l.retainUntil);
    }
    const text = await dv(b, ['gc', '--remote', '--grace', '0'], fx.env);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, new RegExp(`${dead.length} due packs? under S3 Object Lock retention`));
    assert.match(text.stdout, new RegExp(`locked: pack ${packKey(dead[0])} \\(GOVERNANCE, until \\d{4}-\\d\\d-\\d\\dT[0-9:.]+Z\\): kept`));
    for (const id of dead) assert.deepEqual([await versions(fx, packKey(id)), await versions(fx, indexKey(id))], [1, 1]);
    assert.equal((await listed(fx.raw, 'gc/')).length, dead.length, 'the marks stay for the run after the retention');
    const fsck = await dvJson(b, ['fsck', '--remote', '--read-data'], fx.env);
    assert.equal(fsck.ok, true, JSON.stringify(fsck.problems));
    assert.equal((await clonePull(a, fx.env)).same, true);

    // The retention ends (shortened, as governance allows with the bypass permission): the next run deletes every version.
    const [bk, ...pre] = fx.url.slice(5).split('/');
    const soon = new Date(Date.now() + 2000);
    for (const id of dead)
      for (const key of [packKey(id), indexKey(id)])
        await admin!.send(
          new PutObjectRetentionCommand({
            Bucket: bk,
            Key: `${pre.join('/')}/${key}`,
            BypassGovernanceRetention: true,
            Retention: { Mode: 'GOVERNANCE', RetainUntilDate: soon },
          }),
        );
    await new Promise((res) => setTimeout(res, Math.max(0, soon.getTime() + 1200 - Date.now())));
    const third = await dvJson(b, ['gc', '--remote', '--grace', '0'], fx.env);
    assert.deepEqual([third.packsRemoved, third.packsLocked, third.locked], [dead.length, 0, []]);
    for (const id of dead) assert.deepEqual([await versions(fx, packKey(id)), await versions(fx, indexKey(id))], [0, 0]);
    assert.deepEqual(await listed(fx.raw, 'gc/'), []);
    assert.equal((await dvJson(b, ['fsck', '--remote', '--read-data'], fx.env)).ok, true);
    assert.equal((await clonePull(a, fx.env)).same, true);
  });

  test('compliance: objects carry COMPLIANCE; gc cannot delete them and keeps the remote whole', async (t) => {
    if (!srv) return t.diagnostic('moto_server is not installed on this machine');
    const fx = await fixture(['--object-lock-days', '2', '--object-lock-mode', 'compliance']);
    const a = await team(fx, { random: 300_000 });
    const dead = await scratch(a, fx);
    assert.equal((await head(fx, packKey(dead[0]))).ObjectLockMode, 'COMPLIANCE');
    const listedRemotes = await dvJson(a, ['remote', 'list']);
    assert.deepEqual([listedRemotes[0].objectLockDays, listedRemotes[0].objectLockMode], ['2', 'compliance']);
    const b = freshClone(a);
    await dvOk(b, ['gc', '--remote', '--grace', '0'], fx.env);
    const r = await dvJson(b, ['gc', '--remote', '--grace', '0'], fx.env);
    assert.deepEqual([r.packsRemoved, r.packsLocked], [0, dead.length]);
    assert.ok(r.locked.every((l: { mode: string }) => l.mode === 'COMPLIANCE'));
    for (const id of dead) assert.equal(await versions(fx, packKey(id)), 1);
    assert.equal((await dvJson(b, ['fsck', '--remote'], fx.env)).ok, true);
    assert.equal((await clonePull(a, fx.env)).same, true);
    // A commit that lengthens the retention is a new identity: the other clone confirms it first.
    await dvOk(a, ['config', 'remote.origin.objectLockDays', '3650']);
    git(a, ['commit', '-qam', 'ten years']);
    git(b, ['pull', '-q']);
    const refused = await dv(b, ['push'], fx.env);
    assert.equal(refused.code, 35, refused.stderr);
    assert.match(refused.stderr, /REMOTE_UNTRUSTED: .*object lock compliance 2d\) to .*object lock compliance 3650d\)/);
    await dvOk(b, ['remote', 'trust', 'origin']);
    await dvOk(b, ['push', '-q'], fx.env);
  });

  test('a bucket without Object Lock: refused at remote add (nothing written) and at the first push (nothing uploaded)', async (t) => {
    if (!srv) return t.diagnostic('moto_server is not installed on this machine');
    const fx = await fixture([], false);
    const plain = fx.url.slice(5).split('/')[0];
    const env = fx.env;
    const a = await team(fx);
    const before = await dvJson(a, ['remote', 'list']);
    const r = await dv(a, ['remote', 'add', 'locked', `s3://${plain}/q`, '--endpoint', proxy!.endpoint, '--object-lock-days', '3'], env);
    assert.equal(r.code, 2, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(
        `^dv: error USAGE: --object-lock-days: bucket ${plain} does not have Object Lock enabled: .*--object-lock-enabled-for-bucket`,
      ),
    );
    assert.equal(r.stderr.trim().split('\n').length, 1);
    assert.deepEqual(await dvJson(a, ['remote', 'list']), before);
    const dir = await dv(a, ['remote', 'add', 'd', join(tempDir(), 'r'), '--object-lock-days', '3']);
    assert.equal(dir.code, 2);
    assert.match(dir.stderr, /USAGE: --object-lock-days is for S3 remotes/);
    const bad = await dv(a, ['remote', 'add', 'x', `s3://${plain}/x`, '--object-lock-days', '0']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--object-lock-days 0: give/);
    // The option set afterwards on a remote whose bucket lacks Object Lock: the push stops before uploading.
    await dvOk(a, ['config', 'remote.origin.objectLockDays', '3']);
    await fsp.writeFile(join(a, 'data', 'new.bin'), prng(5, 100_000));
    await dvOk(a, ['commit', '-q', '-m', 'v2']);
    const packs = (await listed(fx.raw, 'packs/')).length;
    const push = await dv(a, ['push'], env);
    assert.equal(push.code, 17, push.stderr);
    assert.match(push.stderr, new RegExp(`BAD_CONFIG: remote.origin.objectLockDays: bucket ${plain} has no Object Lock configuration`));
    assert.equal((await listed(fx.raw, 'packs/')).length, packs);
  });

  test('a multipart upload carries the retention and a checksum on every part', async (t) => {
    if (!srv) return t.diagnostic('moto_server is not installed on this machine');
    const b = await bucket(true);
    const MiB = 1024 * 1024;
    const be = new S3Backend({
      bucket: b,
      prefix: 'm',
      endpoint: proxy!.endpoint,
      credentials: srv.credentials,
      multipartThreshold: 5 * MiB,
      partSize: 5 * MiB,
      objectLock: { mode: 'GOVERNANCE', days: 1, prefixes: ['packs/'] },
    });
    try {
      const file = join(tempDir(), 'big.pack');
      const data = prng(77, 11 * MiB);
      await fsp.writeFile(file, data);
      proxy!.reset();
      await be.putFile('packs/ab/big.pack', file);
      const parts = proxy!.requests.filter((r) => r.method === 'PUT' && /partNumber=/.test(r.query));
      assert.equal(parts.length, 3);
      for (const p of parts) assert.ok(p.headers['x-amz-checksum-crc32'], 'a part without its CRC32');
      const create = proxy!.requests.find((r) => r.method === 'POST' && /(^|&)uploads(=|&|$)/.test(r.query));
      assert.equal(create?.headers['x-amz-object-lock-mode'], 'GOVERNANCE');
      assert.ok(Date.parse(String(create?.headers['x-amz-object-lock-retain-until-date'])) > Date.now() + DAY - 3_600_000);
      // moto (5.2) does not apply the retention of CreateMultipartUpload to the object (S3 does): only the request is checked.
      assert.ok((await be.getRange('packs/ab/big.pack', 6 * MiB, 100)).equals(data.subarray(6 * MiB, 6 * MiB + 100)));
    } finally {
      await be.close();
    }
  });
});
