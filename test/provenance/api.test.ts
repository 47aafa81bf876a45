/** lineageDiff, usedBy, auditExport and Repo.auditVerify through the library API (`import { Repo } from 'dv'`). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { Repo } from '../../src/index.js';
import { dvOk, git, tempDir } from '../helpers/cli.js';
import { pipelineRepo } from '../pipeline/fixture.js';

test('Repo: lineageDiff, usedBy, auditExport, Repo.auditVerify', async () => {
  const f = await pipelineRepo();
  await dvOk(f.repo, ['repro'], f.env);
  git(f.repo, ['add', '-A']);
  git(f.repo, ['commit', '-qm', 'v1']);
  await fsp.writeFile(join(f.repo, 'params.json'), JSON.stringify({ train: { lr: 0.75 } }));
  git(f.repo, ['commit', '-qam', 'lr']);
  await dvOk(f.repo, ['repro'], f.env);
  git(f.repo, ['add', '-A']);
  git(f.repo, ['commit', '-qm', 'v2']);
  const keys = tempDir('dv-keys-');
  await dvOk(f.repo, ['key', 'gen', join(keys, 'k')]);
  await dvOk(f.repo, ['config', '--local', 'attest.key', join(keys, 'k')]);

  const repo = await Repo.open(f.repo);
  const d = await repo.lineageDiff({ artifact: 'metrics.json', a: 'HEAD~2', b: 'HEAD' });
  assert.deepEqual(
    d.causes.map((c) => `${c.stage}:${c.kind}:${c.what.join(',')}`),
    ['train:params:params.json:train.lr'],
  );
  const u = await repo.usedBy({ target: 'params.json' });
  assert.deepEqual(u.current, [], 'a params file is not a data dep');
  const raw = await repo.usedBy({ target: 'data/raw', maxCommits: 10 });
  assert.deepEqual(
    raw.current.map((c) => c.path),
    ['data/prepared', 'model.json', 'metrics.json'],
  );
  const out = join(tempDir('dv-bundle-'), 'b.tar');
  const e = await repo.auditExport({ target: 'model.json', output: out });
  assert.equal(e.file, out);
  const v = await Repo.auditVerify({ file: out, trustedKeys: join(keys, 'k.pub') });
  assert.deepEqual([v.ok, v.keysFrom, v.failures], [true, 'file', []]);
});
