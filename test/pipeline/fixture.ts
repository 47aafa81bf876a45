/** A three-stage pipeline (prepare -> train -> evaluate) of small node scripts in a fresh git repo. */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { dvOk, git, makeRepo, tempDir } from '../helpers/cli.js';

export const PREPARE = `import fs from 'node:fs';
const scale = Number(/scale:\\s*(\\S+)/.exec(fs.readFileSync('params.yaml', 'utf8'))[1]);
fs.mkdirSync('data/prepared', { recursive: true });
const rows = fs.readdirSync('data/raw').sort().flatMap((f) => fs.readFileSync('data/raw/' + f, 'utf8').trim().split('\\n'));
fs.writeFileSync('data/prepared/rows.csv', rows.map((l) => l.split(',').map(Number)).map(([a, b]) => a * scale + ',' + b).join('\\n') + '\\n');
fs.writeFileSync('data/prepared/count.txt', String(rows.length));
if (process.env.RUN_LOG) fs.appendFileSync(process.env.RUN_LOG, 'prepare\\n');
console.log('prepared', rows.length, 'rows');
`;
export const TRAIN = `import fs from 'node:fs';
const { train } = JSON.parse(fs.readFileSync('params.json', 'utf8'));
const sum = fs.readFileSync('data/prepared/rows.csv', 'utf8').trim().split('\\n').reduce((s, l) => s + Number(l.split(',')[0]), 0);
fs.writeFileSync('model.json', JSON.stringify({ w: sum * train.lr }) + '\\n');
if (process.env.RUN_LOG) fs.appendFileSync(process.env.RUN_LOG, 'train\\n');
`;
export const EVALUATE = `import fs from 'node:fs';
const { w } = JSON.parse(fs.readFileSync('model.json', 'utf8'));
fs.writeFileSync('metrics.json', JSON.stringify({ score: w * 2 }) + '\\n');
if (process.env.RUN_LOG) fs.appendFileSync(process.env.RUN_LOG, 'evaluate\\n');
`;

export interface Fixture {
  repo: string;
  /** Each stage appends its name here when it runs: proof of what ran. */
  runLog: string;
  env: Record<string, string>;
  ran(): Promise<string[]>;
}

export async function pipelineRepo(): Promise<Fixture> {
  const repo = await makeRepo();
  const runLog = join(tempDir('dv-runlog-'), 'runs.log');
  const env = { RUN_LOG: runLog };
  await fsp.mkdir(join(repo, 'data', 'raw'), { recursive: true });
  for (let i = 1; i <= 3; i++) await fsp.writeFile(join(repo, 'data', 'raw', `part${i}.csv`), `${i},${i * 10}\n${i + 10},${i * 20}\n`);
  await dvOk(repo, ['add', 'data/raw', '-m', 'raw import']);
  await fsp.writeFile(join(repo, 'params.yaml'), 'prepare:\n  scale: 2\n');
  await fsp.writeFile(join(repo, 'params.json'), JSON.stringify({ train: { lr: 0.5 } }));
  await fsp.writeFile(join(repo, 'prepare.mjs'), PREPARE);
  await fsp.writeFile(join(repo, 'train.mjs'), TRAIN);
  await fsp.writeFile(join(repo, 'evaluate.mjs'), EVALUATE);
  await dvOk(repo, [
    'stage',
    'add',
    '-n',
    'prepare',
    '-d',
    'prepare.mjs',
    '-d',
    'data/raw',
    '-p',
    'prepare.scale',
    '-o',
    'data/prepared',
    '--',
    'node prepare.mjs',
  ]);
  await dvOk(repo, [
    'stage',
    'add',
    '-n',
    'train',
    '-d',
    'train.mjs',
    '-d',
    'data/prepared',
    '-p',
    'params.json:train.lr',
    '-o',
    'model.json',
    '--',
    'node',
    'train.mjs',
  ]);
  await dvOk(repo, [
    'stage',
    'add',
    '-n',
    'evaluate',
    '-d',
    'evaluate.mjs',
    '-d',
    'model.json',
    '-o',
    'metrics.json',
    '--',
    'node evaluate.mjs',
  ]);
  git(repo, ['add', '-A']);
  git(repo, ['commit', '-qm', 'pipeline code']);
  return {
    repo,
    runLog,
    env,
    ran: async () => {
      const text = await fsp.readFile(runLog, 'utf8').catch(() => '');
      await fsp.rm(runLog, { force: true });
      return text.split('\n').filter(Boolean);
    },
  };
}

/**
 * Re-declares the `evaluate` stage (`dv stage add -f`) with its metrics as `flag` (`-m` tracked by
 * dv, `-M` kept in git, `-o` a plain out) and `cmd` as its command.
 */
export async function redefineEvaluate(repo: string, flag: '-m' | '-M' | '-o', cmd = 'node evaluate.mjs'): Promise<void> {
  await dvOk(repo, ['stage', 'add', '-f', '-n', 'evaluate', '-d', 'evaluate.mjs', '-d', 'model.json', flag, 'metrics.json', '--', cmd]);
}
