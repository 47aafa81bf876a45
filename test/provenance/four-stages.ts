/**
 * A four-stage pipeline (prepare → featurize → train → evaluate) of small node scripts in a git
 * repository, with four tagged versions: v0 the first run; v1 a data edit (data/raw/part2.csv);
 * v2 a param change (params.json train.lr 0.5 → 0.25); v3 a package upgrade (the `python3`
 * on PATH is a fake whose version the test sets, as an upgrade would change it; dv.lock records
 * it in env.tools) with train rerun on purpose (`dv repro -f train`).
 */
import { promises as fsp } from 'node:fs';
import { delimiter, join } from 'node:path';
import { dvOk, git, makeRepo, tempDir } from '../helpers/cli.js';

const PREPARE = `import fs from 'node:fs';
const scale = Number(/scale:\\s*(\\S+)/.exec(fs.readFileSync('params.yaml', 'utf8'))[1]);
fs.mkdirSync('data/prepared', { recursive: true });
const rows = fs.readdirSync('data/raw').sort().flatMap((f) => fs.readFileSync('data/raw/' + f, 'utf8').trim().split('\\n'));
fs.writeFileSync('data/prepared/rows.csv', rows.map((l) => l.split(',').map((x) => Number(x) * scale).join(',')).join('\\n') + '\\n');
`;
const FEATURIZE = `import fs from 'node:fs';
fs.mkdirSync('data/features', { recursive: true });
const rows = fs.readFileSync('data/prepared/rows.csv', 'utf8').trim().split('\\n');
fs.writeFileSync('data/features/sums.txt', rows.map((l) => l.split(',').reduce((s, x) => s + Number(x), 0)).join('\\n') + '\\n');
`;
const TRAIN = `import fs from 'node:fs';
const { train } = JSON.parse(fs.readFileSync('params.json', 'utf8'));
const sum = fs.readFileSync('data/features/sums.txt', 'utf8').trim().split('\\n').reduce((s, x) => s + Number(x), 0);
fs.writeFileSync('model.json', JSON.stringify({ w: sum * train.lr }) + '\\n');
`;
const EVALUATE = `import fs from 'node:fs';
const { w } = JSON.parse(fs.readFileSync('model.json', 'utf8'));
fs.writeFileSync('metrics.json', JSON.stringify({ score: w / 100 }) + '\\n');
`;

export interface FourStages {
  repo: string;
  /** PATH with the fake python3 first: pass it to every dv call. */
  env: Record<string, string>;
}

export async function fourStages(): Promise<FourStages> {
  const repo = await makeRepo();
  // A fake python3 first on PATH: dv records `python3 --version` (env.tools.python3) and the
  // packages importlib.metadata lists (`python3 -c ...`: env.pythonPackages).
  const bin = tempDir('dv-fakebin-');
  const packages = join(bin, 'packages.json');
  await fsp.writeFile(packages, JSON.stringify({ numpy: '1.26.0', pandas: '2.2.1' }));
  const fake = `#!/bin/sh\nif [ "$1" = "-c" ]; then cat '${packages}'; else echo "Python 3.11.4"; fi\n`;
  await fsp.writeFile(join(bin, 'python3'), fake, { mode: 0o755 });
  const env = { PATH: `${bin}${delimiter}${process.env.PATH ?? ''}` };
  // Stages and their outputs, committed with git: `dv repro`, then `git add -A && git commit`, tagged.
  const reproAndTag = async (tag: string, args: string[] = []): Promise<void> => {
    await dvOk(repo, ['repro', ...args], env);
    git(repo, ['add', '-A']);
    git(repo, ['commit', '-qm', `run ${tag}`]);
    git(repo, ['tag', tag]);
  };
  await fsp.mkdir(join(repo, 'data', 'raw'), { recursive: true });
  for (let i = 1; i <= 3; i++) await fsp.writeFile(join(repo, 'data', 'raw', `part${i}.csv`), `${i},${i * 10}\n${i + 10},${i * 20}\n`);
  await dvOk(repo, ['add', 'data/raw', '-m', 'raw import']);
  await fsp.writeFile(join(repo, 'params.yaml'), 'prepare:\n  scale: 2\n');
  await fsp.writeFile(join(repo, 'params.json'), JSON.stringify({ train: { lr: 0.5 } }));
  for (const [f, text] of Object.entries({
    'prepare.mjs': PREPARE,
    'featurize.mjs': FEATURIZE,
    'train.mjs': TRAIN,
    'evaluate.mjs': EVALUATE,
  }))
    await fsp.writeFile(join(repo, f), text);
  const stage = (name: string, ...rest: string[]): Promise<string> => dvOk(repo, ['stage', 'add', '-n', name, ...rest], env);
  await stage('prepare', '-d', 'prepare.mjs', '-d', 'data/raw', '-p', 'prepare.scale', '-o', 'data/prepared', '--', 'node prepare.mjs');
  await stage('featurize', '-d', 'featurize.mjs', '-d', 'data/prepared', '-o', 'data/features', '--', 'node featurize.mjs');
  await stage('train', '-d', 'train.mjs', '-d', 'data/features', '-p', 'params.json:train.lr', '-o', 'model.json', '--', 'node train.mjs');
  await stage('evaluate', '-d', 'evaluate.mjs', '-d', 'model.json', '-m', 'metrics.json', '--', 'node evaluate.mjs');
  git(repo, ['add', '-A']);
  git(repo, ['commit', '-qm', 'pipeline']);
  await reproAndTag('v0');
  // 1. A data edit: one raw file changes, committed with dv and git.
  await fsp.writeFile(join(repo, 'data', 'raw', 'part2.csv'), '2,21\n12,41\n');
  await dvOk(repo, ['commit', 'data/raw', '-m', 'fix part2'], env);
  git(repo, ['add', '-A']);
  git(repo, ['commit', '-qm', 'data: fix part2']);
  await reproAndTag('v1');
  // 2. A param change.
  await fsp.writeFile(join(repo, 'params.json'), JSON.stringify({ train: { lr: 0.25 } }));
  git(repo, ['commit', '-qam', 'lr 0.25']);
  await reproAndTag('v2');
  // 3. A package upgrade (numpy 1.26.0 → 1.26.4), and train rerun on purpose.
  await fsp.writeFile(packages, JSON.stringify({ numpy: '1.26.4', pandas: '2.2.1' }));
  await reproAndTag('v3', ['-f', 'train']);
  return { repo, env };
}
