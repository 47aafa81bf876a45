/**
 * `Repo#gcRemote`: the library front door of `dv gc --remote` on a directory remote: a dry run
 * counts and changes nothing, a run marks what no ref reaches, a later one deletes it, and bad
 * arguments are DvErrors with their codes before anything runs.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { Repo, DvError } from '../../src/index.js';
import { git, makeRepo, prng, tempDir } from '../helpers/cli.js';

before(() => {
  process.env.XDG_CONFIG_HOME = tempDir('dv-api-xdg-');
});

const code = (c: string) => (e: unknown) => e instanceof DvError && e.code === c;

test('API: gcRemote marks, then deletes what no ref reaches; a dry run changes nothing; bad arguments are refused', async () => {
  const dir = await makeRepo({ init: false });
  const repo = await Repo.init(dir);
  await fsp.mkdir(join(dir, 'data'));
  await fsp.writeFile(join(dir, 'data', 'keep.bin'), prng(1, 200_000));
  await repo.add({ paths: ['data'] });
  const store = join(tempDir(), 'store');
  await repo.addRemote('origin', store);
  await repo.push();
  git(dir, ['add', '-A']);
  git(dir, ['commit', '-qm', 'data']);
  const packs = async (): Promise<string[]> =>
    (await fsp.readdir(join(store, 'packs'), { recursive: true }))
      .map(String)
      .filter((f) => f.endsWith('.pack'))
      .sort();
  const live = (await packs()).length;
  // Pushed, then dropped before any commit names it.
  await fsp.mkdir(join(dir, 'tmp'));
  await fsp.writeFile(join(dir, 'tmp', 'x.bin'), prng(2, 300_000));
  await repo.add({ paths: ['tmp'] });
  await repo.push();
  await fsp.rm(join(dir, 'tmp.dv'));
  const all = await packs();
  const dead = all.length - live;
  assert.ok(dead >= 1);

  const dry = await repo.gcRemote({ grace: '0', dryRun: true });
  assert.deepEqual([dry.remote, dry.url, dry.dryRun, dry.packsMarked, dry.packsRemoved], ['origin', store, true, dead, 0]);
  assert.deepEqual(await packs(), all);
  await assert.rejects(fsp.readdir(join(store, 'gc')), /ENOENT/, 'a dry run wrote a mark');
  const marked = await repo.gcRemote({ remote: 'origin', grace: '0' });
  assert.deepEqual([marked.packsMarked, marked.packsRemoved, marked.graceMs], [dead, 0, 0]);
  const kept = await repo.gcRemote();
  assert.deepEqual([kept.graceMs, kept.packsWaiting, kept.packsRemoved], [14 * 86_400_000, dead, 0], 'the default grace keeps it');
  const swept = await repo.gcRemote({ grace: '0', jobs: 2 });
  assert.deepEqual([swept.packsRemoved, swept.packsLocked, swept.locked, swept.packsAfter], [dead, 0, [], live]);
  assert.ok(swept.bytesRemoved > 300_000 && swept.bytesAfter === swept.bytesBefore - swept.bytesRemoved, JSON.stringify(swept));
  assert.equal((await packs()).length, live);
  assert.equal((await repo.fsckRemote({ remote: 'origin' })).ok, true);

  await assert.rejects(repo.gcRemote({ grace: '3 weeks' }), code('USAGE'));
  await assert.rejects(repo.gcRemote({ remote: 42 as unknown as string }), code('USAGE'));
  await assert.rejects(repo.gcRemote({ remote: 'nowhere' }), code('NO_REMOTE'));
  assert.equal((await packs()).length, live, 'a refused call changed the remote');
});
