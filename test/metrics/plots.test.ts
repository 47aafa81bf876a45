/**
 * `dv plots show|diff`: the Vega-Lite specs of CSV, TSV, JSON and YAML data as dv.yaml declares
 * them (values checked point by point in --json), the files written with -o, one series per
 * revision between two commits and against the workspace (a stage's cached plot read through its
 * pointer at a revision, a `cache: false` one from git), and each refusal as one line with its code.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { dv, dvJson, dvOk, git, makeRepo, tempDir } from '../helpers/cli.js';
import { parseSpec } from '../../src/pipeline/spec.js';

const xy = (p: any): [string, unknown, number][] => p.spec.data.values.map((v: any) => [v.rev, v.x, v.y]);
const byFile = (r: any): Record<string, any> => Object.fromEntries(r.plots.map((p: any) => [p.file, p]));

async function dataRepo(): Promise<string> {
  const repo = await makeRepo();
  await fsp.writeFile(join(repo, 'loss.csv'), 'epoch,loss,acc\n1,0.9,0.5\n2,"0.7",0.6\n3,0.5,0.8\n');
  await fsp.mkdir(join(repo, 'eval'));
  await fsp.writeFile(join(repo, 'eval', 'acc.tsv'), 'step\ttrain\tval\n0\t0.5\t0.4\n1\t0.7\t0.6\n');
  await fsp.writeFile(
    join(repo, 'eval', 'roc.json'),
    JSON.stringify({
      roc: [
        { fpr: 0, tpr: 0 },
        { fpr: 0.25, tpr: 0.75 },
        { fpr: 1, tpr: 1 },
      ],
    }),
  );
  await fsp.writeFile(join(repo, 'sizes.yaml'), '- {name: a, mb: 3}\n- {name: b, mb: 5}\n');
  await fsp.writeFile(join(repo, 'steps.csv'), 'loss,lr\n0.4,0.1\n0.3,0.2\n');
  await fsp.writeFile(
    join(repo, 'dv.yaml'),
    [
      'plots:',
      '  - loss.csv: { x: epoch, y: loss, title: Loss, x_label: Epoch, y_label: Cross-entropy }',
      '  - eval/acc.tsv: { x: step, y: [train, val] }',
      '  - eval/roc.json: { x: fpr, y: tpr, template: scatter }',
      '  - sizes.yaml: { x: name, y: mb, template: bar }',
      '  - steps.csv',
      '',
    ].join('\n'),
  );
  return repo;
}

test('plots show: CSV, TSV, JSON and YAML data drawn with x and y as dv.yaml declares, as --json specs and as files with -o', async () => {
  const repo = await dataRepo();
  const r = await dvJson(repo, ['plots', 'show']);
  assert.equal(existsSync(join(repo, 'dv_plots')), false, '--json without -o writes nothing');
  assert.deepEqual(r.revs, ['workspace']);
  assert.deepEqual(r.warnings, []);
  const p = byFile(r);
  assert.deepEqual(Object.keys(p), ['loss.csv', 'eval/acc.tsv', 'eval/roc.json', 'sizes.yaml', 'steps.csv']);

  const loss = p['loss.csv'];
  assert.deepEqual(xy(loss), [
    ['workspace', 1, 0.9],
    ['workspace', 2, 0.7],
    ['workspace', 3, 0.5],
  ]);
  assert.equal(loss.points, 3);
  assert.equal(loss.spec.title, 'Loss');
  assert.deepEqual(loss.spec.mark, { type: 'line', point: true });
  assert.deepEqual([loss.spec.encoding.x.title, loss.spec.encoding.x.type], ['Epoch', 'quantitative']);
  assert.equal(loss.spec.encoding.y.title, 'Cross-entropy');
  assert.equal(loss.spec.data.name, 'points');

  // Two y fields: one series each, coloured by field.
  const acc = p['eval/acc.tsv'];
  assert.deepEqual(
    acc.spec.data.values.map((v: any) => [v.field, v.x, v.y]),
    [
      ['train', 0, 0.5],
      ['val', 0, 0.4],
      ['train', 1, 0.7],
      ['val', 1, 0.6],
    ],
  );
  assert.equal(acc.spec.encoding.color.field, 'field');
  assert.equal(acc.name, 'eval_acc.tsv');

  // A JSON object holding one array of records, drawn as points.
  const roc = p['eval/roc.json'];
  assert.deepEqual(xy(roc), [
    ['workspace', 0, 0],
    ['workspace', 0.25, 0.75],
    ['workspace', 1, 1],
  ]);
  assert.deepEqual(roc.spec.mark, { type: 'point', filled: true });
  assert.deepEqual([roc.spec.encoding.x.title, roc.spec.encoding.y.title], ['fpr', 'tpr']);

  const sizes = p['sizes.yaml'];
  assert.deepEqual(xy(sizes), [
    ['workspace', 'a', 3],
    ['workspace', 'b', 5],
  ]);
  assert.deepEqual([sizes.spec.mark.type, sizes.spec.encoding.x.type], ['bar', 'nominal']);

  // No x or y declared: x is the row number (step), y the last field, as DVC draws.
  const steps = p['steps.csv'];
  assert.deepEqual(xy(steps), [
    ['workspace', 0, 0.1],
    ['workspace', 1, 0.2],
  ]);
  assert.deepEqual([steps.spec.encoding.x.title, steps.spec.encoding.y.title], ['step', 'lr']);

  // -o writes the page and one spec per plot, the same specs --json prints.
  const text = await dvOk(repo, ['plots', 'show', '-o', 'out']);
  assert.match(text, /wrote out\/index\.html/);
  for (const q of r.plots) assert.deepEqual(JSON.parse(await fsp.readFile(join(repo, 'out', `${q.name}.json`), 'utf8')), q.spec);
  const html = await fsp.readFile(join(repo, 'out', 'index.html'), 'utf8');
  assert.doesNotMatch(html, /<script[^>]+src=|<link[^>]+href=/, 'no script or stylesheet is fetched');
  assert.match(html, /default-src 'none'/);
  // Without -o (and without --json): dv_plots/ where dv runs.
  await dvOk(join(repo, 'eval'), ['plots', 'show']);
  assert.ok(existsSync(join(repo, 'eval', 'dv_plots', 'index.html')));

  // Targets: a declared file (relative to where dv runs), a directory, and a file dv.yaml does not declare.
  assert.deepEqual(
    (await dvJson(join(repo, 'eval'), ['plots', 'show', 'roc.json'])).plots.map((q: any) => q.file),
    ['eval/roc.json'],
  );
  assert.deepEqual(
    (await dvJson(repo, ['plots', 'show', 'eval'])).plots.map((q: any) => q.file),
    ['eval/acc.tsv', 'eval/roc.json'],
  );
  await fsp.writeFile(join(repo, 'extra.csv'), 'a,b\n1,2\n');
  assert.deepEqual(xy((await dvJson(repo, ['plots', 'show', 'extra.csv'])).plots[0]), [['workspace', 0, 2]]);
});

/** A stage whose plots are a cached out (loss.csv, read through its pointer at a revision) and a `cache: false` file in git (acc.json). */
async function trainingRepo(): Promise<{ repo: string; loss: (lr: number) => number[]; acc: (lr: number) => number[] }> {
  const repo = await makeRepo();
  await fsp.writeFile(
    join(repo, 'train.mjs'),
    `import fs from 'node:fs';
const lr = Number(/lr:\\s*(\\S+)/.exec(fs.readFileSync('params.yaml', 'utf8'))[1]);
const epochs = [1, 2, 3];
fs.writeFileSync('loss.csv', 'epoch,loss\\n' + epochs.map((e) => e + ',' + (1 / (e * lr)).toFixed(4)).join('\\n') + '\\n');
fs.writeFileSync('acc.json', JSON.stringify(epochs.map((e) => ({ epoch: e, acc: Number(((e * lr) / 10).toFixed(4)) }))));
`,
  );
  await fsp.writeFile(
    join(repo, 'dv.yaml'),
    `stages:
  train:
    cmd: node train.mjs
    deps: [train.mjs]
    params: [train.lr]
    plots:
      - loss.csv: { x: epoch, y: loss }
      - acc.json: { cache: false, x: epoch, y: acc }
`,
  );
  const loss = (lr: number): number[] => [1, 2, 3].map((e) => Number((1 / (e * lr)).toFixed(4)));
  const acc = (lr: number): number[] => [1, 2, 3].map((e) => Number(((e * lr) / 10).toFixed(4)));
  return { repo, loss, acc };
}

async function runWith(repo: string, lr: number, commit?: string): Promise<void> {
  await fsp.writeFile(join(repo, 'params.yaml'), `train:\n  lr: ${lr}\n`);
  await dvOk(repo, ['repro']);
  if (commit) {
    git(repo, ['add', '-A']);
    git(repo, ['commit', '-qm', commit]);
  }
}

const series = (p: any, rev: string): number[] => p.spec.data.values.filter((v: any) => v.rev === rev).map((v: any) => v.y);

test('plots diff: one series per revision between two commits, against the workspace, and across three versions', async () => {
  const { repo, loss, acc } = await trainingRepo();
  git(repo, ['add', '-A']);
  git(repo, ['commit', '-qm', 'pipeline, not run yet']);
  await runWith(repo, 0.5, 'run 1');
  await runWith(repo, 0.25, 'run 2');
  await runWith(repo, 1);
  // The cached plot is an out (dv tracks it, git ignores it); the cache: false one is in git.
  assert.equal(git(repo, ['check-ignore', 'loss.csv']).trim(), 'loss.csv');
  assert.equal(git(repo, ['ls-files', 'acc.json', 'loss.csv.dv']).trim().split('\n').sort().join(' '), 'acc.json loss.csv.dv');

  const two = byFile(await dvJson(repo, ['plots', 'diff', 'HEAD~1', 'HEAD']));
  for (const [file, f] of [
    ['loss.csv', loss],
    ['acc.json', acc],
  ] as const) {
    assert.deepEqual(series(two[file], 'HEAD~1'), f(0.5), file);
    assert.deepEqual(series(two[file], 'HEAD'), f(0.25), file);
    assert.equal(two[file].points, 6);
    assert.deepEqual(two[file].spec.encoding.color, {
      field: 'rev',
      type: 'nominal',
      title: 'revision',
      scale: { domain: ['HEAD~1', 'HEAD'] },
    });
    assert.deepEqual(
      two[file].spec.data.values.map((v: any) => v.x),
      [1, 2, 3, 1, 2, 3],
    );
  }
  assert.equal(two['loss.csv'].stage, 'train');

  // Default: HEAD against the workspace.
  const ws = await dvJson(repo, ['plots', 'diff']);
  assert.deepEqual(ws.revs, ['HEAD', 'workspace']);
  assert.deepEqual(series(byFile(ws)['loss.csv'], 'HEAD'), loss(0.25));
  assert.deepEqual(series(byFile(ws)['loss.csv'], 'workspace'), loss(1));
  // One revision: it against the workspace.
  assert.deepEqual((await dvJson(repo, ['plots', 'diff', 'HEAD~1'])).revs, ['HEAD~1', 'workspace']);

  const three = await dvJson(repo, ['plots', 'diff', 'HEAD~1', 'HEAD', 'workspace', '--targets', 'loss.csv']);
  assert.deepEqual(
    three.plots.map((p: any) => p.file),
    ['loss.csv'],
  );
  assert.deepEqual(
    ['HEAD~1', 'HEAD', 'workspace'].map((rev) => series(three.plots[0], rev)),
    [loss(0.5), loss(0.25), loss(1)],
  );

  // A revision before the plots existed has no series: a warning, not a failure.
  const old = await dv(repo, ['plots', 'diff', 'HEAD~2', 'HEAD', '-o', 'cmp']);
  assert.equal(old.code, 0, old.stderr);
  assert.match(old.stdout, /warning: HEAD~2:loss\.csv does not exist there: no series for it/);
  assert.match(old.stdout, /wrote cmp\/index\.html/);
  const spec = JSON.parse(await fsp.readFile(join(repo, 'cmp', 'loss.csv.json'), 'utf8'));
  assert.deepEqual(spec.encoding.color, undefined, 'one revision with data: one series, no colour by revision');
  assert.deepEqual(
    spec.data.values.map((v: any) => v.y),
    loss(0.25),
  );
});

/** `dv args` fails with `code` and exit `exit`, in one stderr line matching `re`, writing no output directory. */
async function refused(repo: string, args: string[], exit: number, code: string, re: RegExp): Promise<void> {
  const r = await dv(repo, args);
  assert.equal(r.code, exit, `${args.join(' ')}: ${r.stderr}`);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0], new RegExp(`^dv: error ${code}: `));
  assert.match(lines[0], re);
  assert.equal(existsSync(join(repo, 'dv_plots')), false);
}

test('plots refusals: a missing field, a missing, malformed or oversized file, a bad template or key: one line, a stable code, nothing written', async () => {
  const repo = await makeRepo();
  await fsp.writeFile(join(repo, 'loss.csv'), 'epoch,loss\n1,0.5\n');
  const plots = async (entry: string): Promise<void> => fsp.writeFile(join(repo, 'dv.yaml'), `plots:\n  - ${entry}\n`);

  await plots('loss.csv: { x: step_no, y: loss }');
  await refused(
    repo,
    ['plots', 'show'],
    45,
    'PLOT_DATA_INVALID',
    /loss\.csv has no field "step_no" \(x in dv\.yaml\): its fields are epoch, loss$/,
  );
  await plots('loss.csv: { x: epoch, y: [loss, acc] }');
  await refused(repo, ['plots', 'show'], 45, 'PLOT_DATA_INVALID', /has no field "acc" \(y in dv\.yaml\)/);
  await plots('loss.csv: { x: epoch, template: pie }');
  await refused(
    repo,
    ['plots', 'show'],
    41,
    'PIPELINE_INVALID',
    /dv\.yaml: plots: loss\.csv: template "pie" is not one dv draws: use linear, scatter, bar/,
  );
  await plots('loss.csv: { x: epoch, colour: red }');
  await refused(repo, ['plots', 'show'], 41, 'PIPELINE_INVALID', /unknown key "colour"/);
  await plots('loss.csv: { cache: false }');
  await refused(repo, ['plots', 'show'], 41, 'PIPELINE_INVALID', /unknown key "cache"/);
  await plots('../outside.csv');
  await refused(repo, ['plots', 'show'], 41, 'PIPELINE_INVALID', /outside the repository/);
  await plots('gone.csv');
  await refused(
    repo,
    ['plots', 'show'],
    15,
    'PATH_NOT_FOUND',
    /plot data gone\.csv does not exist: if a stage writes it, run `dv repro`; else fix the path$/m,
  );
  await fsp.writeFile(join(repo, 'bad.json'), '{"a": [1, 2');
  await plots('bad.json');
  await refused(repo, ['plots', 'show'], 45, 'PLOT_DATA_INVALID', /bad\.json is not valid JSON/);
  await fsp.writeFile(join(repo, 'flat.json'), '{"acc": 0.9}');
  await plots('flat.json');
  await refused(repo, ['plots', 'show'], 45, 'PLOT_DATA_INVALID', /flat\.json is not an array of records/);
  await fsp.mkdir(join(repo, 'adir.csv'));
  await plots('adir.csv');
  await refused(repo, ['plots', 'show'], 45, 'PLOT_DATA_INVALID', /adir\.csv is a directory, not a data file$/);
  // A link out of the repository (a clone's `loss.csv -> ~/.ssh/...`) is not read; one inside it is.
  const secret = join(tempDir('dv-secret-'), 'secret.csv');
  await fsp.writeFile(secret, 'a,b\n1,2\n');
  await fsp.symlink(secret, join(repo, 'linked.csv'));
  await plots('linked.csv');
  await refused(repo, ['plots', 'show'], 45, 'PLOT_DATA_INVALID', /linked\.csv leads outside the repository \(a link\)/);
  await fsp.symlink('loss.csv', join(repo, 'inner.csv'));
  await plots('inner.csv');
  assert.equal((await dvJson(repo, ['plots', 'show'])).plots[0].points, 1);
  await fsp.writeFile(join(repo, 'afile'), '');
  await refused(repo, ['plots', 'show', '-o', 'afile'], 2, 'USAGE', /-o \S+afile is a file, or inside one: name a directory/);
  await fsp.writeFile(join(repo, 'deep.yaml'), `${'['.repeat(100_000)}${']'.repeat(100_000)}\n`);
  await plots('deep.yaml');
  await refused(repo, ['plots', 'show'], 45, 'PLOT_DATA_INVALID', /deep\.yaml is not valid YAML/);
  // Over the cap: refused before it is parsed (and, at a revision, before git's blob is read).
  await fsp.writeFile(join(repo, 'big.csv'), `a,b\n${'1,2\n'.repeat(4_300_000)}`);
  await plots('big.csv');
  await refused(
    repo,
    ['plots', 'show'],
    45,
    'PLOT_DATA_INVALID',
    /big\.csv is 16\.4 MiB, over the 16\.0 MiB dv reads of a plot's data file/,
  );
  git(repo, ['add', '-A']);
  git(repo, ['commit', '-qm', 'big']);
  await fsp.rm(join(repo, 'big.csv'));
  await refused(repo, ['plots', 'diff'], 45, 'PLOT_DATA_INVALID', /^dv: error PLOT_DATA_INVALID: HEAD:big\.csv is 16\.4 MiB/);
  await refused(repo, ['plots', 'diff', 'no-such-rev'], 2, 'USAGE', /no-such-rev is no git revision here/);
});

test('plots in dv.yaml: a stage’s cached plots are outs, cache: false ones are not; a file declared twice is one plot with the later options', () => {
  const spec = parseSpec(`stages:
  train:
    cmd: python3 train.py
    wdir: src
    outs: [model.pkl]
    plots:
      - logs/loss.csv
      - logs/acc.tsv: { cache: false, x: epoch, y: [train, val], template: scatter }
plots:
  - src/logs/loss.csv: { x: epoch, y: loss, title: Loss }
  - roc.json
`);
  assert.deepEqual(spec.stages[0].outs, ['src/model.pkl', 'src/logs/loss.csv']);
  assert.deepEqual(spec.plots, [
    { file: 'src/logs/loss.csv', stage: 'train', x: 'epoch', y: ['loss'], title: 'Loss' },
    { file: 'src/logs/acc.tsv', stage: 'train', cache: false, x: 'epoch', y: ['train', 'val'], template: 'scatter' },
    { file: 'roc.json' },
  ]);
  assert.equal(parseSpec('stages: {}\n').plots, undefined);
  assert.throws(() => parseSpec(`plots:\n${'  - a.csv\n'.repeat(300)}`), /lists 300 plots: at most 256/);
  assert.throws(() => parseSpec('plots: a.csv\n'), /plots must be a list of data files/);
  assert.throws(() => parseSpec(`plots:\n  - a.csv: { title: "${'t'.repeat(300)}" }\n`), /title must be a non-empty text of at most 256/);
});

test('Repo#plotsShow and #plotsDiff: the specs, the page only with output; no plots declared is an empty result, not an error', async () => {
  const { Repo, DvError } = await import('../../src/index.js');
  const repo = await makeRepo();
  const r = await Repo.open(repo);
  const none = await r.plotsShow();
  assert.deepEqual([none.plots, none.output], [[], undefined]);
  assert.match(await dvOk(repo, ['plots', 'show']), /^no plots: declare data files under `plots:` in dv\.yaml/);
  assert.equal(existsSync(join(repo, 'dv_plots')), false);

  await fsp.writeFile(join(repo, 'loss.csv'), 'epoch,loss\n1,0.5\n2,0.25\n');
  await fsp.writeFile(join(repo, 'dv.yaml'), 'plots:\n  - loss.csv: { x: epoch, y: loss }\n');
  git(repo, ['add', '-A']);
  git(repo, ['commit', '-qm', 'one']);
  await fsp.writeFile(join(repo, 'loss.csv'), 'epoch,loss\n1,0.4\n2,0.2\n3,0.1\n');
  const show = await r.plotsShow();
  assert.deepEqual(xy(show.plots[0]), [
    ['workspace', 1, 0.4],
    ['workspace', 2, 0.2],
    ['workspace', 3, 0.1],
  ]);
  assert.equal(existsSync(join(repo, 'dv_plots')), false, 'the library writes only when given output');
  const diff = await r.plotsDiff({ output: 'out' });
  assert.deepEqual(diff.revs, ['HEAD', 'workspace']);
  assert.deepEqual(series(diff.plots[0], 'HEAD'), [0.5, 0.25]);
  assert.equal(diff.output?.html, join(repo, 'out', 'index.html'));
  assert.ok(existsSync(join(repo, 'out', 'loss.csv.json')));
  await assert.rejects(r.plotsDiff({ revs: ['nope'] }), (e: unknown) => e instanceof DvError && e.code === 'USAGE');
});

test('plot data parsing: RFC 4180 quoting, CRLF, numbers vs text; row and field caps; safe names and script JSON', async () => {
  const { csvRows, MAX_ROWS, parseRows } = await import('../../src/pipeline/plots-data.js');
  const { plotNames } = await import('../../src/pipeline/plots-spec.js');
  const { scriptJson, escapeHtml } = await import('../../src/pipeline/plots-html.js');
  assert.deepEqual(csvRows('a,b\r\n"x, ""y""\nz",1\r\n\r\n" 2 ",\n', ',', 'f.csv'), [
    { a: 'x, "y"\nz', b: 1 },
    { a: 2, b: '' },
  ]);
  assert.throws(() => csvRows(`a\n${'1\n'.repeat(MAX_ROWS + 1)}`, ',', 'HEAD:f.csv'), /^DvError: HEAD:f\.csv has more than 200000 rows/);
  assert.throws(() => csvRows(`${'a,'.repeat(2000)}a\n`, ',', 'f.csv'), /has a row of more than 1024 fields/);
  assert.deepEqual(parseRows('rows:\n  - {a: 1, nested: {b: 2}}\n', 'f.yml'), [{ a: 1 }]);
  assert.throws(() => parseRows('[1, 2]', 'f.json'), /f\.json record 0 is not an object of fields/);
  assert.deepEqual(plotNames(['a/b.csv', 'a_b.csv', 'A_B.csv', '../x', '']), ['a_b.csv', 'a_b.csv-2', 'A_B.csv-3', '__x', 'plot']);
  const evil = '</script><!-- \u2028';
  assert.equal(JSON.parse(scriptJson({ evil })).evil, evil);
  assert.doesNotMatch(scriptJson({ evil }), /<|\u2028/);
  assert.equal(escapeHtml('<a href="x">&\''), '&lt;a href=&quot;x&quot;&gt;&amp;&#39;');
});
