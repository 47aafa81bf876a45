/**
 * A new user's day with hooks, end to end: `dv install`, a remote configured, data committed on
 * main and on a branch, `git push` (the pre-push hook sends the data); then a fresh clone with
 * hooks goes to the first commit, to the branch and back to main with plain `git checkout`, and
 * after each the data files are, byte for byte, what that commit's pointer files name.
 * (test/cli/old-commit-remote.test.ts covers a commit made before the remote existed.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { describeTree, dvOk, git, makeRepo, prng, tempDir, type Manifest } from '../helpers/cli.js';

/** git with the same isolated dv config as the dv helper (hooks run dv); fails the test on a non-zero exit. */
function gitHooked(cwd: string, args: string[]): string {
  const r = spawnSync('git', args, {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1', XDG_CONFIG_HOME: join(cwd, '.xdg-test') },
  });
  assert.equal(r.status, 0, `git ${args.join(' ')}: ${r.stdout}${r.stderr}`);
  return r.stdout + r.stderr;
}

/** The tracked data of a work tree: `data/` and `model.bin`, exactly (content, exec bit, what exists). */
async function dataOf(dir: string): Promise<Manifest> {
  const model = await describeTree(dir).then((m) => m['model.bin']);
  return { ...(await describeTree(join(dir, 'data'))), 'model.bin': model };
}

test('new user with hooks: a fresh clone follows git checkout to the first commit, a branch and back to main, byte for byte', async () => {
  const repo = await makeRepo();
  const bare = join(tempDir(), 'origin.git');
  git(tempDir(), ['init', '-q', '--bare', '-b', 'main', bare]);
  git(repo, ['remote', 'add', 'origin', bare]);
  await dvOk(repo, ['install']);
  await dvOk(repo, ['remote', 'add', 'storage', join(tempDir(), 'dv-remote'), '--default']);

  // main, first commit: a directory of files (one large enough to be chunked, one executable) and a single file.
  await fsp.mkdir(join(repo, 'data', 'raw'), { recursive: true });
  for (let i = 0; i < 20; i++) await fsp.writeFile(join(repo, 'data', 'raw', `r${i}.csv`), `row,${i}\n`.repeat(50 + i));
  await fsp.writeFile(join(repo, 'data', 'big.bin'), prng(7, 3_000_000));
  await fsp.writeFile(join(repo, 'data', 'run.sh'), '#!/bin/sh\necho run\n', { mode: 0o755 });
  await fsp.writeFile(join(repo, 'model.bin'), prng(8, 200_000));
  await dvOk(repo, ['add', '-q', 'data', 'model.bin']);
  gitHooked(repo, ['add', '-A']);
  gitHooked(repo, ['commit', '-qm', 'first data']);
  const first = git(repo, ['rev-parse', 'HEAD']).trim();
  const want: Record<string, Manifest> = { first: await dataOf(repo) };

  // A branch from the first commit: files added, removed, edited in the middle of the large one.
  gitHooked(repo, ['checkout', '-q', '-b', 'exp']);
  await fsp.writeFile(join(repo, 'data', 'raw', 'extra.csv'), 'only on exp\n');
  await fsp.rm(join(repo, 'data', 'raw', 'r3.csv'));
  const big = await fsp.readFile(join(repo, 'data', 'big.bin'));
  big.write('edited on exp', 1_500_000);
  await fsp.writeFile(join(repo, 'data', 'big.bin'), big);
  await fsp.writeFile(join(repo, 'model.bin'), prng(9, 250_000));
  await dvOk(repo, ['commit', '-q', '-m', 'exp data']);
  gitHooked(repo, ['commit', '-qam', 'exp data']);
  want.exp = await dataOf(repo);

  // Back on main (the hook restores the first data), then main's own second version.
  gitHooked(repo, ['checkout', '-q', 'main']);
  assert.deepEqual(await dataOf(repo), want.first, 'the hooks already follow in the first clone');
  await fsp.writeFile(join(repo, 'data', 'raw', 'r0.csv'), 'main v2\n');
  await fsp.rm(join(repo, 'data', 'run.sh'));
  await dvOk(repo, ['commit', '-q', '-m', 'main v2']);
  gitHooked(repo, ['commit', '-qam', 'main v2']);
  want.main = await dataOf(repo);
  // git push: the pre-push hook sends the data of what is pushed.
  gitHooked(repo, ['push', '-q', 'origin', 'main', 'exp']);

  const clone = join(tempDir(), 'clone');
  git(tempDir(), ['clone', '-q', bare, clone]);
  await dvOk(clone, ['install']);
  await dvOk(clone, ['pull', '-q']);
  assert.deepEqual(await dataOf(clone), want.main, 'main after pull');
  for (const [rev, name] of [
    [first, 'first'],
    ['exp', 'exp'],
    ['main', 'main'],
  ] as const) {
    gitHooked(clone, ['checkout', '-q', rev]);
    assert.deepEqual(await dataOf(clone), want[name], `after git checkout ${name}`);
  }
  const st = JSON.parse(await dvOk(clone, ['status', '--json']));
  assert.equal(st.clean, true);
});
