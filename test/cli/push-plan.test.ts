// Push plans what to send while it walks (history/reach.ts walkReachable + transfer/push-plan.ts):
// trees are read 32 at a time and only ids the remote lacks are kept. These tests check that the
// paged plan sends exactly the missing objects, each once, and that what arrives is byte-identical.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { dv, dvJson, dvOk, describeTree, git, makeRepo, prng, tempDir } from '../helpers/cli.js';

const DIRS = 40; // more than one slice of trees per level

async function dataset(root: string): Promise<void> {
  for (let d = 0; d < DIRS; d++) {
    const dir = join(root, `d${String(d).padStart(2, '0')}`);
    await fsp.mkdir(dir, { recursive: true });
    for (let f = 0; f < 3; f++) await fsp.writeFile(join(dir, `f${f}.bin`), prng(1 + d * 10 + f, 1000 + f));
  }
  await fsp.writeFile(join(root, 'd05', 'big.bin'), prng(999, 3_000_000)); // a chunked file: its manifest is walked too
}

test('push sends exactly the objects the remote lacks (a chunk two slices share once), and a clone pulls them byte-identical', async () => {
  const a = await makeRepo();
  const store = join(tempDir(), 'store');
  await dataset(join(a, 'data'));
  await dvOk(a, ['add', 'data']);
  await dvOk(a, ['remote', 'add', 'origin', store, '--default']);
  const p1 = await dvJson(a, ['push']);
  assert.ok(p1.objectsSent > DIRS * 3 + DIRS + 2, JSON.stringify(p1));
  assert.equal(p1.alreadyThere, 0);

  // New: one content in the first and the last directory (other slices), one file changed.
  const shared = prng(4242, 2000);
  await fsp.writeFile(join(a, 'data', 'd00', 'new.bin'), shared);
  await fsp.writeFile(join(a, 'data', `d${DIRS - 1}`, 'new.bin'), shared);
  await fsp.writeFile(join(a, 'data', 'd20', 'f0.bin'), prng(77, 1500));
  await dvOk(a, ['commit', '-m', 'edit']);
  const p2 = await dvJson(a, ['push']);
  // 2 chunks + the trees of d00, d20, d39 and the root + the snapshot.
  assert.equal(p2.objectsSent, 7, JSON.stringify(p2));
  assert.ok(p2.alreadyThere >= DIRS * 3 + DIRS - 3, JSON.stringify(p2));
  const p3 = await dvJson(a, ['push']);
  assert.equal(p3.objectsSent, 0);
  assert.equal((await dvJson(a, ['status', '--remote'])).upToDate, true);

  git(a, ['add', '-A']);
  git(a, ['commit', '-qm', 'data']);
  const b = join(tempDir(), 'clone');
  git(tempDir(), ['clone', '-q', a, b]);
  await dvOk(b, ['pull']);
  assert.deepEqual(await describeTree(join(b, 'data')), await describeTree(join(a, 'data')));
  assert.equal((await dvJson(b, ['fsck'])).ok, true);
});

test('a clone missing chunks pushes to a remote that has them (the walk skips them), and is refused by one that lacks them', async () => {
  const a = await makeRepo();
  const store = join(tempDir(), 'store');
  await dataset(join(a, 'data'));
  await dvOk(a, ['add', 'data']);
  await dvOk(a, ['remote', 'add', 'origin', store, '--default']);
  await dvOk(a, ['push']);
  git(a, ['add', '-A']);
  git(a, ['commit', '-qm', 'data']);
  const b = join(tempDir(), 'clone');
  git(tempDir(), ['clone', '-q', a, b]);
  await dvOk(b, ['pull', 'data/d00/f0.bin']); // one file: every other chunk is missing here

  const p = await dvJson(b, ['push', '-r', 'origin']);
  assert.equal(p.objectsSent, 0, JSON.stringify(p));
  await dvOk(b, ['remote', 'add', 'empty', join(tempDir(), 'empty')]);
  const r = await dv(b, ['push', '-r', 'empty']);
  assert.equal(r.code, 22, r.stderr);
  assert.match(r.stderr, /cannot push: (tree|chunk) [0-9a-f]{64}: missing \(and \d+ more\)/);
});
