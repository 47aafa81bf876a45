/**
 * The pipeline end to end through the real CLI: dv stage add, dv repro (change detection, run
 * cache, failures), dv status, dv lineage, dv dag.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { dv, dvJson, dvOk, git } from '../helpers/cli.js';
import { pipelineRepo, redefineEvaluate } from './fixture.js';

const actions = (r: any): string[] => r.stages.map((s: any) => `${s.name}:${s.action}${s.from ? `:${s.from}` : ''}`);

test('three-stage pipeline: run, nothing twice, a param reruns downstream only, raw data reruns all, run cache, lineage, dag', async () => {
  const f = await pipelineRepo();
  const { repo, env } = f;
  const yaml = await fsp.readFile(join(repo, 'dv.yaml'), 'utf8');
  assert.match(yaml, /^stages:\n {2}prepare:\n {4}cmd: node prepare.mjs\n/);
  assert.match(yaml, /- params.json:train.lr/);

  const st0 = await dvJson(repo, ['status'], env);
  // The data is clean; the pipeline is not: scripts read upToDate.
  assert.deepEqual([st0.clean, st0.upToDate], [true, false]);
  assert.deepEqual(
    st0.stages.map((s: any) => [s.name, s.changes.map((c: any) => c.type)]),
    [
      ['prepare', ['new']],
      ['train', ['new', 'upstream']],
      ['evaluate', ['new', 'upstream']],
    ],
  );

  // First run: everything, in DAG order, output shown as it runs.
  const first = await dv(repo, ['repro'], env);
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stdout, /Running stage prepare:\n> node prepare.mjs\nprepared 6 rows\n/);
  assert.deepEqual(await f.ran(), ['prepare', 'train', 'evaluate']);
  assert.deepEqual(JSON.parse(await fsp.readFile(join(repo, 'metrics.json'), 'utf8')), { score: 2 * 0.5 * 2 * (1 + 11 + 2 + 12 + 3 + 13) });
  // Outs are tracked like `dv add`: pointer files, .gitignore, clean status.
  for (const p of ['data/prepared.dv', 'model.json.dv', 'metrics.json.dv', 'dv.lock']) await fsp.access(join(repo, p));
  assert.match(await fsp.readFile(join(repo, 'data', '.gitignore'), 'utf8'), /^\/prepared$/m);
  const lock = await fsp.readFile(join(repo, 'dv.lock'), 'utf8');
  for (const k of ['cmd: node train.mjs', 'params.json:', 'train.lr: 0.5', 'python3:', 'node:', 'commit:', 'ranAt:'])
    assert.ok(lock.includes(k), `dv.lock has ${k}`);
  const st1 = await dvJson(repo, ['status'], env);
  assert.deepEqual([st1.clean, st1.upToDate, st1.stages], [true, true, []]);
  git(repo, ['add', '-A']);
  git(repo, ['commit', '-qm', 'first run']);
  const head = git(repo, ['rev-parse', 'HEAD']).trim();

  // Second run: nothing.
  assert.deepEqual(actions(await dvJson(repo, ['repro'], env)), ['prepare:up-to-date', 'train:up-to-date', 'evaluate:up-to-date']);
  assert.deepEqual(await f.ran(), []);
  assert.equal(git(repo, ['status', '--porcelain']), '', 'an up-to-date repro rewrites nothing');

  // A param: only the stages downstream of it.
  await fsp.writeFile(join(repo, 'params.json'), JSON.stringify({ train: { lr: 0.25 } }));
  const st2 = await dvJson(repo, ['status'], env);
  assert.deepEqual(st2.stages, [
    { name: 'train', changes: [{ type: 'param', what: 'params.json:train.lr', how: 'modified' }] },
    { name: 'evaluate', changes: [{ type: 'upstream', what: 'train', how: 'out of date' }] },
  ]);
  assert.match(
    await dvOk(repo, ['status'], env),
    /Stages out of date.*\n\ttrain: param params.json:train.lr modified\n\tevaluate: upstream stage train out of date/,
  );
  assert.deepEqual(actions(await dvJson(repo, ['repro', '--dry-run'], env)), [
    'prepare:up-to-date',
    'train:would-run',
    'evaluate:would-run',
  ]);
  assert.deepEqual(actions(await dvJson(repo, ['repro'], env)), ['prepare:up-to-date', 'train:ran', 'evaluate:ran']);
  assert.deepEqual(await f.ran(), ['train', 'evaluate']);

  // Raw data: everything that depends on it.
  await fsp.writeFile(join(repo, 'data', 'raw', 'part2.csv'), '2,10\n100,1\n');
  await dvOk(repo, ['commit', '-m', 'fix part2']);
  assert.deepEqual(actions(await dvJson(repo, ['repro'], env)), ['prepare:ran', 'train:ran', 'evaluate:ran']);
  assert.deepEqual(await f.ran(), ['prepare', 'train', 'evaluate']);

  // Run cache: back to a parameter value already run with these inputs restores, runs nothing.
  await fsp.writeFile(join(repo, 'params.json'), JSON.stringify({ train: { lr: 0.75 } }));
  await dvOk(repo, ['repro'], env);
  assert.deepEqual(await f.ran(), ['train', 'evaluate']);
  const before = await fsp.readFile(join(repo, 'model.json'), 'utf8');
  await fsp.writeFile(join(repo, 'params.json'), JSON.stringify({ train: { lr: 0.25 } }));
  assert.deepEqual(actions(await dvJson(repo, ['repro'], env)), [
    'prepare:up-to-date',
    'train:restored:run-cache',
    'evaluate:restored:run-cache',
  ]);
  assert.deepEqual(await f.ran(), []);
  assert.notEqual(await fsp.readFile(join(repo, 'model.json'), 'utf8'), before);
  assert.deepEqual(JSON.parse(await fsp.readFile(join(repo, 'model.json'), 'utf8')), { w: 0.25 * 2 * (1 + 11 + 2 + 100 + 3 + 13) });
  assert.deepEqual((await dvJson(repo, ['status'], env)).stages, []);
  // --force runs even so; --no-run-cache too.
  assert.deepEqual(actions(await dvJson(repo, ['repro', '--force', 'evaluate'], env)), [
    'prepare:up-to-date',
    'train:up-to-date',
    'evaluate:ran',
  ]);
  assert.deepEqual(await f.ran(), ['evaluate']);
  // A missing out comes back from the store without running.
  await fsp.rm(join(repo, 'data', 'prepared'), { recursive: true });
  assert.deepEqual(actions(await dvJson(repo, ['repro'], env)), ['prepare:restored:lock', 'train:up-to-date', 'evaluate:up-to-date']);
  assert.deepEqual(await f.ran(), []);
  assert.equal(await fsp.readFile(join(repo, 'data', 'prepared', 'count.txt'), 'utf8'), '6');
  git(repo, ['add', '-A']);
  git(repo, ['commit', '-qm', 'second run']);

  // Lineage of the final output: every stage, the raw snapshot, params, code commit, environment.
  const rawSnapshot = /snapshot: ([0-9a-f]{64})/.exec(await fsp.readFile(join(repo, 'data', 'raw.dv'), 'utf8'))![1];
  const lin = await dvJson(repo, ['lineage', 'metrics.json'], env);
  assert.equal(lin.target.path, 'metrics.json');
  assert.deepEqual(
    lin.stages.map((s: any) => s.name),
    ['evaluate', 'train', 'prepare'],
  );
  const train = lin.stages.find((s: any) => s.name === 'train');
  assert.deepEqual(train.params, { 'params.json': { 'train.lr': 0.25 } });
  assert.equal(lin.stages.find((s: any) => s.name === 'prepare').params['params.yaml']['prepare.scale'], 2);
  assert.equal(train.env.git.commit, head, 'the code commit the run sat on');
  assert.equal(typeof train.env.tools.node, 'string');
  const raw = lin.artifacts.filter((a: any) => a.kind === 'raw');
  assert.deepEqual(
    raw.map((a: any) => [a.path, a.snapshot, a.message]),
    [['data/raw', rawSnapshot, 'fix part2']],
  );
  assert.ok(lin.artifacts.some((a: any) => a.path === 'train.mjs' && a.kind === 'file'));
  const text = await dvOk(repo, ['lineage', 'metrics.json'], env);
  for (const s of [
    'stage evaluate',
    'stage train',
    'stage prepare',
    rawSnapshot.slice(0, 12),
    head.slice(0, 10),
    'params.json:train.lr=0.25',
    'cmd:    node train.mjs',
  ])
    assert.ok(text.includes(s), `lineage text names ${s}:\n${text}`);
  // By snapshot id, and for a file inside an out.
  const metricsSnap = /snapshot: ([0-9a-f]{64})/.exec(await fsp.readFile(join(repo, 'metrics.json.dv'), 'utf8'))![1];
  assert.deepEqual((await dvJson(repo, ['lineage', metricsSnap.slice(0, 10)], env)).stages.length, 3);
  const inner = await dvJson(repo, ['lineage', 'data/prepared/rows.csv'], env);
  assert.deepEqual([inner.target.inside, inner.stages.map((s: any) => s.name)], ['data/prepared/rows.csv', ['prepare']]);
  const mermaid = await dvOk(repo, ['lineage', 'metrics.json', '--format', 'mermaid'], env);
  assert.match(mermaid, /^flowchart LR\n/);
  for (const s of ['{{"evaluate', '{{"train', '{{"prepare', '[("data/raw<br/>snapshot ' + rawSnapshot.slice(0, 10), ' --> '])
    assert.ok(mermaid.includes(s), `mermaid has ${s}:\n${mermaid}`);
  assert.match(await dvOk(repo, ['lineage', 'metrics.json', '--format', 'dot'], env), /^digraph dv \{[\s\S]* -> [\s\S]*\}\n$/);

  // The DAG.
  const dag = await dvJson(repo, ['dag'], env);
  assert.deepEqual(dag.edges, [
    { from: 'prepare', to: 'train', path: 'data/prepared' },
    { from: 'train', to: 'evaluate', path: 'model.json' },
  ]);
  assert.equal(await dvOk(repo, ['dag'], env), 'prepare\n  -> train  (data/prepared)\ntrain\n  -> evaluate  (model.json)\nevaluate\n');
  assert.match(
    await dvOk(repo, ['dag', '--format', 'mermaid'], env),
    /^flowchart LR\n {2}n0\{\{"prepare"\}\}\n[\s\S]*n0 -->\|"data\/prepared"\| n1/,
  );
  assert.deepEqual(
    (await dvJson(repo, ['stage', 'list'], env)).map((s: any) => [s.name, s.upstream, s.downstream]),
    [
      ['prepare', [], ['train']],
      ['train', ['prepare'], ['evaluate']],
      ['evaluate', ['train'], []],
    ],
  );
});

test('a failing stage stops the run with its exit code and records nothing for it', async () => {
  const f = await pipelineRepo();
  const { repo, env } = f;
  await redefineEvaluate(repo, '-o', 'echo evaluating; echo broken >&2; exit 7');
  const r = await dv(repo, ['repro'], env);
  assert.equal(r.code, 7, r.stderr);
  assert.match(r.stdout, /^evaluating$/m);
  assert.match(r.stderr, /^broken$/m);
  assert.match(r.stderr, /dv: error STAGE_FAILED: stage evaluate failed with exit code 7/);
  const lock = await fsp.readFile(join(repo, 'dv.lock'), 'utf8');
  assert.ok(lock.includes('  prepare:') && lock.includes('  train:') && !lock.includes('  evaluate:'), lock);
  assert.deepEqual(
    (await dvJson(repo, ['status'], env)).stages.map((s: any) => s.name),
    ['evaluate'],
  );
  // A stage that succeeds without writing its out fails too.
  await dvOk(repo, ['stage', 'add', '-f', '-n', 'evaluate', '-d', 'model.json', '-o', 'metrics.json', '--', 'true']);
  const r2 = await dv(repo, ['repro'], env);
  assert.equal(r2.code, 40, r2.stderr);
  assert.match(r2.stderr, /STAGE_FAILED: stage evaluate succeeded but did not write its out metrics.json/);
});

test('invalid pipelines are clear errors: cycles, outs claimed twice, unknown keys, missing deps and params', async () => {
  const f = await pipelineRepo();
  const { repo } = f;
  const bad = async (args: string[], re: RegExp, code = 41): Promise<void> => {
    const r = await dv(repo, args);
    assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re);
  };
  await fsp.writeFile(join(repo, 'notes.txt'), 'in git');
  git(repo, ['add', 'notes.txt']);
  await bad(
    ['stage', 'add', '-n', 'x', '-o', 'notes.txt', '--', 'true'],
    /PIPELINE_INVALID: out notes.txt of stage x is tracked by git: run `git rm -r --cached notes.txt` first/,
  );
  await bad(
    ['stage', 'add', '-n', 'x', '-o', 'data/raw/new.csv', '--', 'true'],
    /PIPELINE_INVALID: out data\/raw\/new.csv of stage x overlaps data\/raw, which dv tracks/,
  );
  await bad(
    ['stage', 'add', '-n', 'back', '-d', 'metrics.json', '-o', 'train.mjs', '--', 'true'],
    /the stages form a cycle: train -> evaluate -> back -> train: break it/,
  );
  await bad(['stage', 'add', '-n', 'up', '-d', '../x', '--', 'true'], /PIPELINE_INVALID|PATH_OUTSIDE_REPO/, 14);
  // What the command line names wrongly is USAGE (2); 41 is for dv.yaml itself.
  await bad(['stage', 'add', '-n', 'bad name', '--', 'true'], /^dv: error USAGE: dv stage add -n: stage name "bad name" must be/, 2);
  await bad(
    ['stage', 'add', '-n', 'x', '-d', '.git/config', '--', 'true'],
    /^dv: error USAGE: dv stage add -d: \.git\/config is inside \.git/,
    2,
  );
  await bad(['stage', 'add', '-n', 'x', '-p', 'a b', '--', 'true'], /^dv: error USAGE: dv stage add -p: parameter "a b"/, 2);
  const yaml = await fsp.readFile(join(repo, 'dv.yaml'), 'utf8');
  await fsp.writeFile(
    join(repo, 'dv.yaml'),
    yaml + '  a:\n    cmd: "true"\n    deps: [b.txt]\n    outs: [a.txt]\n  b:\n    cmd: "true"\n    deps: [a.txt]\n    outs: [b.txt]\n',
  );
  await bad(['repro'], /PIPELINE_INVALID: dv.yaml: the stages form a cycle: a -> b -> a: break it/);
  await bad(['status'], /cycle/);
  // The way out named by the error: `dv stage remove` of a stage on the cycle works on it.
  await dvOk(repo, ['stage', 'remove', 'b']);
  assert.equal((await dv(repo, ['status'])).code, 0);
  await fsp.writeFile(join(repo, 'dv.yaml'), yaml + '  again:\n    cmd: "true"\n    outs: [model.json]\n');
  await bad(['repro'], /PIPELINE_INVALID: dv.yaml: out model.json is claimed by stages train and again/);
  await bad(['stage', 'add', '-n', 'x', '-o', 'metrics.json', '--', 'true'], /claimed by stages/);
  await fsp.writeFile(join(repo, 'dv.yaml'), yaml + '  typo:\n    cmd: "true"\n    dep: [a]\n');
  await bad(['repro'], /PIPELINE_INVALID: dv.yaml: stage typo: unknown key "dep"/);
  await fsp.writeFile(join(repo, 'dv.yaml'), yaml + '  self:\n    cmd: "true"\n    deps: [out/x]\n    outs: [out]\n');
  await bad(['repro'], /stage self reads out\/x and writes out: a stage cannot depend on its own output/);
  await fsp.writeFile(join(repo, 'dv.yaml'), yaml);
  await bad(['stage', 'add', '-n', 'prepare', '--', 'true'], /stage prepare exists in dv.yaml: pass --force/);
  await bad(['repro', 'nope'], /^dv: error USAGE: no stage named "nope"/, 2);
  await bad(['repro', '--verify', 'nope'], /^dv: error USAGE: no stage named "nope"/, 2);
  await fsp.writeFile(join(repo, 'params.json'), '{}');
  // The dry run says where the run would stop, and that it would.
  const dry = await dvOk(repo, ['repro', '-n']);
  assert.match(dry, /^train: would stop: parameter params\.json:train\.lr is not set/m);
  assert.doesNotMatch(dry, /^evaluate:/m, 'the run would go no further, nor does the dry run');
  await bad(['repro'], /stage train: parameter params.json:train.lr is not set/);
  assert.deepEqual(
    (await dvJson(repo, ['status'])).stages.find((s: any) => s.name === 'train').changes.map((c: any) => [c.type, c.how]),
    [['new', 'never run']],
    'prepare ran before train failed',
  );
  await fsp.writeFile(join(repo, 'params.json'), JSON.stringify({ train: { lr: 1 } }));
  await fsp.rm(join(repo, 'train.mjs'));
  await bad(['repro', 'train'], /stage train: dep train.mjs does not exist and no stage writes it/);
  assert.equal(git(repo, ['status', '--porcelain', 'dv.yaml']), '', 'errors leave dv.yaml alone');
});
