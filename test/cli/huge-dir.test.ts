/**
 * A change of 150,000 files in one subdirectory of a tracked path: `dv status` and `dv diff` list
 * every one (they once crashed with "Maximum call stack size exceeded" from about 125,000).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { dvJson, dvOk, makeRepo } from '../helpers/cli.js';

test('status and diff on 150,000 new files in one directory', { timeout: 180_000 }, async () => {
  const repo = await makeRepo();
  await fsp.mkdir(join(repo, 'data', 'sub'), { recursive: true });
  await fsp.writeFile(join(repo, 'data', 'seed'), 'x');
  await dvOk(repo, ['add', 'data']);
  const N = 150_000;
  const names: string[] = [];
  for (let i = 0; i < N; i++) names.push(`f${String(i).padStart(6, '0')}`);
  for (let i = 0; i < N; i += 1000) await Promise.all(names.slice(i, i + 1000).map((n) => fsp.writeFile(join(repo, 'data', 'sub', n), '')));
  const t0 = Date.now();
  const st = await dvJson(repo, ['status']);
  assert.equal(st.paths[0].state, 'modified');
  assert.equal(st.paths[0].added.length, N);
  assert.equal(st.paths[0].added[N - 1], 'data/sub/f149999');
  const snap = (await fsp.readFile(join(repo, 'data.dv'), 'utf8')).match(/snapshot: (\w+)/)![1];
  const d = await dvJson(repo, ['diff', snap]);
  assert.equal(d.changes.length, N);
  assert.ok(Date.now() - t0 < 120_000, `status and diff took ${Date.now() - t0} ms`);
});
