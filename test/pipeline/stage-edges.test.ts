/**
 * Pipeline edges a DVC user meets: a stage may not take over data added with `dv add`; `-p a,b`
 * names two parameters; `dv stage remove`; `dv repro -n` tells a restore from a run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { dv, dvJson, dvOk, git } from '../helpers/cli.js';
import { pipelineRepo, redefineEvaluate } from './fixture.js';

const actions = (r: any): string[] => r.stages.map((s: any) => `${s.name}:${s.action}${s.from ? `:${s.from}` : ''}`);

test('stage add refuses an out that is data tracked with dv add, and leaves dv.yaml as it was', async () => {
  const { repo } = await pipelineRepo();
  const before = await fsp.readFile(join(repo, 'dv.yaml'), 'utf8');
  await fsp.writeFile(join(repo, 'labels.csv'), 'a,1\n');
  await dvOk(repo, ['add', 'labels.csv']);
  const r = await dv(repo, ['stage', 'add', '-n', 'label', '-d', 'prepare.mjs', '-o', 'labels.csv', '--', 'true']);
  assert.equal(r.code, 41, r.stderr);
  assert.match(
    r.stderr,
    /^dv: error PIPELINE_INVALID: out labels\.csv of stage label is data tracked with `dv add` \(labels\.csv\.dv\).*dv remove labels\.csv/m,
  );
  assert.equal(await fsp.readFile(join(repo, 'dv.yaml'), 'utf8'), before);
  // A stage's own out (recorded in dv.lock) may be redefined with --force.
  await dvOk(repo, ['repro']);
  await redefineEvaluate(repo, '-o', 'node evaluate.mjs # v2');
});

test('-p with commas names several keys, in params.yaml or in the file before the colon', async () => {
  const { repo } = await pipelineRepo();
  await fsp.writeFile(join(repo, 'params.yaml'), 'prepare:\n  scale: 2\n  seed: 1\n');
  await fsp.writeFile(join(repo, 'cfg.json'), JSON.stringify({ a: 1, b: 2 }));
  const args = ['stage', 'add', '--json', '-n', 'p', '-p', 'prepare.scale,prepare.seed', '-p', 'cfg.json:a,b', '-p', 'prepare.seed'];
  const r = JSON.parse(await dvOk(repo, [...args, '-o', 'p.txt', '--', 'echo > p.txt']));
  assert.deepEqual(r.stage.params, ['prepare.scale', 'prepare.seed', 'cfg.json:a', 'cfg.json:b']);
  const bad = await dv(repo, ['stage', 'add', '-n', 'q', '-p', 'a,,b', '-o', 'q.txt', '--', 'true']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /empty key/);
  // In dv.yaml a comma inside one entry is refused with a hint, not read as one odd key.
  await fsp.appendFile(join(repo, 'dv.yaml'), '  z:\n    cmd: "true"\n    params:\n      - x,y\n    outs: [z.txt]\n');
  const z = await dv(repo, ['repro', '-n']);
  assert.notEqual(z.code, 0);
  assert.match(z.stderr, /names several keys/);
});

test('stage remove: dv.yaml and dv.lock lose the stage, its outs are untracked but kept, downstream reads them as plain files', async () => {
  const f = await pipelineRepo();
  const { repo, env } = f;
  await dvOk(repo, ['repro'], env);
  git(repo, ['add', '-A']);
  git(repo, ['commit', '-qm', 'ran']);
  const metrics = await fsp.readFile(join(repo, 'metrics.json'), 'utf8');
  const r = await dvJson(repo, ['stage', 'remove', 'evaluate']);
  assert.deepEqual([r.stage, r.untracked, r.lockEntry], ['evaluate', ['metrics.json'], true]);
  assert.deepEqual(r.gitAdd.sort(), ['.gitignore', 'dv.lock', 'dv.yaml', 'metrics.json.dv']);
  assert.doesNotMatch(await fsp.readFile(join(repo, 'dv.yaml'), 'utf8'), /evaluate/);
  assert.doesNotMatch(await fsp.readFile(join(repo, 'dv.lock'), 'utf8'), /evaluate/);
  assert.equal(await fsp.readFile(join(repo, 'metrics.json'), 'utf8'), metrics, 'the out file stays');
  await assert.rejects(fsp.access(join(repo, 'metrics.json.dv')));
  assert.doesNotMatch(await fsp.readFile(join(repo, '.gitignore'), 'utf8'), /metrics\.json/);
  assert.deepEqual(actions(await dvJson(repo, ['repro'], env)), ['prepare:up-to-date', 'train:up-to-date']);

  // --keep-outs keeps train's out tracked as plain data; an unknown stage is USAGE naming the stages.
  await dvOk(repo, ['stage', 'remove', '--keep-outs', 'train']);
  await fsp.access(join(repo, 'model.json.dv'));
  const unknown = await dv(repo, ['stage', 'remove', 'nosuch']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /no stage nosuch in dv\.yaml \(stages: prepare\)/);
});

test('repro -n says which stages would be restored from a recorded run and which would run', async () => {
  const f = await pipelineRepo();
  const { repo, env } = f;
  await dvOk(repo, ['repro'], env);
  // Back to a configuration that ran before: train's key is in the run cache.
  await fsp.writeFile(join(repo, 'params.json'), JSON.stringify({ train: { lr: 0.25 } }));
  await dvOk(repo, ['repro'], env);
  await fsp.writeFile(join(repo, 'params.json'), JSON.stringify({ train: { lr: 0.5 } }));
  await f.ran();
  const dry = await dvJson(repo, ['repro', '-n'], env);
  assert.deepEqual(actions(dry), ['prepare:up-to-date', 'train:would-restore:run-cache', 'evaluate:would-run']);
  assert.match(
    await dvOk(repo, ['repro', '-n'], env),
    /^train: would restore from the run cache, not run \(param params\.json:train\.lr modified\)$/m,
  );
  assert.deepEqual(await f.ran(), [], 'a dry run runs nothing');
  // What the dry run said is what happens: train is restored, evaluate restored too (same inputs as before).
  assert.deepEqual(actions(await dvJson(repo, ['repro'], env)), [
    'prepare:up-to-date',
    'train:restored:run-cache',
    'evaluate:restored:run-cache',
  ]);
  assert.deepEqual(await f.ran(), []);
});
