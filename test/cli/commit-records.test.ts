/**
 * Commit through stamped directory records (DirStat.complete): a commit re-encodes only the
 * directories on changed paths and takes the rest from records that vouch for every object
 * under them, as long as the index's generation (bumped by every removal of objects) is the one
 * they were stamped with. The result must be the tree a fresh add of the same files records.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { dv, dvJson, dvOk, makeRepo } from '../helpers/cli.js';
import { LevelIndex } from '../../src/store/index-db.js';

async function tree(repo: string): Promise<void> {
  for (const d of ['a', 'a/b', 'a/b/c', 'z']) await fsp.mkdir(join(repo, 'data', d), { recursive: true });
  for (const d of ['', 'a', 'a/b', 'a/b/c', 'z'])
    for (let i = 0; i < 5; i++) await fsp.writeFile(join(repo, 'data', d, `f${i}`), `${d} file ${i}\n`);
}

/** The repository's index, opened in this process while no dv runs. */
function indexOf(repo: string): LevelIndex {
  const dv = join(repo, '.dv');
  const p = { dir: join(dv, 'index'), holderFile: join(dv, 'lock.index'), wantFile: join(dv, 'lock.index.want') };
  return new LevelIndex({ ...p, waitMs: 5000, command: 'test' });
}

const treeOf = async (r: string): Promise<string> => (await fsp.readFile(join(r, 'data.dv'), 'utf8')).match(/tree: (\w+)/)![1];

/** The tree a fresh repository records for a copy of `repo`'s data. */
async function freshTree(repo: string): Promise<string> {
  const other = await makeRepo();
  await fsp.cp(join(repo, 'data'), join(other, 'data'), { recursive: true });
  await dvOk(other, ['add', 'data']);
  return treeOf(other);
}

test('commits after one change each record what a fresh add records, with unchanged directories stamped complete', async () => {
  const repo = await makeRepo();
  await tree(repo);
  await dvOk(repo, ['add', 'data']);
  const edits: (() => Promise<unknown>)[] = [
    () => fsp.writeFile(join(repo, 'data', 'a', 'b', 'c', 'f1'), 'changed deep down\n'),
    () => fsp.mkdir(join(repo, 'data', 'a', 'new')).then(() => fsp.writeFile(join(repo, 'data', 'a', 'new', 'n'), 'new\n')),
    () => fsp.chmod(join(repo, 'data', 'z', 'f4'), 0o755),
    () => fsp.rm(join(repo, 'data', 'a', 'b', 'f2')),
    () => fsp.writeFile(join(repo, 'data', 'f0'), 'top level\n'),
  ];
  for (const [k, edit] of edits.entries()) {
    await edit();
    if (k % 2 === 1) await dvOk(repo, ['status']); // status rewrites the changed directories' records (unstamped)
    const c = await dvJson<{ committed: { changed: boolean }[] }>(repo, ['commit', '-m', `edit ${k}`]);
    assert.equal(c.committed[0].changed, true, `edit ${k} recorded`);
    assert.equal(await treeOf(repo), await freshTree(repo), `edit ${k}: the tree of a fresh add`);
  }
  const idx = indexOf(repo);
  try {
    const gen = await idx.generation();
    const recs = await idx.getDirs(['data', 'data/a', 'data/z', 'data/a/b/c']);
    for (const r of recs) assert.equal(r?.complete, gen, 'every directory stamped with the current generation');
    assert.equal(recs[0]?.id, await treeOf(repo));
  } finally {
    await idx.close();
  }
  assert.equal((await dvJson<{ ok: boolean }>(repo, ['fsck'])).ok, true);
});

test('after an object is dropped from the index, stamps vouch for nothing: commit refuses, a commit within stores it again', async () => {
  const repo = await makeRepo();
  await tree(repo);
  await dvOk(repo, ['add', 'data']);
  await fsp.writeFile(join(repo, 'data', 'a', 'f0'), 'one\n');
  await dvOk(repo, ['commit', '-m', 'stamps every directory']);
  let idx = indexOf(repo);
  const [st] = await idx.getStats(['data/z/f3']);
  assert.ok(st, 'data/z/f3 is in the stat cache');
  const before = await idx.generation();
  await idx.dropObjects([st.id]); // as a read that found the copy corrupt does
  const after = await idx.generation();
  await idx.close();
  assert.notEqual(after, before, 'a removal moves the generation');

  await fsp.writeFile(join(repo, 'data', 'a', 'f0'), 'two\n');
  // The pointer's tree is no longer complete: a snapshot of the whole of it is refused, as after a partial pull.
  const refused = await dv(repo, ['commit', '-m', 'all']);
  assert.equal(refused.code, 22);
  assert.match(refused.stderr, /OBJECT_MISSING: data holds data not fetched/);
  // A commit of one path still scans the whole directory: z's record is not trusted, its file is stored again.
  await dvOk(repo, ['commit', '-m', 'z is unchanged', 'data/a/f0']);
  idx = indexOf(repo);
  try {
    assert.ok((await idx.getLocations([st.id]))[0], 'the dropped object is in the store again');
    assert.equal((await idx.getDirs(['data/z']))[0]?.complete, after, 'and data/z is stamped again, now complete');
  } finally {
    await idx.close();
  }
  assert.equal(await treeOf(repo), await freshTree(repo));
  assert.equal((await dvJson<{ ok: boolean }>(repo, ['fsck'])).ok, true);
});

test('a stamped record whose tree never reached the store (a killed dv) is not taken', async () => {
  const repo = await makeRepo();
  await tree(repo);
  await dvOk(repo, ['add', 'data']);
  const idx = indexOf(repo);
  try {
    const [rec] = await idx.getDirs(['data/z']);
    assert.equal(rec?.complete, await idx.generation(), 'add stamps its records');
    // As a kill between writing the record and writing the pack of its tree leaves it.
    await idx.putDirs([['data/z', { ...rec!, id: 'f'.repeat(64) }]]);
  } finally {
    await idx.close();
  }
  await fsp.writeFile(join(repo, 'data', 'a', 'f0'), 'changed\n');
  await dvOk(repo, ['commit', '-m', 'one']);
  assert.equal(await treeOf(repo), await freshTree(repo));
  assert.equal((await dvJson<{ ok: boolean }>(repo, ['fsck'])).ok, true);
});

test('a recorded directory is reused only while its files keep their stat data: same size and mtime in a new inode is seen', async () => {
  const repo = await makeRepo();
  await tree(repo);
  const f = join(repo, 'data', 'z', 'f2');
  const when = 1_700_000_000; // whole seconds: the same mtime again, exactly
  await fsp.utimes(f, when, when);
  await dvOk(repo, ['add', 'data']);
  await fsp.writeFile(join(repo, 'data', 'a', 'f0'), 'first commit stamps\n');
  await dvOk(repo, ['commit', '-m', 'one']);
  // Same length, same mtime, new content under a new inode (written aside, renamed over).
  const old = await fsp.stat(f);
  const text = await fsp.readFile(f, 'utf8');
  await fsp.writeFile(`${f}.tmp`, text.toUpperCase());
  await fsp.utimes(`${f}.tmp`, when, when);
  await fsp.rename(`${f}.tmp`, f);
  const now = await fsp.stat(f);
  assert.deepEqual([now.mtimeMs, now.size], [old.mtimeMs, old.size]);
  assert.notEqual(now.ino, old.ino);
  const c = await dvJson<{ committed: { changed: boolean }[] }>(repo, ['commit', '-m', 'two']);
  assert.equal(c.committed[0].changed, true);
  assert.equal(await treeOf(repo), await freshTree(repo));
});

test('the index generation moves with every removal of objects and only then', async () => {
  const repo = await makeRepo();
  const idx = indexOf(repo);
  try {
    const g0 = await idx.generation();
    assert.equal(await idx.generation(), g0, 'stable while nothing changes');
    const e = { id: 'a'.repeat(64), offset: 0, length: 10, rawSize: 10, flags: 0 };
    await idx.addPack('b'.repeat(64), [e]);
    await idx.putStats([['data/x', { size: 1, mtimeMs: 2, ino: 3, id: e.id, chunked: false }]]);
    assert.equal(await idx.generation(), g0, 'adding objects and stat entries keeps it');
    const seen = new Set([g0]);
    const moved = async (what: string, fn: () => Promise<unknown>): Promise<void> => {
      await fn();
      const g = await idx.generation();
      assert.ok(!seen.has(g), `${what} moves it`);
      seen.add(g);
    };
    await moved('dropObjects', () => idx.dropObjects([e.id]));
    await moved('removePack', () => idx.removePack('b'.repeat(64), [e.id]));
    await idx.addPack('c'.repeat(64), [e]);
    await moved('forgetPacks', () => idx.forgetPacks(new Set(['c'.repeat(64)])));
    await moved('clear', () => idx.clear());
  } finally {
    await idx.close();
  }
});
