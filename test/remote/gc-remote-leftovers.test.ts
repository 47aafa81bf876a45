/**
 * `dv gc --remote` on a directory remote removes the temp files killed pushes left
 * (`<key>~<pid>-<hex>.tmp` beside the key they were to become), once untouched for the grace and at
 * least an hour: a push under way keeps changing its temp file, and one untouched that long was
 * left by a process that died. A dry run counts them and removes nothing; files that merely look
 * alike (another name, a symlink, a directory) and everything else stay.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { dvJson, dvOk } from '../helpers/cli.js';
import { LEFTOVER_AGE } from '../../src/transfer/remote-gc.js';
import { dirFixture, freshClone, listed, packsOf, team } from './fixture.js';

const hours = (n: number): Date => new Date(Date.now() - n * 3_600_000);

test('gc --remote removes the temp files of killed pushes once untouched past the grace; dry run and look-alikes untouched', async () => {
  assert.equal(LEFTOVER_AGE, 3_600_000);
  const fx = await dirFixture();
  const a = await team(fx);
  const [pack] = await packsOf(fx.raw);
  const fan = join(fx.url, 'packs', pack.id.slice(0, 2));
  // A killed push's temp files: old ones, of a pack and of an index, and a fresh one (a push under way).
  const old1 = join(fan, `${pack.id}.pack~4242-0123456789ab.tmp`);
  const old2 = join(fx.url, 'index', pack.id.slice(0, 2), `${pack.id}.idx~4242-ba9876543210.tmp`);
  const fresh = join(fan, `${pack.id}.pack~4343-00000000aaaa.tmp`);
  // Look-alikes that are not dv's temp files, or not files: they stay.
  const other = join(fan, 'notes~draft.tmp');
  const link = join(fan, `${pack.id}.pack~4444-0123456789cd.tmp`);
  const dir = join(fan, `x.pack~4545-0123456789ef.tmp`);
  await fsp.writeFile(old1, Buffer.alloc(5000, 1));
  await fsp.writeFile(old2, Buffer.alloc(300, 2));
  await fsp.writeFile(fresh, Buffer.alloc(700, 3));
  await fsp.writeFile(other, 'mine');
  await fsp.symlink(old1, link);
  await fsp.mkdir(dir);
  for (const f of [old1, old2, other, dir]) await fsp.utimes(f, hours(3), hours(3));
  await fsp.lutimes(link, hours(3), hours(3));
  const keys = JSON.stringify(await listed(fx.raw, ''));

  const b = freshClone(a);
  const dry = await dvJson(b, ['gc', '--remote', '--grace', '0', '--dry-run']);
  assert.deepEqual([dry.leftovers, dry.leftoverBytes], [2, 5300]);
  for (const f of [old1, old2, fresh, other, link, dir]) await fsp.lstat(f);

  // A grace longer than their age keeps them.
  const kept = await dvJson(b, ['gc', '--remote', '--grace', '4h']);
  assert.equal(kept.leftovers, 0);
  await fsp.stat(old1);

  const text = await dvOk(b, ['gc', '--remote', '--grace', '0']);
  assert.match(text, /removed 2 temp files \(5\.3 KB\) left by interrupted pushes/);
  await assert.rejects(fsp.stat(old1), { code: 'ENOENT' });
  await assert.rejects(fsp.stat(old2), { code: 'ENOENT' });
  for (const f of [fresh, other, link, dir]) await fsp.lstat(f);
  assert.equal(JSON.stringify(await listed(fx.raw, '')), keys, 'every key stays');
  const ok = await dvJson(b, ['fsck', '--remote', '--read-data']);
  assert.equal(ok.ok, true, JSON.stringify(ok.problems));
});
