/** `dv move` renames a tracked path with its history; `dv remove` stops tracking one, keeping the data unless --data. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { cloneOf, dv, dvOk, dvJson, makeRepo, describeTree, git, prng, pushAndCommit, run, tempDir } from '../helpers/cli.js';

const st = (s: { clean: boolean }): void => assert.equal(s.clean, true, JSON.stringify(s));

async function repoWithData(): Promise<{ repo: string; want: Awaited<ReturnType<typeof describeTree>>; snapshot: string }> {
  const repo = await makeRepo();
  await fsp.mkdir(join(repo, 'data', 'sub'), { recursive: true });
  for (let i = 0; i < 20; i++) await fsp.writeFile(join(repo, 'data', 'sub', `f${i}.bin`), prng(i, 5000 + i));
  await fsp.writeFile(join(repo, 'data', 'big.bin'), prng(99, 3_000_000));
  const add = await dvJson(repo, ['add', 'data']);
  git(repo, ['add', '-A']);
  git(repo, ['commit', '-qm', 'data']);
  return { repo, want: await describeTree(join(repo, 'data')), snapshot: add.added[0].snapshot };
}

test('dv move: data, pointer and .gitignore follow; the new snapshot names the old one; no rehash; a clone gets it', async () => {
  const { repo, want, snapshot } = await repoWithData();
  const r = await dvJson(repo, ['move', 'data', 'archive/2024']);
  assert.deepEqual([r.from, r.to, r.parent, r.dataMoved], ['data', 'archive/2024', snapshot, true]);
  await assert.rejects(fsp.access(join(repo, 'data')));
  await assert.rejects(fsp.access(join(repo, 'data.dv')));
  assert.deepEqual(await describeTree(join(repo, 'archive', '2024')), want);
  assert.match(await fsp.readFile(join(repo, 'archive', '2024.dv'), 'utf8'), new RegExp(`snapshot: ${r.snapshot}`));
  // The root .gitignore held only /data: emptied, it is gone.
  await assert.rejects(fsp.access(join(repo, '.gitignore')));
  assert.match(await fsp.readFile(join(repo, 'archive', '.gitignore'), 'utf8'), /^\/2024$/m);
  const st = await dvJson(repo, ['status']);
  assert.equal(st.clean, true, JSON.stringify(st));
  // The stat cache moved with the files: a commit finds nothing to hash.
  const c = await dvJson(repo, ['commit', 'archive/2024']);
  assert.equal(c.committed[0].filesHashed, 0, 'no file hashed again after the move');
  const log = await dvJson(repo, ['log', 'archive/2024']);
  assert.equal(log[0].id, r.snapshot);
  assert.deepEqual(log[0].parents, [snapshot], 'the history continues through the move');
  assert.equal(log[1].id, snapshot);
  // git sees a rename of the pointer, and the data stays ignored.
  git(repo, ['add', '-A']);
  assert.match(git(repo, ['status', '--porcelain']), /^R {2}data\.dv -> archive\/2024\.dv$/m);
  assert.doesNotMatch(git(repo, ['status', '--porcelain']), /archive\/2024\//);
  const remote = join(tempDir(), 'remote');
  await dvOk(repo, ['remote', 'add', 'origin', remote]);
  git(repo, ['add', '-A']);
  git(repo, ['commit', '-qm', 'move']);
  await dvOk(repo, ['push']);
  const clone = join(tempDir(), 'clone');
  git(tempDir(), ['clone', '-q', repo, clone]);
  await dvOk(clone, ['pull']);
  assert.deepEqual(await describeTree(join(clone, 'archive', '2024')), want);
});

test('dv move of one file to a new name: its snapshot holds the new name; a clone gets it clean', async () => {
  const repo = await makeRepo();
  await fsp.writeFile(join(repo, 'f.txt'), 'hello\n');
  await dvOk(repo, ['add', 'f.txt']);
  const r = await dvJson(repo, ['move', 'f.txt', 'models/g.txt']);
  assert.equal(r.to, 'models/g.txt');
  let st = await dvJson(repo, ['status']);
  assert.equal(st.clean, true, JSON.stringify(st));
  assert.match(await dvOk(repo, ['ls', 'models/g.txt']), /\bg\.txt\b/);
  assert.doesNotMatch(await dvOk(repo, ['ls', 'models/g.txt']), /f\.txt/);
  const remote = join(tempDir(), 'remote');
  await dvOk(repo, ['remote', 'add', 'origin', remote, '--default']);
  await pushAndCommit(repo, 'moved');
  const clone = cloneOf(repo);
  // Without the file's tree here, a new name cannot go into it: refused, nothing changed.
  const refused = await dv(clone, ['move', 'models/g.txt', 'h.txt']);
  assert.equal(refused.code, 22, refused.stderr);
  assert.match(refused.stderr, /^dv: error OBJECT_MISSING: models\/g\.txt: .*run `dv pull models\/g\.txt` first/);
  await fsp.access(join(clone, 'models', 'g.txt.dv'));
  const notHere = await dv(clone, ['ls', 'models/g.txt']);
  assert.equal(notHere.code, 22, notHere.stderr);
  assert.match(notHere.stderr, /not in the local store: `dv ls :models\/g\.txt` lists it from the remote/);
  assert.match(await dvOk(clone, ['ls', ':models/g.txt']), /\bg\.txt\b/);
  await dvOk(clone, ['pull']);
  assert.equal(await fsp.readFile(join(clone, 'models', 'g.txt'), 'utf8'), 'hello\n');
  st = await dvJson(clone, ['status']);
  assert.equal(st.clean, true, JSON.stringify(st));
});

test('dv move twice before any git commit: the git add line pastes, and no empty .gitignore is left', async () => {
  const repo = await makeRepo();
  await fsp.writeFile(join(repo, 'model.bin'), prng(1, 1000));
  await dvOk(repo, ['add', 'model.bin']);
  await dvOk(repo, ['move', 'model.bin', 'models/model.bin']);
  const r = await dvJson(repo, ['move', 'models/model.bin', 'm2.bin']);
  assert.ok(!r.gitAdd.includes('models/model.bin.dv'), `a pointer git never saw is not named: ${r.gitAdd}`);
  assert.ok(!r.gitAdd.includes('models/.gitignore'), `a .gitignore git never saw is not named: ${r.gitAdd}`);
  await assert.rejects(fsp.access(join(repo, 'models', '.gitignore')), 'the emptied .gitignore is gone');
  assert.equal((await run('git', ['add', ...r.gitAdd], repo)).code, 0);
  assert.doesNotMatch(git(repo, ['status', '--porcelain']), /models/);
  st(await dvJson(repo, ['status']));
});

test('dv move refuses what it cannot do, changing nothing', async () => {
  const { repo } = await repoWithData();
  await fsp.writeFile(join(repo, 'taken'), 'x');
  const cases: [string[], number, RegExp][] = [
    [['move', 'nothere', 'x'], 13, /NOT_TRACKED: nothere is not tracked/],
    [['move', 'data/sub', 'x'], 2, /data\/sub is inside data, which dv tracks as a whole/],
    [['move', 'data', 'taken'], 2, /taken already exists/],
    [['move', 'data', 'data/inner'], 2, /cannot move data inside itself/],
    [['move', 'data', '.dv/x'], 2, /inside .dv or .git/],
  ];
  const workspace = async (): Promise<Record<string, string>> =>
    Object.fromEntries(Object.entries(await describeTree(repo)).filter(([p]) => !/^\.(dv|git)(\/|$)/.test(p)));
  const before = await workspace();
  for (const [args, code, msg] of cases) {
    const r = await dv(repo, args);
    assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, msg);
    assert.equal(r.stderr.trim().split('\n').length, 1);
  }
  assert.deepEqual(await workspace(), before, 'nothing changed');
});

test('dv remove: untracks and keeps the data; --data deletes it, refusing uncommitted changes without --force', async () => {
  const { repo, want } = await repoWithData();
  await fsp.mkdir(join(repo, 'more'));
  await fsp.writeFile(join(repo, 'more', 'm.txt'), 'more');
  await dvOk(repo, ['add', 'more']);
  const r = await dvJson(repo, ['remove', 'data.dv']);
  assert.deepEqual(
    r.removed.map((x: any) => [x.path, x.dataRemoved]),
    [['data', false]],
  );
  await assert.rejects(fsp.access(join(repo, 'data.dv')));
  assert.deepEqual(await describeTree(join(repo, 'data')), want, 'the data is kept');
  assert.doesNotMatch(await fsp.readFile(join(repo, '.gitignore'), 'utf8'), /^\/data$/m);
  assert.match(git(repo, ['status', '--porcelain', '--untracked-files=all']), /^\?\? data\/big\.bin$/m, 'git sees the data now');

  // --data with a change not committed: refused, nothing changed.
  await fsp.appendFile(join(repo, 'more', 'm.txt'), ' edited');
  const refused = await dv(repo, ['remove', '--data', 'more']);
  assert.equal(refused.code, 16, refused.stderr);
  assert.match(refused.stderr, /UNSAVED_CHANGES: more has changes not recorded with `dv commit`/);
  await fsp.access(join(repo, 'more.dv'));
  assert.equal(await fsp.readFile(join(repo, 'more', 'm.txt'), 'utf8'), 'more edited');
  await dvOk(repo, ['remove', '--data', '--force', 'more']);
  await assert.rejects(fsp.access(join(repo, 'more')));
  await assert.rejects(fsp.access(join(repo, 'more.dv')));
  const st = await dvJson(repo, ['status']);
  assert.deepEqual(st.paths, [], 'nothing tracked any more');
});
