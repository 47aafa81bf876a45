import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { dv, dvOk, dvJson, makeRepo, describeTree, git, prng, tempDir } from '../helpers/cli.js';

async function write(root: string, rel: string, data: string | Buffer, mode?: number): Promise<void> {
  const p = join(root, rel);
  await fsp.mkdir(join(p, '..'), { recursive: true });
  await fsp.writeFile(p, data);
  if (mode !== undefined) await fsp.chmod(p, mode);
}

async function assertClean(repo: string): Promise<void> {
  const st = await dvJson(repo, ['status']);
  assert.equal(st.clean, true, `status not clean: ${JSON.stringify(st)}`);
}

test('round trip: add, edit everything, commit, checkout old by prefix, checkout pointer again', async () => {
  const repo = await makeRepo();
  const d = join(repo, 'data');
  await write(d, 'plain.txt', 'hello world\n');
  await write(d, 'run.sh', '#!/bin/sh\necho hi\n', 0o755);
  await write(d, 'empty', '');
  await write(d, 'big.bin', prng(1, 3_000_000));
  await write(d, 'names/with space.txt', 'space');
  await write(d, 'names/-leading-dash', 'dash');
  await write(d, 'names/ends-with.dv', 'not a pointer');
  await write(d, 'names/ünïcødé ✓.txt', 'utf8');
  await write(d, 'becomes-dir', 'I am a file for now');
  await write(d, 'olddir/a.txt', 'a');
  await write(d, 'olddir/b.txt', 'b');
  let deep = 'deep';
  for (let i = 0; i < 40; i++) deep += `/level${i}`;
  await write(d, `${deep}/bottom.txt`, 'deep file');
  await fsp.symlink('plain.txt', join(d, 'link-to-plain'));
  await fsp.symlink('../plain.txt', join(d, 'names', 'link-up'));

  const add = await dvJson(repo, ['add', 'data']);
  assert.equal(add.added.length, 1);
  const s1 = add.added[0].snapshot as string;
  assert.match(await fsp.readFile(join(repo, 'data.dv'), 'utf8'), new RegExp(`snapshot: ${s1}`));
  assert.match(await fsp.readFile(join(repo, '.gitignore'), 'utf8'), /^\/data$/m);
  await assertClean(repo);
  const m1 = await describeTree(d);
  git(repo, ['add', 'data.dv', '.gitignore', '.dv/config', '.dv/.gitignore']);
  git(repo, ['commit', '-qm', 'data v1']);

  // Edit: modify, delete, add, rename a directory, chmod, file -> directory.
  await write(d, 'plain.txt', 'hello changed world\n');
  await fsp.rm(join(d, 'empty'));
  await write(d, 'new/file.txt', 'brand new');
  await fsp.rename(join(d, 'olddir'), join(d, 'renamed'));
  await fsp.chmod(join(d, 'big.bin'), 0o755);
  await fsp.rm(join(d, 'becomes-dir'));
  await write(d, 'becomes-dir/inside.txt', 'now a directory');
  const st = await dvJson(repo, ['status']);
  assert.equal(st.clean, false);
  const p = st.paths[0];
  assert.deepEqual([...p.added].sort(), ['data/becomes-dir/inside.txt', 'data/new/file.txt', 'data/renamed/a.txt', 'data/renamed/b.txt']);
  assert.deepEqual([...p.modified].sort(), ['data/big.bin', 'data/plain.txt']);
  assert.deepEqual([...p.deleted].sort(), ['data/becomes-dir', 'data/empty', 'data/olddir/a.txt', 'data/olddir/b.txt']);
  const human = await dvOk(repo, ['status']);
  assert.match(human, /modified: data\/plain\.txt/);

  const c = await dvJson(repo, ['commit', '-m', 'second version', '--meta', 'source=test', '--meta', 'run=2']);
  assert.equal(c.committed[0].changed, true);
  const s2 = c.committed[0].snapshot as string;
  await assertClean(repo);
  const m2 = await describeTree(d);
  git(repo, ['commit', '-qam', 'data v2']);

  const logs = await dvJson(repo, ['log']);
  assert.deepEqual(
    logs.map((l: any) => l.id),
    [s2, s1],
  );
  assert.equal(logs[0].message, 'second version');
  assert.deepEqual(logs[0].parents, [s1]);
  assert.deepEqual(logs[0].lineage.meta, { run: '2', source: 'test' });
  assert.equal(logs[0].lineage.git.branch, 'main');
  assert.match(logs[0].lineage.git.commit, /^[0-9a-f]{40}$/);
  assert.equal(logs[0].author, 'Test User <test@example.com>');
  for (const k of ['id', 'tree', 'parents', 'message', 'author', 'time', 'lineage']) assert.ok(k in logs[0], k);

  // Old snapshot by prefix: byte-identical tree with modes and symlinks.
  const co = await dvJson(repo, ['checkout', s1.slice(0, 8)]);
  assert.equal(co.paths[0].snapshot, s1);
  assert.deepEqual(await describeTree(d), m1);
  await assertClean(repo);

  // Pointer again, as after `git checkout`.
  git(repo, ['checkout', '--', 'data.dv']);
  await dvOk(repo, ['checkout']);
  assert.deepEqual(await describeTree(d), m2);
  await assertClean(repo);

  // A second checkout of the same state touches nothing.
  const again = await dvJson(repo, ['checkout']);
  assert.equal(again.paths[0].written, 0);
  assert.equal(again.paths[0].removed, 0);

  // diff between snapshots descends only where ids differ.
  const df = await dvJson(repo, ['diff', s1.slice(0, 10), s2.slice(0, 10)]);
  const byType = (t: string): string[] =>
    df.changes
      .filter((x: any) => x.type === t)
      .map((x: any) => x.path)
      .sort();
  assert.deepEqual(byType('modified'), ['big.bin', 'plain.txt']);
  assert.ok(byType('added').includes('new/file.txt'));

  const ls = await dvJson(repo, ['ls', 'data', '-R']);
  const paths = ls.map((e: any) => e.path);
  assert.ok(paths.includes('names/ünïcødé ✓.txt'));
  assert.ok(paths.includes('names/-leading-dash'));
  assert.equal(ls.find((e: any) => e.path === 'link-to-plain').target, 'plain.txt');
  assert.equal(ls.find((e: any) => e.path === 'run.sh').exec, true);

  const fsck = await dvJson(repo, ['fsck']);
  assert.equal(fsck.ok, true, JSON.stringify(fsck.problems));
  assert.ok(fsck.objects > 10);
});

test('checkout refuses to overwrite uncommitted changes, names the file, and --force overrides', async () => {
  const repo = await makeRepo();
  await write(repo, 'data/a.txt', 'version 1');
  await write(repo, 'data/b.txt', 'untouched');
  const s1 = (await dvJson(repo, ['add', 'data'])).added[0].snapshot;
  await write(repo, 'data/a.txt', 'version 2');
  await dvOk(repo, ['commit']);
  await write(repo, 'data/a.txt', 'precious unsaved work');
  const r = await dv(repo, ['checkout', s1]);
  assert.equal(r.code, 16);
  assert.match(r.stderr, /UNSAVED_CHANGES.*data\/a\.txt/);
  assert.equal(r.stderr.trim().split('\n').length, 1, 'one-line error');
  assert.equal(await fsp.readFile(join(repo, 'data/a.txt'), 'utf8'), 'precious unsaved work');
  await dvOk(repo, ['checkout', '--force', s1]);
  assert.equal(await fsp.readFile(join(repo, 'data/a.txt'), 'utf8'), 'version 1');
});

test('a single tracked file, re-added after changes, keeps its history', async () => {
  const repo = await makeRepo();
  await write(repo, 'models/model.bin', prng(5, 700_000));
  const a = await dvJson(repo, ['add', 'models/model.bin']);
  assert.equal(a.added[0].files, 1);
  assert.match(await fsp.readFile(join(repo, 'models/.gitignore'), 'utf8'), /^\/model\.bin$/m);
  const before = await fsp.readFile(join(repo, 'models/model.bin'));
  await write(repo, 'models/model.bin', prng(6, 800_000));
  const b = await dvJson(repo, ['add', 'models/model.bin']);
  assert.deepEqual(
    (await dvJson(repo, ['log', 'models/model.bin'])).map((l: any) => l.id),
    [b.added[0].snapshot, a.added[0].snapshot],
  );
  await dvOk(repo, ['checkout', a.added[0].snapshot.slice(0, 6)]);
  assert.ok((await fsp.readFile(join(repo, 'models/model.bin'))).equals(before));
  await fsp.rm(join(repo, 'models/model.bin'));
  const st = await dvJson(repo, ['status']);
  assert.equal(st.paths[0].state, 'missing');
  await dvOk(repo, ['checkout']);
  assert.ok((await fsp.readFile(join(repo, 'models/model.bin'))).equals(before));
});

test('errors are one line with a stable code and exit status, and change nothing', async () => {
  const repo = await makeRepo({ init: false });
  let r = await dv(repo, ['status']);
  assert.equal(r.code, 10);
  assert.match(r.stderr, /^dv: error NOT_A_REPO: .*dv init/);
  await dvOk(repo, ['init']);
  r = await dv(repo, ['init']);
  assert.equal(r.code, 12);
  r = await dv(repo, ['add', 'nope']);
  assert.equal(r.code, 15);
  assert.match(r.stderr, /PATH_NOT_FOUND: nope/);
  r = await dv(repo, ['add', '../outside']);
  assert.equal(r.code, 14);
  await write(repo, 'data/x', 'x');
  await dvOk(repo, ['add', 'data']);
  const pointer = await fsp.readFile(join(repo, 'data.dv'), 'utf8');
  await fsp.writeFile(join(repo, 'data.dv'), pointer.slice(0, 60));
  r = await dv(repo, ['status']);
  assert.equal(r.code, 18);
  assert.match(r.stderr, /BAD_POINTER: data\.dv/);
  await fsp.writeFile(
    join(repo, 'data.dv'),
    pointer.replace(/snapshot: [0-9a-f]+/, `snapshot: ${'e'.repeat(64)}`).replace(/tree: [0-9a-f]+/, `tree: ${'f'.repeat(64)}`),
  );
  r = await dv(repo, ['checkout']);
  assert.equal(r.code, 22);
  assert.match(r.stderr, /OBJECT_MISSING/);
  assert.equal(await fsp.readFile(join(repo, 'data/x'), 'utf8'), 'x', 'workspace untouched');
  await fsp.writeFile(join(repo, 'data.dv'), pointer);
  r = await dv(repo, ['checkout', 'abcdef12']);
  assert.equal(r.code, 20);
  r = await dv(repo, ['checkout', 'xyz!']);
  assert.notEqual(r.code, 0);
  await fsp.writeFile(join(repo, '.dv', 'config'), '{ broken');
  r = await dv(repo, ['status']);
  assert.equal(r.code, 17);
  assert.match(r.stderr, /BAD_CONFIG: .*\.dv\/config/);
  r = await dv(repo, ['frobnicate']);
  assert.equal(r.code, 2);
});

test('--help of every command shows an example and exit codes', async () => {
  const repo = await makeRepo({ init: false });
  for (const c of ['init', 'add', 'commit', 'status', 'checkout', 'log', 'diff', 'ls', 'gc', 'fsck', 'config']) {
    const r = await dv(repo, [c, '--help']);
    assert.equal(r.code, 0, c);
    assert.match(r.stdout, /Example:\n {2}dv /, c);
    assert.match(r.stdout, /Exit codes:/, c);
  }
  assert.match(await dvOk(repo, ['--version']), /^\d+\.\d+\.\d+/);
});

test('gc keeps what pointers, git history and recent local snapshots reach; --keep-days 0 prunes the rest', async () => {
  const repo = await makeRepo();
  await write(repo, 'data/a.txt', 'version one, long enough to be its own object');
  const s1 = (await dvJson(repo, ['add', 'data'])).added[0].snapshot;
  git(repo, ['add', '-A']);
  git(repo, ['commit', '-qm', 'v1']);
  await write(repo, 'data/a.txt', 'version two, not committed to git');
  const s2 = (await dvJson(repo, ['commit'])).committed[0].snapshot;
  // Back to v1: v2 is named by no pointer and by no git commit, only by the local log.
  await dvOk(repo, ['checkout', s1]);
  let gc = await dvJson(repo, ['gc']);
  assert.equal(gc.removedObjects, 0, 'recent local snapshots are kept');
  await dvOk(repo, ['checkout', s2.slice(0, 10)]);
  assert.equal(await fsp.readFile(join(repo, 'data/a.txt'), 'utf8'), 'version two, not committed to git');
  await dvOk(repo, ['checkout', s1]);
  const dry = await dvJson(repo, ['gc', '--keep-days', '0', '--dry-run']);
  assert.ok(dry.removedObjects >= 3, JSON.stringify(dry));
  gc = await dvJson(repo, ['gc', '--keep-days', '0']);
  assert.equal(gc.removedObjects, dry.removedObjects);
  const r = await dv(repo, ['checkout', s2]);
  assert.equal(r.code, 20, 'v2 is gone');
  // v1 is still named by the pointer and by git: intact.
  await fsp.rm(join(repo, 'data'), { recursive: true });
  await dvOk(repo, ['checkout']);
  assert.equal(await fsp.readFile(join(repo, 'data/a.txt'), 'utf8'), 'version one, long enough to be its own object');
  assert.equal((await dvJson(repo, ['fsck'])).ok, true);
});

test('gc --workspace keeps only what the work tree names: older versions and other branches go, a remote brings them back', async () => {
  const repo = await makeRepo();
  await write(repo, 'data/a.txt', 'version one of a, long enough to be its own object');
  await write(repo, 'data/same.txt', 'in every version');
  const s1 = (await dvJson(repo, ['add', 'data'])).added[0].snapshot;
  git(repo, ['add', '-A']);
  git(repo, ['commit', '-qm', 'v1']);
  git(repo, ['checkout', '-qb', 'other']);
  await write(repo, 'data/a.txt', 'version three, on another branch');
  const s3 = (await dvJson(repo, ['commit'])).committed[0].snapshot;
  git(repo, ['commit', '-qam', 'v3']);
  git(repo, ['checkout', '-q', 'main']);
  await dvOk(repo, ['checkout']);
  await write(repo, 'data/a.txt', 'version two of a, the one in the work tree');
  const s2 = (await dvJson(repo, ['commit'])).committed[0].snapshot;
  git(repo, ['commit', '-qam', 'v2']);
  const remote = join(tempDir(), 'remote');
  await dvOk(repo, ['remote', 'add', 'origin', remote]);
  await dvOk(repo, ['push', '--all-history']);

  // Without -w: history and the other branch are kept.
  assert.equal((await dvJson(repo, ['gc', '--keep-days', '0'])).removedObjects, 0);
  const gc = await dvJson(repo, ['gc', '--workspace', '--keep-days', '0']);
  assert.ok(gc.removedObjects >= 4, `v1 and v3 (snapshot, tree, a.txt each) removed: ${JSON.stringify(gc)}`);
  // (dv ls reads the local store only; dv checkout would fetch the snapshot back from the remote.)
  for (const old of [s1, s3]) assert.equal((await dv(repo, ['ls', old])).code, 20, `${old.slice(0, 8)} is gone from the local store`);
  const fsck = await dvJson(repo, ['fsck']);
  assert.deepEqual(
    [fsck.ok, fsck.notFetched],
    [true, 1],
    `the other branch's snapshot is not fetched, not damage: ${JSON.stringify(fsck)}`,
  );
  await fsp.rm(join(repo, 'data'), { recursive: true });
  await dvOk(repo, ['checkout']);
  assert.equal(await fsp.readFile(join(repo, 'data/a.txt'), 'utf8'), 'version two of a, the one in the work tree');
  assert.equal(await fsp.readFile(join(repo, 'data/same.txt'), 'utf8'), 'in every version');
  // The remote still has the history.
  await dvOk(repo, ['fetch', '--all-history']);
  await dvOk(repo, ['checkout', s1]);
  assert.equal(await fsp.readFile(join(repo, 'data/a.txt'), 'utf8'), 'version one of a, long enough to be its own object');
  await dvOk(repo, ['checkout', s2]);
});

test('status on an unchanged tree reads no file content; an edit is read once', async () => {
  const repo = await makeRepo();
  for (let i = 0; i < 50; i++) await write(repo, `data/d${i % 5}/f${i}.txt`, `file ${i}`);
  await dvOk(repo, ['add', 'data']);
  // Files written moments ago are "racily clean" (their mtime may not change on a quick
  // rewrite): wait past that window, as any real status would be.
  await new Promise((r) => setTimeout(r, 50));
  let st = await dvJson(repo, ['status']);
  assert.equal(st.clean, true);
  st = await dvJson(repo, ['status']);
  assert.equal(st.paths[0].filesHashed, 0, 'nothing read on an unchanged tree');
  await write(repo, 'data/d0/f0.txt', 'changed');
  await new Promise((r) => setTimeout(r, 50));
  st = await dvJson(repo, ['status']);
  assert.equal(st.paths[0].filesHashed, 1);
  assert.deepEqual(st.paths[0].modified, ['data/d0/f0.txt']);
});

test('fsck --rebuild-index rebuilds the LevelDB index from the packs', async () => {
  const repo = await makeRepo();
  await write(repo, 'data/a.txt', 'a');
  await write(repo, 'data/b.bin', prng(9, 500_000));
  await dvOk(repo, ['add', 'data']);
  await fsp.rm(join(repo, '.dv', 'index'), { recursive: true });
  const r = await dvJson(repo, ['fsck', '--rebuild-index']);
  assert.equal(r.ok, true, JSON.stringify(r.problems));
  assert.equal(r.indexRebuilt, true);
  await fsp.rm(join(repo, 'data'), { recursive: true });
  await dvOk(repo, ['checkout']);
  assert.equal(await fsp.readFile(join(repo, 'data/a.txt'), 'utf8'), 'a');
  assert.ok((await fsp.readFile(join(repo, 'data/b.bin'))).equals(prng(9, 500_000)));
});

test('GIT_LITERAL_PATHSPECS and friends in the environment do not hide pointer files (status sees them, gc keeps their data)', async () => {
  const repo = await makeRepo();
  await write(repo, 'data/a.txt', 'tracked, not committed to git, long enough to be an object');
  await write(repo, 'sub/dir/b.txt', 'another tracked path, in a subdirectory');
  await dvOk(repo, ['add', 'data', 'sub/dir']);
  const envs: Record<string, string>[] = [
    { GIT_LITERAL_PATHSPECS: '1' },
    { GIT_GLOB_PATHSPECS: '1' },
    { GIT_ICASE_PATHSPECS: '1', GIT_NOGLOB_PATHSPECS: '1' },
  ];
  for (const env of envs) {
    const st = await dvJson(repo, ['status'], env);
    assert.deepEqual(st.paths.map((p: any) => p.path).sort(), ['data', 'sub/dir'], JSON.stringify(env));
    const gc = await dvJson(repo, ['gc', '--keep-days', '0'], env);
    assert.equal(gc.removedObjects, 0, `gc with ${JSON.stringify(env)} removed tracked data`);
  }
  await fsp.rm(join(repo, 'data'), { recursive: true });
  await dvOk(repo, ['checkout']);
  assert.equal(await fsp.readFile(join(repo, 'data/a.txt'), 'utf8'), 'tracked, not committed to git, long enough to be an object');
});
