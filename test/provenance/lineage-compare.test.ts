/** The pure half of `dv lineage diff`: causes versus effects, bounded lists, and groups older records lack. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { codeCauseWhat, compareRuns, MAX_VALUES, type InputChange, type StageRun } from '../../src/provenance/lineage-compare.js';

const ID = (c: string): string => c.repeat(64);
const run = (over: Partial<StageRun> = {}): StageRun => ({
  name: 'train',
  cmd: 'python3 train.py',
  key: ID('a'),
  params: { 'params.yaml': { 'train.lr': 0.1 } },
  env: { dv: '0.1.0', os: 'linux', arch: 'x64', tools: { python3: '3.11.4' }, git: null, lockfiles: {}, vars: {} },
  deps: [{ path: 'data/raw', id: ID('b'), snapshot: ID('c') }],
  outs: [{ path: 'model.pkl', id: ID('d') }],
  ...over,
});
const input = (kind: InputChange['kind']): InputChange => ({
  path: 'x',
  kind,
  a: ID('1'),
  b: ID('2'),
  added: 0,
  modified: 1,
  deleted: 0,
  paths: [],
  more: 0,
});

test('effects alone (an upstream out, outs, metrics) are no cause', () => {
  const d = compareRuns(
    'train',
    run({ metrics: { 'm.json:loss': 1 } }),
    run({ metrics: { 'm.json:loss': 2 }, outs: [{ path: 'model.pkl', id: ID('e') }] }),
    [input('upstream')],
    null,
  );
  assert.deepEqual(d.causes, []);
  assert.equal(d.status, 'changed');
  assert.deepEqual(d.metrics, [{ key: 'm.json:loss', a: 1, b: 2 }]);
});

test('each cause is named once: data, code (a script dep), params, command, env', () => {
  const b = run({
    cmd: 'python3 train.py --fast',
    params: { 'params.yaml': { 'train.lr': 0.2 } },
    env: { ...run().env, tools: { python3: '3.12.0' } },
  });
  const d = compareRuns('train', run(), b, [input('data'), input('file')], null);
  assert.deepEqual(d.causes, ['data', 'code', 'params', 'command', 'env']);
  assert.deepEqual(d.env, [{ key: 'tools.python3', a: '3.11.4', b: '3.12.0' }]);
});

test('a group an older record lacks is one line; long lists are bounded and counted', () => {
  const pkgs = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`pkg${i}`, '1.0']));
  const d = compareRuns('train', run(), run({ env: { ...run().env, pythonPackages: pkgs } }), [], null);
  assert.deepEqual(d.env, [{ key: 'pythonPackages', b: '(300 recorded)' }]);
  const many = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`k${i}`, i]));
  const e = compareRuns('train', run({ params: { 'p.yaml': many } }), run({ params: {} }), [], null);
  assert.equal(e.params.length, MAX_VALUES);
  assert.equal(e.more, 300 - MAX_VALUES);
});

test('a stage only one version has is a stage cause', () => {
  assert.deepEqual(compareRuns('train', undefined, run(), [], null).causes, ['stage']);
  assert.equal(compareRuns('train', run(), undefined, [], null).status, 'removed');
});

test('a code cause names the files git changed, or which run had uncommitted code when git names none', () => {
  const code = { a: 'c1', b: 'c1', dirtyA: false, dirtyB: true, files: [], more: 0, filtered: 0 };
  assert.deepEqual(codeCauseWhat(code), ['uncommitted code in the second run']);
  assert.deepEqual(codeCauseWhat({ ...code, dirtyA: true, dirtyB: false }), ['uncommitted code in the first run']);
  assert.deepEqual(codeCauseWhat({ ...code, b: 'c2', files: ['train.py'] }), ['train.py']);
  assert.deepEqual(codeCauseWhat(null), []);
  assert.deepEqual(compareRuns('train', run(), run(), [], code).causes, ['code']);
});
