/**
 * A run's `git.dirty` (dv.lock, run records, lineage diff's "code" cause) says the code differed
 * from HEAD: parameter files and the files stages keep in git are recorded otherwise and do not
 * count (every `dv exp run` edits params.yaml; an evaluate stage rewrites its -M metrics file).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { dvJson, dvOk, git } from '../helpers/cli.js';
import { pipelineRepo, redefineEvaluate } from './fixture.js';

const dirtyFlags = async (repo: string): Promise<string[]> =>
  [...(await fsp.readFile(join(repo, 'dv.lock'), 'utf8')).matchAll(/\n +dirty: (true|false)\n/g)].map((m) => m[1]);

test('edited params and a rewritten -M metrics file leave the code clean; an edited script does not', async () => {
  const { repo, env } = await pipelineRepo();
  await redefineEvaluate(repo, '-M');
  await dvOk(repo, ['repro'], env);
  git(repo, ['add', '-A']);
  git(repo, ['commit', '-qm', 'run 1']);
  // metrics.json (in git) is rewritten by this run: the next one still starts from clean code.
  await fsp.writeFile(join(repo, 'params.json'), JSON.stringify({ train: { lr: 0.25 } }));
  await dvOk(repo, ['repro'], env);
  await fsp.writeFile(join(repo, 'params.json'), JSON.stringify({ train: { lr: 0.75 } }));
  await fsp.writeFile(join(repo, 'params.yaml'), 'prepare:\n  scale: 3\n');
  await dvOk(repo, ['repro'], env);
  assert.match(git(repo, ['status', '--porcelain']), /^ M metrics\.json$/m, 'the metrics file differs from HEAD');
  assert.deepEqual(await dirtyFlags(repo), ['false', 'false', 'false']);
  // A stage added to dv.yaml and run before dv.yaml is committed: its definition is in the run.
  await dvOk(repo, ['stage', 'add', '-n', 'extra', '-d', 'params.json', '-o', 'extra.txt', '--', 'cp params.json extra.txt']);
  await dvOk(repo, ['repro', 'extra'], env);
  assert.deepEqual(await dirtyFlags(repo), ['false', 'false', 'false', 'false']);

  await fsp.appendFile(join(repo, 'evaluate.mjs'), '// tuned\n');
  await dvOk(repo, ['repro'], env);
  // evaluate ran with a script HEAD does not have; the others kept their runs.
  const lock = await fsp.readFile(join(repo, 'dv.lock'), 'utf8');
  const evaluate = lock.slice(lock.indexOf('  evaluate:'), lock.indexOf('  prepare:'));
  assert.match(evaluate, /dirty: true/);
});

test("repro's git add hint names only what git would take", async () => {
  const { repo, env } = await pipelineRepo();
  const first = await dvJson(repo, ['repro'], env);
  assert.ok(first.gitAdd.includes('dv.lock') && first.gitAdd.includes('model.json.dv'), first.gitAdd.join(' '));
  git(repo, ['add', '-A']);
  git(repo, ['commit', '-qm', 'ran']);
  // Restored from dv.lock as it was: the pointer file is written again, the same; nothing to add.
  await fsp.rm(join(repo, 'model.json'));
  const again = await dvJson(repo, ['repro'], env);
  assert.equal(again.stages.find((s: any) => s.name === 'train').action, 'restored');
  assert.deepEqual(again.gitAdd, []);
});
