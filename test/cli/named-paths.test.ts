/**
 * Paths as the user names them: the `git add` line dv prints pastes where dv ran, and a path
 * inside a tracked directory that is nowhere (a typo) fails as `dv pull` and `dv ls` do.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { dv, dvJson, dvOk, git, makeRepo, run } from '../helpers/cli.js';

test('the git add line names paths from where dv ran, and pastes there', async () => {
  const repo = await makeRepo();
  const sub = join(repo, 'sub', 'a');
  await fsp.mkdir(join(sub, 'b'), { recursive: true });
  await fsp.writeFile(join(sub, 'b', 'f'), 'one');
  const out = await dvOk(sub, ['add', 'b/f']);
  const line = /^\tgit add (.*)$/m.exec(out)?.[1];
  assert.equal(line, 'b/f.dv b/.gitignore', out);
  const pasted = await run('git', ['add', ...line!.split(' ')], sub);
  assert.equal(pasted.code, 0, pasted.stderr);
  assert.match(git(repo, ['status', '--porcelain']), /^A {2}sub\/a\/b\/f\.dv$/m);
  // From the root the same files are named from the root; --json keeps them repo-relative.
  await fsp.writeFile(join(sub, 'b', 'f'), 'two');
  assert.match(await dvOk(repo, ['commit']), /git add sub\/a\/b\/f\.dv$/m);
  await fsp.writeFile(join(sub, 'b', 'f'), 'three');
  assert.deepEqual((await dvJson(sub, ['commit'])).gitAdd, ['sub/a/b/f.dv']);
});

test('a path inside a tracked directory that is neither there nor in its snapshot is PATH_NOT_FOUND', async () => {
  const repo = await makeRepo();
  await fsp.mkdir(join(repo, 'data', 'sub'), { recursive: true });
  await fsp.writeFile(join(repo, 'data', 'sub', 'a.txt'), 'a');
  await fsp.writeFile(join(repo, 'data', 'b.txt'), 'b');
  await dvOk(repo, ['add', 'data']);
  const pointer = await fsp.readFile(join(repo, 'data.dv'), 'utf8');
  for (const args of [['status'], ['commit'], ['checkout']]) {
    for (const typo of ['data/nope', 'data/sub/nope.txt', 'data/b.txt/x']) {
      const r = await dv(repo, [...args, typo]);
      assert.equal(r.code, 15, `${args[0]} ${typo}: ${r.stderr}`);
      assert.match(
        r.stderr,
        new RegExp(`^dv: error PATH_NOT_FOUND: ${typo.replace(/\./g, '\\.')} is neither in the work tree nor in the snapshot of data`),
      );
    }
  }
  assert.equal(await fsp.readFile(join(repo, 'data.dv'), 'utf8'), pointer, 'nothing committed');
  // A file deleted since the snapshot is still a path there: status names it, checkout restores it.
  await fsp.rm(join(repo, 'data', 'sub', 'a.txt'));
  const st = await dvJson(repo, ['status', 'data/sub/a.txt']);
  assert.deepEqual(st.paths[0].deleted, ['data/sub/a.txt'], JSON.stringify(st));
  await dvOk(repo, ['checkout', 'data/sub/a.txt']);
  assert.equal(await fsp.readFile(join(repo, 'data', 'sub', 'a.txt'), 'utf8'), 'a');
  // A new file there is a path too: commit takes it.
  await fsp.writeFile(join(repo, 'data', 'new.txt'), 'n');
  assert.equal((await dvJson(repo, ['commit', 'data/new.txt'])).committed[0].changed, true);
});

test('a path dv does not track: add it if it is there, check it if it is nowhere', async () => {
  const repo = await makeRepo();
  await fsp.writeFile(join(repo, 'loose.txt'), 'x');
  const there = await dv(repo, ['status', 'loose.txt']);
  assert.equal(there.code, 13, there.stderr);
  assert.match(there.stderr, /^dv: error NOT_TRACKED: loose\.txt is not tracked by dv: run `dv add loose\.txt` first/);
  const nowhere = await dv(repo, ['commit', 'nosuch']);
  assert.equal(nowhere.code, 13, nowhere.stderr);
  assert.match(nowhere.stderr, /^dv: error NOT_TRACKED: nosuch is not tracked by dv: it does not exist either: check the path/);
});
