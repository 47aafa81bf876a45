import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { Repo, DvError, ERROR_CODES, isDvError } from '../../src/index.js';
import { describeTree, git, makeRepo, prng, tempDir } from '../helpers/cli.js';

// The API reads the global config like the CLI does; keep the user's out of the tests.
before(() => {
  process.env.XDG_CONFIG_HOME = tempDir('dv-api-xdg-');
});

async function rejectsWith(p: Promise<unknown>, code: keyof typeof ERROR_CODES): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof DvError, `expected a DvError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.equal(e.exitCode, ERROR_CODES[code].exit);
    return true;
  });
}

test('API: init, add, status, commit, log, diff, ls, checkout', async () => {
  const dir = await makeRepo({ init: false });
  const repo = await Repo.init(dir);
  assert.equal(repo.root, realpathSync(dir));
  await rejectsWith(Repo.init(dir), 'ALREADY_INITIALIZED');
  await fsp.mkdir(join(dir, 'data', 'sub'), { recursive: true });
  await fsp.writeFile(join(dir, 'data', 'a.txt'), 'one\n');
  await fsp.writeFile(join(dir, 'data', 'sub', 'big.bin'), prng(7, 300_000));

  const added = await repo.add({ paths: ['data'], message: 'v1' });
  assert.equal(added.added.length, 1);
  assert.equal(added.added[0].files, 2);
  assert.ok(added.gitAdd.includes('data.dv'));
  const s1 = added.added[0].snapshot;
  assert.match(await fsp.readFile(join(dir, 'data.dv'), 'utf8'), new RegExp(`snapshot: ${s1}`));
  assert.equal((await repo.status()).clean, true);

  // Opening from a subdirectory finds the root; relative paths are the root's.
  const sub = await Repo.open(join(dir, 'data', 'sub'));
  assert.equal(sub.root, repo.root);

  await fsp.writeFile(join(dir, 'data', 'a.txt'), 'two\n');
  await fsp.writeFile(join(dir, 'data', 'new.txt'), 'new\n');
  const st = await repo.status({ paths: ['data'] });
  assert.equal(st.clean, false);
  assert.deepEqual(st.paths[0].modified, ['data/a.txt']);
  assert.deepEqual(st.paths[0].added, ['data/new.txt']);
  assert.equal(st.paths[0].state, 'modified');

  const c = await repo.commit({ message: 'v2', meta: { ticket: 'DATA-1' } });
  assert.equal(c.committed[0].changed, true);
  assert.equal(c.committed[0].parent, (await repo.log())[1].id);
  const s2 = c.committed[0].snapshot;
  assert.equal((await repo.commit()).committed[0].changed, false, 'nothing changed since');

  const log = await repo.log();
  assert.deepEqual(
    log.map((e) => [e.id, e.message]),
    [
      [s2, 'v2'],
      [s1, 'v1'],
    ],
  );
  assert.deepEqual(log[0].lineage.meta, { ticket: 'DATA-1' });
  assert.equal((await repo.log({ limit: 1 })).length, 1);

  const d = await repo.diff({ a: s1, b: s2.slice(0, 8) });
  assert.deepEqual(
    d.changes.map((x) => [x.type, x.path]),
    [
      ['modified', 'a.txt'],
      ['added', 'new.txt'],
    ],
  );
  assert.deepEqual((await repo.diff({ a: s2 })).changes, [], 'workspace equals v2');

  const entries = await repo.ls({ target: 'data', recursive: true });
  assert.deepEqual(
    entries.map((e) => `${e.type}:${e.path}`),
    ['file:a.txt', 'file:new.txt', 'dir:sub', 'file:sub/big.bin'],
  );
  assert.equal(entries.find((e) => e.path === 'sub/big.bin')?.size, 300_000);

  const back = await repo.checkout({ target: s1 });
  assert.equal(back.paths[0].snapshot, s1);
  assert.equal(await fsp.readFile(join(dir, 'data', 'a.txt'), 'utf8'), 'one\n');
  await assert.rejects(fsp.stat(join(dir, 'data', 'new.txt')));
  assert.match(await fsp.readFile(join(dir, 'data.dv'), 'utf8'), new RegExp(`snapshot: ${s1}`));

  // Uncommitted changes are protected; force discards them.
  await fsp.writeFile(join(dir, 'data', 'a.txt'), 'scribble\n');
  await rejectsWith(repo.checkout({ target: s2 }), 'UNSAVED_CHANGES');
  await repo.checkout({ target: s2, force: true });
  assert.equal(await fsp.readFile(join(dir, 'data', 'a.txt'), 'utf8'), 'two\n');
  assert.equal((await repo.status()).clean, true);
});

test('API: argument checks and error codes', async () => {
  const plain = tempDir();
  await rejectsWith(Repo.open(plain), 'NOT_A_REPO');
  await rejectsWith(Repo.init(plain), 'USAGE');
  const noGit = await Repo.init(plain, { noGit: true });
  await rejectsWith(noGit.add({ paths: [] }), 'USAGE');
  await rejectsWith(noGit.add({ paths: 'data' } as unknown as { paths: string[] }), 'USAGE');
  await rejectsWith(noGit.add({ paths: ['missing'] }), 'PATH_NOT_FOUND');
  await rejectsWith(noGit.status({ paths: ['nope'] }), 'NOT_TRACKED');
  await rejectsWith(noGit.diff({ a: '' }), 'USAGE');
  await rejectsWith(noGit.diff({ a: 'abcdef' }), 'UNKNOWN_ID');
  await rejectsWith(noGit.push(), 'NO_REMOTE');
  await rejectsWith(noGit.removeRemote('origin'), 'NO_REMOTE');
  await rejectsWith(noGit.addRemote('bad name', '/tmp/x'), 'USAGE');
  const e = await noGit.ls({ target: 'zzz' }).catch((x: unknown) => x);
  assert.ok(isDvError(e, 'NOT_TRACKED'));
});

test('API: remotes, push to a directory, pull into a git clone', async () => {
  const dir = await makeRepo({ init: false });
  const repo = await Repo.init(dir);
  await fsp.mkdir(join(dir, 'data'));
  for (let i = 0; i < 50; i++) await fsp.writeFile(join(dir, 'data', `f${i}.bin`), prng(i + 1, 1000 + i * 97));
  await repo.add({ paths: ['data'] });

  const store = join(tempDir(), 'store');
  const origin = await repo.addRemote('origin', store);
  assert.deepEqual({ name: origin.name, url: origin.url, isDefault: origin.isDefault }, { name: 'origin', url: store, isDefault: true });
  await repo.addRemote('backup', join(tempDir(), 'backup'), { local: true, jobs: '2' });
  assert.deepEqual(
    (await repo.listRemotes()).map((r) => [r.name, r.isDefault, r.jobs]),
    [
      ['backup', false, '2'],
      ['origin', true, undefined],
    ],
  );
  assert.doesNotMatch(await fsp.readFile(join(dir, '.dv', 'config'), 'utf8'), /backup/);
  assert.match(await fsp.readFile(join(dir, '.dv', 'config.local'), 'utf8'), /backup/);
  await repo.removeRemote('backup');
  assert.deepEqual(
    (await repo.listRemotes()).map((r) => r.name),
    ['origin'],
  );

  const pushed = await repo.push();
  assert.equal(pushed.remote, 'origin');
  assert.ok(pushed.objectsSent >= 51, `sent ${pushed.objectsSent}`);
  assert.equal((await repo.push()).objectsSent, 0);
  assert.equal((await repo.remoteStatus({ remote: 'origin' })).upToDate, true);
  await fsp.writeFile(join(dir, 'data', 'f0.bin'), 'changed');
  await repo.commit();
  const rs = await repo.remoteStatus();
  assert.equal(rs.upToDate, false);
  assert.ok(rs.notPushed.objects >= 3, `${rs.notPushed.objects} objects not pushed`);
  assert.ok((await repo.push()).objectsSent >= 3);
  assert.equal((await repo.push({ allHistory: true })).objectsSent, 0, 'the first snapshot went with the first push');

  git(dir, ['add', '-A']);
  git(dir, ['commit', '-qm', 'data']);
  const cloneDir = join(tempDir(), 'clone');
  git(tempDir(), ['clone', '-q', dir, cloneDir]);
  const clone = await Repo.open(cloneDir);
  assert.equal((await clone.status()).paths[0].state, 'not-in-cache');
  const pulled = await clone.pull();
  assert.ok(pulled.fetch.objectsFetched >= 51);
  assert.equal(pulled.checkout.paths[0].written, 50);
  assert.equal(await fsp.readFile(join(cloneDir, 'data', 'f0.bin'), 'utf8'), 'changed');
  assert.deepEqual(await describeTree(join(cloneDir, 'data')), await describeTree(join(dir, 'data')));
  // History beyond the pointer files' snapshots is fetched only on request.
  assert.equal((await clone.log()).length, 1);
  // The first snapshot, its root tree and the first version of f0.bin.
  assert.equal((await clone.fetch({ allHistory: true })).objectsFetched, 3);
  assert.equal((await clone.log()).length, 2);
  assert.equal((await clone.fsck()).ok, true);
  const g = await clone.gc({ dryRun: true });
  assert.equal(g.removedObjects, 0);
  assert.equal((await clone.fetch()).objectsFetched, 0);
});

test('API: concurrent calls on one Repo wait for each other instead of failing', async () => {
  const dir = tempDir();
  const repo = await Repo.init(dir, { noGit: true });
  await fsp.mkdir(join(dir, 'data'));
  for (let i = 0; i < 100; i++) await fsp.writeFile(join(dir, 'data', `f${i}`), prng(i + 1, i * 100));
  await repo.add({ paths: ['data'] });
  await fsp.writeFile(join(dir, 'data', 'f1'), 'changed');
  const results = await Promise.all([
    repo.commit({ message: 'a' }),
    repo.status(),
    repo.log(),
    repo.commit({ message: 'b' }),
    repo.fsck(),
    repo.ls({ target: 'data' }),
  ]);
  const [c1, , , c2, fsck, entries] = results;
  // Whichever commit took the lock first recorded the change; the other saw it and had nothing to do.
  const changed = [c1, c2].filter((c) => c.committed[0].changed);
  assert.equal(changed.length, 1);
  assert.equal(fsck.ok, true);
  assert.equal(entries.length, 100);
  const log = await repo.log();
  assert.deepEqual([log.length, log[0].id, log[1].message], [2, changed[0].committed[0].snapshot, 'add data']);
  assert.equal((await repo.status()).clean, true);
});
