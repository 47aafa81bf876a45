/** The pipeline through the library API (`import { Repo } from 'dv'`). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { Repo, DvError } from '../../src/index.js';
import { makeRepo } from '../helpers/cli.js';

test('Repo: stageAdd, stages, repro, status, lineage, verify, dag', async () => {
  const dir = await makeRepo();
  const repo = await Repo.open(dir);
  await fsp.writeFile(join(dir, 'in.txt'), 'hello\n');
  await fsp.writeFile(join(dir, 'params.yaml'), 'n: 3\n');
  await repo.stageAdd({
    name: 'rep',
    cmd: `node -e "const fs=require('fs'); const n=+/n: (\\d+)/.exec(fs.readFileSync('params.yaml','utf8'))[1]; fs.writeFileSync('out.txt', fs.readFileSync('in.txt','utf8').repeat(n))"`,
    deps: ['in.txt'],
    params: ['n'],
    outs: ['out.txt'],
  });
  await repo.stageAdd({ name: 'count', cmd: 'wc -c < out.txt > count.txt', deps: ['out.txt'], outs: ['count.txt'] });
  assert.deepEqual(
    (await repo.stages()).map((s) => [s.name, s.downstream]),
    [
      ['rep', ['count']],
      ['count', []],
    ],
  );
  assert.deepEqual(
    (await repo.status()).stages.map((s) => s.name),
    ['rep', 'count'],
  );
  const r = await repo.repro({ stdio: 'ignore' });
  assert.deepEqual(
    r.stages.map((s) => s.action),
    ['ran', 'ran'],
  );
  assert.equal((await fsp.readFile(join(dir, 'count.txt'), 'utf8')).trim(), '18');
  assert.deepEqual(
    (await repo.repro()).stages.map((s) => s.action),
    ['up-to-date', 'up-to-date'],
  );
  const lin = await repo.lineage({ target: 'count.txt' });
  assert.deepEqual(
    lin.stages.map((s) => [s.name, s.params]),
    [
      ['count', {}],
      ['rep', { 'params.yaml': { n: 3 } }],
    ],
  );
  assert.equal((await repo.verify({ stdio: 'ignore' })).ok, true);
  assert.deepEqual((await repo.dag()).edges, [{ from: 'rep', to: 'count', path: 'out.txt' }]);
  await repo.stageAdd({ name: 'boom', cmd: 'exit 5', deps: ['count.txt'], outs: ['never'] });
  await assert.rejects(
    repo.repro({ stdio: 'ignore' }),
    (e: unknown) => e instanceof DvError && e.code === 'STAGE_FAILED' && e.exitCode === 5,
  );
  await assert.rejects(
    repo.stageAdd({ name: 'rep', cmd: 'true' }),
    (e: unknown) => e instanceof DvError && e.code === 'PIPELINE_INVALID' && e.exitCode === 41,
  );
});
