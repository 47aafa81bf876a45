/** `dv fsck --remote --read-data`: every object a remote lists is read back and verified; damage is named. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { dv, dvJson, dvOk, makeRepo, tempDir } from '../helpers/cli.js';

async function packsIn(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const sub of await fsp.readdir(join(dir, 'packs')))
    for (const f of await fsp.readdir(join(dir, 'packs', sub))) out.push(join(dir, 'packs', sub, f));
  return out;
}

test('fsck --remote: a healthy remote is ok; a damaged pack is named, exit 26, nothing changed', async () => {
  const repo = await makeRepo();
  await fsp.mkdir(join(repo, 'data'));
  for (let i = 0; i < 5; i++) await fsp.writeFile(join(repo, 'data', `f${i}.txt`), `file ${i}\n`.repeat(100 + i));
  await dvOk(repo, ['add', 'data']);
  const remote = join(tempDir(), 'remote');
  await dvOk(repo, ['remote', 'add', 'origin', remote]);
  await dvOk(repo, ['push']);
  const ok = await dvJson(repo, ['fsck', '--remote', '--read-data']);
  assert.equal(ok.ok, true);
  assert.ok(ok.objects >= 7 && ok.objectsRead >= ok.objects, `objects listed ${ok.objects}, verified ${ok.objectsRead}`);
  assert.deepEqual([ok.remote, ok.bad, ok.problems], ['origin', [], []]);

  // One byte of each pack's first object flipped (objects start after a 512-byte tar header).
  const packs = (await packsIn(remote)).filter((p) => p.endsWith('.pack'));
  const before = new Map<string, Buffer>();
  for (const pack of packs) {
    const bytes = await fsp.readFile(pack);
    bytes[512 + 5] ^= 0xff;
    await fsp.writeFile(pack, bytes);
    before.set(pack, bytes);
  }
  const bad = await dv(repo, ['fsck', '--remote', 'origin', '--read-data']);
  assert.equal(bad.code, 26, bad.stderr);
  assert.match(
    bad.stderr,
    /^OBJECT_CORRUPT: .*index\/.*\.idx lists \d+ object\(s\) at places that do not hold them.*: run `dv fsck --remote --repair`/m,
  );
  assert.match(bad.stderr, /^OBJECT_CORRUPT: .*no copy of object [0-9a-f]{64} verifies/m);
  assert.match(bad.stdout, /^origin: \d+ problems?: .*\d+ objects read back and verified/m);
  for (const [pack, bytes] of before) assert.deepEqual(await fsp.readFile(pack), bytes, 'fsck changes nothing on the remote');
  // The repair the message names works: every object has a good copy again; the old listing is a warning.
  await dvOk(repo, ['push', '--repair']);
  const after = await dvJson(repo, ['fsck', '--remote', '--read-data']);
  assert.deepEqual([after.ok, after.bad], [true, []]);
});
