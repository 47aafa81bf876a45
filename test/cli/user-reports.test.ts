/**
 * Bugs a new user reported, each pinned by the test that failed before its fix. Set-up as in the
 * reports: a git repository, `dv init`, a directory `dataset` tracked with `dv add`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp, existsSync } from 'node:fs';
import { join } from 'node:path';
import { dv, dvJson, dvOk, git, makeRepo, tempDir } from '../helpers/cli.js';

async function write(root: string, rel: string, data: string | Buffer): Promise<void> {
  const p = join(root, rel);
  await fsp.mkdir(join(p, '..'), { recursive: true });
  await fsp.writeFile(p, data);
}

/** A git repository with `dataset/` (a file at the top, files in images/ and labels/) tracked by dv. */
async function setup(): Promise<{ repo: string; snapshot: string }> {
  const repo = await makeRepo();
  await write(repo, 'dataset/a', '1\n');
  await write(repo, 'dataset/images/cats/c1.jpg', 'cat one');
  await write(repo, 'dataset/images/cats/c2.jpg', 'cat two');
  await write(repo, 'dataset/labels/l.txt', 'labels');
  const add = await dvJson(repo, ['add', 'dataset']);
  return { repo, snapshot: add.added[0].snapshot };
}

async function listing(root: string): Promise<string[]> {
  return (await fsp.readdir(root)).sort();
}

test('1: checkout <id> <path> refuses a path that is not tracked unless --new', async () => {
  const { repo, snapshot } = await setup();
  const gitignore = await fsp.readFile(join(repo, '.gitignore'), 'utf8');
  const before = await listing(repo);
  const r = await dv(repo, ['checkout', snapshot.slice(0, 8), 'datset']);
  assert.equal(r.code, 13, r.stderr);
  assert.match(r.stderr, /NOT_TRACKED: datset is not tracked.*did you mean dataset\?.*--new/);
  assert.deepEqual(await listing(repo), before, 'nothing written');
  assert.equal(await fsp.readFile(join(repo, '.gitignore'), 'utf8'), gitignore);
  assert.equal((await dvJson(repo, ['log'])).length, 1, 'no snapshot recorded');

  // Inside a tracked directory: not a new tracked path even with --new.
  const inside = await dv(repo, ['checkout', snapshot.slice(0, 8), 'dataset/images', '--new']);
  assert.equal(inside.code, 2, inside.stderr);
  assert.match(inside.stderr, /USAGE: dataset\/images is inside dataset/);

  // Explicit: a new tracked path.
  const co = await dvJson(repo, ['checkout', snapshot.slice(0, 8), 'copy', '--new']);
  assert.equal(co.paths[0].path, 'copy');
  assert.equal(await fsp.readFile(join(repo, 'copy', 'a'), 'utf8'), '1\n');
  assert.ok(existsSync(join(repo, 'copy.dv')));
  assert.match(await fsp.readFile(join(repo, '.gitignore'), 'utf8'), /^\/copy$/m);
  // A tracked path needs no flag; without a path the snapshot goes back where it was recorded.
  await dvOk(repo, ['checkout', snapshot.slice(0, 8), 'dataset']);
  await dvOk(repo, ['checkout', snapshot.slice(0, 8)]);
});

test('2: add refuses a path git tracks (a file, or a directory holding one); nothing changes', async () => {
  const { repo } = await setup();
  await write(repo, 'train.py', 'print(1)\n');
  await write(repo, 'src/util/x.py', 'x = 1\n');
  await write(repo, 'src/notes.txt', 'untracked by git');
  git(repo, ['add', 'train.py', 'src/util/x.py']);
  git(repo, ['commit', '-qm', 'code']);
  const gitignore = await fsp.readFile(join(repo, '.gitignore'), 'utf8');
  const r = await dv(repo, ['add', 'train.py']);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /USAGE: train\.py is tracked by git: run `git rm -r --cached train\.py` first, then `dv add train\.py`/);
  const d = await dv(repo, ['add', 'src/']);
  assert.equal(d.code, 2, d.stderr);
  assert.match(d.stderr, /USAGE: src is tracked by git \(src\/util\/x\.py\): run `git rm -r --cached src` first/);
  assert.ok(!existsSync(join(repo, 'train.py.dv')) && !existsSync(join(repo, 'src.dv')));
  assert.equal(await fsp.readFile(join(repo, '.gitignore'), 'utf8'), gitignore);
  // Once git lets go of it, dv takes it.
  git(repo, ['rm', '-q', '-r', '--cached', 'train.py']);
  await dvOk(repo, ['add', 'train.py']);
  await dvOk(repo, ['add', 'dataset']);
});

test('3: status of a path inside a tracked directory shows only the changes under it', async () => {
  const { repo } = await setup();
  await write(repo, 'dataset/images/cats/c1.jpg', 'cat one, relabelled');
  await write(repo, 'dataset/images/dogs/d1.jpg', 'a dog');
  await write(repo, 'dataset/labels/l.txt', 'labels v2');
  await fsp.rm(join(repo, 'dataset/a'));
  const st = await dvJson(repo, ['status', 'dataset/images']);
  assert.equal(st.paths.length, 1);
  assert.deepEqual(
    [st.paths[0].path, st.paths[0].state, st.paths[0].added, st.paths[0].modified, st.paths[0].deleted],
    ['dataset', 'modified', ['dataset/images/dogs/d1.jpg'], ['dataset/images/cats/c1.jpg'], []],
  );
  const human = await dvOk(repo, ['status', 'dataset/images/']);
  assert.ok(!/labels|dataset\/a\b/.test(human), human);
  // Two paths inside the same directory: the changes under either, once.
  const two = await dvJson(repo, ['status', 'dataset/labels', 'dataset/a', 'dataset/labels/l.txt']);
  assert.deepEqual([two.paths.length, two.paths[0].modified, two.paths[0].deleted], [1, ['dataset/labels/l.txt'], ['dataset/a']]);
  // Nothing changed under the path: clean there.
  await write(repo, 'dataset/images/cats/c1.jpg', 'cat one');
  await fsp.rm(join(repo, 'dataset/images/dogs'), { recursive: true });
  const clean = await dvJson(repo, ['status', 'dataset/images/cats']);
  assert.deepEqual([clean.clean, clean.paths[0].state], [true, 'clean']);
  // The whole directory named too: everything.
  const all = await dvJson(repo, ['status', 'dataset/images', 'dataset']);
  assert.deepEqual([all.paths.length, all.paths[0].modified, all.paths[0].deleted], [1, ['dataset/labels/l.txt'], ['dataset/a']]);
});

test("4: commit/add --json of an unchanged path: parent is the snapshot's own parent", async () => {
  const { repo, snapshot: s1 } = await setup();
  let c = (await dvJson(repo, ['commit'])).committed[0];
  assert.deepEqual([c.changed, c.snapshot, c.parent], [false, s1, null]);
  await write(repo, 'dataset/a', '2\n');
  c = (await dvJson(repo, ['commit'])).committed[0];
  const s2 = c.snapshot;
  assert.deepEqual([c.changed, c.parent], [true, s1]);
  c = (await dvJson(repo, ['commit', 'dataset'])).committed[0];
  assert.deepEqual([c.changed, c.snapshot, c.parent], [false, s2, s1]);
  const a = (await dvJson(repo, ['add', 'dataset'])).added[0];
  assert.deepEqual([a.changed, a.snapshot, a.parent], [false, s2, s1]);
});

test('5: status --remote on a directory remote that does not exist fails as pull does', async () => {
  const { repo } = await setup();
  const gone = join(repo, '..', `${repo.split('/').pop()}-no-such-store`);
  await dvOk(repo, ['remote', 'add', 'origin', gone, '--default']);
  const pull = await dv(repo, ['pull']);
  assert.equal(pull.code, 33, pull.stderr);
  const st = await dv(repo, ['status', '--remote']);
  assert.deepEqual([st.code, st.stderr, st.stdout], [33, pull.stderr, '']);
  assert.match(st.stderr, /REMOTE_NOT_FOUND/);
  assert.ok(!existsSync(gone), 'nothing created');
});

test('6: status shows only the hint that fits each state', async () => {
  const { repo } = await setup();
  git(repo, ['add', '-A']);
  git(repo, ['commit', '-qm', 'data']);
  const clone = join(repo, '..', `${repo.split('/').pop()}-clone`);
  git(join(repo, '..'), ['clone', '-q', repo, clone]);
  try {
    const fresh = await dvOk(clone, ['status']);
    assert.match(fresh, /dataset: data not in the local store \(run `dv pull`\)/);
    assert.ok(!fresh.includes('dv commit') && !fresh.includes('--force'), fresh);
  } finally {
    await fsp.rm(clone, { recursive: true, force: true });
  }
  await fsp.rename(join(repo, 'dataset'), join(repo, 'moved'));
  const missing = await dvOk(repo, ['status', 'dataset']);
  assert.match(missing, /not in the workspace \(run `dv checkout`\)/);
  assert.ok(!missing.includes('dv commit'), missing);
  await fsp.rename(join(repo, 'moved'), join(repo, 'dataset'));
  await write(repo, 'dataset/a', 'changed\n');
  assert.match(await dvOk(repo, ['status']), /Record the changes with `dv commit`, or discard them with `dv checkout --force`/);
});

test('7: a pointer file with git conflict markers: say how to resolve it', async () => {
  const { repo } = await setup();
  git(repo, ['add', '-A']);
  git(repo, ['commit', '-qm', 'data']);
  git(repo, ['checkout', '-qb', 'other']);
  await write(repo, 'dataset/a', 'theirs\n');
  await dvOk(repo, ['commit']);
  git(repo, ['commit', '-qam', 'theirs']);
  git(repo, ['checkout', '-q', 'main']);
  await dvOk(repo, ['checkout']);
  await write(repo, 'dataset/a', 'ours\n');
  await dvOk(repo, ['commit']);
  git(repo, ['commit', '-qam', 'ours']);
  const merge = await import('node:child_process').then((cp) => cp.spawnSync('git', ['merge', '-q', 'other'], { cwd: repo }));
  assert.notEqual(merge.status, 0, 'the merge conflicts');
  assert.match(await fsp.readFile(join(repo, 'dataset.dv'), 'utf8'), /^<<<<<<< /m);
  const want =
    'dataset.dv has a git merge conflict: pick one side (`git checkout --ours dataset.dv` or `--theirs`), then `dv checkout dataset`';
  for (const cmd of [['status'], ['checkout'], ['commit']]) {
    const r = await dv(repo, cmd);
    assert.equal(r.code, 18, `${cmd}: ${r.stderr}`);
    assert.ok(r.stderr.includes(`BAD_POINTER: ${want}`), r.stderr);
  }
  git(repo, ['checkout', '--theirs', 'dataset.dv']);
  await dvOk(repo, ['checkout', 'dataset']);
  assert.equal(await fsp.readFile(join(repo, 'dataset/a'), 'utf8'), 'theirs\n');
});

test('8: gc counts packs in a dry run and leftovers of interrupted commands; checkout --force counts the files it replaced', async () => {
  const { repo, snapshot: s1 } = await setup();
  await write(repo, 'dataset/a', '2\n');
  await dvOk(repo, ['commit']);
  await write(repo, 'dataset/b', '3\n');
  await dvOk(repo, ['commit']);
  // Back to the first snapshot: the two later ones are garbage.
  await dvOk(repo, ['checkout', s1]);
  const dry = await dvJson(repo, ['gc', '--dry-run', '--keep-days', '0']);
  assert.ok(dry.removedObjects >= 2 && dry.removedPacks >= 1, JSON.stringify(dry));
  assert.match(
    await dvOk(repo, ['gc', '--dry-run', '--keep-days', '0']),
    new RegExp(`would remove ${dry.removedObjects} objects .* from ${dry.removedPacks} pack`),
  );

  // What a killed command leaves: a pack without its index, a temp file of a dead process.
  const DEAD = 4_999_999; // above any pid_max
  await write(repo, `.dv/cache/packs/ee/${'e'.repeat(64)}.pack`, Buffer.alloc(300_000, 1));
  await write(repo, `.dv/cache/tmp/wpack-${DEAD}-x-y.tmp`, Buffer.alloc(200_000, 2));
  // Any command that opens the repository removes a dead process's temp files (even a dry run:
  // they are no one's data); the pack without an index is gc's to count and remove.
  const dry2 = await dvJson(repo, ['gc', '--dry-run', '--keep-days', '0']);
  assert.deepEqual([dry2.leftoverFiles, dry2.leftoverBytes], [1, 300_000]);
  assert.ok(!existsSync(join(repo, `.dv/cache/tmp/wpack-${DEAD}-x-y.tmp`)), 'a dead temp is gone');
  assert.ok(existsSync(join(repo, `.dv/cache/packs/ee/${'e'.repeat(64)}.pack`)), 'a dry run removes no pack');
  const gc = await dvJson(repo, ['gc', '--keep-days', '0']);
  assert.deepEqual(
    [gc.removedObjects, gc.removedPacks, gc.repackedPacks, gc.leftoverFiles, gc.leftoverBytes],
    [dry.removedObjects, dry.removedPacks, dry.repackedPacks, 1, 300_000],
  );
  assert.ok(!existsSync(join(repo, `.dv/cache/packs/ee/${'e'.repeat(64)}.pack`)));
  await write(repo, `.dv/cache/tmp/pack-${DEAD}-z.tmp`, Buffer.alloc(100_000, 3));
  assert.match(await dvOk(repo, ['gc']), /^removed 0 objects \(0 B\) from 0 packs; /);
  assert.ok(!existsSync(join(repo, `.dv/cache/tmp/pack-${DEAD}-z.tmp`)));

  // A file snapshot checked out over a 4-file directory: 4 removed, 1 written; and back.
  await write(repo, 'model.pt', 'weights');
  const file = (await dvJson(repo, ['add', 'model.pt'])).added[0].snapshot;
  const co = await dvJson(repo, ['checkout', '--force', file, 'dataset']);
  assert.deepEqual([co.paths[0].written, co.paths[0].removed], [1, 4]);
  // The file, restored under another name, matches its pointer.
  assert.deepEqual([(await dvJson(repo, ['status'])).clean, await fsp.readFile(join(repo, 'dataset'), 'utf8')], [true, 'weights']);
  const back = await dvJson(repo, ['checkout', '--force', s1, 'dataset']);
  assert.deepEqual([back.paths[0].written, back.paths[0].removed], [4, 1]);
});

test('9: after dv init --no-git, no .gitignore is written and no git command suggested', async () => {
  const plain = tempDir();
  const inGit = join(await makeRepo({ init: false }), 'sub');
  await fsp.mkdir(inGit);
  for (const dir of [plain, inGit]) {
    await dvOk(dir, ['init', '--no-git']);
    await write(dir, 'd/a', '1\n');
    await write(dir, 'd/sub/b', 'b');
    const out = await dvOk(dir, ['add', 'd', 'd/../d/']);
    assert.ok(!/git/.test(out), out);
    await write(dir, 'm.bin', 'model');
    const add = await dvJson(dir, ['add', 'm.bin']);
    assert.deepEqual([add.gitAdd, 'gitignore' in add.added[0]], [[], false]);
    await write(dir, 'd/a', '2\n');
    const commit = await dvOk(dir, ['commit']);
    assert.match(commit, /committed d/);
    assert.ok(!/git/.test(commit), commit);
    await write(dir, 'm.bin', 'model 2');
    assert.deepEqual((await dvJson(dir, ['commit'])).gitAdd, []);
    await dvOk(dir, ['checkout', add.added[0].snapshot, 'copy.bin', '--new']);
    assert.ok(!existsSync(join(dir, '.gitignore')) && !existsSync(join(dir, 'd', '.gitignore')), `no .gitignore in ${dir}`);
    assert.ok(existsSync(join(dir, 'd.dv')) && existsSync(join(dir, 'copy.bin.dv')));
    assert.equal((await dvJson(dir, ['status'])).clean, true);
  }
  // With git, commit names the pointer files to git add.
  const { repo } = await setup();
  await write(repo, 'dataset/a', '2\n');
  assert.deepEqual((await dvJson(repo, ['commit'])).gitAdd, ['dataset.dv']);
  await write(repo, 'dataset/a', '3\n');
  assert.match(await dvOk(repo, ['commit']), /Record it with git: git add dataset\.dv/);
});

test('10: ls of a file inside a tracked directory lists that file', async () => {
  const { repo } = await setup();
  const ls = await dvJson(repo, ['ls', 'dataset/images/cats/c2.jpg']);
  assert.equal(ls.length, 1);
  assert.deepEqual([ls[0].path, ls[0].type, ls[0].size], ['c2.jpg', 'file', 7]);
  assert.match(await dvOk(repo, ['ls', 'dataset/images/cats/c2.jpg', '-R']), /^file +7 B +c2\.jpg$/m);
  for (const missing of ['dataset/images/cats/c3.jpg', 'dataset/a/b']) {
    const r = await dv(repo, ['ls', missing]);
    assert.equal(r.code, 15, r.stderr);
    assert.match(r.stderr, /PATH_NOT_FOUND: .* is not in the tracked data/);
  }
});

test('11: dv.lock is byte-identical whether a stage ran or was restored from the run cache', async () => {
  const { pipelineRepo } = await import('../pipeline/fixture.js');
  const fx = await pipelineRepo();
  await dvOk(fx.repo, ['repro'], fx.env);
  const ran = await fsp.readFile(join(fx.repo, 'dv.lock'), 'utf8');
  await fsp.writeFile(join(fx.repo, 'params.yaml'), 'prepare:\n  scale: 3\n');
  await dvOk(fx.repo, ['repro'], fx.env);
  await fsp.writeFile(join(fx.repo, 'params.yaml'), 'prepare:\n  scale: 2\n');
  await fx.ran();
  const r = await dvJson(fx.repo, ['repro'], fx.env);
  assert.deepEqual(
    r.stages.map((x: any) => `${x.name}:${x.action}:${x.from ?? ''}`),
    ['prepare:restored:run-cache', 'train:restored:run-cache', 'evaluate:restored:run-cache'],
  );
  assert.deepEqual(await fx.ran(), [], 'nothing ran');
  assert.equal(await fsp.readFile(join(fx.repo, 'dv.lock'), 'utf8'), ran);
});

test('11: encodeLock gives the same text for the same records in any key order', async () => {
  const { encodeLock, parseLock } = await import('../../src/pipeline/lockfile.js');
  const id = (c: string): string => c.repeat(64);
  const stage = {
    cmd: 'python3 train.py',
    key: id('a'),
    run: id('b'),
    deps: [
      { path: 'data', id: id('c'), snapshot: id('d') },
      { path: 'train.py', id: id('e') },
    ],
    params: { 'params.yaml': { 'train.lr': 0.1, 'train.epochs': 3, model: { depth: 2, width: 8 } } },
    outs: [{ path: 'model.pkl', id: id('f'), snapshot: id('0') }],
    env: {
      dv: '0.1.0',
      os: 'linux',
      arch: 'x64',
      tools: { node: '20', python3: '3.11' },
      git: { commit: id('1').slice(0, 40), branch: 'main', dirty: false },
      lockfiles: { 'a.lock': id('2'), 'b.lock': id('3') },
      vars: { B: '1', A: '2' },
    },
    ranAt: '2026-01-01T00:00:00.000Z',
  };
  const shuffle = (v: unknown): any => {
    if (Array.isArray(v)) return v.map(shuffle);
    if (v && typeof v === 'object')
      return Object.fromEntries(
        Object.keys(v)
          .reverse()
          .map((k) => [k, shuffle((v as any)[k])]),
      );
    return v;
  };
  const text = encodeLock({ stages: { train: stage as any } });
  assert.equal(encodeLock({ stages: { train: shuffle(stage) } }), text);
  assert.equal(encodeLock(parseLock(text)), text, 'read back and written again: the same bytes');
  assert.match(text, /deps:\n {6}- path: data\n {8}id: a{0}c{64}/);
});

test('checkout <id> PATH --new: an untracked path with other content, a git-tracked path and a nested .git are refused; identical content is fine', async () => {
  const { repo, snapshot } = await setup();
  // Untracked directory holding a file whose content is in the store (from dataset): still the user's.
  await write(repo, 'mine/a', '1\n');
  await write(repo, 'mine/own.txt', 'mine');
  let r = await dv(repo, ['checkout', snapshot.slice(0, 8), 'mine', '--new']);
  assert.equal(r.code, 16, r.stderr);
  assert.match(r.stderr, /UNSAVED_CHANGES: mine exists and dv does not track it: .*move it away, or pass --force/);
  assert.deepEqual((await fsp.readdir(join(repo, 'mine'))).sort(), ['a', 'own.txt'], 'nothing deleted');
  assert.equal(existsSync(join(repo, 'mine.dv')), false);
  // A path git tracks: refused as dv add refuses it.
  await write(repo, 'code/x.txt', 'code');
  git(repo, ['add', 'code/x.txt']);
  r = await dv(repo, ['checkout', snapshot.slice(0, 8), 'code', '--new', '--force']);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /code is tracked by git .*git rm -r --cached code/);
  assert.equal(await fsp.readFile(join(repo, 'code/x.txt'), 'utf8'), 'code');
  // Inside a nested repository's .git: never.
  r = await dv(repo, ['checkout', snapshot.slice(0, 8), 'sub/.git/hooks', '--new']);
  assert.equal(r.code, 2, r.stderr);
  assert.equal(existsSync(join(repo, 'sub')), false);
  // The same content as the snapshot already there (a copy): tracked without --force.
  await fsp.cp(join(repo, 'dataset'), join(repo, 'copy'), { recursive: true });
  await dvOk(repo, ['checkout', snapshot.slice(0, 8), 'copy', '--new']);
  assert.equal(existsSync(join(repo, 'copy.dv')), true);
  // --force replaces the user's directory.
  await dvOk(repo, ['checkout', snapshot.slice(0, 8), 'mine', '--new', '--force']);
  assert.equal(existsSync(join(repo, 'mine', 'own.txt')), false);
  assert.equal(await fsp.readFile(join(repo, 'mine/images/cats/c1.jpg'), 'utf8'), 'cat one');
});
