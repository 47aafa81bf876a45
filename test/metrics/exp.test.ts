/**
 * `dv exp` on a four-stage pipeline (test/metrics/fixture-exp.ts): three `exp run -S` variants
 * leave the branch, HEAD, git index, `git status` and every workspace file as they were; `exp
 * show` lists them with their parameters and metrics (--json, text, --md, sorted); `exp apply`
 * restores one byte for byte; a repeated configuration runs no command; and the refusals
 * (bad -S, unknown key, unknown experiment, unsaved changes) exit non-zero and change nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { join, relative } from 'node:path';
import { dv, dvJson, dvOk, git, makeRepo } from '../helpers/cli.js';
import { type ExpFixture, expRepo } from './fixture-exp.js';

/** Every file of the work tree but .git and .dv, with the hash of its bytes. */
async function workspaceFiles(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const stack = [root];
  while (stack.length > 0) {
    const dir = stack.pop()!;
    for (const e of await fsp.readdir(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (dir === root && (e.name === '.git' || e.name === '.dv')) continue;
      if (e.isDirectory()) stack.push(p);
      else
        out[relative(root, p)] = createHash('sha256')
          .update(await fsp.readFile(p))
          .digest('hex');
    }
  }
  return out;
}

/** What a user sees of the repository: branch, HEAD, the index's bytes, refs outside refs/exps, status, files. */
async function userView(repo: string): Promise<unknown> {
  const index = createHash('sha256')
    .update(await fsp.readFile(join(repo, '.git', 'index')))
    .digest('hex');
  const refs = git(repo, ['for-each-ref', '--format=%(refname) %(objectname)'])
    .split('\n')
    .filter((l) => !l.startsWith('refs/exps/'));
  return {
    index,
    branch: git(repo, ['symbolic-ref', 'HEAD']),
    head: git(repo, ['rev-parse', 'HEAD']),
    refs,
    worktrees: git(repo, ['worktree', 'list', '--porcelain']).split('\n')[0],
    files: await workspaceFiles(repo),
    status: git(repo, ['status', '--porcelain', '--untracked-files=all']),
  };
}

const row = (show: any, name: string): any => show.rows.find((r: any) => r.name === name);
const show = (f: ExpFixture): Promise<any> => dvJson(f.repo, ['exp', 'show'], f.env);
const blob = (repo: string, rev: string, path: string): Buffer => Buffer.from(git(repo, ['show', `${rev}:${path}`]), 'utf8');

test('three exp run -S variants: the user sees no change; exp show lists them with their params and metrics; apply restores one exactly', async () => {
  const f = await expRepo();
  const { repo, env } = f;
  const head = git(repo, ['rev-parse', 'HEAD']).trim();
  const before = await userView(repo);
  const baseLoss = JSON.parse(await fsp.readFile(join(repo, 'metrics.json'), 'utf8')).loss;

  const runs = [
    { name: 'lr-02', set: ['-S', 'train.lr=0.02'], ran: ['train', 'evaluate'] },
    { name: 'epochs-6', set: ['-S', 'train.epochs=6', '-S', 'params.yaml:train.lr=0.005'], ran: ['train', 'evaluate'] },
    { name: 'split-half', set: ['-S', 'prepare.split=0.5'], ran: ['prepare', 'featurize', 'train', 'evaluate'] },
  ];
  for (const r of runs) {
    const out = await dvJson(repo, ['exp', 'run', ...r.set, '-n', r.name], env);
    assert.equal(out.experiments[0].name, r.name);
    assert.deepEqual(out.experiments[0].ran, r.ran, `${r.name}: only the stages downstream of the changed parameter run`);
    assert.deepEqual(await f.ran(), r.ran);
  }
  assert.deepEqual(await userView(repo), before, 'branch, HEAD, index, refs, worktrees, status and files are as they were');
  const refs = git(repo, ['for-each-ref', '--format=%(refname)', 'refs/exps/']).trim().split('\n').sort();
  assert.deepEqual(refs, runs.map((r) => `refs/exps/${head}/${r.name}`).sort());
  assert.equal(git(repo, ['rev-parse', `refs/exps/${head}/lr-02^`]).trim(), head, 'an experiment is a commit on top of HEAD');

  const s = await show(f);
  assert.deepEqual(
    s.rows.map((r: any) => [r.name, r.kind]),
    [
      ['workspace', 'workspace'],
      ['main', 'baseline'],
      ['lr-02', 'experiment'],
      ['epochs-6', 'experiment'],
      ['split-half', 'experiment'],
    ],
  );
  const p = (name: string): any => row(s, name).params['params.yaml'];
  assert.deepEqual(p('workspace'), { 'prepare.split': 0.75, 'featurize.ngrams': 2, 'train.lr': 0.01, 'train.epochs': 3 });
  assert.deepEqual(p('lr-02'), { 'prepare.split': 0.75, 'featurize.ngrams': 2, 'train.lr': 0.02, 'train.epochs': 3 });
  assert.deepEqual(p('epochs-6'), { 'prepare.split': 0.75, 'featurize.ngrams': 2, 'train.lr': 0.005, 'train.epochs': 6 });
  assert.deepEqual(p('split-half'), { 'prepare.split': 0.5, 'featurize.ngrams': 2, 'train.lr': 0.01, 'train.epochs': 3 });
  assert.deepEqual(row(s, 'epochs-6').set, ['train.epochs=6', 'params.yaml:train.lr=0.005']);
  assert.equal(row(s, 'main').metrics['metrics.json'].loss, baseLoss);
  const losses = new Set<number>();
  for (const r of runs) {
    const m = row(s, r.name).metrics['metrics.json'];
    // The metrics are those the experiment's own commit holds, and each variant's differ.
    assert.deepEqual(m, {
      loss: JSON.parse(blob(repo, `refs/exps/${head}/${r.name}`, 'metrics.json').toString()).loss,
      'eval.w': m['eval.w'],
    });
    assert.notEqual(m.loss, baseLoss);
    losses.add(m.loss);
  }
  assert.equal(losses.size, 3);
  assert.deepEqual(
    s.columns.map((c: any) => c.label),
    ['prepare.split', 'featurize.ngrams', 'train.lr', 'train.epochs', 'loss', 'eval.w'],
  );

  // Text, Markdown, sorted.
  const text = await dvOk(repo, ['exp', 'show'], env);
  assert.match(text, /^Experiment\s+prepare\.split\s+featurize\.ngrams\s+train\.lr\s+train\.epochs\s+loss\s+eval\.w\n/);
  assert.match(text, new RegExp(`\\nlr-02\\s+0\\.75\\s+2\\s+0\\.02\\s+3\\s+${row(s, 'lr-02').metrics['metrics.json'].loss}\\s`));
  const md = await dvOk(repo, ['exp', 'show', '--md'], env);
  const lines = md.trim().split('\n');
  assert.equal(lines[0], '| Experiment | prepare.split | featurize.ngrams | train.lr | train.epochs | loss | eval.w |');
  assert.equal(lines[1], '| --- | --- | --- | --- | --- | --- | --- |');
  assert.ok(
    lines.includes(
      `| lr-02 | 0.75 | 2 | 0.02 | 3 | ${row(s, 'lr-02').metrics['metrics.json'].loss} | ${row(s, 'lr-02').metrics['metrics.json']['eval.w']} |`,
    ),
  );
  const sorted = await dvJson(repo, ['exp', 'show', '--sort-by', 'loss', '--sort-order', 'desc'], env);
  const exps = sorted.rows.filter((r: any) => r.kind === 'experiment').map((r: any) => r.metrics['metrics.json'].loss);
  assert.deepEqual(
    exps,
    [...exps].sort((a: number, b: number) => b - a),
  );
  assert.deepEqual(
    sorted.rows.slice(0, 2).map((r: any) => r.name),
    ['workspace', 'main'],
  );

  // Apply: the workspace takes lr-02's params, dv.lock, metrics and outs, byte for byte.
  const ref = `refs/exps/${head}/lr-02`;
  const applied = await dvJson(repo, ['exp', 'apply', 'lr-02'], env);
  assert.deepEqual(applied.outs, ['model.bin']);
  for (const file of ['params.yaml', 'dv.lock', 'metrics.json', 'model.bin.dv'])
    assert.deepEqual(await fsp.readFile(join(repo, file)), blob(repo, ref, file), file);
  const model = await fsp.readFile(join(repo, 'model.bin'));
  assert.deepEqual(model, Buffer.from(await dvOk(repo, ['cat', `${ref}:model.bin`]), 'utf8'));
  assert.notDeepEqual(model, Buffer.from(await dvOk(repo, ['cat', 'HEAD:model.bin']), 'utf8'));
  // The applied state is consistent: repro runs nothing, status is clean but for git's view of the edited files.
  await dvOk(repo, ['repro'], env);
  assert.deepEqual(await f.ran(), []);
  assert.equal((await dvJson(repo, ['status'], env)).clean, true);

  // Another apply after it: files of the first experiment that the second did not change go back to HEAD's.
  await dvOk(repo, ['exp', 'apply', 'split-half'], env);
  assert.deepEqual(await fsp.readFile(join(repo, 'params.yaml')), blob(repo, `refs/exps/${head}/split-half`, 'params.yaml'));
  assert.deepEqual(await fsp.readFile(join(repo, 'data/prepared.dv')), blob(repo, `refs/exps/${head}/split-half`, 'data/prepared.dv'));
  await dvOk(repo, ['repro'], env);
  assert.deepEqual(await f.ran(), []);
});

test('a repeated configuration runs no command, and gives the same metrics', async () => {
  const f = await expRepo();
  const first = await dvJson(f.repo, ['exp', 'run', '-S', 'train.lr=0.03'], f.env);
  assert.deepEqual(await f.ran(), ['train', 'evaluate']);
  const again = await dvOk(f.repo, ['exp', 'run', '-S', 'train.lr=0.03'], f.env);
  assert.deepEqual(await f.ran(), [], 'no stage command ran the second time');
  assert.match(again, /ran no command, 4 stage\(s\) restored from recorded runs/);
  const s = await show(f);
  const exps = s.rows.filter((r: any) => r.kind === 'experiment');
  assert.equal(exps.length, 2);
  assert.notEqual(exps[0].name, exps[1].name, 'each run gets its own generated name');
  assert.match(first.experiments[0].name, /^[a-z]+-[a-z]+$/);
  assert.deepEqual(exps[0].metrics, exps[1].metrics);
  assert.deepEqual(exps[0].params, exps[1].params);
});

test('refusals: bad -S, unknown key, taken name, unknown experiment, unsaved changes: non-zero, one line, nothing changed', async () => {
  const f = await expRepo();
  const { repo, env } = f;
  await dvOk(repo, ['exp', 'run', '-S', 'train.lr=0.02', '-n', 'lr-02'], env);
  await f.ran();
  const refs = (): string => git(repo, ['for-each-ref', 'refs/exps/']);
  const refsBefore = refs();
  const view = await userView(repo);
  const cases: [string[], number, string, RegExp][] = [
    [['exp', 'run', '-S', 'train.lr'], 2, 'USAGE', /-S "train\.lr": give \[FILE:\]KEY=VALUE/],
    [['exp', 'run', '-S', '=3'], 2, 'USAGE', /give \[FILE:\]KEY=VALUE/],
    [['exp', 'run', '-S', 'train.lrr=0.1'], 2, 'USAGE', /params\.yaml has no key train\.lrr.*\+train\.lrr/],
    [['exp', 'run', '-S', 'nothere.yaml:a=1'], 2, 'USAGE', /nothere\.yaml does not exist/],
    [['exp', 'run', '-S', 'train.lr=0.5', '-n', 'lr-02'], 2, 'USAGE', /an experiment of that name exists.*-f/],
    [['exp', 'run', '-S', 'train.lr=0.5', '-n', 'bad/name'], 2, 'USAGE', /an experiment name must start/],
    [['exp', 'apply', 'nope'], 44, 'UNKNOWN_EXPERIMENT', /no experiment named "nope"/],
    [['exp', 'remove', 'nope'], 44, 'UNKNOWN_EXPERIMENT', /no experiment named "nope"/],
    [['exp', 'show', '--sort-by', 'nope'], 2, 'USAGE', /--sort-by nope: no parameter or metric/],
  ];
  for (const [args, code, name, msg] of cases) {
    const r = await dv(repo, args, env);
    assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`^dv: error ${name}: `));
    assert.match(r.stderr, msg);
    assert.equal(r.stderr.trim().split('\n').length, 1, 'one line');
  }
  assert.deepEqual(await f.ran(), [], 'no stage ran');
  assert.equal(refs(), refsBefore);
  assert.deepEqual(await userView(repo), view);

  // Unsaved edits: a params.yaml edit that is in no commit and no experiment is not overwritten.
  const edited = (await fsp.readFile(join(repo, 'params.yaml'), 'utf8')).replace('epochs: 3', 'epochs: 4');
  await fsp.writeFile(join(repo, 'params.yaml'), edited);
  const dirty = await userView(repo);
  const r = await dv(repo, ['exp', 'apply', 'lr-02'], env);
  assert.equal(r.code, 16, r.stderr);
  assert.match(
    r.stderr,
    /^dv: error UNSAVED_CHANGES: dv exp apply lr-02: params\.yaml has changes that are in no commit and no experiment: .*--force.*nothing was changed\n$/,
  );
  assert.deepEqual(await userView(repo), dirty, 'nothing changed');
  // An out changed by hand is refused the same way.
  await fsp.writeFile(join(repo, 'params.yaml'), (await fsp.readFile(join(repo, 'params.yaml'), 'utf8')).replace('epochs: 4', 'epochs: 3'));
  await fsp.appendFile(join(repo, 'model.bin'), 'hand edit');
  const r2 = await dv(repo, ['exp', 'apply', 'lr-02'], env);
  assert.equal(r2.code, 16, r2.stderr);
  assert.match(r2.stderr, /model\.bin has data changes not recorded with `dv commit`/);
  // --force overwrites.
  await dvOk(repo, ['exp', 'apply', 'lr-02', '--force'], env);
  assert.deepEqual(
    await fsp.readFile(join(repo, 'params.yaml')),
    blob(repo, `refs/exps/${git(repo, ['rev-parse', 'HEAD']).trim()}/lr-02`, 'params.yaml'),
  );
  assert.equal((await dvJson(repo, ['status'], env)).clean, true);
});

test('--queue records experiments without running them; --run-all runs them; remove drops them', async () => {
  const f = await expRepo();
  const { repo, env } = f;
  const before = await userView(repo);
  await dvOk(repo, ['exp', 'run', '--queue', '-S', 'train.lr=0.04', '-n', 'q1'], env);
  await dvOk(repo, ['exp', 'run', '--queue', '-S', 'featurize.ngrams=3', '-n', 'q2'], env);
  assert.deepEqual(await f.ran(), [], 'queued, not run');
  assert.deepEqual(await userView(repo), before);
  let s = await show(f);
  assert.deepEqual(
    s.rows.filter((r: any) => r.kind === 'queued').map((r: any) => [r.name, r.params['params.yaml']['train.lr'], r.metrics]),
    [
      ['q1', 0.04, s.rows[0].metrics],
      ['q2', 0.01, s.rows[0].metrics],
    ],
  );
  assert.match(await dvOk(repo, ['exp', 'show'], env), /\nq1 \(queued\)\s/);
  const all = await dvJson(repo, ['exp', 'run', '--run-all'], env);
  assert.deepEqual(
    all.experiments.map((e: any) => [e.name, e.ran]),
    [
      ['q1', ['train', 'evaluate']],
      ['q2', ['featurize', 'train', 'evaluate']],
    ],
  );
  await f.ran();
  s = await show(f);
  assert.deepEqual(
    s.rows.map((r: any) => [r.name, r.kind]),
    [
      ['workspace', 'workspace'],
      ['main', 'baseline'],
      ['q1', 'experiment'],
      ['q2', 'experiment'],
    ],
  );
  assert.equal(row(s, 'q2').params['params.yaml']['featurize.ngrams'], 3);
  assert.notEqual(row(s, 'q2').metrics['metrics.json'].loss, row(s, 'main').metrics['metrics.json'].loss);
  assert.deepEqual(await userView(repo), before);

  const removed = await dvJson(repo, ['exp', 'remove', 'q1'], env);
  assert.deepEqual(
    removed.removed.map((r: any) => r.name),
    ['q1'],
  );
  await dvOk(repo, ['exp', 'run', '--queue', '-S', 'train.lr=0.07'], env);
  await dvOk(repo, ['exp', 'remove', '--queue'], env);
  assert.deepEqual(
    (await show(f)).rows.slice(2).map((r: any) => r.name),
    ['q2'],
  );
  await dvOk(repo, ['exp', 'remove', '--all'], env);
  assert.equal(git(repo, ['for-each-ref', 'refs/exps/']), '');
});

test('dv gc keeps what experiments name (their refs are gc roots, like branches)', async () => {
  const f = await expRepo();
  const { repo, env } = f;
  await dvOk(repo, ['exp', 'run', '-S', 'train.lr=0.02', '-n', 'kept'], env);
  await f.ran();
  const gc = await dvJson(repo, ['gc', '--keep-days', '0'], env);
  assert.equal(typeof gc.removedObjects, 'number');
  await dvOk(repo, ['exp', 'apply', 'kept'], env);
  const head = git(repo, ['rev-parse', 'HEAD']).trim();
  assert.deepEqual(
    await fsp.readFile(join(repo, 'model.bin')),
    Buffer.from(await dvOk(repo, ['cat', `refs/exps/${head}/kept:model.bin`]), 'utf8'),
  );
});

test('a stage that fails in an experiment: the error names the experiment and `dv exp run`, with the stage exit code', async () => {
  const repo = await makeRepo();
  await fsp.writeFile(join(repo, 'params.yaml'), 'x:\n  fail: 0\n');
  const script =
    "import fs from 'node:fs';\nif (/fail: 1/.test(fs.readFileSync('params.yaml', 'utf8'))) process.exit(3);\nfs.writeFileSync('out.txt', 'ok');\n";
  await fsp.writeFile(join(repo, 'run.mjs'), script);
  await dvOk(repo, ['stage', 'add', '-n', 's', '-d', 'run.mjs', '-p', 'x.fail', '-o', 'out.txt', '--', 'node run.mjs']);
  await dvOk(repo, ['repro']);
  git(repo, ['add', '-A']);
  git(repo, ['commit', '-qm', 'base']);
  const r = await dv(repo, ['exp', 'run', '-S', 'x.fail=1', '-n', 'badexp']);
  assert.equal(r.code, 3, r.stderr);
  assert.match(r.stderr, /^dv: error STAGE_FAILED: experiment badexp: stage s failed with exit code 3: .*run `dv exp run` again/m);
  assert.equal(git(repo, ['for-each-ref', 'refs/exps/']), '', 'no experiment recorded');
});
