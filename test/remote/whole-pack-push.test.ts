/**
 * A first push to a directory remote sends large local packs as they are (verified in a worker,
 * then copied with putFile): the remote pack is byte for byte the local one, in a file of its own
 * (never a hard link to the store), and a pull of it into a clone gives back the same files.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { describeTree, dvOk, git, makeRepo, prng, tempDir } from '../helpers/cli.js';

async function packsUnder(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const fan of await fsp.readdir(dir).catch(() => [] as string[])) {
    for (const f of await fsp.readdir(join(dir, fan))) if (f.endsWith('.pack')) out.set(f, join(dir, fan, f));
  }
  return out;
}

test('a first push copies whole packs byte for byte into files of their own; a pull gives the files back', async () => {
  const a = await makeRepo();
  await fsp.mkdir(join(a, 'data'));
  // Two files of 6 MiB: above the size at which local packs travel whole.
  await fsp.writeFile(join(a, 'data', 'one.bin'), prng(11, 6 << 20));
  await fsp.writeFile(join(a, 'data', 'two.bin'), prng(12, 6 << 20));
  await dvOk(a, ['add', '-q', 'data']);
  const remote = join(tempDir('dv-whole-'), 'remote');
  await dvOk(a, ['remote', 'add', 'origin', remote]);
  await dvOk(a, ['push', '-q']);

  const local = await packsUnder(join(a, '.dv', 'cache', 'packs'));
  const sent = await packsUnder(join(remote, 'packs'));
  const whole = [...local.keys()].filter((name) => sent.has(name));
  assert.ok(whole.length > 0, 'a local pack travelled under its own name');
  for (const name of whole) {
    const [l, r] = [local.get(name)!, sent.get(name)!];
    assert.ok((await fsp.readFile(l)).equals(await fsp.readFile(r)), `${name}: the remote copy is byte for byte the local pack`);
    const [sl, sr] = [await fsp.stat(l), await fsp.stat(r)];
    assert.notEqual(sl.ino, sr.ino, `${name}: the remote pack is a file of its own, not a link to the store`);
    assert.equal(sr.nlink, 1);
  }

  git(a, ['add', '-A']);
  git(a, ['commit', '-qm', 'data']);
  const b = join(tempDir('dv-whole-clone-'), 'b');
  git(join(b, '..'), ['clone', '-q', a, b]);
  await dvOk(b, ['pull', '-q']);
  assert.deepEqual(await describeTree(join(b, 'data')), await describeTree(join(a, 'data')));
});
