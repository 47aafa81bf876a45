/**
 * Checkout writes each file through a temp file beside its target (`.<name>.<pid>.w<thread>.dvtmp`).
 * Such a file left by a killed checkout is dv's, not data: status does not list it, add does not
 * store it, and the next checkout removes it when its process is gone (and only then).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { dv, dvOk, dvJson, makeRepo, describeTree, prng } from '../helpers/cli.js';
import { blake3Hex, initHash } from '../../src/core/hash.js';
import { decodePackIndex } from '../../src/store/pack-index.js';

/** The pid of a process that has exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
}

test('worker temp files: skipped by status and add, removed by checkout when their process is gone', async () => {
  const repo = await makeRepo();
  const d = join(repo, 'data');
  await fsp.mkdir(join(d, 'sub'), { recursive: true });
  for (let i = 0; i < 12; i++) await fsp.writeFile(join(d, 'sub', `f${i}.bin`), prng(i, 3000 + i * 100));
  // A name too long for the temp suffix: written through the short temp name.
  const long = `${'n'.repeat(240)}.bin`;
  await fsp.writeFile(join(d, long), prng(99, 70_000));
  const added = await dvJson(repo, ['add', 'data']);
  const tree = added.added[0].tree as string;
  const want = await describeTree(d);

  // Checkout into an empty directory writes every file through a temp, and leaves none.
  await fsp.rm(d, { recursive: true });
  await dvOk(repo, ['checkout', '-q']);
  assert.deepEqual(await describeTree(d), want, 'checkout is exact, long names included, no temp file left');

  const dead = deadPid();
  const stale = [
    join(d, 'sub', `.f3.bin.${dead}.tabc12.w2.dvtmp`),
    join(d, `.${dead}.tq0000.w5.dvtmp`),
    join(d, 'sub', `.f5.bin.${dead}.w1.dvtmp`),
  ];
  const live = join(d, 'sub', `.f4.bin.${process.pid}.tzz999.w1.dvtmp`); // this test process: alive
  for (const p of [...stale, live]) await fsp.writeFile(p, 'half a file');

  const st = await dvJson(repo, ['status']);
  assert.equal(st.clean, true, `temp files are not changes: ${JSON.stringify(st)}`);
  const again = await dvJson(repo, ['add', 'data']);
  assert.equal(again.added[0].tree, tree, 'add does not store temp files');

  // Something to do, so that checkout writes: one file changed in the workspace and discarded.
  await fsp.writeFile(join(d, 'sub', 'f0.bin'), 'edited');
  await dvOk(repo, ['checkout', '-q', '--force']);
  for (const p of stale) await assert.rejects(fsp.access(p), `${p}: a dead process's temp file is removed`);
  assert.equal(await fsp.readFile(live, 'utf8'), 'half a file', "a running process's temp file is left alone");
  await fsp.rm(live);
  assert.deepEqual(await describeTree(d), want);
});

test('a checkout that fails on a corrupt object leaves no temp file: the other worker deletes the one it was writing', async () => {
  const repo = await makeRepo();
  const d = join(repo, 'data');
  await fsp.mkdir(d);
  // Sorted first and larger than a job: one worker writes it while the other fails on b000.bin.
  await fsp.writeFile(join(d, 'a_big.bin'), prng(7, 120_000_000));
  for (let i = 0; i < 300; i++) await fsp.writeFile(join(d, `b${String(i).padStart(3, '0')}.bin`), prng(1000 + i, 2000));
  await dvOk(repo, ['add', '-q', 'data']);
  await initHash();
  const victim = blake3Hex(prng(1000, 2000));
  const packsDir = join(repo, '.dv', 'cache', 'packs');
  let flipped = false;
  for (const fan of await fsp.readdir(packsDir)) {
    for (const f of (await fsp.readdir(join(packsDir, fan))).filter((n) => n.endsWith('.idx'))) {
      const e = decodePackIndex(await fsp.readFile(join(packsDir, fan, f))).find((x) => x.id === victim);
      if (!e) continue;
      const fh = await fsp.open(join(packsDir, fan, f.replace(/\.idx$/, '.pack')), 'r+');
      const b = Buffer.alloc(1);
      await fh.read(b, 0, 1, e.offset + 10);
      b[0] ^= 0x40;
      await fh.write(b, 0, 1, e.offset + 10);
      await fh.close();
      flipped = true;
    }
  }
  assert.ok(flipped, 'found b000.bin in a pack');
  await fsp.rm(d, { recursive: true });
  const r = await dv(repo, ['checkout']);
  assert.match(r.stderr, /OBJECT_CORRUPT/);
  const left = (await fsp.readdir(d, { recursive: true }).catch(() => [] as string[])).filter((n) => n.endsWith('.dvtmp'));
  assert.deepEqual(left, [], 'no temp file is left in the workspace');
});
