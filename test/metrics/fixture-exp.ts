/**
 * A four-stage pipeline (prepare -> featurize -> train -> evaluate) of small node scripts, its
 * parameters in params.yaml and its metrics in metrics.json kept in git (`cache: false`, as
 * DVC's `-M`), run once and committed: the baseline experiments start from.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { dvOk, git, makeRepo, tempDir } from '../helpers/cli.js';

const LIB = `import fs from 'node:fs';
// The value of section.key in params.yaml (two levels, as this fixture writes it).
export function param(section, key) {
  let cur = '';
  for (const line of fs.readFileSync('params.yaml', 'utf8').split('\\n')) {
    const top = /^(\\w+):\\s*$/.exec(line);
    if (top) cur = top[1];
    const kv = /^\\s+(\\w+):\\s*(\\S+)/.exec(line);
    if (kv && cur === section && kv[1] === key) return Number(kv[2]);
  }
  throw new Error('no param ' + section + '.' + key);
}
export function ran(stage) {
  if (process.env.RUN_LOG) fs.appendFileSync(process.env.RUN_LOG, stage + '\\n');
}
`;
const PREPARE = `import fs from 'node:fs';
import { param, ran } from './lib.mjs';
const rows = fs.readdirSync('data/raw').sort().flatMap((f) => fs.readFileSync('data/raw/' + f, 'utf8').trim().split('\\n'));
const cut = Math.round(rows.length * param('prepare', 'split'));
fs.mkdirSync('data/prepared', { recursive: true });
fs.writeFileSync('data/prepared/train.csv', rows.slice(0, cut).join('\\n') + '\\n');
fs.writeFileSync('data/prepared/test.csv', rows.slice(cut).join('\\n') + '\\n');
ran('prepare');
`;
const FEATURIZE = `import fs from 'node:fs';
import { param, ran } from './lib.mjs';
const n = param('featurize', 'ngrams');
const feat = (f) => fs.readFileSync('data/prepared/' + f, 'utf8').trim().split('\\n').map((l) => l.split(',').map(Number).map((x) => x * n));
fs.mkdirSync('data/features', { recursive: true });
fs.writeFileSync('data/features/train.json', JSON.stringify(feat('train.csv')));
fs.writeFileSync('data/features/test.json', JSON.stringify(feat('test.csv')));
ran('featurize');
`;
const TRAIN = `import fs from 'node:fs';
import { param, ran } from './lib.mjs';
const rows = JSON.parse(fs.readFileSync('data/features/train.json', 'utf8'));
let w = 0;
for (let e = 0; e < param('train', 'epochs'); e++) for (const [x, y] of rows) w += param('train', 'lr') * (y - w * x) * x / 1000;
fs.writeFileSync('model.bin', Buffer.from(JSON.stringify({ w }) + '\\n' + 'x'.repeat(2000)));
ran('train');
`;
const EVALUATE = `import fs from 'node:fs';
import { ran } from './lib.mjs';
const { w } = JSON.parse(fs.readFileSync('model.bin', 'utf8').split('\\n')[0]);
const rows = JSON.parse(fs.readFileSync('data/features/test.json', 'utf8'));
const loss = rows.reduce((s, [x, y]) => s + (y - w * x) ** 2, 0) / rows.length;
const r = (v) => Number(v.toPrecision(6));
fs.writeFileSync('metrics.json', JSON.stringify({ loss: r(loss), eval: { w: r(w) } }, null, 2) + '\\n');
ran('evaluate');
`;
const SPEC = `stages:
  prepare:
    cmd: node prepare.mjs
    deps: [prepare.mjs, lib.mjs, data/raw]
    params: [prepare.split]
    outs: [data/prepared]
  featurize:
    cmd: node featurize.mjs
    deps: [featurize.mjs, lib.mjs, data/prepared]
    params: [featurize.ngrams]
    outs: [data/features]
  train:
    cmd: node train.mjs
    deps: [train.mjs, lib.mjs, data/features]
    params: [train.lr, train.epochs]
    outs: [model.bin]
  evaluate:
    cmd: node evaluate.mjs
    deps: [evaluate.mjs, lib.mjs, model.bin, data/features]
    metrics:
      - metrics.json: { cache: false }
`;
export const PARAMS = 'prepare:\n  split: 0.75\nfeaturize:\n  ngrams: 2\ntrain:\n  lr: 0.01\n  epochs: 3\n';

export interface ExpFixture {
  repo: string;
  env: Record<string, string>;
  /** The stages that ran since the last call (each script appends its name to RUN_LOG, outside the repository). */
  ran(): Promise<string[]>;
}

/** The pipeline, run once with `dv repro` and committed on main. */
export async function expRepo(): Promise<ExpFixture> {
  const repo = await makeRepo();
  const runLog = join(tempDir('dv-exp-runlog-'), 'runs.log');
  const env = { RUN_LOG: runLog };
  await fsp.mkdir(join(repo, 'data', 'raw'), { recursive: true });
  for (let i = 1; i <= 4; i++) {
    const rows = Array.from({ length: 5 }, (_, k) => `${i + k},${3 * (i + k) + (k % 2)}`);
    await fsp.writeFile(join(repo, 'data', 'raw', `part${i}.csv`), rows.join('\n') + '\n');
  }
  await dvOk(repo, ['add', 'data/raw', '-m', 'raw data']);
  const files: [string, string][] = [
    ['lib.mjs', LIB],
    ['prepare.mjs', PREPARE],
    ['featurize.mjs', FEATURIZE],
    ['train.mjs', TRAIN],
    ['evaluate.mjs', EVALUATE],
    ['dv.yaml', SPEC],
    ['params.yaml', PARAMS],
  ];
  for (const [f, text] of files) await fsp.writeFile(join(repo, f), text);
  await dvOk(repo, ['repro'], env);
  git(repo, ['add', '-A']);
  git(repo, ['commit', '-qm', 'pipeline, run once']);
  const ran = async (): Promise<string[]> => {
    const text = await fsp.readFile(runLog, 'utf8').catch(() => '');
    await fsp.rm(runLog, { force: true });
    return text.split('\n').filter(Boolean);
  };
  await ran();
  return { repo, env, ran };
}
