/** `Repo#metricsShow`, `Repo#metricsDiff` and `Repo#paramsDiff`: the library front door gives what `--json` gives. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { DvError, Repo } from '../../src/index.js';
import { dvJson, dvOk, git } from '../helpers/cli.js';
import { pipelineRepo, redefineEvaluate } from '../pipeline/fixture.js';

test('Repo metrics and params methods match the CLI JSON; an unknown revision is USAGE', async () => {
  const { repo, env } = await pipelineRepo();
  await redefineEvaluate(repo, '-M');
  await dvOk(repo, ['repro'], env);
  git(repo, ['add', '-A']);
  git(repo, ['commit', '-qm', 'run 1']);
  await fsp.writeFile(join(repo, 'params.json'), JSON.stringify({ train: { lr: 2 } }));
  await dvOk(repo, ['repro'], env);

  const r = await Repo.open(repo);
  const diff = await r.metricsDiff();
  assert.equal(diff.rows.length, 1);
  assert.deepEqual(diff, await dvJson(repo, ['metrics', 'diff']));
  assert.deepEqual((await r.paramsDiff()).rows, [{ path: 'params.json', key: 'train.lr', old: 0.5, new: 2, change: 1.5 }]);
  const show = await r.metricsShow({ revs: ['HEAD'] });
  assert.equal(show.versions[0].files[0].values?.score, diff.rows[0].old);
  await assert.rejects(r.metricsDiff({ a: 'nope' }), (e: unknown) => e instanceof DvError && e.code === 'USAGE');
});
