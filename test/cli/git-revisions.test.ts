/**
 * Git revisions and history where DVC users type them: `dv log --git` follows the pointer files
 * through git commits, in a fresh clone that fetched nothing too.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { dv, dvJson, dvOk, git, makeRepo, tempDir } from '../helpers/cli.js';

/** A repository whose `data` went through three versions, one git commit each. */
async function threeVersions(): Promise<{ repo: string; snaps: string[] }> {
  const repo = await makeRepo();
  await fsp.mkdir(join(repo, 'data'));
  const snaps: string[] = [];
  for (const [i, msg] of ['first', 'second', 'third'].entries()) {
    await fsp.writeFile(join(repo, 'data', 'x.csv'), `v${i}\n`);
    const r = await dvJson(repo, i === 0 ? ['add', 'data'] : ['commit']);
    snaps.push((r.committed ?? r.added)[0].snapshot);
    git(repo, ['add', '-A']);
    git(repo, ['commit', '-qm', `${msg} data`]);
  }
  await fsp.writeFile(join(repo, 'code.py'), 'print(1)\n');
  git(repo, ['add', 'code.py']);
  git(repo, ['commit', '-qm', 'code only']);
  return { repo, snaps };
}

/** threeVersions, every snapshot pushed to a directory remote `origin` committed in one more commit. */
async function threeVersionsPushed(): Promise<{ repo: string; snaps: string[] }> {
  const made = await threeVersions();
  await dvOk(made.repo, ['remote', 'add', 'origin', join(tempDir(), 'remote')]);
  await dvOk(made.repo, ['push', '--all-history']);
  git(made.repo, ['add', '-A']);
  git(made.repo, ['commit', '-qm', 'remote']);
  return made;
}

test('log --git: the commits that changed pointer files, newest first, with what each named', async () => {
  const { repo, snaps } = await threeVersions();
  const all = await dvJson(repo, ['log', '--git']);
  assert.deepEqual(
    all.map((c: any) => c.subject),
    ['third data', 'second data', 'first data'],
    'a commit of code alone is not listed',
  );
  assert.deepEqual(
    all.map((c: any) => c.paths[0].snapshot),
    [...snaps].reverse(),
  );
  assert.ok(all.every((c: any) => c.paths[0].path === 'data' && c.paths[0].fetched === true));
  const older = await dvJson(repo, ['log', '--git', 'HEAD~2', 'data', '-n', '1']);
  assert.deepEqual(
    older.map((c: any) => c.subject),
    ['second data'],
  );
  assert.match(
    await dvOk(repo, ['log', '--git']),
    /^commit [0-9a-f]{12} .*\n {4}third data\n {4}data: snapshot [0-9a-f]{12}, 1 file, 3 B\n/,
  );
  const bad = await dv(repo, ['log', '--git', 'nosuchbranch']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /nosuchbranch: not a git revision/);
  const opt = await dv(repo, ['log', '--git', '--output=/tmp/x']);
  assert.equal(opt.code, 2, 'an option-like revision never reaches git as an option');
});

test('in a fresh clone that fetched nothing, log --git works and plain log says how to go on', async () => {
  const { repo, snaps } = await threeVersions();
  const clone = join(tempDir(), 'clone');
  git(tempDir(), ['clone', '-q', repo, clone]);
  const hist = await dvJson(clone, ['log', '--git']);
  assert.deepEqual(
    hist.map((c: any) => [c.paths[0].snapshot, c.paths[0].fetched]),
    [...snaps].reverse().map((id) => [id, false]),
  );
  assert.match(await dvOk(clone, ['log', '--git']), /\(not fetched\)/);
  const plain = await dv(clone, ['log']);
  assert.equal(plain.code, 22);
  assert.match(plain.stderr, /is not in this clone: `dv fetch data` brings it; `dv log --git data` shows the history git holds/);
});

test('diff with git revisions: HEAD~1 vs the workspace, two revisions, paths, a tracked file', async () => {
  const { repo } = await threeVersions();
  await fsp.writeFile(join(repo, 'model.bin'), 'm1\n');
  await dvOk(repo, ['add', 'model.bin']);
  git(repo, ['add', '-A']);
  git(repo, ['commit', '-qm', 'model']);
  await fsp.writeFile(join(repo, 'model.bin'), 'm2\n');
  await fsp.writeFile(join(repo, 'data', 'new.csv'), 'n\n');

  const ws = await dvJson(repo, ['diff', 'HEAD']);
  assert.deepEqual(
    ws.changes.map((c: any) => `${c.type} ${c.path}`),
    ['added data/new.csv', 'modified model.bin'],
  );
  const revs = await dvJson(repo, ['diff', 'HEAD~4', 'HEAD']);
  assert.deepEqual(
    revs.changes.map((c: any) => `${c.type} ${c.path}`),
    ['modified data/x.csv', 'added model.bin'],
  );
  assert.match(revs.from, /^[0-9a-f]{40}$/);
  // A second argument that is no revision is a path.
  const onlyData = await dvJson(repo, ['diff', 'HEAD~4', 'data']);
  assert.deepEqual(
    onlyData.changes.map((c: any) => `${c.type} ${c.path}`),
    ['added data/new.csv', 'modified data/x.csv'],
  );
  assert.match(await dvOk(repo, ['diff', 'HEAD', 'model.bin']), /^M\tmodel\.bin\n$/);
  // Nothing changed between HEAD and the workspace once committed.
  await dvOk(repo, ['commit']);
  git(repo, ['commit', '-qam', 'v2']);
  assert.equal(await dvOk(repo, ['diff', 'HEAD']), 'no differences\n');
  // Snapshot ids still work as before; mixing an id with a revision is refused.
  const snap = (await dvJson(repo, ['log', 'data', '-n', '1']))[0].id;
  assert.deepEqual((await dvJson(repo, ['diff', snap])).changes, []);
  const mixed = await dv(repo, ['diff', 'HEAD', snap]);
  assert.equal(mixed.code, 2);
});

test('diff HEAD~1 in a clone that lacks the old snapshot says how to fetch it', async () => {
  const { repo } = await threeVersions();
  const clone = join(tempDir(), 'clone');
  git(tempDir(), ['clone', '-q', repo, clone]);
  const r = await dv(clone, ['diff', 'HEAD~1', 'HEAD']);
  assert.equal(r.code, 22);
  assert.match(r.stderr, /data: snapshot [0-9a-f]{12} \(at [0-9a-f]{10}\) is not in this clone: `dv fetch --all-history`/);
});

test('checkout of a git revision restores what its pointer files name, fetching what this clone lacks', async () => {
  const { repo, snaps } = await threeVersionsPushed();
  // In the repository itself: the version two commits back, then HEAD again.
  await dvOk(repo, ['checkout', 'HEAD~3', 'data']);
  assert.equal(await fsp.readFile(join(repo, 'data', 'x.csv'), 'utf8'), 'v1\n');
  assert.match(await fsp.readFile(join(repo, 'data.dv'), 'utf8'), new RegExp(`snapshot: ${snaps[1]}`));
  await dvOk(repo, ['checkout', 'HEAD']);
  assert.equal(await fsp.readFile(join(repo, 'data', 'x.csv'), 'utf8'), 'v2\n');

  // A fresh clone that fetched nothing: the old version comes from the remote on demand.
  const clone = join(tempDir(), 'clone');
  git(tempDir(), ['clone', '-q', repo, clone]);
  const r = await dvJson(clone, ['checkout', 'HEAD~4']);
  assert.deepEqual(r.fetched, [snaps[0]]);
  assert.equal(await fsp.readFile(join(clone, 'data', 'x.csv'), 'utf8'), 'v0\n');
  // A snapshot by a 12-character prefix, as `dv log --git` shows it.
  const byId = await dvJson(clone, ['checkout', snaps[1].slice(0, 12)]);
  assert.deepEqual(byId.fetched, [snaps[1].slice(0, 12)]);
  assert.equal(await fsp.readFile(join(clone, 'data', 'x.csv'), 'utf8'), 'v1\n');
  // A path with no pointer at that revision is NOT_TRACKED, naming it.
  const none = await dv(clone, ['checkout', 'HEAD~4', 'model.bin']);
  assert.equal(none.code, 13);
  assert.match(none.stderr, /model\.bin has no pointer file at HEAD~4/);
  // A name that is neither a path, an id nor a revision is still a path dv does not track.
  const typo = await dv(clone, ['checkout', 'dat']);
  assert.equal(typo.code, 13);
  assert.match(typo.stderr, /NOT_TRACKED: dat is not tracked/);
});

test('fetch --rev and fetch <snapshot id> bring exactly that version', async () => {
  const { repo, snaps } = await threeVersionsPushed();
  const clone = join(tempDir(), 'clone');
  git(tempDir(), ['clone', '-q', repo, clone]);
  const f = await dvJson(clone, ['fetch', '--rev', 'HEAD~3']);
  assert.deepEqual(f.snapshots, [snaps[1]]);
  const held = await dvJson(clone, ['log', '--git']);
  assert.deepEqual(
    held.map((c: any) => c.paths[0].fetched),
    [false, true, false],
  );
  const byId = await dvJson(clone, ['fetch', snaps[0].slice(0, 10)]);
  assert.deepEqual(byId.snapshots, [snaps[0]]);
  const unknown = await dv(clone, ['fetch', 'abcdef12']);
  assert.equal(unknown.code, 20);
  assert.match(unknown.stderr, /remote origin has no object abcdef12/);
});
