/** `metrics`: outs that are metrics files; dv status and dv lineage show their values. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { dvJson, dvOk } from '../helpers/cli.js';
import { pipelineRepo, redefineEvaluate } from './fixture.js';

test('metrics files: tracked like outs, their values in dv status and dv lineage', async () => {
  const f = await pipelineRepo();
  const { repo, env } = f;
  await redefineEvaluate(repo, '-m');
  assert.match(
    await fsp.readFile(join(repo, 'dv.yaml'), 'utf8'),
    /\n {2}evaluate:\n {4}cmd: node evaluate.mjs\n {4}deps:\n {6}- evaluate.mjs\n {6}- model.json\n {4}metrics:\n {6}- metrics.json\n$/,
  );
  assert.deepEqual((await dvJson(repo, ['stage', 'list'])).find((s: any) => s.name === 'evaluate').metrics, ['metrics.json']);
  const before = await dvJson(repo, ['status'], env);
  assert.deepEqual(before.metrics, [{ stage: 'evaluate', path: 'metrics.json', values: null }]);

  await dvOk(repo, ['repro'], env);
  await fsp.access(join(repo, 'metrics.json.dv'));
  const score = JSON.parse(await fsp.readFile(join(repo, 'metrics.json'), 'utf8')).score;
  const st = await dvJson(repo, ['status'], env);
  assert.deepEqual([st.stages, st.metrics], [[], [{ stage: 'evaluate', path: 'metrics.json', values: { score } }]]);
  assert.match(await dvOk(repo, ['status'], env), new RegExp(`\\nMetrics:\\n\\tmetrics.json \\(evaluate\\): score=${score}\\n`));

  const lin = await dvJson(repo, ['lineage', 'metrics.json'], env);
  assert.deepEqual(
    lin.stages[0].metrics.map((m: any) => [m.path, m.values]),
    [['metrics.json', { score }]],
  );
  assert.equal(lin.stages[1].metrics, undefined, 'train has no metrics');
  assert.match(
    await dvOk(repo, ['lineage', 'metrics.json'], env),
    new RegExp(`  metric: metrics.json  id [0-9a-f]{12}  score=${score}\\n`),
  );
  // The value in lineage is the recorded one, whatever the workspace holds now.
  await fsp.writeFile(join(repo, 'metrics.json'), '{"score": -1}\n');
  assert.deepEqual((await dvJson(repo, ['lineage', 'metrics.json'], env)).stages[0].metrics[0].values, { score });
  assert.deepEqual((await dvJson(repo, ['status'], env)).metrics[0].values, { score: -1 });
});
