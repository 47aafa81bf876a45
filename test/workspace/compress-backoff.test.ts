/**
 * Compression backs off per kind of file without trying every small file first
 * (workspace/hash-worker.ts, `settleTries`): a job of small files starts at most a few tries of a
 * kind before the answers say it does not compress, while every file of a kind that does is
 * still compressed; a long random file costs a few probes, and text after it is still found. Each
 * try is a zstd call that maps a context of megabytes (cli/launch-flags.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { dv, dvOk, makeRepo, prng, storeBytes } from '../helpers/cli.js';

const RANDOM_FILES = 3000;
const TEXT_FILES = 300;

test('thousands of small random files cost few compression tries; small text files are all compressed', async () => {
  const repo = await makeRepo();
  let raw = 0;
  let text = 0;
  for (let d = 0; d < 10; d++) {
    const dir = join(repo, 'data', `d${d}`);
    await fsp.mkdir(dir, { recursive: true });
    for (let k = 0; k < RANDOM_FILES / 10; k++) {
      const b = prng(d * 1000 + k + 1, 2048 + ((k * 977) % 4096));
      raw += b.length;
      await fsp.writeFile(join(dir, `r${k}.bin`), b);
    }
    for (let k = 0; k < TEXT_FILES / 10; k++) {
      const rows = Array.from({ length: 120 }, (_, r) => `${d},${k},${r},row ${r} of file ${k} in ${d},${(r * k) % 97}`);
      const b = Buffer.from(rows.join('\n'));
      text += b.length;
      await fsp.writeFile(join(dir, `t${k}.csv`), b);
    }
  }
  const r = await dv(repo, ['add', '-q', 'data'], { DV_POOL_STATS: '1' });
  assert.equal(r.code, 0, r.stderr);
  // Each worker's last line of stats carries its count so far.
  const last = new Map<string, number>();
  for (const m of r.stderr.matchAll(/worker (\d+) busy .*?; (\d+) compression tries\)/g)) last.set(m[1], Number(m[2]));
  assert.ok(last.size > 0, `no pool stats in: ${r.stderr}`);
  const tries = [...last.values()].reduce((a, b) => a + b, 0);
  // One try per text file, a few per worker before random data backs off, a probe per 4 MiB after.
  assert.ok(tries >= TEXT_FILES, `${tries} tries: every text file is tried`);
  assert.ok(tries < TEXT_FILES + 200, `${tries} tries for ${RANDOM_FILES} random and ${TEXT_FILES} text files`);
  // The text compressed (each file alone compresses to well under half), the random data did not grow.
  const stored = await storeBytes(repo);
  assert.ok(stored < raw * 1.25 + text * 0.6, `stored ${stored} bytes for ${raw} random and ${text} text`);
  // And it all reads back.
  await fsp.rm(join(repo, 'data'), { recursive: true });
  await dvOk(repo, ['checkout', '-q', 'data']);
  const back = await fsp.readFile(join(repo, 'data', 'd3', 't7.csv'), 'utf8');
  assert.ok(back.startsWith('3,7,0,row 0 of file 7 in 3'));
  assert.deepEqual(await fsp.readFile(join(repo, 'data', 'd9', 'r299.bin')), prng(9 * 1000 + 299 + 1, 2048 + ((299 * 977) % 4096)));
});

/** Rows of text that zstd shrinks well, `size` bytes of them. */
function textBytes(size: number): Buffer {
  const rows: string[] = [];
  let n = 0;
  for (let r = 0; n < size; r++) {
    const row = `${r},sensor-${r % 211},${(r * 7919) % 100003},reading ${r % 97} of batch ${r >> 10}\n`;
    rows.push(row);
    n += row.length;
  }
  return Buffer.from(rows.join('')).subarray(0, size);
}

const MiB = 1024 * 1024;

test('a long random file costs few probes once backed off, and text after random data is still compressed', async () => {
  const repo = await makeRepo();
  // 128 MiB of random data: at one probe per 4 MiB after back-off that was ~24 zstd calls.
  const random = Buffer.concat(Array.from({ length: 8 }, (_, k) => prng(7000 + k, 16 * MiB)));
  await fsp.writeFile(join(repo, 'random.bin'), random);
  const r = await dv(repo, ['add', '-q', 'random.bin'], { DV_POOL_STATS: '1' });
  assert.equal(r.code, 0, r.stderr);
  const probes = [...r.stderr.matchAll(/worker \d+ busy .*?; (\d+) probes;/g)].reduce((a, m) => a + Number(m[1]), 0);
  assert.ok(r.stderr.includes(' probes; '), `no probe counts in: ${r.stderr}`);
  assert.ok(probes <= 12, `${probes} probes for 128 MiB of random data`);
  // 48 MiB of random data, then 64 MiB of text in the same file: the probes find the text.
  const mixed = Buffer.concat([random.subarray(0, 48 * MiB), textBytes(64 * MiB)]);
  await fsp.writeFile(join(repo, 'mixed.bin'), mixed);
  const before = await storeBytes(repo);
  await dvOk(repo, ['add', '-q', 'mixed.bin']);
  const added = (await storeBytes(repo)) - before;
  // The random part's chunks are in the store already, so what was added is the text's (64 MiB raw).
  assert.ok(added < 32 * MiB, `${added} bytes stored for 64 MiB of text after random data`);
  await fsp.rm(join(repo, 'mixed.bin'));
  await dvOk(repo, ['checkout', '-q', 'mixed.bin']);
  assert.ok((await fsp.readFile(join(repo, 'mixed.bin'))).equals(mixed), 'mixed.bin reads back');
});
