/**
 * `dv used-by` on the four-stage pipeline of four-stages.ts: the artifacts built from a raw file,
 * a script, or an old snapshot of the raw data, in the workspace's dv.lock and across the git
 * commits that changed dv.lock; bounded by --max-commits.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { dv, dvJson, dvOk, git } from '../helpers/cli.js';
import { fourStages } from './four-stages.js';

let repo: string;
let env: Record<string, string>;
const ALL = ['data/prepared', 'data/features', 'model.json', 'metrics.json'];

before(async () => {
  ({ repo, env } = await fourStages());
});

test('used-by a raw file: every out downstream, now and in each version of history', async () => {
  const r = await dvJson(repo, ['used-by', 'data/raw/part2.csv'], env);
  assert.deepEqual(r.target, { path: 'data/raw/part2.csv' });
  assert.deepEqual(
    r.current.map((c: any) => [c.path, c.via.join('>')]),
    [
      ['data/prepared', 'prepare'],
      ['data/features', 'prepare>featurize'],
      ['model.json', 'prepare>featurize>train'],
      ['metrics.json', 'prepare>featurize>train>evaluate'],
    ],
  );
  assert.equal(r.current[0].input.path, 'data/raw');
  // Four commits changed dv.lock (v0..v3); the versions of the outs they record.
  assert.equal(r.commitsRead, 4);
  assert.equal(r.truncated, false);
  const versions = (path: string): number => r.history.filter((h: any) => h.path === path).length;
  assert.deepEqual(ALL.map(versions), [2, 2, 3, 3]);
  const text = await dvOk(repo, ['used-by', 'data/raw/part2.csv'], env);
  assert.match(text, /^ {2}metrics\.json {2}snapshot [0-9a-f]{12} {2}via prepare → featurize → train → evaluate/m);
});

test('used-by an old snapshot of the raw data: only what was built from that version', async () => {
  const old = /^snapshot: ([0-9a-f]+)$/m.exec(git(repo, ['show', 'v0:data/raw.dv']))![1];
  const v0 = git(repo, ['rev-parse', 'v0']).trim();
  const r = await dvJson(repo, ['used-by', old.slice(0, 12)], env);
  assert.equal(r.target.snapshot, old);
  assert.deepEqual(r.current, []);
  assert.deepEqual(
    r.history.map((h: any) => [h.path, h.newest, h.commits]),
    ALL.map((p) => [p, v0, 1]),
  );
});

test('used-by a script: only the stages that read it and what follows', async () => {
  const r = await dvJson(repo, ['used-by', 'train.mjs'], env);
  assert.deepEqual(
    r.current.map((c: any) => c.path),
    ['model.json', 'metrics.json'],
  );
  const none = await dvJson(repo, ['used-by', 'params.yaml', '--max-commits', '0'], env);
  assert.deepEqual([none.current, none.history, none.commitsRead], [[], [], 0]);
});

test('used-by --max-commits bounds the walk and says so', async () => {
  const r = await dvJson(repo, ['used-by', 'data/raw', '--max-commits', '1'], env);
  assert.equal(r.commitsRead, 1);
  assert.equal(r.truncated, true);
  assert.ok(r.history.every((h: any) => h.newest === git(repo, ['rev-parse', 'v3']).trim()));
  const bad = await dv(repo, ['used-by', 'data/raw', '--max-commits', '-1'], env);
  assert.equal(bad.code, 2, bad.stderr);
  assert.match(bad.stderr, /--max-commits/);
});

test('used-by --all reads the dv.lock of other branches too', async () => {
  git(repo, ['checkout', '-q', '-b', 'exp']);
  await fsp.writeFile(join(repo, 'params.json'), JSON.stringify({ train: { lr: 0.125 } }));
  git(repo, ['commit', '-qam', 'exp: lr']);
  await dvOk(repo, ['repro'], env);
  git(repo, ['add', '-A']);
  git(repo, ['commit', '-qm', 'exp run']);
  const exp = git(repo, ['rev-parse', 'HEAD']).trim();
  git(repo, ['checkout', '-q', 'main']);
  const head = await dvJson(repo, ['used-by', 'data/raw'], env);
  const all = await dvJson(repo, ['used-by', 'data/raw', '--all'], env);
  // Versions only the exp branch recorded (what it shares with main is counted in `commits`).
  assert.equal(head.commitsRead, 4);
  assert.equal(all.commitsRead, 5);
  assert.ok(!head.history.some((h: any) => h.newest === exp));
  assert.deepEqual(
    all.history.filter((h: any) => h.newest === exp && h.commits === 1).map((h: any) => h.path),
    ['model.json', 'metrics.json'],
  );
});
