/**
 * `dv commit PATH` for a path inside a tracked directory records that path's changes alone, as
 * `git commit PATH` does; the other changes stay in `dv status` for a later commit.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { dv, dvJson, dvOk, makeRepo } from '../helpers/cli.js';

const changed = (st: any): string[] =>
  st.paths
    .flatMap((p: any) => [
      ...p.added.map((f: string) => `+${f}`),
      ...p.modified.map((f: string) => `~${f}`),
      ...p.deleted.map((f: string) => `-${f}`),
    ])
    .sort();

test('commit of files inside a tracked directory records only them; the rest stays a change', async () => {
  const repo = await makeRepo();
  await fsp.mkdir(join(repo, 'data', 'sub'), { recursive: true });
  for (const f of ['a.csv', 'b.csv', 'sub/c.csv', 'sub/d.csv']) await fsp.writeFile(join(repo, 'data', f), `${f}\n`);
  await dvOk(repo, ['add', 'data']);
  await fsp.writeFile(join(repo, 'data', 'a.csv'), 'a v2\n');
  await fsp.writeFile(join(repo, 'data', 'b.csv'), 'b v2\n');
  await fsp.rm(join(repo, 'data', 'sub', 'c.csv'));
  await fsp.writeFile(join(repo, 'data', 'sub', 'e.csv'), 'e\n');
  await fsp.writeFile(join(repo, 'data', 'new.csv'), 'new\n');

  // A path that is nowhere (not in the work tree, not in the snapshot) fails the commit, as git's
  // pathspec does: nothing is recorded.
  const typo = await dv(repo, ['commit', 'data/a.csv', 'data/never-existed.csv']);
  assert.equal(typo.code, 15, typo.stderr);
  assert.match(typo.stderr, /PATH_NOT_FOUND: data\/never-existed\.csv is neither in the work tree nor in the snapshot of data/);
  assert.deepEqual(changed(await dvJson(repo, ['status'])), [
    '+data/new.csv',
    '+data/sub/e.csv',
    '-data/sub/c.csv',
    '~data/a.csv',
    '~data/b.csv',
  ]);

  const r = await dvJson(repo, ['commit', 'data/a.csv', 'data/sub']);
  assert.equal(r.committed.length, 1);
  assert.equal(r.committed[0].changed, true);
  assert.equal(r.committed[0].files, 4, 'a, b, sub/d and sub/e: counted from the grafted tree');
  const st = await dvJson(repo, ['status']);
  assert.deepEqual(changed(st), ['+data/new.csv', '~data/b.csv'], 'only what was not named is still a change');

  // The recorded snapshot holds a v2 and sub as it is, b as before: check it out elsewhere.
  const out = join(repo, 'copy');
  await dvOk(repo, ['checkout', r.committed[0].snapshot, 'copy', '--new']);
  assert.equal(await fsp.readFile(join(out, 'a.csv'), 'utf8'), 'a v2\n');
  assert.equal(await fsp.readFile(join(out, 'b.csv'), 'utf8'), 'b.csv\n');
  assert.deepEqual((await fsp.readdir(join(out, 'sub'))).sort(), ['d.csv', 'e.csv']);

  // Committing a named path with no change records nothing.
  const again = await dvJson(repo, ['commit', 'data/a.csv']);
  assert.equal(again.committed[0].changed, false);
  // The whole path records the rest.
  await dvOk(repo, ['commit', 'data']);
  assert.deepEqual(changed(await dvJson(repo, ['status'])), []);
});

test('commit of a path inside a tracked directory whose snapshot is not here says how to go on', async () => {
  const repo = await makeRepo();
  await fsp.mkdir(join(repo, 'data'));
  await fsp.writeFile(join(repo, 'data', 'a'), 'a\n');
  await dvOk(repo, ['add', 'data']);
  await fsp.rm(join(repo, '.dv', 'cache'), { recursive: true });
  await fsp.rm(join(repo, '.dv', 'index'), { recursive: true, force: true });
  await fsp.writeFile(join(repo, 'data', 'a'), 'a2\n');
  const r = await dv(repo, ['commit', 'data/a']);
  assert.equal(r.code, 22, r.stderr);
  assert.match(r.stderr, /dv fetch data/);
});
