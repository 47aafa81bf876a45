/**
 * `dv metrics show|diff` and `dv params diff` on the three-stage fixture pipeline: between two
 * commits and against the workspace, as text, --json and --md; and a malformed or huge metrics
 * file at a revision gives one clear line, not a crash.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { dv, dvJson, dvOk, git } from '../helpers/cli.js';
import { pipelineRepo, redefineEvaluate } from '../pipeline/fixture.js';

async function twoRuns(): Promise<{ repo: string; env: Record<string, string>; score1: number; score2: number }> {
  const { repo, env } = await pipelineRepo();
  // evaluate's metrics.json as a metrics file tracked by dv (-m): read at a revision through its pointer.
  await redefineEvaluate(repo, '-M');
  await dvOk(repo, ['repro'], env);
  git(repo, ['add', '-A']);
  git(repo, ['commit', '-qm', 'run 1']);
  const score1 = JSON.parse(await fsp.readFile(join(repo, 'metrics.json'), 'utf8')).score;
  await fsp.writeFile(join(repo, 'params.json'), JSON.stringify({ train: { lr: 0.25 } }));
  await dvOk(repo, ['repro'], env);
  const score2 = JSON.parse(await fsp.readFile(join(repo, 'metrics.json'), 'utf8')).score;
  return { repo, env, score1, score2 };
}

test('metrics and params diff: HEAD vs the workspace, then between two commits, as text, --json and --md', async () => {
  const { repo, score1, score2 } = await twoRuns();
  assert.notEqual(score1, score2);
  const change = Number((score2 - score1).toPrecision(12));

  const j = await dvJson(repo, ['metrics', 'diff']);
  assert.deepEqual(j.rows, [{ path: 'metrics.json', key: 'score', old: score1, new: score2, change }]);
  assert.deepEqual([j.a.rev, j.b.rev, j.errors], ['HEAD', 'workspace', []]);
  const text = await dvOk(repo, ['metrics', 'diff']);
  assert.match(text, /^Path\s+Metric\s+HEAD\s+workspace\s+Change\n/);
  assert.match(text, new RegExp(`\\nmetrics\\.json\\s+score\\s+${score1}\\s+${score2}\\s+${change}\\n?$`));
  const md = await dvOk(repo, ['metrics', 'diff', '--md']);
  assert.equal(
    md.trim(),
    `| Path | Metric | HEAD | workspace | Change |\n| --- | --- | --- | --- | --- |\n| metrics.json | score | ${score1} | ${score2} | ${change} |`,
  );

  const p = await dvJson(repo, ['params', 'diff']);
  assert.deepEqual(p.rows, [{ path: 'params.json', key: 'train.lr', old: 0.5, new: 0.25, change: -0.25 }]);
  assert.match(await dvOk(repo, ['params', 'diff']), /\nparams\.json\s+train\.lr\s+0\.5\s+0\.25\s+-0\.25\n?$/);
  assert.match(await dvOk(repo, ['params', 'diff', '--md']), /\| params\.json \| train\.lr \| 0\.5 \| 0\.25 \| -0\.25 \|/);
  // Unchanged params only with --all.
  const all = await dvJson(repo, ['params', 'diff', '--all']);
  assert.deepEqual(
    all.rows.map((r: any) => [r.path, r.key]),
    [
      ['params.yaml', 'prepare.scale'],
      ['params.json', 'train.lr'],
    ],
  );

  // Every key of params.yaml counts, declared or not (as DVC); --deps keeps the declared ones.
  const yamlBefore = await fsp.readFile(join(repo, 'params.yaml'), 'utf8');
  await fsp.writeFile(join(repo, 'params.yaml'), `${yamlBefore}notes:\n  owner: ana\n`);
  assert.deepEqual(
    (await dvJson(repo, ['params', 'diff'])).rows.map((r: any) => [r.path, r.key, r.old, r.new]),
    [
      ['params.yaml', 'notes.owner', undefined, 'ana'],
      ['params.json', 'train.lr', 0.5, 0.25],
    ],
  );
  assert.deepEqual(
    (await dvJson(repo, ['params', 'diff', '--deps'])).rows.map((r: any) => r.key),
    ['train.lr'],
  );
  await fsp.writeFile(join(repo, 'params.yaml'), yamlBefore);

  git(repo, ['add', '-A']);
  git(repo, ['commit', '-qm', 'run 2']);
  assert.deepEqual((await dvJson(repo, ['metrics', 'diff'])).rows, [], 'HEAD and the workspace agree');
  assert.match(await dvOk(repo, ['metrics', 'diff']), /no metric changed between HEAD and workspace/);
  const c = await dvJson(repo, ['metrics', 'diff', 'HEAD~1', 'HEAD']);
  assert.deepEqual(c.rows, [{ path: 'metrics.json', key: 'score', old: score1, new: score2, change }]);
  assert.deepEqual((await dvJson(repo, ['params', 'diff', 'HEAD~1', 'HEAD'])).rows[0].old, 0.5);

  const show = await dvJson(repo, ['metrics', 'show', 'HEAD~1', 'HEAD']);
  assert.deepEqual(
    show.versions.map((v: any) => [v.rev, v.files[0].values.score]),
    [
      ['HEAD~1', score1],
      ['HEAD', score2],
    ],
  );
  assert.match(await dvOk(repo, ['metrics', 'show']), new RegExp(`\\nworkspace\\s+metrics\\.json\\s+score\\s+${score2}`));
  assert.match(
    await dvOk(repo, ['metrics', 'show', 'HEAD', '--md']),
    new RegExp(`\\| HEAD \\| metrics\\.json \\| score \\| ${score2} \\|`),
  );
  const every = await dvJson(repo, ['metrics', 'show', '--all-commits']);
  // The workspace, run 2, run 1, and the fixture's commits before any run (no metrics yet).
  assert.equal(every.versions.length, 1 + git(repo, ['rev-list', '--all']).trim().split('\n').length);
  assert.deepEqual(
    every.versions.slice(0, 3).map((v: any) => v.files[0].values?.score),
    [score2, score2, score1],
  );

  const bad = await dv(repo, ['metrics', 'diff', 'no-such-rev']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /no-such-rev is no git revision here/);
});

test('metrics files: CSV (last row), TOML and nested YAML flattened with dots; a malformed or huge file at a revision is one line, no crash', async () => {
  const { repo } = await pipelineRepo();
  await fsp.writeFile(
    join(repo, 'dv.yaml'),
    (await fsp.readFile(join(repo, 'dv.yaml'), 'utf8')) +
      '  report:\n    cmd: node report.mjs\n    metrics:\n      - scores.csv\n      - eval.yaml\n      - loss.toml\n',
  );
  await fsp.writeFile(join(repo, 'scores.csv'), 'epoch,acc\n1,0.5\n2,0.75\n');
  await fsp.writeFile(join(repo, 'eval.yaml'), 'eval:\n  acc: 0.9\n  per_class: [0.8, 1]\n');
  await fsp.writeFile(join(repo, 'loss.toml'), '[train]\nloss = 0.25\nwhen = 2026-01-02T03:04:05Z\n');
  // Committed to git directly (as metrics kept in git are).
  git(repo, ['add', '-A']);
  git(repo, ['commit', '-qm', 'metrics in git']);
  const show = await dvJson(repo, ['metrics', 'show', 'HEAD']);
  assert.deepEqual(
    show.versions[0].files.filter((f: any) => f.stage === 'report').map((f: any) => [f.path, f.values]),
    [
      ['scores.csv', { epoch: 2, acc: 0.75 }],
      ['eval.yaml', { 'eval.acc': 0.9, 'eval.per_class.0': 0.8, 'eval.per_class.1': 1 }],
      ['loss.toml', { 'train.loss': 0.25, 'train.when': '2026-01-02T03:04:05.000Z' }],
    ],
  );

  await fsp.writeFile(join(repo, 'eval.yaml'), 'eval: [unclosed\n');
  await fsp.writeFile(join(repo, 'scores.csv'), 'x'.repeat(17 * 1024 * 1024));
  git(repo, ['add', '-A']);
  git(repo, ['commit', '-qm', 'broken metrics']);
  const r = await dv(repo, ['metrics', 'diff', 'HEAD~1', 'HEAD']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^warning: HEAD:eval\.yaml is not valid JSON, YAML, TOML or CSV$/m);
  assert.match(r.stdout, /^warning: HEAD:scores\.csv is 17\.0 MiB, over the 16\.0 MiB dv reads of a metrics or params file$/m);
  // The old values are shown as gone.
  assert.match(r.stdout, /\neval\.yaml\s+eval\.acc\s+0\.9\s+-\s+-/);
  const j = await dvJson(repo, ['metrics', 'diff', 'HEAD~1', 'HEAD']);
  assert.deepEqual(
    j.errors.map((e: any) => e.path),
    ['scores.csv', 'eval.yaml'],
  );
});
