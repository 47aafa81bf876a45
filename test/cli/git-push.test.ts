/** `dv push --rev` and the pre-push hook: the data of the commits git pushes reaches the remote (real git, real dv). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { dv, dvOk, dvJson, makeRepo, git, tempDir } from '../helpers/cli.js';

function gitRun(cwd: string, args: string[], env: Record<string, string> = {}): { code: number; out: string } {
  const r = spawnSync('git', args, { cwd, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', XDG_CONFIG_HOME: join(cwd, '.xdg-test'), ...env } });
  return { code: r.status ?? -1, out: r.stdout + r.stderr };
}

const read = (p: string): Promise<string> => fsp.readFile(p, 'utf8');
const ZERO = '0'.repeat(40);

/** Records data/v.txt = text with dv (add the first time) and git; returns the commit. */
async function commitData(repo: string, text: string): Promise<string> {
  const first = !(await fsp.stat(join(repo, 'data')).then(() => true, () => false));
  await fsp.mkdir(join(repo, 'data'), { recursive: true });
  await fsp.writeFile(join(repo, 'data', 'v.txt'), text);
  await dvOk(repo, first ? ['add', 'data'] : ['commit', '-m', text]);
  git(repo, ['add', '-A']);
  git(repo, ['commit', '-qm', text]);
  return git(repo, ['rev-parse', 'HEAD']).trim();
}

/** A clone of `from` using the dv store `store` (local config, so old commits keep it). */
async function cloneOf(from: string, store: string): Promise<string> {
  const c = join(tempDir(), 'clone');
  git(tempDir(), ['clone', '-q', from, c]);
  await dvOk(c, ['remote', 'add', 'origin', store, '--local', '--default']);
  return c;
}

/** The data a clone gets for a commit: git checkout, then dv pull. */
async function dataAt(clone: string, rev: string): Promise<string> {
  git(clone, ['checkout', '-q', rev]);
  await dvOk(clone, ['pull']);
  return read(join(clone, 'data', 'v.txt'));
}

test('dv push --rev sends what the pointer files of those commits name, with a few git processes for hundreds of commits', async () => {
  const repo = await makeRepo();
  const c1 = await commitData(repo, 'v1\n');
  const c2 = await commitData(repo, 'v2\n');
  git(repo, ['checkout', '-qb', 'side']);
  const c3 = await commitData(repo, 'v3\n');
  git(repo, ['checkout', '-q', 'main']);
  await dvOk(repo, ['checkout']);
  // 300 more commits on main naming the same two snapshots (git only, so the test stays fast).
  await fsp.writeFile(join(repo, '.git', 'p1'), git(repo, ['show', `${c1}:data.dv`]));
  await fsp.writeFile(join(repo, '.git', 'p2'), git(repo, ['show', `${c2}:data.dv`]));
  execFileSync('sh', ['-c', 'i=0; while [ $i -lt 150 ]; do cp .git/p1 data.dv; git commit -qam a$i; cp .git/p2 data.dv; git commit -qam b$i; i=$((i+1)); done'], { cwd: repo });
  const store = join(tempDir(), 'store');
  await dvOk(repo, ['remote', 'add', 'origin', store, '--local', '--default']);

  // Count the git processes dv starts.
  const bin = tempDir();
  const realGit = execFileSync('sh', ['-c', 'command -v git'], { encoding: 'utf8' }).trim();
  await fsp.writeFile(join(bin, 'git'), `#!/bin/sh\necho "$1" >> '${join(bin, 'log')}'\nexec '${realGit}' "$@"\n`, { mode: 0o755 });
  const r = await dvJson(repo, ['push', '--rev', 'main'], { PATH: `${bin}:${process.env.PATH}` });
  const calls = (await read(join(bin, 'log'))).trim().split('\n');
  assert.ok(calls.length <= 12, `git ran ${calls.length} times: ${calls.join(' ')}`);
  assert.equal(r.snapshots.length, 2);

  const clone = await cloneOf(repo, store);
  assert.equal(await dataAt(clone, c1), 'v1\n');
  assert.equal(await dataAt(clone, c2), 'v2\n');
  git(clone, ['checkout', '-q', c3]);
  const lacking = await dv(clone, ['pull']);
  assert.equal(lacking.code, 22, 'side was not pushed');

  await dvOk(repo, ['push', '--rev', '--branches']);
  assert.equal(await dataAt(clone, c3), 'v3\n');
  assert.equal((await dvJson(repo, ['push', '--rev', 'side', '--rev', '^main'])).objectsSent, 0);

  const bad = await dv(repo, ['push', '--rev', 'no-such-branch']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /bad revision 'no-such-branch'/);
  assert.equal((await dv(repo, ['push', '--rev', '--output=x'])).code, 2);
  assert.equal((await dv(repo, ['push', '--rev', 'main', 'data'])).code, 2);
});
