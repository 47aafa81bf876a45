import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { dv, dvOk, dvJson, makeRepo, describeTree, git, tempDir } from '../helpers/cli.js';
import { makeDataset } from '../helpers/data.js';
import { decodePackIndex } from '../../src/store/pack-index.js';

/** Flips one byte inside the stored bytes of `count` objects of the largest pack; returns their ids. */
async function corrupt(repo: string, count: number): Promise<{ ids: string[]; pack: string }> {
  const packsDir = join(repo, '.dv', 'cache', 'packs');
  const packs: { path: string; size: number }[] = [];
  for (const fan of await fsp.readdir(packsDir)) {
    for (const f of await fsp.readdir(join(packsDir, fan))) {
      if (f.endsWith('.pack')) packs.push({ path: join(packsDir, fan, f), size: (await fsp.stat(join(packsDir, fan, f))).size });
    }
  }
  packs.sort((a, b) => b.size - a.size);
  const pack = packs[0].path;
  const entries = decodePackIndex(await fsp.readFile(pack.replace(/\.pack$/, '.idx'))).filter((e) => e.length > 200);
  const fh = await fsp.open(pack, 'r+');
  const ids: string[] = [];
  try {
    for (const e of entries.slice(0, count)) {
      const b = Buffer.alloc(1);
      await fh.read(b, 0, 1, e.offset + 100);
      b[0] ^= 0x40;
      await fh.write(b, 0, 1, e.offset + 100);
      ids.push(e.id);
    }
  } finally {
    await fh.close();
  }
  return { ids, pack };
}

test('flipped bytes in stored objects: detected on read and by fsck, repaired by pull, never pushed', async () => {
  const a = await makeRepo();
  await makeDataset(join(a, 'data'), { files: 200, dirs: 4, large: [2_000_000] });
  await dvOk(a, ['add', '-q', 'data']);
  const remote = join(tempDir(), 'remote');
  await dvOk(a, ['remote', 'add', 'origin', remote]);
  git(a, ['add', '-A']);
  git(a, ['commit', '-qm', 'data']);
  await dvOk(a, ['push']);

  const b = join(tempDir(), 'b');
  git(tempDir(), ['clone', '-q', a, b]);
  await dvOk(b, ['pull']);
  const good = await describeTree(join(b, 'data'));
  const { ids, pack } = await corrupt(b, 3);

  // fsck finds every one, naming the object and its pack.
  const f = await dv(b, ['fsck']);
  assert.equal(f.code, 26);
  for (const id of ids) assert.match(f.stderr, new RegExp(`OBJECT_CORRUPT: object ${id} in ${pack.replace(/[.]/g, '\\.')}`));
  const fj = await dv(b, ['fsck', '--json']);
  assert.equal(JSON.parse(fj.stdout).ok, false);

  // Checkout into an empty workspace stops with OBJECT_CORRUPT and writes nothing corrupt.
  await fsp.rm(join(b, 'data'), { recursive: true });
  const co = await dv(b, ['checkout']);
  assert.notEqual(co.code, 0);
  assert.match(co.stderr, /OBJECT_(CORRUPT|MISSING)/);
  const after = await describeTree(join(b, 'data')).catch(() => ({}));
  for (const [path, desc] of Object.entries(after)) {
    if (desc.startsWith('file:')) assert.equal(desc, good[path], `${path} was written with wrong content`);
    assert.ok(!path.includes('.tmp'), `temp file left behind: ${path}`);
  }

  // pull repairs from the remote's good copies.
  await dvOk(b, ['pull']);
  assert.deepEqual(await describeTree(join(b, 'data')), good);
  const fixed = await dvJson(b, ['fsck']);
  assert.equal(fixed.ok, true, JSON.stringify(fixed.problems));
  assert.equal(fixed.stale.length, ids.length, 'the damaged copies are stale garbage now');
  await dvOk(b, ['gc']);
  const clean = await dvJson(b, ['fsck']);
  assert.equal(clean.ok, true);
  assert.equal(clean.stale.length, 0);

  // Corrupt data in A is never pushed to a fresh remote.
  await corrupt(a, 1);
  await dvOk(a, ['remote', 'add', 'fresh', join(tempDir(), 'fresh')]);
  const p = await dv(a, ['push', '-r', 'fresh']);
  assert.equal(p.code, 23, p.stderr);
  assert.match(p.stderr, /OBJECT_CORRUPT/);
});
