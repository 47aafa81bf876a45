/**
 * `dv exp` command lines parsed in-process (`main(args, io)`): bad options and combinations are
 * one USAGE line with exit 2 before anything runs; help lists the sub-commands with an example.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { dvInProcess as dv } from '../helpers/in-process.js';
import { git, makeRepo, tempDir } from '../helpers/cli.js';
import { badExpName, parseRefLines } from '../../src/pipeline/exp-refs.js';
import { parseSet, setParams } from '../../src/pipeline/exp-params.js';

before(() => {
  process.env.XDG_CONFIG_HOME = tempDir('dv-exp-parse-xdg-');
});

test('dv exp: bad options and combinations are one USAGE line, exit 2, and create no ref', async () => {
  const dir = await makeRepo();
  git(dir, ['commit', '-q', '--allow-empty', '-m', 'base']);
  const cases: [string[], RegExp][] = [
    [['exp', 'show', '--sort-order', 'sideways'], /--sort-order sideways: use asc or desc/],
    [['exp', 'run', '--run-all', '-S', 'a=1'], /--run-all runs the queue as it was recorded/],
    [['exp', 'run', '-j', '2'], /unknown option '-j'/],
    [['exp', 'push', 'origin', '-j', '0'], /-j 0: give a whole number of 1 or more/],
    [['exp', 'push', 'origin'], /name the experiments to share, or pass --all/],
    [['exp', 'pull', '--upload-pack=evil', '--all'], /unknown option '--upload-pack=evil'/],
    [['exp', 'remove'], /name experiments, or pass --all or --queue/],
    [['exp', 'apply'], /missing required argument 'name'/],
  ];
  for (const [args, msg] of cases) {
    const r = await dv(dir, args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /^dv: error USAGE: \S[^\n]*\n$/, args.join(' '));
    assert.match(r.stderr, msg, args.join(' '));
  }
  assert.equal(git(dir, ['for-each-ref', 'refs/exps/']), '');
  const help = await dv(dir, ['exp', '--help']);
  assert.equal(help.code, 0);
  for (const sub of ['run', 'show', 'apply', 'remove', 'push', 'pull']) assert.match(help.stdout, new RegExp(`\\n  ${sub}\\b`));
  assert.match((await dv(dir, ['exp', 'run', '--help'])).stdout, /Example:\n {2}dv exp run -S train\.lr=0\.1/);
});

test('experiment names and remote refs: only dv shapes, bounded', () => {
  for (const bad of ['', 'a/b', '-x', '.x', 'a..b', 'x.lock', 'x.', 'queue', 'a b', 'n'.repeat(65), 'ä', 'a'.repeat(40).replace(/a/g, 'f')])
    assert.ok(badExpName(bad), `${JSON.stringify(bad)} is refused`);
  for (const good of ['lr-02', 'brisk-lynx', 'A_1.2', 'n'.repeat(64)]) assert.equal(badExpName(good), undefined, good);
  const sha = 'a'.repeat(40);
  const lines = [
    `${sha}\trefs/exps/${sha}/ok`,
    `${sha}\trefs/exps/${sha}/a/b`,
    `${sha}\trefs/exps/notasha/x`,
    `${sha}\trefs/exps/queue/q1`,
    `${sha}\trefs/heads/main`,
    `zzz\trefs/exps/${sha}/bad-sha`,
  ];
  assert.deepEqual(
    parseRefLines(lines.join('\n')).map((e) => [e.name, e.queued]),
    [
      ['ok', false],
      ['q1', true],
    ],
  );
  const many = Array.from({ length: 10_050 }, (_, i) => `${sha}\trefs/exps/${sha}/e${i}`).join('\n');
  assert.equal(parseRefLines(many).length, 10_000, 'capped');
});

test('-S values: YAML values, FILE:KEY, +KEY; YAML keeps comments, JSON its indentation', () => {
  assert.deepEqual(parseSet('train.lr=0.1'), { arg: 'train.lr=0.1', file: 'params.yaml', key: 'train.lr', value: 0.1, add: false });
  assert.deepEqual(parseSet('cfg/p.json:opt.layers=[1, 2]').value, [1, 2]);
  assert.equal(parseSet('cfg/p.json:opt.layers=[1, 2]').file, 'cfg/p.json');
  assert.equal(parseSet('a=adam').value, 'adam');
  assert.equal(parseSet('+a.new=true').add, true);
  for (const bad of ['novalue', '=1', '../x.yaml:a=1', '/etc/x:a=1', 'a..b=1', 'a.=1']) assert.throws(() => parseSet(bad), /USAGE|-S/);
  const yaml = '# learning\ntrain:\n  lr: 0.01 # the rate\n  epochs: 3\n';
  assert.equal(setParams(yaml, 'params.yaml', [parseSet('train.lr=0.1')]), '# learning\ntrain:\n  lr: 0.1 # the rate\n  epochs: 3\n');
  assert.throws(() => setParams(yaml, 'params.yaml', [parseSet('train.lrr=0.1')]), /has no key train\.lrr/);
  assert.equal(setParams(yaml, 'params.yaml', [parseSet('+train.seed=7')]).includes('seed: 7'), true);
  const json = '{\n    "train": { "lr": 0.5 }\n}\n';
  assert.equal(setParams(json, 'p.json', [parseSet('p.json:train.lr=0.25')]), '{\n    "train": {\n        "lr": 0.25\n    }\n}\n');
  // JSON.parse makes "__proto__" an own property: read it as one, not through the accessor.
  const own = JSON.parse(setParams('{"__proto__": {"x": 1}}', 'p.json', [parseSet('p.json:__proto__.x=2')]));
  assert.equal(Object.getOwnPropertyDescriptor(own, '__proto__')?.value.x, 2);
  assert.equal(({} as Record<string, unknown>).x, undefined, 'no prototype polluted');
  assert.equal(setParams('[t]\nlr = 0.5\n', 'p.toml', [parseSet('p.toml:t.lr=0.1')]).trim(), '[t]\nlr = 0.1');
});
