/** The pure pipeline parts: dv.yaml and dv.lock codecs, the DAG, the run key, graph rendering. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initHash } from '../../src/core/hash.js';
import { DvError } from '../../src/errors.js';
import { buildDag, downstreamOf, ownerOf, withUpstream } from '../../src/pipeline/dag.js';
import { toDot, toMermaid } from '../../src/pipeline/graph.js';
import { encodeLock, parseLock, type Lockfile } from '../../src/pipeline/lockfile.js';
import { decodeRun, encodeRun, lookupParam, runKey } from '../../src/pipeline/run.js';
import { parseSpec, setStage, type StageSpec } from '../../src/pipeline/spec.js';

const stage = (name: string, deps: string[], outs: string[]): StageSpec => ({ name, cmd: `make ${name}`, deps, params: [], outs });
const throwsCode = (f: () => unknown, re: RegExp): void =>
  assert.throws(f, (e: unknown) => e instanceof DvError && e.code === 'PIPELINE_INVALID' && re.test(e.message));

test('dv.yaml: parse, normalize, both params forms, strict keys; setStage keeps comments', () => {
  const spec = parseSpec(`# my pipeline
stages:
  prep:
    cmd: python3 prep.py
    deps: [./data/raw/, prep.py]
    params:
      - prep.split
      - conf/train.json:seed
      - other.yaml: [a.b, c]
    outs: [out//x]
`);
  assert.deepEqual(spec.stages[0], {
    name: 'prep',
    cmd: 'python3 prep.py',
    deps: ['data/raw', 'prep.py'],
    outs: ['out/x'],
    params: [
      { file: 'params.yaml', key: 'prep.split' },
      { file: 'conf/train.json', key: 'seed' },
      { file: 'other.yaml', key: 'a.b' },
      { file: 'other.yaml', key: 'c' },
    ],
  });
  assert.deepEqual(parseSpec(''), { stages: [] });
  throwsCode(() => parseSpec('stages:\n  a:\n    cmd: x\n    outs: [../up]\n'), /outside the repository/);
  throwsCode(() => parseSpec('stages:\n  a:\n    cmd: x\n    outs: [/abs]\n'), /absolute/);
  throwsCode(() => parseSpec('stages:\n  a:\n    cmd: x\n    deps: [.dv/cache]\n'), /inside .dv/);
  throwsCode(() => parseSpec('stages:\n  a:\n    cmd: x\n  a:\n    cmd: y\n'), /line 4: Map keys must be unique/);
  throwsCode(() => parseSpec('stages:\n  a:\n    command: x\n'), /unknown key "command"/);
  throwsCode(() => parseSpec('stages:\n  a: {cmd: ""}\n'), /cmd must be a non-empty/);
  throwsCode(() => parseSpec('stagez: {}\n'), /unknown top-level key "stagez"/);

  const text = setStage('# keep me\nstages:\n  prep:\n    cmd: x # and me\n', {
    name: 'train',
    cmd: 'python3 train.py --lr "1"',
    deps: ['a'],
    params: [
      { file: 'params.yaml', key: 'lr' },
      { file: 'p.json', key: 'seed' },
    ],
    outs: ['m'],
  });
  assert.equal(
    text,
    '# keep me\nstages:\n  prep:\n    cmd: x # and me\n  train:\n    cmd: python3 train.py --lr "1"\n    deps:\n      - a\n    params:\n      - lr\n      - p.json:seed\n    outs:\n      - m\n',
  );
  assert.equal(parseSpec(text).stages[1].cmd, 'python3 train.py --lr "1"');
  assert.equal(setStage('', stage('a', [], ['o'])), 'stages:\n  a:\n    cmd: make a\n    outs:\n      - o\n');
});

test('DAG: order, upstream/downstream, nested paths link stages, cycles and shared outs are errors', () => {
  const dag = buildDag([
    stage('eval', ['model/m.bin', 'data/clean'], ['metrics.json']),
    stage('train', ['data/clean/x.csv'], ['model']),
    stage('clean', ['data/raw'], ['data/clean']),
    stage('lone', [], ['z']),
  ]);
  assert.deepEqual(dag.order, ['clean', 'train', 'eval', 'lone']);
  assert.deepEqual(withUpstream(dag, ['eval']), ['clean', 'train', 'eval']);
  assert.deepEqual(downstreamOf(dag, ['clean']), ['train', 'eval']);
  assert.deepEqual(ownerOf(dag, 'model/m.bin'), { stage: 'train', out: 'model' });
  assert.equal(ownerOf(dag, 'data/raw/a'), undefined);
  throwsCode(() => buildDag([stage('a', ['y'], ['x']), stage('b', ['x'], ['y'])]), /the stages form a cycle: a -> b -> a/);
  throwsCode(
    () => buildDag([stage('a', ['z'], ['x']), stage('b', ['x'], ['y']), stage('c', ['y'], ['z']), stage('d', [], ['w'])]),
    /cycle: a -> b -> c -> a/,
  );
  throwsCode(() => buildDag([stage('a', [], ['x']), stage('b', [], ['x'])]), /out x is claimed by stages a and b/);
  throwsCode(() => buildDag([stage('a', [], ['x']), stage('b', [], ['x/y'])]), /out x\/y of stage b overlaps out x of stage a/);
  throwsCode(() => buildDag([stage('a', ['x/in'], ['x'])]), /cannot depend on its own output/);
});

test('DAG: a metrics file or plot kept in git is written by its stage like an out', () => {
  const kept = (name: string, deps: string[], metrics: string[]): StageSpec => ({
    ...stage(name, deps, []),
    metrics,
    uncached: metrics,
  });
  // report reads eval's git-kept metrics: it comes after eval even though it is listed first.
  const dag = buildDag([
    stage('report', ['metrics.json'], ['report']),
    kept('eval', ['model'], ['metrics.json']),
    { ...stage('plot', [], []), plots: [{ path: 'loss.csv', cache: false }] },
    stage('chart', ['loss.csv'], ['chart.png']),
  ]);
  assert.deepEqual(dag.order, ['eval', 'report', 'plot', 'chart']);
  assert.deepEqual(dag.edges, [
    { from: 'eval', to: 'report', path: 'metrics.json' },
    { from: 'plot', to: 'chart', path: 'loss.csv' },
  ]);
  assert.deepEqual(ownerOf(dag, 'metrics.json'), { stage: 'eval', out: 'metrics.json' });
  throwsCode(() => buildDag([kept('a', [], ['m.json']), stage('b', [], ['m.json'])]), /out m\.json is claimed by stages a and b/);
  throwsCode(() => buildDag([kept('a', ['m.json'], ['m.json'])]), /cannot depend on its own output/);
});

test('run key: order of deps does not matter; cmd, dep ids, param values and outs do', async () => {
  await initHash();
  const id = (c: string): string => c.repeat(64);
  const base = {
    cmd: 'python3 t.py',
    deps: [
      { path: 'a', id: id('1') },
      { path: 'b', id: id('2') },
    ],
    params: { 'params.yaml': { lr: 0.1, nested: { x: [1, 2] } } },
    outs: ['m', 'n'],
  };
  const k = runKey(base);
  assert.match(k, /^[0-9a-f]{64}$/);
  assert.equal(
    runKey({ ...base, deps: [...base.deps].reverse(), outs: ['n', 'm'], params: { 'params.yaml': { nested: { x: [1, 2] }, lr: 0.1 } } }),
    k,
  );
  for (const v of [
    { cmd: 'python3 t.py ' },
    { deps: [{ path: 'a', id: id('3') }, base.deps[1]] },
    { params: { 'params.yaml': { lr: 0.2, nested: { x: [1, 2] } } } },
    { params: { 'params.yaml': { lr: '0.1', nested: { x: [1, 2] } } } },
    { outs: ['m'] },
  ]) {
    assert.notEqual(runKey({ ...base, ...v }), k, JSON.stringify(v));
  }
  assert.equal(lookupParam({ a: { b: [10, { c: 'x' }] } }, 'a.b.1.c'), 'x');
  assert.equal(lookupParam({ a: { b: 1 } }, 'a.c'), undefined);
  assert.equal(lookupParam({ a: 1 }, 'a.toString'), undefined);
  const run = {
    key: k,
    stage: 's',
    cmd: 'c',
    deps: [{ path: 'a', id: id('1') }],
    params: {},
    outs: [{ path: 'm', id: id('4'), snapshot: id('5') }],
    env: { dv: '0', os: 'x', arch: 'y', tools: {}, git: null, lockfiles: {}, vars: {} },
    ranAt: 't',
  };
  assert.deepEqual(decodeRun(encodeRun(run)), run);
  assert.throws(() => decodeRun(Buffer.from('dvrun 1\n{}')), /run record .* malformed/);
});

test('dv.lock: round trip, stable order, refuses damage', () => {
  const id = (c: string): string => c.repeat(64);
  const env = {
    dv: '0.1.0',
    os: 'linux',
    arch: 'x64',
    tools: { node: '20' },
    git: { commit: 'abc', branch: 'main', dirty: false },
    lockfiles: {},
    vars: {},
  };
  const lock: Lockfile = {
    stages: {
      train: {
        cmd: 'python3 train.py',
        key: id('a'),
        run: id('b'),
        deps: [
          { path: 'd', id: id('c'), snapshot: id('d') },
          { path: 'train.py', id: id('e') },
        ],
        params: { 'params.yaml': { 'train.lr': 0.1, 'train.layers': [64, 32] } },
        outs: [{ path: 'model', id: id('f'), snapshot: id('1') }],
        kept: [{ path: 'metrics.json', id: id('4') }],
        env,
        ranAt: '2024-01-01T00:00:00.000Z',
      },
      prep: { cmd: 'x', key: id('2'), run: id('3'), deps: [], params: {}, outs: [], env, ranAt: 't' },
    },
  };
  const text = encodeLock(lock);
  assert.ok(text.indexOf('  prep:') < text.indexOf('  train:'), 'stages sorted by name');
  assert.match(text, /^# dv.lock/);
  assert.deepEqual(parseLock(text), lock);
  assert.equal(encodeLock(parseLock(text)), text);
  throwsCode(() => parseLock('schema: 2\n'), /schema 1/);
  throwsCode(() => parseLock(text.replace(id('f'), 'nope')), /stage train: deps, outs or kept/);
  throwsCode(() => parseLock(text.replace(id('4'), 'nope')), /stage train: deps, outs or kept/);
  assert.match(text, /kept:\n {6}- path: metrics.json\n {8}id: "4{64}"\n/);
});

test('graphs render as Mermaid and DOT with escaped labels', () => {
  const g = {
    nodes: [
      { id: 'a', label: 'data "raw"\nsnap 1', kind: 'raw' as const },
      { id: 's', label: 'train', kind: 'stage' as const },
      { id: 'f', label: 'x.py', kind: 'file' as const },
      { id: 'o', label: 'model', kind: 'data' as const },
    ],
    edges: [
      { from: 'a', to: 's' },
      { from: 'f', to: 's' },
      { from: 's', to: 'o', label: 'writes' },
    ],
  };
  assert.equal(
    toMermaid(g),
    'flowchart LR\n  n0[("data #quot;raw#quot;<br/>snap 1")]\n  n1{{"train"}}\n  n2>"x.py"]\n  n3["model"]\n  n0 --> n1\n  n2 --> n1\n  n1 -->|"writes"| n3\n',
  );
  assert.match(toDot(g), /n0 \[label="data \\"raw\\"\\nsnap 1", shape=cylinder\];\n[\s\S]*n1 -> n3 \[label="writes"\];\n\}\n$/);
});
