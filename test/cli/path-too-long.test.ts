/**
 * Paths longer than the kernel takes (PATH_MAX 4096 bytes with its NUL, NAME_MAX 255 per name):
 * add, status, commit and checkout fail PATH_TOO_LONG (exit 29) with one short line naming the
 * path's first and last parts and what to do, and change nothing.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { dv, dvOk, git, makeRepo, storeBytes, tempDir, type RunResult } from '../helpers/cli.js';
import { exists } from '../helpers/kill.js';

// Node's rm gives up past PATH_MAX (ENAMETOOLONG); rm -rf walks with openat.
const made: string[] = [];
after(() => {
  for (const d of made) execFileSync('rm', ['-rf', d]);
});

/** Makes `depth` nested directories of 200-byte names under `dir/sub` (relative mkdir, as a path this long allows) and a file in the deepest. */
function deepTree(dir: string, sub: string, depth: number, letter = 'd'): void {
  const name = letter.repeat(200);
  execFileSync(
    'sh',
    ['-c', `mkdir -p "${sub}" && cd "${sub}" && for i in $(seq 1 ${depth}); do mkdir ${name} && cd ${name}; done; echo deep > f.txt`],
    {
      cwd: dir,
    },
  );
}

function assertTooLong(r: RunResult, what: string): void {
  assert.equal(r.code, 29, `${what}: ${r.stderr.slice(0, 300)}`);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `${what}: one line`);
  assert.match(lines[0], /^dv: error PATH_TOO_LONG: path too long: \/.*….* (is \d+ bytes long|has a name of \d+ bytes) .*: [a-z]/);
  assert.ok(lines[0].length < 400, `${what}: a short line (${lines[0].length} characters)`);
}

test('add of a directory holding a path longer than PATH_MAX, and of a name longer than NAME_MAX: PATH_TOO_LONG, nothing recorded', async () => {
  const a = await makeRepo();
  made.push(a);
  deepTree(a, 'data', 22); // 22 × 201 bytes: past 4096 at about the 20th level
  await fsp.writeFile(join(a, 'data', 'top.txt'), 'top');
  const bytes = await storeBytes(a);
  const r = await dv(a, ['add', 'data']);
  assertTooLong(r, 'add');
  assert.match(r.stderr, /file systems take 4095\): rename or move it to a shorter path/);
  assert.equal(await exists(join(a, 'data.dv')), false, 'no pointer file');
  assert.equal(await storeBytes(a), bytes, 'nothing stored');
  assert.equal(await fsp.readFile(join(a, '.gitignore'), 'utf8').catch(() => ''), '', 'no .gitignore line');

  const long = 'x'.repeat(300);
  const n = await dv(a, ['add', long]);
  assertTooLong(n, 'add of a long name');
  assert.match(n.stderr, /has a name of 300 bytes \(file systems take 255\)/);
  assert.ok(!n.stderr.includes(long), 'the name is shortened');
});

test('status and commit of a tracked directory that grew a path longer than PATH_MAX: PATH_TOO_LONG, the pointer kept', async () => {
  const a = await makeRepo();
  made.push(a);
  await fsp.mkdir(join(a, 'data'));
  await fsp.writeFile(join(a, 'data', 'top.txt'), 'top');
  await dvOk(a, ['add', '-q', 'data']);
  const pointer = await fsp.readFile(join(a, 'data.dv'), 'utf8');
  deepTree(a, 'data', 22);
  assertTooLong(await dv(a, ['status']), 'status');
  const j = await dv(a, ['status', '--json']);
  assert.equal(j.code, 29);
  assert.equal(JSON.parse(j.stdout || j.stderr).error.code, 'PATH_TOO_LONG');
  assertTooLong(await dv(a, ['commit', '-m', 'deep']), 'commit');
  assert.equal(await fsp.readFile(join(a, 'data.dv'), 'utf8'), pointer, 'the pointer file is unchanged');
});

test('checkout into a clone where the data paths pass PATH_MAX: PATH_TOO_LONG before anything is written', async () => {
  const a = await makeRepo();
  made.push(a);
  deepTree(a, 'data', 19, 'e'); // about 3,830 bytes: fits here, not below a 250-byte directory
  const remote = tempDir();
  await dvOk(a, ['add', '-q', 'data']);
  await dvOk(a, ['remote', 'add', 'origin', remote]);
  await dvOk(a, ['push', '-q']);
  git(a, ['add', '-A']);
  git(a, ['commit', '-qm', 'deep data']);

  const outer = tempDir();
  made.push(outer);
  const c = join(outer, 'L'.repeat(250), 'clone');
  await fsp.mkdir(join(outer, 'L'.repeat(250)));
  git(outer, ['clone', '-q', a, c]);
  await dvOk(c, ['fetch', '-q']);
  const r = await dv(c, ['checkout']);
  assertTooLong(r, 'checkout');
  assert.match(r.stderr, /check it out in a clone at a shorter path \(nothing was written\)/);
  assert.equal(await exists(join(c, 'data')), false, 'nothing was written');
});
