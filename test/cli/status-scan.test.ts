/**
 * Status over directories the scan takes from their records (digest of names and stat data,
 * lstat from inside each directory): every kind of change in one directory among unchanged ones
 * shows, with nothing else reported, and the next status is clean again once it is undone.
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

const changes = async (repo: string): Promise<[string[], string[], string[]]> => {
  const p = (await dvJson<Status>(repo, ['status'])).paths[0];
  return [p.added, p.modified, p.deleted];
};

test('a change in one recorded directory shows whatever it is: in place at the same size, new, deleted, mode, type', async () => {
  const repo = await makeRepo();
  for (const d of ['a', 'b', 'b/c']) {
    await fsp.mkdir(join(repo, 'data', d), { recursive: true });
    for (let i = 0; i < 4; i++) await fsp.writeFile(join(repo, 'data', d, `f${i}`), `${d} ${i}\n`);
  }
  await dvOk(repo, ['add', 'data']);
  for (let i = 0; i < 2; i++) assert.equal((await dvJson<Status>(repo, ['status'])).paths[0].filesHashed, 0);
  const f = (name: string): string => join(repo, 'data', 'b', 'c', name);

  // Same size, same inode, rewritten in place: only the mtime tells (set apart from the old one).
  const st = await fsp.stat(f('f1'));
  await fsp.writeFile(f('f1'), 'b/c X\n');
  await fsp.utimes(f('f1'), st.atime, new Date(st.mtimeMs + 5000));
  assert.equal((await fsp.stat(f('f1'))).ino, st.ino);
  assert.deepEqual(await changes(repo), [[], ['data/b/c/f1'], []]);
  // Named relative to a working directory inside the data (the scan lists each directory from inside it).
  const within = (await dvJson<Status>(join(repo, 'data', 'b'), ['status', 'c'])).paths[0];
  assert.deepEqual([within.added, within.modified, within.deleted], [[], ['data/b/c/f1'], []]);
  await fsp.writeFile(f('f1'), 'b/c 1\n');
  assert.equal((await dvJson<Status>(repo, ['status'])).clean, true);

  await fsp.writeFile(f('new'), 'new\n');
  assert.deepEqual(await changes(repo), [['data/b/c/new'], [], []]);
  await fsp.rm(f('new'));
  await fsp.rm(f('f2'));
  assert.deepEqual(await changes(repo), [[], [], ['data/b/c/f2']]);
  await fsp.writeFile(f('f2'), 'b/c 2\n');
  // Rewritten with the bytes they had (hashed again, on the main thread when small): clean, as is an empty file.
  await fsp.writeFile(f('empty'), '');
  await dvOk(repo, ['commit', '-m', 'empty']);
  await fsp.utimes(f('empty'), new Date(), new Date(Date.now() - 60_000));
  await fsp.writeFile(f('f3'), 'b/c 3\n');
  const again = await dvJson<Status>(repo, ['status']);
  assert.equal(again.clean, true);
  assert.ok(again.paths[0].filesHashed >= 2, 'empty and f3 were hashed again'); // (f2 too if commit found it racy)

  // A mode change that is data (the exec bit), and one that is not (group write).
  await fsp.chmod(f('f3'), 0o664);
  assert.equal((await dvJson<Status>(repo, ['status'])).clean, true);
  await fsp.chmod(f('f3'), 0o775);
  assert.deepEqual(await changes(repo), [[], ['data/b/c/f3'], []]);
  await fsp.chmod(f('f3'), 0o644);

  // A file replaced by a symlink, then by a directory.
  await fsp.rm(f('f0'));
  await fsp.symlink('f3', f('f0'));
  assert.deepEqual(await changes(repo), [[], ['data/b/c/f0'], []]);
  await fsp.rm(f('f0'));
  await fsp.mkdir(f('f0'));
  await fsp.writeFile(join(f('f0'), 'inside'), 'x\n');
  assert.deepEqual(await changes(repo), [['data/b/c/f0/inside'], [], ['data/b/c/f0']]);
  await fsp.rm(f('f0'), { recursive: true });
  await fsp.writeFile(f('f0'), 'b/c 0\n');
  const end = await dvJson<Status>(repo, ['status']);
  assert.equal(end.clean, true);
});
