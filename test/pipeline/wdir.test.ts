/** `wdir`: a stage whose command runs in a subdirectory, with deps, params and outs relative to it. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { dv, dvJson, dvOk } from '../helpers/cli.js';
import { pipelineRepo } from './fixture.js';

const SCALE = `import fs from 'node:fs';
import path from 'node:path';
const factor = Number(/factor:\\s*(\\S+)/.exec(fs.readFileSync('params.yaml', 'utf8'))[1]);
const { w } = JSON.parse(fs.readFileSync('../model.json', 'utf8'));
fs.mkdirSync('out', { recursive: true });
fs.writeFileSync('out/scaled.json', JSON.stringify({ ranIn: path.basename(process.cwd()), v: w * factor }) + '\\n');
if (process.env.RUN_LOG) fs.appendFileSync(process.env.RUN_LOG, 'scaled\\n');
`;

test('wdir: the command runs in the subdirectory; dv.yaml paths are relative to it, dv.lock paths to the root', async () => {
  const f = await pipelineRepo();
  const { repo, env } = f;
  await fsp.mkdir(join(repo, 'sub'));
  await fsp.writeFile(join(repo, 'sub', 'scale.mjs'), SCALE);
  await fsp.writeFile(join(repo, 'sub', 'params.yaml'), 'factor: 3\n');
  await dvOk(join(repo, 'sub'), [
    'stage',
    'add',
    '-n',
    'scaled',
    '-w',
    '.',
    '-d',
    'scale.mjs',
    '-d',
    '../model.json',
    '-p',
    'factor',
    '-o',
    'out/scaled.json',
    '--',
    'node scale.mjs',
  ]);
  assert.match(
    await fsp.readFile(join(repo, 'dv.yaml'), 'utf8'),
    /\n {2}scaled:\n {4}cmd: node scale.mjs\n {4}wdir: sub\n {4}deps:\n {6}- scale.mjs\n {6}- \.\.\/model.json\n {4}params:\n {6}- factor\n {4}outs:\n {6}- out\/scaled.json\n/,
  );
  const list = await dvJson(repo, ['stage', 'list']);
  assert.deepEqual(
    list.find((s: any) => s.name === 'scaled'),
    {
      name: 'scaled',
      cmd: 'node scale.mjs',
      wdir: 'sub',
      deps: ['sub/scale.mjs', 'model.json'],
      params: ['sub/params.yaml:factor'],
      outs: ['sub/out/scaled.json'],
      upstream: ['train'],
      downstream: [],
    },
  );

  await dvOk(repo, ['repro'], env);
  assert.deepEqual(await f.ran(), ['prepare', 'train', 'evaluate', 'scaled']);
  const { w } = JSON.parse(await fsp.readFile(join(repo, 'model.json'), 'utf8'));
  assert.deepEqual(JSON.parse(await fsp.readFile(join(repo, 'sub', 'out', 'scaled.json'), 'utf8')), { ranIn: 'sub', v: w * 3 });
  await fsp.access(join(repo, 'sub', 'out', 'scaled.json.dv'));
  assert.match(
    await fsp.readFile(join(repo, 'dv.lock'), 'utf8'),
    /\n {2}scaled:\n {4}cmd: node scale.mjs\n {4}wdir: sub\n[\s\S]*- path: sub\/scale.mjs\n/,
  );
  assert.deepEqual((await dvJson(repo, ['status'], env)).stages, []);

  // Its params file is the one in wdir.
  await fsp.writeFile(join(repo, 'sub', 'params.yaml'), 'factor: 5\n');
  assert.deepEqual((await dvJson(repo, ['status'], env)).stages, [
    { name: 'scaled', changes: [{ type: 'param', what: 'sub/params.yaml:factor', how: 'modified' }] },
  ]);
  await dvOk(repo, ['repro'], env);
  assert.deepEqual(await f.ran(), ['scaled']);
  assert.equal(JSON.parse(await fsp.readFile(join(repo, 'sub', 'out', 'scaled.json'), 'utf8')).v, w * 5);
  assert.match(await dvOk(repo, ['lineage', 'sub/out/scaled.json'], env), /cmd: {4}node scale.mjs {2}\(in sub\)/);
  const v = await dv(repo, ['repro', '--verify', 'scaled'], env);
  assert.equal(v.code, 0, v.stdout + v.stderr);

  // Moving the stage to another wdir is a change, even with the same command.
  const yaml = await fsp.readFile(join(repo, 'dv.yaml'), 'utf8');
  await fsp.writeFile(join(repo, 'dv.yaml'), yaml + '  elsewhere:\n    cmd: pwd > where.txt\n    wdir: nope\n    outs: [where.txt]\n');
  const r = await dv(repo, ['repro', 'elsewhere'], env);
  assert.equal(r.code, 41, r.stderr);
  assert.match(r.stderr, /PIPELINE_INVALID: stage elsewhere: wdir nope is not a directory: create it, or fix wdir in dv.yaml/);
  await fsp.mkdir(join(repo, 'nope'));
  await dvOk(repo, ['repro', 'elsewhere'], env);
  assert.match(await fsp.readFile(join(repo, 'nope', 'where.txt'), 'utf8'), /\/nope\n$/);
  await fsp.mkdir(join(repo, 'there'));
  await fsp.writeFile(
    join(repo, 'dv.yaml'),
    yaml + '  elsewhere:\n    cmd: pwd > where.txt\n    wdir: there\n    outs: [../nope/where.txt]\n',
  );
  assert.deepEqual((await dvJson(repo, ['status'], env)).stages, [
    { name: 'elsewhere', changes: [{ type: 'cmd', what: 'elsewhere', how: 'wdir modified' }] },
  ]);
});
