/**
 * The repository the `dv ui` tests look at: a four-stage pipeline (prepare -> featurize -> train
 * -> evaluate) of small `node -e` commands reading params.yaml, its metrics in git (-M), and three
 * commits, each with other params and metrics, the third with a changed and an added data file.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { dvOk, git, makeRepo } from '../helpers/cli.js';

// Each command is one `node -e` in double quotes for sh: JavaScript with single quotes only, no $ or `.
const param = (key: string): string => `Number(/${key}: *(\\S+)/.exec(fs.readFileSync('params.yaml','utf8'))[1])`;
const PREPARE =
  "const fs=require('fs');fs.mkdirSync('data/prepared',{recursive:true});" +
  `const s=${param('scale')};` +
  "const rows=fs.readdirSync('data/raw').sort().flatMap(f=>fs.readFileSync('data/raw/'+f,'utf8').trim().split('\\n'));" +
  "fs.writeFileSync('data/prepared/rows.csv',rows.map(l=>Number(l)*s).join('\\n')+'\\n')";
const FEATURIZE =
  "const fs=require('fs');fs.mkdirSync('data/features',{recursive:true});" +
  `const b=${param('bins')};` +
  "const v=fs.readFileSync('data/prepared/rows.csv','utf8').trim().split('\\n').map(Number);" +
  "fs.writeFileSync('data/features/feat.csv',v.map(x=>x%b+','+x*x).join('\\n')+'\\n')";
const TRAIN =
  "const fs=require('fs');" +
  `const lr=${param('lr')};` +
  "const w=fs.readFileSync('data/features/feat.csv','utf8').trim().split('\\n').reduce((a,l)=>a+Number(l.split(',')[1]),0)*lr;" +
  "fs.writeFileSync('model.json',JSON.stringify({w})+'\\n')";
const EVALUATE =
  "const fs=require('fs');const {w}=JSON.parse(fs.readFileSync('model.json','utf8'));fs.mkdirSync('eval',{recursive:true});" +
  "fs.writeFileSync('metrics.json',JSON.stringify({score:Math.round(w*100)/100,loss:Math.round(1000/(1+w))/1000})+'\\n');" +
  "fs.writeFileSync('eval/report.txt','w='+w+'\\n')";

export const STAGES = ['prepare', 'featurize', 'train', 'evaluate'];
export const TRAIN_CMD = `node -e "${TRAIN}"`;

const params = (scale: number, bins: number, lr: number): string =>
  `prepare:\n  scale: ${scale}\nfeaturize:\n  bins: ${bins}\ntrain:\n  lr: ${lr}\n`;

export interface UiRepo {
  repo: string;
  /** The three commits, oldest first. */
  commits: string[];
  /** metrics.json's score at each commit, oldest first. */
  scores: number[];
}

async function runAndCommit(repo: string, message: string): Promise<{ commit: string; score: number }> {
  await dvOk(repo, ['repro']);
  git(repo, ['add', '-A']);
  git(repo, ['commit', '-qm', message]);
  const score = JSON.parse(await fsp.readFile(join(repo, 'metrics.json'), 'utf8')).score;
  return { commit: git(repo, ['rev-parse', 'HEAD']).trim(), score };
}

export async function uiRepo(): Promise<UiRepo> {
  const repo = await makeRepo();
  await fsp.mkdir(join(repo, 'data', 'raw'), { recursive: true });
  await fsp.writeFile(join(repo, 'data', 'raw', 'a.csv'), '1\n2\n3\n');
  await fsp.writeFile(join(repo, 'data', 'raw', 'b.csv'), '4\n5\n');
  await dvOk(repo, ['add', 'data/raw', '-m', 'raw data']);
  await fsp.writeFile(join(repo, 'params.yaml'), params(2, 3, 0.1));
  const stage = (name: string, args: string[], js: string): Promise<string> =>
    dvOk(repo, ['stage', 'add', '-n', name, ...args, '--', `node -e "${js}"`]);
  await stage('prepare', ['-d', 'data/raw', '-p', 'prepare.scale', '-o', 'data/prepared'], PREPARE);
  await stage('featurize', ['-d', 'data/prepared', '-p', 'featurize.bins', '-o', 'data/features'], FEATURIZE);
  await stage('train', ['-d', 'data/features', '-p', 'train.lr', '-o', 'model.json'], TRAIN);
  await stage('evaluate', ['-d', 'model.json', '-o', 'eval', '-M', 'metrics.json'], EVALUATE);
  const one = await runAndCommit(repo, 'first run: lr 0.1');
  await fsp.writeFile(join(repo, 'params.yaml'), params(2, 3, 0.2));
  const two = await runAndCommit(repo, 'second run: lr 0.2');
  await fsp.writeFile(join(repo, 'params.yaml'), params(3, 4, 0.2));
  await fsp.writeFile(join(repo, 'data', 'raw', 'b.csv'), '4\n5\n6\n');
  await fsp.writeFile(join(repo, 'data', 'raw', 'c.csv'), '7\n8\n');
  await dvOk(repo, ['commit', 'data/raw', '-m', 'more raw data']);
  const three = await runAndCommit(repo, 'third run: more data, scale 3');
  return { repo, commits: [one.commit, two.commit, three.commit], scores: [one.score, two.score, three.score] };
}
