/**
 * `dv stage add -M FILE` (DVC's meaning): a metrics file kept in git, not cached, not tracked by
 * dv, not git-ignored; dv.yaml says `FILE: { cache: false }`; `-m` keeps today's tracked metrics.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { dv, dvJson, dvOk, git, run } from '../helpers/cli.js';
import { pipelineRepo, redefineEvaluate } from '../pipeline/fixture.js';

test('-M metrics are in git, not in .gitignore, have no pointer, and metrics diff reads them at a revision', async () => {
  const { repo, env } = await pipelineRepo();
  await redefineEvaluate(repo, '-M');
  assert.match(await fsp.readFile(join(repo, 'dv.yaml'), 'utf8'), /\n {4}metrics:\n {6}- metrics.json:\n {10}cache: false\n$/);
  const st = (await dvJson(repo, ['stage', 'list'])).find((s: any) => s.name === 'evaluate');
  assert.deepEqual([st.metrics, st.uncached, st.outs, st.kept], [['metrics.json'], ['metrics.json'], [], ['metrics.json']]);
  assert.match(await dvOk(repo, ['stage', 'list']), /^evaluate: node evaluate\.mjs\n(?: {2}.*\n)* {2}in git: metrics\.json$/m);

  await dvOk(repo, ['repro'], env);
  await assert.rejects(fsp.access(join(repo, 'metrics.json.dv')), 'no pointer file');
  const ignore = await fsp.readFile(join(repo, '.gitignore'), 'utf8').catch(() => '');
  assert.doesNotMatch(ignore, /metrics\.json/);
  assert.equal((await run('git', ['check-ignore', '-q', 'metrics.json'], repo)).code, 1, 'git does not ignore it');
  git(repo, ['add', '-A']);
  git(repo, ['commit', '-qm', 'run 1']);
  assert.match(git(repo, ['ls-files', 'metrics.json']), /^metrics\.json$/m, 'git holds the metrics file');
  const score1 = JSON.parse(git(repo, ['show', 'HEAD:metrics.json'])).score;
  assert.deepEqual((await dvJson(repo, ['status'], env)).metrics, [{ stage: 'evaluate', path: 'metrics.json', values: { score: score1 } }]);

  await fsp.writeFile(join(repo, 'params.json'), JSON.stringify({ train: { lr: 0.25 } }));
  await dvOk(repo, ['repro'], env);
  git(repo, ['commit', '-qam', 'run 2']);
  const d = await dvJson(repo, ['metrics', 'diff', 'HEAD~1', 'HEAD']);
  assert.equal(d.rows.length, 1);
  assert.deepEqual([d.rows[0].path, d.rows[0].key, d.rows[0].old], ['metrics.json', 'score', score1]);
  assert.notEqual(d.rows[0].new, score1);

  // A malformed entry in dv.yaml is refused naming the fix.
  await fsp.writeFile(join(repo, 'dv.yaml'), 'stages:\n  e:\n    cmd: echo\n    metrics:\n      - m.json: { cache: maybe }\n');
  const bad = await dv(repo, ['metrics', 'show']);
  assert.equal(bad.code, 41);
  assert.match(bad.stderr, /metrics: each entry is a path, or "path: \{ cache: false \}"/);
  // At a revision, the same dv.yaml is one warning line: an old commit does not stop the others.
  git(repo, ['commit', '-qam', 'broken dv.yaml']);
  const atRev = await dv(repo, ['metrics', 'show', 'HEAD~1', 'HEAD']);
  assert.equal(atRev.code, 0, atRev.stderr);
  assert.match(atRev.stdout, /^HEAD~1\s+metrics\.json\s+score\s+/m);
  assert.match(atRev.stdout, /^warning: HEAD:dv\.yaml is invalid here: .*each entry is a path/m);
});

test('a stage restored from the run cache does not leave another run`s -M metrics: with no copy recorded, it runs', async () => {
  const { repo, env } = await pipelineRepo();
  await redefineEvaluate(repo, '-M');
  const params1 = await fsp.readFile(join(repo, 'params.json'), 'utf8');
  await dvOk(repo, ['repro'], env);
  const score1 = JSON.parse(await fsp.readFile(join(repo, 'metrics.json'), 'utf8')).score;
  await fsp.writeFile(join(repo, 'params.json'), JSON.stringify({ train: { lr: 0.25 } }));
  await dvOk(repo, ['repro'], env);
  assert.notEqual(JSON.parse(await fsp.readFile(join(repo, 'metrics.json'), 'utf8')).score, score1);
  // Back to run 1's inputs: train's outs come from the run cache; metrics.json is in no run record,
  // so evaluate runs again instead of keeping run 2's scores beside run 1's model.
  await fsp.writeFile(join(repo, 'params.json'), params1);
  const back = await dvJson(repo, ['repro'], env);
  const action = (name: string): string => back.stages.find((x: any) => x.name === name)?.action;
  assert.equal(action('train'), 'restored');
  assert.equal(action('evaluate'), 'ran');
  assert.equal(JSON.parse(await fsp.readFile(join(repo, 'metrics.json'), 'utf8')).score, score1);
});

test('a -M metrics file is recorded in dv.lock: edited or deleted, the stage is out of date and runs; its readers come after it', async () => {
  const { repo, env, ran } = await pipelineRepo();
  await redefineEvaluate(repo, '-M');
  const REPORT = "import fs from 'node:fs'; fs.writeFileSync('report.txt', fs.readFileSync('metrics.json', 'utf8'));";
  await fsp.writeFile(join(repo, 'report.mjs'), REPORT);
  await dvOk(repo, ['stage', 'add', '-n', 'report', '-d', 'report.mjs', '-d', 'metrics.json', '-o', 'report.txt', '--', 'node report.mjs']);
  const first = await dvJson(repo, ['repro'], env);
  assert.ok(first.gitAdd.includes('metrics.json'), `git add names the metrics file git keeps: ${first.gitAdd}`);
  const lock = await fsp.readFile(join(repo, 'dv.lock'), 'utf8');
  assert.match(lock, /\n {4}kept:\n {6}- path: metrics.json\n {8}id: [0-9a-f]{64}\n/);
  const scores = await fsp.readFile(join(repo, 'metrics.json'), 'utf8');
  const changesOf = async (): Promise<Record<string, string[]>> => {
    const st = await dvJson(repo, ['status'], env);
    return Object.fromEntries(st.stages.map((s: any) => [s.name, s.changes.map((c: any) => `${c.type} ${c.what} ${c.how}`)]));
  };
  assert.deepEqual(await changesOf(), {});

  // Edited by hand: evaluate is out of date, and report with it (it reads the file).
  await fsp.writeFile(join(repo, 'metrics.json'), '{"score": 1e9}\n');
  assert.deepEqual(await changesOf(), {
    evaluate: ['out metrics.json modified'],
    report: ['dep metrics.json modified', 'upstream evaluate out of date'],
  });
  const dry = await dvJson(repo, ['repro', '-n'], env);
  assert.equal(dry.stages.find((s: any) => s.name === 'evaluate').action, 'would-run');
  await ran();
  const again = await dvJson(repo, ['repro'], env);
  // evaluate runs (dv.lock's run cannot bring the file back); it writes what report last read.
  const actions = again.stages.map((s: any) => `${s.name} ${s.action}`);
  assert.deepEqual(actions, ['prepare up-to-date', 'train up-to-date', 'evaluate ran', 'report up-to-date']);
  assert.deepEqual(await ran(), ['evaluate']);
  assert.equal(await fsp.readFile(join(repo, 'metrics.json'), 'utf8'), scores);

  // Deleted: the same.
  await fsp.rm(join(repo, 'metrics.json'));
  assert.deepEqual((await changesOf()).evaluate, ['out metrics.json missing']);
  await dvOk(repo, ['repro'], env);
  assert.equal(await fsp.readFile(join(repo, 'metrics.json'), 'utf8'), scores);
  assert.deepEqual(await changesOf(), {});
});
