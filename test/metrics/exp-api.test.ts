/**
 * `Repo#expRun`, `expShow`, `expApply`, `expRemove`: the library front door gives what `--json`
 * gives; an experiment takes the workspace's uncommitted code changes with it (as `git stash -u`
 * sees them) while the workspace keeps them untouched.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { DvError, Repo } from '../../src/index.js';
import { dvJson, git } from '../helpers/cli.js';
import { expRepo } from './fixture-exp.js';

test('Repo exp methods match the CLI JSON; uncommitted code changes go into the experiment, not out of the workspace', async () => {
  const f = await expRepo();
  process.env.RUN_LOG = f.env.RUN_LOG;
  const r = await Repo.open(f.repo);
  // An uncommitted change of the training code and a new untracked helper file.
  const train = join(f.repo, 'train.mjs');
  const edited = (await fsp.readFile(train, 'utf8')).replace(
    "fs.writeFileSync('model.bin'",
    "const TAG = 'v2';\nfs.writeFileSync('model.bin'",
  );
  await fsp.writeFile(train, edited);
  await fsp.writeFile(join(f.repo, 'notes.txt'), 'try a higher rate\n');
  const status = git(f.repo, ['status', '--porcelain']);

  const run = await r.expRun({ set: ['train.lr=0.02'], name: 'api-1', stdio: 'ignore' });
  assert.deepEqual(
    run.experiments.map((e) => [e.name, e.ran]),
    [['api-1', ['train', 'evaluate']]],
  );
  assert.deepEqual(await f.ran(), ['train', 'evaluate']);
  const ref = run.experiments[0].ref;
  assert.equal(git(f.repo, ['show', `${ref}:train.mjs`]), edited, 'the experiment ran, and keeps, the edited code');
  assert.equal(git(f.repo, ['show', `${ref}:notes.txt`]), 'try a higher rate\n');
  assert.equal(await fsp.readFile(train, 'utf8'), edited);
  assert.equal(git(f.repo, ['status', '--porcelain']), status, 'the workspace keeps its changes, nothing added');

  const show = await r.expShow();
  assert.deepEqual(show, await dvJson(f.repo, ['exp', 'show']));
  assert.equal(show.rows.find((x) => x.name === 'api-1')?.params['params.yaml']['train.lr'], 0.02);
  await assert.rejects(r.expApply({ name: 'nope' }), (e: unknown) => e instanceof DvError && e.code === 'UNKNOWN_EXPERIMENT');
  const applied = await r.expApply({ name: 'api-1' });
  assert.deepEqual(applied.outs, ['model.bin']);
  assert.ok(applied.files.includes('params.yaml'));
  assert.deepEqual(
    (await r.expRemove({ names: ['api-1'] })).removed.map((x) => x.name),
    ['api-1'],
  );
  assert.equal(git(f.repo, ['for-each-ref', 'refs/exps/']), '');
  await assert.rejects(r.expRun({ set: ['nokey'] }), (e: unknown) => e instanceof DvError && e.code === 'USAGE');
});
