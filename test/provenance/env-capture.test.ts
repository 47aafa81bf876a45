/**
 * Environment capture beyond tool versions: the CUDA toolkit version (from $CUDA_HOME's version
 * file, else `nvcc --version`) and the hashes of the dependency lockfiles in a stage's wdir; both
 * recorded by `dv repro`, shown by `dv lineage`, and named by `dv lineage diff` when they change.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { delimiter, join } from 'node:path';
import { dvJson, dvOk, git, makeRepo, tempDir } from '../helpers/cli.js';

let repo: string;
let cudaHome: string;
let env: Record<string, string>;
const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

before(async () => {
  repo = await makeRepo();
  cudaHome = tempDir('dv-cuda-');
  await fsp.writeFile(join(cudaHome, 'version.json'), JSON.stringify({ cuda: { name: 'CUDA SDK', version: '12.4.1' } }));
  env = { CUDA_HOME: cudaHome };
  await fsp.mkdir(join(repo, 'ml'));
  await fsp.writeFile(join(repo, 'ml', 'requirements.txt'), 'numpy==1.26.0\n');
  await fsp.writeFile(join(repo, 'ml', 'train.mjs'), "import fs from 'node:fs';\nfs.writeFileSync('model.txt', 'w=1\\n');\n");
  await dvOk(
    join(repo, 'ml'),
    ['stage', 'add', '-n', 'train', '-w', '.', '-d', 'train.mjs', '-o', 'model.txt', '--', 'node train.mjs'],
    env,
  );
  await dvOk(repo, ['repro'], env);
  git(repo, ['add', '-A']);
  git(repo, ['commit', '-qm', 'v1']);
  git(repo, ['tag', 'v1']);
});

test('repro records the CUDA version and the wdir lockfile hash; lineage shows them', async () => {
  const lock = await fsp.readFile(join(repo, 'dv.lock'), 'utf8');
  assert.match(lock, /^ {6}cuda: 12\.4\.1$/m);
  assert.match(lock, new RegExp(`^ {8}requirements\\.txt: ${sha256('numpy==1.26.0\n')}$`, 'm'));
  const j = await dvJson(repo, ['lineage', 'ml/model.txt'], env);
  assert.equal(j.stages[0].environment.cuda, '12.4.1');
  assert.deepEqual(j.stages[0].environment.stageLockfiles, { 'requirements.txt': sha256('numpy==1.26.0\n') });
  assert.match(await dvOk(repo, ['lineage', 'ml/model.txt'], env), /^ {2}host: .*cuda 12\.4\.1, requirements\.txt [0-9a-f]{12}/m);
});

test('a CUDA upgrade (from nvcc when no version file) and a requirements change are env causes in lineage diff', async () => {
  // No version file: the fake nvcc on PATH answers.
  const bin = tempDir('dv-fakebin-');
  await fsp.writeFile(
    join(bin, 'nvcc'),
    '#!/bin/sh\necho "nvcc: NVIDIA (R) Cuda compiler driver"\necho "Cuda compilation tools, release 12.6, V12.6.77"\n',
    { mode: 0o755 },
  );
  const env2 = { CUDA_HOME: tempDir('dv-nocuda-'), PATH: `${bin}${delimiter}${process.env.PATH ?? ''}` };
  await fsp.writeFile(join(repo, 'ml', 'requirements.txt'), 'numpy==1.26.4\n');
  git(repo, ['commit', '-qam', 'numpy 1.26.4']);
  await dvOk(repo, ['repro', '-f', 'train'], env2);
  git(repo, ['add', '-A']);
  git(repo, ['commit', '-qm', 'v2']);
  const r = await dvJson(repo, ['lineage', 'diff', 'ml/model.txt', 'v1', 'HEAD'], env2);
  assert.deepEqual(r.causes, [{ stage: 'train', kind: 'env', what: ['cuda', 'stageLockfiles.requirements.txt'] }]);
  assert.deepEqual(r.stages[0].env[0], { key: 'cuda', a: '12.4.1', b: '12.6.77' });
});
