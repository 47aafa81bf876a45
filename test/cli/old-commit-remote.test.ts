/**
 * Remotes at old commits: a commit made before `dv remote add` has no remote in its `.dv/config`,
 * yet with hooks installed `git checkout` of it must bring its data (from the remote this clone
 * last used), and the data follows back to main.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { dv, dvOk, git, makeRepo, tempDir } from '../helpers/cli.js';

/** git with the same isolated dv config as the dv helper (hooks run dv), returning instead of throwing. */
function gitRun(cwd: string, args: string[]): { code: number; out: string } {
  const r = spawnSync('git', args, {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1', XDG_CONFIG_HOME: join(cwd, '.xdg-test') },
  });
  return { code: r.status ?? -1, out: r.stdout + r.stderr };
}

const read = (p: string): Promise<string> => fsp.readFile(p, 'utf8');

test('with hooks, git checkout of a commit made before dv remote add brings its data; back to main too', async () => {
  const repo = await makeRepo();
  await fsp.mkdir(join(repo, 'data'));
  await fsp.writeFile(join(repo, 'data', 'x.csv'), 'first\n');
  await dvOk(repo, ['add', 'data']);
  git(repo, ['add', '-A']);
  git(repo, ['commit', '-qm', 'first data, no remote yet']);
  const first = git(repo, ['rev-parse', 'HEAD']).trim();
  await fsp.writeFile(join(repo, 'data', 'x.csv'), 'second\n');
  await dvOk(repo, ['commit']);
  await dvOk(repo, ['remote', 'add', 'origin', join(tempDir(), 'remote')]);
  await dvOk(repo, ['push', '--all-history']);
  git(repo, ['add', '-A']);
  git(repo, ['commit', '-qm', 'second data and the remote']);

  const clone = join(tempDir(), 'clone');
  git(tempDir(), ['clone', '-q', repo, clone]);
  await dvOk(clone, ['install']);
  await dvOk(clone, ['pull']);
  assert.equal(await read(join(clone, 'data', 'x.csv')), 'second\n');

  const back = gitRun(clone, ['checkout', '-q', first]);
  assert.equal(back.code, 0, back.out);
  assert.doesNotMatch(back.out, /NO_REMOTE|no remote configured|failed/, back.out);
  assert.equal(await read(join(clone, 'data', 'x.csv')), 'first\n');
  // `dv pull` there works too, from the same remote.
  await dvOk(clone, ['pull']);

  const main = gitRun(clone, ['checkout', '-q', 'main']);
  assert.equal(main.code, 0, main.out);
  assert.equal(await read(join(clone, 'data', 'x.csv')), 'second\n');
  assert.equal((await dv(clone, ['status', '--json'])).code, 0);

  // A remote the user removes is not used again as the last one: data goes nowhere unasked.
  await dvOk(clone, ['remote', 'remove', 'origin']);
  const none = await dv(clone, ['pull']);
  assert.notEqual(none.code, 0);
  assert.match(none.stderr, /NO_REMOTE/);
});

test('with no remote ever used, a commit without remotes still fails NO_REMOTE, naming dv remote add', async () => {
  const repo = await makeRepo();
  await fsp.writeFile(join(repo, 'x.csv'), 'x\n');
  await dvOk(repo, ['add', 'x.csv']);
  const r = await dv(repo, ['pull']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /NO_REMOTE: no remote configured: add one with `dv remote add/);
});

test('a remote added with --local (.dv/config.local) serves every commit: git checkout with hooks brings the data', async () => {
  const repo = await makeRepo();
  await fsp.mkdir(join(repo, 'data'));
  await fsp.writeFile(join(repo, 'data', 'x.csv'), 'first\n');
  await dvOk(repo, ['add', 'data']);
  git(repo, ['add', '-A']);
  git(repo, ['commit', '-qm', 'first']);
  const first = git(repo, ['rev-parse', 'HEAD']).trim();
  await fsp.writeFile(join(repo, 'data', 'x.csv'), 'second\n');
  await dvOk(repo, ['commit']);
  git(repo, ['add', '-A']);
  git(repo, ['commit', '-qm', 'second']);
  const store = join(tempDir(), 'remote');
  await dvOk(repo, ['remote', 'add', 'origin', store, '--local']);
  await dvOk(repo, ['push', '--all-history']);
  assert.equal(git(repo, ['status', '--porcelain', '.dv']).trim(), '', 'the local remote is not committed');

  const clone = join(tempDir(), 'clone');
  git(tempDir(), ['clone', '-q', repo, clone]);
  await dvOk(clone, ['remote', 'add', 'origin', store, '--local']);
  await dvOk(clone, ['install']);
  await dvOk(clone, ['pull']);
  const co = gitRun(clone, ['checkout', '-q', first]);
  assert.equal(co.code, 0, co.out);
  assert.doesNotMatch(co.out, /failed/, co.out);
  assert.equal(await read(join(clone, 'data', 'x.csv')), 'first\n');
});

test('the remembered remote is only read from: push at a commit with no remote is NO_REMOTE; a committed record is refused', async () => {
  const repo = await makeRepo();
  await fsp.mkdir(join(repo, 'data'));
  await fsp.writeFile(join(repo, 'data', 'x.csv'), 'first\n');
  await dvOk(repo, ['add', 'data']);
  git(repo, ['add', '-A']);
  git(repo, ['commit', '-qm', 'no remote yet']);
  const first = git(repo, ['rev-parse', 'HEAD']).trim();
  const remote = join(tempDir(), 'remote');
  await dvOk(repo, ['remote', 'add', 'origin', remote]);
  await dvOk(repo, ['push']);
  git(repo, ['add', '-A']);
  git(repo, ['commit', '-qm', 'the remote']);
  git(repo, ['checkout', '-q', first]);
  // Reading falls back to the remote this clone last used; sending data never does.
  await dvOk(repo, ['fetch']);
  await fsp.writeFile(join(repo, 'data', 'x.csv'), 'new data\n');
  await dvOk(repo, ['commit']);
  const packsBefore = await fsp.readdir(join(remote, 'packs')).catch(() => [] as string[]);
  const push = await dv(repo, ['push']);
  assert.equal(push.code, 30, push.stderr);
  assert.match(push.stderr, /NO_REMOTE/);
  assert.deepEqual(await fsp.readdir(join(remote, 'packs')).catch(() => [] as string[]), packsBefore, 'nothing was sent');

  // A record that git tracks came with the clone (git add -f): it could choose where a pull reads; refused.
  git(repo, ['checkout', '-q', '-f', 'main']);
  git(repo, ['add', '-f', '.dv/remotes/last-used.json']);
  git(repo, ['commit', '-qm', 'planted record']);
  const r = await dv(repo, ['status']);
  assert.equal(r.code, 17, r.stderr);
  assert.match(r.stderr, /BAD_CONFIG: \.dv\/remotes\/last-used\.json is committed to git/);
});
