// Checkout records what it writes (workspace/materialize.ts): a stat entry per file and a
// directory record (d: key, as a scan writes them) per directory it created whole, so a status
// right after a checkout reads one key per directory and hashes nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { dvJson, dvOk, describeTree, makeRepo } from '../helpers/cli.js';

interface Status {
  clean: boolean;
  paths: { filesHashed: number; modified: string[]; added: string[] }[];
}

/** The keys of the repository's LevelDB index under `prefix` (dv is not running: the lock is free). */
async function keys(repo: string, prefix: string, drop = false): Promise<Map<string, string>> {
  const db = new ClassicLevel<string, string>(join(repo, '.dv', 'index'));
  const out = new Map<string, string>();
  try {
    for await (const [k, v] of db.iterator({ gte: prefix, lt: `${prefix}\xff` })) out.set(k.slice(prefix.length), v);
    if (drop) await db.batch([...out.keys()].map((k) => ({ type: 'del' as const, key: prefix + k })));
  } finally {
    await db.close();
  }
  return out;
}

test('a checkout into an empty directory leaves directory records: status after it hashes nothing, even without stat entries', async () => {
  const repo = await makeRepo();
  const d = join(repo, 'data');
  for (const dir of ['a/b/c', 'z', 'empty', 'links']) await fsp.mkdir(join(d, dir), { recursive: true });
  for (const dir of ['', 'a', 'a/b', 'a/b/c', 'z', 'links'])
    for (let i = 0; i < 4; i++) await fsp.writeFile(join(d, dir, `f${i}`), `${dir} file ${i}\n`);
  await fsp.chmod(join(d, 'a', 'f1'), 0o755);
  await fsp.symlink('f0', join(d, 'links', 'to-f0'));
  await dvOk(repo, ['add', 'data']);
  const want = await describeTree(d);

  await fsp.rm(d, { recursive: true, force: true });
  await keys(repo, 'd:', true); // whatever the add recorded is gone: only the checkout's records count
  const co = await dvJson(repo, ['checkout']);
  assert.equal(co.paths[0].written, 25); // 24 files and a symlink
  assert.deepEqual(await describeTree(d), want);

  const dirs = await keys(repo, 'd:');
  // Every directory but the one holding a symlink (a scan records none of those either).
  assert.deepEqual([...dirs.keys()].sort(), ['data', 'data/a', 'data/a/b', 'data/a/b/c', 'data/empty', 'data/z']);
  const pointer = await fsp.readFile(join(repo, 'data.dv'), 'utf8');
  assert.equal(JSON.parse(dirs.get('data')!).id, /tree: "?([0-9a-f]{64})/.exec(pointer)![1]);

  // Without any stat entry, only the directory records can vouch for the files: all but links/ hold.
  await keys(repo, 's:', true);
  let st = await dvJson<Status>(repo, ['status']);
  assert.equal(st.clean, true);
  assert.equal(st.paths[0].filesHashed, 4); // the 4 files beside the symlink in links/; the other 20 by their records
  st = await dvJson<Status>(repo, ['status']);
  assert.equal(st.paths[0].filesHashed, 0);

  // The records are a cache: a change after the checkout still shows.
  await fsp.writeFile(join(d, 'a', 'b', 'f2'), 'changed after checkout\n');
  st = await dvJson<Status>(repo, ['status']);
  assert.deepEqual(st.paths[0].modified, ['data/a/b/f2']);
});
