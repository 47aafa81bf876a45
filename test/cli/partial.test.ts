/**
 * Half-done work: `dv checkout` of several paths restores every path it can and fails PARTIAL
 * (exit 3) naming the rest; counts are files, not directories.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { dv, dvJson, dvOk, makeRepo } from '../helpers/cli.js';

test('checkout restores every path it can: one lacking its data and one with unsaved changes fail PARTIAL, the rest is written', async () => {
  const repo = await makeRepo();
  for (const d of ['a', 'b', 'c']) {
    await fsp.mkdir(join(repo, d));
    await fsp.writeFile(join(repo, d, 'f.txt'), `${d} one\n`);
  }
  await dvOk(repo, ['add', 'a', 'b', 'c']);
  // b names a snapshot this clone does not hold (made in another repository).
  const other = await makeRepo();
  await fsp.mkdir(join(other, 'b'));
  await fsp.writeFile(join(other, 'b', 'f.txt'), 'elsewhere\n');
  await dvOk(other, ['add', 'b']);
  await fsp.copyFile(join(other, 'b.dv'), join(repo, 'b.dv'));
  // c has an edit not recorded; a was deleted and is restored.
  await fsp.writeFile(join(repo, 'c', 'f.txt'), 'c edited\n');
  await fsp.rm(join(repo, 'a'), { recursive: true });

  const r = await dv(repo, ['checkout']);
  assert.equal(r.code, 3, r.stderr);
  assert.match(
    r.stderr,
    /^dv: error PARTIAL: 1 of 3 paths checked out; b: snapshot [0-9a-f]{12} .* not in this clone.*; also c \(UNSAVED_CHANGES\)\n$/,
  );
  assert.equal(await fsp.readFile(join(repo, 'a', 'f.txt'), 'utf8'), 'a one\n', 'a was restored');
  assert.equal(await fsp.readFile(join(repo, 'c', 'f.txt'), 'utf8'), 'c edited\n', 'the edit is kept');
  const j = await dv(repo, ['checkout', '--json']);
  assert.equal(j.code, 3);
  // With one path named, its own error and code stay.
  const one = await dv(repo, ['checkout', 'c']);
  assert.equal(one.code, 16);
});

test('checkout counts removed files, not directories', async () => {
  const repo = await makeRepo();
  await fsp.mkdir(join(repo, 'data', 'sub'), { recursive: true });
  await fsp.writeFile(join(repo, 'data', 'keep.txt'), 'k\n');
  const first = (await dvJson(repo, ['add', 'data'])).added[0].snapshot;
  for (const f of ['x', 'y', 'z']) await fsp.writeFile(join(repo, 'data', 'sub', f), f);
  await dvOk(repo, ['commit']);
  const r = await dvJson(repo, ['checkout', first]);
  assert.deepEqual([r.paths[0].written, r.paths[0].removed], [0, 3], 'sub/ held three files');
});
