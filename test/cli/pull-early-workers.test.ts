/**
 * A pull whose pointer files name large files starts its fetch workers before the remote's
 * indexes are read (ops/fetch.ts earlyWorkers): the pull is byte-exact through them, and a pull
 * that fails after they started (a snapshot the remote lacks) ends with its error instead of
 * hanging on threads nobody closed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { describeTree, dv, dvJson, dvOk, git, makeRepo, prng, tempDir } from '../helpers/cli.js';

// A worker left running would keep dv from exiting: each test has a deadline.
const deadline = { timeout: 120_000 };

test('a pull of large files (workers started early) is byte-exact', deadline, async () => {
  const a = await makeRepo();
  await fsp.mkdir(join(a, 'data'));
  // 72 MiB in two files: above the 64 MiB and 1 MiB-a-file the early start asks for.
  await fsp.writeFile(join(a, 'data', 'a.bin'), prng(1, 40 << 20));
  await fsp.writeFile(join(a, 'data', 'b.bin'), prng(2, 32 << 20));
  await dvOk(a, ['add', 'data']);
  await dvOk(a, ['remote', 'add', 'origin', join(tempDir(), 'remote'), '--default']);
  git(a, ['add', '-A']);
  git(a, ['commit', '-qm', 'data']);
  await dvOk(a, ['push']);
  const b = join(tempDir(), 'clone');
  git(tempDir(), ['clone', '-q', a, b]);
  await dvOk(b, ['pull']);
  assert.deepEqual(await describeTree(join(b, 'data')), await describeTree(join(a, 'data')));
  // Again, everything here: nothing started, nothing fetched.
  const again = await dvJson(b, ['pull']);
  assert.equal(again.fetch.objectsFetched, 0, JSON.stringify(again));
});

test('a pull that fails after its workers started early ends with its error', deadline, async () => {
  const a = await makeRepo();
  const remote = join(tempDir(), 'remote');
  await fsp.mkdir(remote);
  await dvOk(a, ['remote', 'add', 'origin', remote, '--default']);
  // A pointer naming 1 GiB in 4 files whose snapshot no remote holds.
  const pointer = [
    'dv: 1',
    'path: "data"',
    'kind: dir',
    `snapshot: ${'ab'.repeat(32)}`,
    `tree: ${'cd'.repeat(32)}`,
    'size: 1073741824',
    'files: 4',
    '',
  ].join('\n');
  await fsp.writeFile(join(a, 'data.dv'), pointer);
  const started = Date.now();
  const r = await dv(a, ['pull']);
  assert.notEqual(r.code, 0, r.stdout);
  assert.match(r.stderr, /OBJECT_MISSING|UNKNOWN|not on|neither/);
  assert.ok(Date.now() - started < 20_000, `took ${Date.now() - started} ms`);

  // Failing before the fetch takes them (the remote's cache is a symlink, refused): closed all the same.
  await fsp.rm(join(a, '.dv', 'remotes', 'origin'), { recursive: true, force: true });
  await fsp.symlink(tempDir(), join(a, '.dv', 'remotes', 'origin'));
  const bad = await dv(a, ['pull']);
  assert.notEqual(bad.code, 0, bad.stdout);
  assert.match(bad.stderr, /BAD_CONFIG/);
});
