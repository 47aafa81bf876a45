/**
 * The directory cache of the scan (a directory whose files' names and stat data are as recorded
 * gives its recorded tree without a lookup per file): every change that leaves a directory's
 * other files alone must still show, whether it is in the directory's own files or below it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { dvJson, dvOk, makeRepo } from '../helpers/cli.js';

interface Status {
  clean: boolean;
  paths: { state: string; added: string[]; modified: string[]; deleted: string[]; filesHashed: number }[];
}

async function tree(repo: string): Promise<void> {
  for (const d of ['a', 'a/b', 'a/b/c', 'z']) await fsp.mkdir(join(repo, 'data', d), { recursive: true });
  for (const d of ['', 'a', 'a/b', 'a/b/c', 'z'])
    for (let i = 0; i < 5; i++) await fsp.writeFile(join(repo, 'data', d, `f${i}`), `${d} file ${i}\n`);
}

test('status sees changes of exec bits, names and subdirectories beside unchanged files, run after run', async () => {
  const repo = await makeRepo();
  await tree(repo);
  await dvOk(repo, ['add', 'data']);
  for (let i = 0; i < 2; i++) {
    const st = await dvJson<Status>(repo, ['status']);
    assert.equal(st.clean, true);
    assert.equal(st.paths[0].filesHashed, 0);
  }
  await fsp.chmod(join(repo, 'data', 'a', 'f1'), 0o755);
  let st = await dvJson<Status>(repo, ['status']);
  assert.deepEqual(st.paths[0].modified, ['data/a/f1']);
  await fsp.chmod(join(repo, 'data', 'a', 'f1'), 0o644);
  assert.equal((await dvJson<Status>(repo, ['status'])).clean, true);

  // The same inode, size and mtime under another name.
  await fsp.rename(join(repo, 'data', 'a', 'b', 'f2'), join(repo, 'data', 'a', 'b', 'g2'));
  st = await dvJson<Status>(repo, ['status']);
  assert.deepEqual([st.paths[0].added, st.paths[0].deleted], [['data/a/b/g2'], ['data/a/b/f2']]);
  await fsp.rename(join(repo, 'data', 'a', 'b', 'g2'), join(repo, 'data', 'a', 'b', 'f2'));

  // A subdirectory gone, its parent's files untouched; then a change two levels down.
  await fsp.rename(join(repo, 'data', 'a', 'b', 'c'), join(repo, 'c-away'));
  st = await dvJson<Status>(repo, ['status']);
  assert.deepEqual(st.paths[0].deleted, ['data/a/b/c/f0', 'data/a/b/c/f1', 'data/a/b/c/f2', 'data/a/b/c/f3', 'data/a/b/c/f4']);
  await fsp.rename(join(repo, 'c-away'), join(repo, 'data', 'a', 'b', 'c'));
  assert.equal((await dvJson<Status>(repo, ['status'])).clean, true);
  await fsp.writeFile(join(repo, 'data', 'a', 'b', 'c', 'f3'), 'longer than it was\n');
  st = await dvJson<Status>(repo, ['status']);
  assert.deepEqual(st.paths[0].modified, ['data/a/b/c/f3']);
  assert.equal(st.paths[0].filesHashed, 1);

  // Committed: clean again; the old snapshot checked out: clean against it, and the change shows against the new one.
  await dvOk(repo, ['commit', '-m', 'one']);
  st = await dvJson<Status>(repo, ['status']);
  assert.equal(st.clean, true);
  assert.equal(st.paths[0].filesHashed, 0);
  await fsp.writeFile(join(repo, 'data', 'z', 'new'), 'new\n');
  st = await dvJson<Status>(repo, ['status']);
  assert.deepEqual(st.paths[0].added, ['data/z/new']);
});

test('a tree the store lost is not taken from the directory cache', async () => {
  const repo = await makeRepo();
  await tree(repo);
  await dvOk(repo, ['add', 'data']);
  // Status records the changed directory's new tree (never stored); after the change is undone
  // and redone, status must still describe it although the store never held that tree.
  await fsp.writeFile(join(repo, 'data', 'z', 'f0'), 'changed\n');
  for (let i = 0; i < 2; i++) {
    const st = await dvJson<Status>(repo, ['status']);
    assert.deepEqual(st.paths[0].modified, ['data/z/f0']);
  }
});

test('commit reusing recorded directories records the tree a fresh add of the same files records', async () => {
  const repo = await makeRepo();
  await tree(repo);
  await dvOk(repo, ['add', 'data']);
  await dvOk(repo, ['status']); // records every directory
  await fsp.writeFile(join(repo, 'data', 'a', 'b', 'c', 'f1'), 'changed deep down\n');
  await fsp.mkdir(join(repo, 'data', 'a', 'new'));
  await fsp.writeFile(join(repo, 'data', 'a', 'new', 'n'), 'new\n');
  await fsp.chmod(join(repo, 'data', 'z', 'f4'), 0o755);
  await dvOk(repo, ['commit', '-m', 'one']);
  const other = await makeRepo();
  await fsp.cp(join(repo, 'data'), join(other, 'data'), { recursive: true });
  await dvOk(other, ['add', 'data']);
  const treeOf = async (r: string): Promise<string> => (await fsp.readFile(join(r, 'data.dv'), 'utf8')).match(/tree: (\w+)/)![1];
  assert.equal(await treeOf(repo), await treeOf(other));
  assert.equal((await dvJson<Status>(repo, ['status'])).clean, true);
  const fsck = await dvJson<{ ok: boolean }>(repo, ['fsck']);
  assert.equal(fsck.ok, true);
});
