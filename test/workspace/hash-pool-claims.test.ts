/**
 * The pool's record of chunks it is storing (hash-pool.ts ManifestAssembler `claimed`) holds the
 * chunks of packs not yet sealed, not every chunk of the file: a sealed pack's chunks are let go
 * of once the index answers for them. Letting go never makes a chunk stored twice, even when the
 * file repeats itself right as its packs are sealed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createReadStream, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { dv, dvOk, makeRepo, prng } from '../helpers/cli.js';
import { decodePackIndex } from '../../src/store/pack-index.js';

const MiB = 1024 * 1024;

/** Every object id listed by the store's pack indexes, with how many packs list it. */
async function listed(repo: string): Promise<Map<string, number>> {
  const packs = join(repo, '.dv', 'cache', 'packs');
  const out = new Map<string, number>();
  for (const fan of await fsp.readdir(packs))
    for (const f of await fsp.readdir(join(packs, fan))) {
      if (!f.endsWith('.idx')) continue;
      const ids = new Set(decodePackIndex(await fsp.readFile(join(packs, fan, f)), f.slice(0, -4)).map((e) => e.id));
      for (const id of ids) out.set(id, (out.get(id) ?? 0) + 1);
    }
  return out;
}

const mostClaimed = (stderr: string): number => Math.max(...[...stderr.matchAll(/at most (\d+) ids claimed/g)].map((m) => Number(m[1])));

/** SHA-256 of a file, read as a stream (the file is too large to hold twice). */
async function digest(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const b of createReadStream(file)) h.update(b as Buffer);
  return h.digest('hex');
}

test('a large file claims the chunks of the packs being written, not all of its chunks', async () => {
  const repo = await makeRepo();
  // 512 MiB of random data: ~8,000 chunks, in packs of 32 MiB (~500 chunks); 2,700 were claimed
  // at most here (as at 1 GiB), against every chunk of the file before.
  const file = join(repo, 'big.bin');
  for (let k = 0; k < 32; k++) await fsp.appendFile(file, prng(900 + k, 16 * MiB));
  const want = await digest(file);
  const r = await dv(repo, ['add', '-q', 'big.bin'], { DV_POOL_STATS: '1' });
  assert.equal(r.code, 0, r.stderr);
  const chunks = [...(await listed(repo)).keys()].length;
  const most = mostClaimed(r.stderr);
  assert.ok(chunks > 7000, `${chunks} objects stored`);
  assert.ok(most > 0 && most < chunks * 0.6, `at most ${most} of ${chunks} ids claimed at once`);
  await fsp.rm(file);
  await dvOk(repo, ['checkout', '-q', 'big.bin']);
  assert.equal(await digest(file), want, 'big.bin reads back');
});

test('a file that repeats itself as its packs are sealed stores each chunk once', async () => {
  const repo = await makeRepo();
  // One 24 MiB block eight times over: its chunks come again while their packs are being sealed.
  const block = prng(77, 24 * MiB);
  const file = Buffer.concat(Array.from({ length: 8 }, () => block));
  await fsp.writeFile(join(repo, 'rep.bin'), file);
  await dvOk(repo, ['add', '-q', 'rep.bin']);
  const twice = [...(await listed(repo))].filter(([, n]) => n > 1);
  assert.deepEqual(twice, [], 'no object is in two packs');
  await fsp.rm(join(repo, 'rep.bin'));
  await dvOk(repo, ['checkout', '-q', 'rep.bin']);
  assert.ok((await fsp.readFile(join(repo, 'rep.bin'))).equals(file), 'rep.bin reads back');
});
