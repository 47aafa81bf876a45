/**
 * `dv status` tells a moved pointer from a local edit by reading the pointer files of git's
 * recent HEADs: one `git cat-file --batch` for every modified path and commit, not a `git show`
 * each (20 per path). Counted with a `git` on PATH that logs its arguments, then runs the real one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { dvJson, dvOk, git, makeRepo, tempDir } from '../helpers/cli.js';

test('status of three moved pointers and one edit over 12 commits: right reasons, one cat-file, no git show', async () => {
  const repo = await makeRepo();
  const names = ['a', 'b', 'c', 'd'];
  for (const n of names) {
    await fsp.mkdir(join(repo, n));
    await fsp.writeFile(join(repo, n, 'x.csv'), `${n} v0\n`);
  }
  await dvOk(repo, ['add', '-q', ...names]);
  git(repo, ['add', '-A']);
  git(repo, ['commit', '-qm', 'v0']);
  for (let v = 1; v <= 11; v++) {
    for (const n of names) await fsp.writeFile(join(repo, n, 'x.csv'), `${n} v${v}\n`);
    await dvOk(repo, ['commit', '-q']);
    git(repo, ['commit', '-qam', `v${v}`]);
  }
  // Three pointers go back (git, no hooks); d's pointer goes back too, but its data is a local edit.
  git(repo, ['checkout', '-q', 'HEAD~5']);
  await fsp.writeFile(join(repo, 'd', 'x.csv'), 'edited here\n');
  // As in a fresh clone: only git history tells a moved pointer from an edit.
  await fsp.rm(join(repo, '.dv', 'snapshots.log'));

  const bin = tempDir();
  const log = join(bin, 'calls.log');
  const realGit = execFileSync('sh', ['-c', 'command -v git'], { encoding: 'utf8' }).trim();
  await fsp.writeFile(join(bin, 'git'), `#!/bin/sh\necho "$1 $2" >> '${log}'\nexec '${realGit}' "$@"\n`, { mode: 0o755 });
  const j = await dvJson(repo, ['status'], { PATH: `${bin}:${process.env.PATH}` });
  const reasons = Object.fromEntries(j.paths.map((p: { path: string; reason: string | null }) => [p.path, p.reason]));
  assert.deepEqual(reasons, { a: 'pointer-moved', b: 'pointer-moved', c: 'pointer-moved', d: 'edited' });
  const calls = (await fsp.readFile(log, 'utf8')).trim().split('\n');
  assert.equal(calls.filter((c) => c.startsWith('show ')).length, 0, calls.join('; '));
  assert.equal(calls.filter((c) => c === 'cat-file --batch').length, 1, calls.join('; '));
  assert.ok(calls.length <= 10, `few git processes in all: ${calls.join('; ')}`);
});
