import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { dvOk, dvJson, makeRepo, prng, storeBytes } from '../helpers/cli.js';

const MiB = 1024 * 1024;

test('dedup: a 1 MiB overwrite and a 4 MiB append to a 64 MiB file store less than 8 MiB; a copy stores almost nothing', async () => {
  const repo = await makeRepo();
  const file = join(repo, 'data', 'big.bin');
  await fsp.mkdir(join(repo, 'data'));
  const original = prng(42, 64 * MiB);
  await fsp.writeFile(file, original);
  await dvOk(repo, ['add', 'data']);
  const s0 = await storeBytes(repo);
  assert.ok(s0 >= 64 * MiB && s0 < 66 * MiB, `random data is stored once, uncompressed: ${s0}`);

  const edited = Buffer.concat([original, prng(43, 4 * MiB)]);
  prng(44, MiB).copy(edited, 30 * MiB);
  await fsp.writeFile(file, edited);
  await dvOk(repo, ['commit', '-m', 'edit']);
  const grew = (await storeBytes(repo)) - s0;
  assert.ok(grew < 8 * MiB, `store grew ${(grew / MiB).toFixed(2)} MiB`);
  assert.ok(grew > 5 * MiB, `the new 5 MiB must be stored: ${(grew / MiB).toFixed(2)} MiB`);

  const s1 = await storeBytes(repo);
  await fsp.mkdir(join(repo, 'copy'));
  await fsp.writeFile(join(repo, 'copy', 'same.bin'), edited);
  await dvOk(repo, ['add', 'copy']);
  const copyCost = (await storeBytes(repo)) - s1;
  assert.ok(copyCost < 64 * 1024, `a second copy cost ${copyCost} bytes`);

  // And both versions still come back byte for byte.
  const log = await dvJson(repo, ['log', 'data']);
  await dvOk(repo, ['checkout', log[1].id]);
  assert.ok((await fsp.readFile(file)).equals(original));
  await dvOk(repo, ['checkout', log[0].id]);
  assert.ok((await fsp.readFile(file)).equals(edited));
});

test('compressible data is stored compressed and restored exactly', async () => {
  const repo = await makeRepo();
  const lines: string[] = [];
  for (let i = 0; i < 200_000; i++)
    lines.push(`${i},2024-01-${String((i % 28) + 1).padStart(2, '0')},user${i % 977},${(i * 31) % 10007}.${i % 100},label_${i % 13}`);
  const csv = Buffer.from(lines.join('\n'));
  await fsp.mkdir(join(repo, 'tab'));
  await fsp.writeFile(join(repo, 'tab', 'rows.csv'), csv);
  await dvOk(repo, ['add', 'tab']);
  const stored = await storeBytes(repo);
  assert.ok(stored < csv.length / 2, `CSV of ${csv.length} bytes stored in ${stored}`);
  await fsp.rm(join(repo, 'tab'), { recursive: true });
  await dvOk(repo, ['checkout']);
  assert.ok((await fsp.readFile(join(repo, 'tab', 'rows.csv'))).equals(csv));
  assert.equal((await dvJson(repo, ['fsck'])).ok, true);
});
