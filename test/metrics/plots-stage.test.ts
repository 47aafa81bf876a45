/**
 * `dv stage add --plots FILE` and `--plots-no-cache FILE` (DVC's flags): the stage's `plots:` in
 * dv.yaml, a cached plot tracked by dv like an out (pointer, .gitignore), an uncached one kept in
 * git; `dv plots show` draws both after `dv repro`; replacing the stage with -f keeps dv.yaml valid.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { dv, dvJson, dvOk, makeRepo } from '../helpers/cli.js';
import { parseSpec } from '../../src/pipeline/spec.js';

const CMD = `node -e "const fs=require('fs');fs.writeFileSync('loss.csv','epoch,loss\\n1,0.9\\n2,0.5\\n');fs.writeFileSync('acc.csv','epoch,acc\\n1,0.6\\n2,0.8\\n')"`;

test('dv stage add --plots / --plots-no-cache: dv.yaml plots, a tracked and a git-kept data file, drawn by dv plots show', async () => {
  const repo = await makeRepo();
  await dvOk(repo, ['stage', 'add', '-n', 'train', '--plots', 'loss.csv', '--plots-no-cache', 'acc.csv', '--', CMD]);
  const text = await fsp.readFile(join(repo, 'dv.yaml'), 'utf8');
  assert.match(text, /\n {4}plots:\n {6}- loss\.csv\n {6}- acc\.csv:\n {10}cache: false\n/);
  assert.doesNotMatch(text, /outs:/, 'a plot is written under plots:, not again under outs:');
  const spec = parseSpec(text);
  assert.deepEqual(spec.stages[0].outs, ['loss.csv'], 'the cached plot is an out');
  assert.deepEqual(spec.stages[0].plots, [
    { path: 'loss.csv', cache: true },
    { path: 'acc.csv', cache: false },
  ]);

  await dvOk(repo, ['repro']);
  assert.ok(existsSync(join(repo, 'loss.csv.dv')), 'the cached plot has a pointer file');
  assert.equal(existsSync(join(repo, 'acc.csv.dv')), false, 'the uncached plot has none');
  const ignore = await fsp.readFile(join(repo, '.gitignore'), 'utf8');
  assert.match(ignore, /loss\.csv/);
  assert.doesNotMatch(ignore, /acc\.csv/);
  const shown = await dvJson(repo, ['plots', 'show']);
  assert.deepEqual(
    shown.plots.map((p: any) => [p.file, p.spec.data.values.map((v: any) => v.y)]),
    [
      ['loss.csv', [0.9, 0.5]],
      ['acc.csv', [0.6, 0.8]],
    ],
  );

  // Replaced with -f and other flags: the plots go with the old definition, dv.yaml stays valid.
  await dvOk(repo, ['stage', 'add', '-f', '-n', 'train', '-o', 'loss.csv', '--', CMD]);
  const after = parseSpec(await fsp.readFile(join(repo, 'dv.yaml'), 'utf8'));
  assert.deepEqual([after.stages[0].outs, after.stages[0].plots, after.plots], [['loss.csv'], undefined, undefined]);
  // The same path as an out and a plot is one out, not an error nor a duplicate.
  const both = await dv(repo, ['stage', 'add', '-f', '-n', 'train', '-o', 'loss.csv', '--plots', 'loss.csv', '--', CMD]);
  assert.equal(both.code, 0, both.stderr);
  assert.deepEqual(parseSpec(await fsp.readFile(join(repo, 'dv.yaml'), 'utf8')).stages[0].outs, ['loss.csv']);
});
