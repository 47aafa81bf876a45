/**
 * Partial pull: `dv pull <path inside a tracked directory>` and `dv pull '<glob>'` fetch and check
 * out only what those paths need. A directory of 20,000 small files pushed to a directory remote
 * and to s3rver; a fresh clone pulls one file (well under 1 % of the snapshot's bytes, counted at
 * the S3 server by a proxy and by dv's own count for the directory), then a glob, then (from the
 * directory remote) the rest.
 * `dv status` says "not fetched" for the rest, never "deleted", and is clean otherwise.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { describeTree, dv, dvJson, dvOk, git, makeRepo, tempDir } from '../helpers/cli.js';
import { credsEnv, startS3rver, type S3TestServer } from '../helpers/s3server.js';
import { startCountingProxy, type CountingProxy } from '../read/counting-proxy.js';

const FILES = 20_000;
// 16 KiB: a flat directory costs ~40 bytes a file in its tree (ids do not compress) and the remote's
// pack indexes ~50 bytes an object (read once by a fresh clone), so 1 % holds for files above ~10 KiB.
const SIZE = 16 * 1024;

let srv: S3TestServer;
let proxy: CountingProxy;
let a: string;
let snapshotBytes: number;
const env = (): Record<string, string> => credsEnv(srv);

before(async () => {
  srv = await startS3rver();
  proxy = await startCountingProxy(srv.endpoint);
  await srv.createBucket('partial');
  a = await makeRepo();
  const train = join(a, 'data', 'images', 'train');
  await fsp.mkdir(train, { recursive: true });
  await fsp.mkdir(join(a, 'data', 'labels'));
  for (let i = 0; i < FILES; i++) await fsp.writeFile(join(train, `${String(i).padStart(6, '0')}.png`), randomBytes(SIZE));
  for (let i = 0; i < 20; i++) await fsp.writeFile(join(a, 'data', 'labels', `l${i}.txt`), `label ${i}\n`);
  snapshotBytes = (await dvJson(a, ['add', 'data', '--json'])).added[0].size;
  await dvOk(a, ['remote', 'add', 'dir', join(tempDir(), 'remote')]);
  await dvOk(a, ['remote', 'add', 's3', 's3://partial/p', '--endpoint', proxy.endpoint]);
  await dvOk(a, ['push', '-q', '-r', 'dir']);
  await dvOk(a, ['push', '-q', '-r', 's3'], env());
  git(a, ['add', '-A']);
  git(a, ['commit', '-qm', 'data']);
});
after(async () => {
  await proxy.stop();
  await srv.stop();
});

function clone(): string {
  const b = join(tempDir(), 'clone');
  git(tempDir(), ['clone', '-q', a, b]);
  return b;
}

async function partialPull(t: { diagnostic(m: string): void }, remote: 'dir' | 's3'): Promise<void> {
  const b = clone();
  proxy.reset();
  const one = 'data/images/train/000123.png';
  const r = await dvJson(b, ['pull', '-r', remote, one, '--json'], env());
  // S3: every byte the server sent (pack indexes included); a directory: the pack bytes dv read.
  const sent = remote === 's3' ? proxy.counts.getBytes : r.fetch.bytesFetched;
  t.diagnostic(
    `${remote}: one file of ${FILES}: ${sent} bytes read (${r.fetch.bytesFetched} of pack data) of a ${snapshotBytes}-byte snapshot`,
  );
  assert.ok(sent < snapshotBytes / 100, `${sent} bytes read for one file of a ${snapshotBytes}-byte snapshot`);
  assert.ok(r.fetch.bytesFetched < snapshotBytes / 250, `${r.fetch.bytesFetched} bytes of pack data`);
  assert.deepEqual(r.fetch.partial, [{ rel: 'data', entries: ['images/train/000123.png'] }]);
  assert.ok((await fsp.readFile(join(b, one))).equals(await fsp.readFile(join(a, one))), 'byte-identical');
  assert.deepEqual(await fsp.readdir(join(b, 'data', 'images', 'train')), ['000123.png']);

  const st = await dvJson(b, ['status', '--json']);
  assert.equal(st.clean, true, JSON.stringify(st.paths[0]).slice(0, 300));
  const p = st.paths[0];
  assert.equal(p.state, 'partial');
  assert.deepEqual([p.added, p.modified, p.deleted], [[], [], []]);
  assert.equal(p.notFetched.length, FILES, 'the other files of train, and labels/ as one directory');
  assert.ok(p.notFetched.includes('data/labels'));
  assert.ok(!p.notFetched.includes(one));
  assert.match(await dvOk(b, ['status']), /^data: up to date; 20000 not fetched/);

  // A glob: 100 files, the one already here not fetched again.
  const g = await dvJson(b, ['pull', '-r', remote, 'data/images/train/0001*', '--json'], env());
  assert.equal(g.fetch.partial[0].entries.length, 100);
  assert.equal(g.checkout.paths[0].written, 99);
  assert.ok(g.fetch.bytesFetched < SIZE * 110, `${g.fetch.bytesFetched} bytes for 99 files`);
  assert.equal((await fsp.readdir(join(b, 'data', 'images', 'train'))).length, 100);
  assert.equal((await dvJson(b, ['status', '--json'])).paths[0].notFetched.length, FILES - 99);

  if (remote === 's3') return;
  // Then the rest: everything, byte-identical, status clean.
  await dvOk(b, ['pull', '-q', '-r', remote], env());
  assert.deepEqual(await describeTree(join(b, 'data')), await describeTree(join(a, 'data')));
  const done = await dvJson(b, ['status', '--json']);
  assert.equal(done.paths[0].state, 'clean');
  assert.deepEqual(done.paths[0].notFetched, []);
}

test('partial pull of one file of 20,000 from a directory remote, then a glob, then the rest', async (t) => {
  await partialPull(t, 'dir');
});

test('partial pull of one file of 20,000 from s3rver (bytes counted at the server), then a glob, then the rest', async (t) => {
  await partialPull(t, 's3');
});

test('partial pull refusals: a path or glob the version lacks; a deleted fetched file stays "deleted"; commit of the whole path refused; a lying pointer', async () => {
  const b = clone();
  const miss = await dv(b, ['pull', '-r', 'dir', 'data/images/train/none.png']);
  assert.equal(miss.code, 15, miss.stderr);
  assert.match(miss.stderr, /^dv: error PATH_NOT_FOUND: data\/images\/train\/none\.png is not in the version data\.dv names/);
  const glob = await dv(b, ['pull', '-r', 'dir', 'data/labels/*.csv']);
  assert.equal(glob.code, 15, glob.stderr);
  assert.match(glob.stderr, /matches nothing/);
  await assert.rejects(fsp.lstat(join(b, 'data')), 'nothing checked out');
  await dvOk(b, ['pull', '-q', '-r', 'dir', 'data/labels']);
  assert.equal((await fsp.readdir(join(b, 'data', 'labels'))).length, 20);
  await fsp.rm(join(b, 'data', 'labels', 'l3.txt'));
  const st = (await dvJson(b, ['status', '--json'])).paths[0];
  assert.deepEqual(st.deleted, ['data/labels/l3.txt'], 'its data is here: a deletion, not "not fetched"');
  assert.equal(st.state, 'modified');

  // A pointer that lies about the size below it (it arrives by git clone): refused when the root tree is read, nothing written.
  const liar = clone();
  const ptr = await fsp.readFile(join(liar, 'data.dv'), 'utf8');
  await fsp.writeFile(
    join(liar, 'data.dv'),
    ptr.replace(/^size: (\d+)$/m, (_, n) => `size: ${Number(n) + 1}`),
  );
  const lie = await dv(liar, ['pull', '-r', 'dir', 'data/labels/l1.txt']);
  assert.equal(lie.code, 24, lie.stderr);
  assert.match(lie.stderr, /^dv: error BAD_OBJECT: tree [0-9a-f]{12} does not match its declared size/);
  await assert.rejects(fsp.lstat(join(liar, 'data')), 'nothing checked out');

  // A snapshot of the whole path would drop what was never fetched: refused; the path changed is committed alone.
  await fsp.writeFile(join(b, 'data', 'labels', 'l0.txt'), 'relabelled\n');
  const whole = await dv(b, ['commit']);
  assert.equal(whole.code, 22, whole.stderr);
  assert.match(whole.stderr, /^dv: error OBJECT_MISSING: data holds data not fetched \(a partial `dv pull`\)/);
  const part = await dvJson(b, ['commit', 'data/labels/l0.txt', '--json']);
  assert.deepEqual([part.committed[0].changed, part.committed[0].files], [true, FILES + 20], 'the snapshot keeps every file');
  const after = (await dvJson(b, ['status', '--json'])).paths[0];
  assert.deepEqual(after.modified, []);
  assert.deepEqual(after.deleted, ['data/labels/l3.txt']);
});
