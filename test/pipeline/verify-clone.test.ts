/** dv repro --verify (determinism), and a pipeline carried to another clone by git + dv push/pull. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { dv, dvJson, dvOk, git, tempDir } from '../helpers/cli.js';
import { pipelineRepo } from './fixture.js';

const actions = (r: any): string[] => r.stages.map((s: any) => `${s.name}:${s.action}${s.from ? `:${s.from}` : ''}`);

test('repro --verify passes on deterministic stages and fails, naming the file, on one that writes the time', async () => {
  const f = await pipelineRepo();
  const { repo, env } = f;
  await fsp.writeFile(
    join(repo, 'clock.mjs'),
    // biome-ignore lint/suspicious/noTemplateCurlyInString: the ${...} belongs to the script this test writes
    "import fs from 'node:fs';\nfs.mkdirSync('stamp', { recursive: true });\nfs.writeFileSync('stamp/const.txt', 'same every time');\nfs.writeFileSync('stamp/time.txt', `built at ${process.hrtime.bigint()} ${new Date().toISOString()}`);\n",
  );
  await dvOk(repo, ['stage', 'add', '-n', 'clock', '-d', 'clock.mjs', '-d', 'metrics.json', '-o', 'stamp', '--', 'node clock.mjs']);
  await dvOk(repo, ['repro'], env);
  await f.ran();
  const lockBefore = await fsp.readFile(join(repo, 'dv.lock'), 'utf8');

  const ok = await dv(repo, ['repro', '--verify', 'prepare', 'train', 'evaluate'], env);
  assert.equal(ok.code, 0, ok.stdout + ok.stderr);
  assert.match(ok.stdout, /Verifying stage prepare:\n> node prepare.mjs\n/);
  assert.match(ok.stdout, /^prepare: reproducible \(1 out identical to dv.lock\)$/m);
  assert.match(ok.stdout, /^evaluate: reproducible/m);
  assert.deepEqual(await f.ran(), ['prepare', 'train', 'evaluate'], 'the stages really ran again');

  const bad = await dv(repo, ['repro', '--verify'], env);
  assert.equal(bad.code, 42, bad.stdout + bad.stderr);
  assert.match(bad.stdout, /^clock: NOT reproducible: stamp is [0-9a-f]{12}, dv.lock says [0-9a-f]{12}\n\tmodified: stamp\/time.txt$/m);
  assert.ok(!bad.stdout.includes('const.txt'), 'only the file that differs is named');
  const j = JSON.parse((await dv(repo, ['repro', '--verify', 'clock', '--json'], env)).stdout);
  assert.equal(j.ok, false);
  assert.deepEqual(
    j.stages[0].outs[0].changes.map((c: any) => [c.type, c.path]),
    [['modified', 'stamp/time.txt']],
  );

  // Verifying touches nothing in the repository.
  assert.equal(await fsp.readFile(join(repo, 'dv.lock'), 'utf8'), lockBefore);
  assert.deepEqual((await dvJson(repo, ['status'], env)).stages, []);
  // An out-of-date stage must be reproduced before it can be verified.
  await fsp.writeFile(join(repo, 'params.json'), JSON.stringify({ train: { lr: 2 } }));
  const stale = await dv(repo, ['repro', '--verify', 'train'], env);
  assert.equal(stale.code, 2, stale.stderr);
  assert.match(stale.stderr, /stage train is out of date \(param params.json:train.lr modified\): run `dv repro` first/);
});

test('after git clone and dv pull, dv repro runs nothing; a missing out is restored from the store', async () => {
  const f = await pipelineRepo();
  const { repo, env } = f;
  const store = join(tempDir(), 'store');
  await dvOk(repo, ['remote', 'add', 'origin', store, '--default']);
  await dvOk(repo, ['repro'], env);
  assert.deepEqual(await f.ran(), ['prepare', 'train', 'evaluate']);
  await dvOk(repo, ['push']);
  git(repo, ['add', '-A']);
  git(repo, ['commit', '-qm', 'pipeline run']);

  const clone = join(tempDir(), 'clone');
  git(tempDir(), ['clone', '-q', repo, clone]);
  const before = await dvJson(clone, ['status'], env);
  assert.deepEqual(
    before.paths.map((p: any) => p.state),
    ['not-in-cache', 'not-in-cache', 'not-in-cache', 'not-in-cache'],
  );
  await dvOk(clone, ['pull'], env);
  const st = await dvJson(clone, ['status'], env);
  assert.deepEqual([st.clean, st.stages], [true, []]);
  assert.deepEqual(actions(await dvJson(clone, ['repro'], env)), ['prepare:up-to-date', 'train:up-to-date', 'evaluate:up-to-date']);
  assert.deepEqual(await f.ran(), []);
  assert.equal(git(clone, ['status', '--porcelain']), '');

  // Outs gone from the workspace come back from the store (they travelled as tracked data).
  await fsp.rm(join(clone, 'model.json'));
  await fsp.rm(join(clone, 'metrics.json'));
  assert.deepEqual(actions(await dvJson(clone, ['repro'], env)), ['prepare:up-to-date', 'train:restored:lock', 'evaluate:restored:lock']);
  assert.deepEqual(await f.ran(), []);
  assert.equal(await fsp.readFile(join(clone, 'model.json'), 'utf8'), await fsp.readFile(join(repo, 'model.json'), 'utf8'));
  // The lineage travelled too.
  const lin = await dvJson(clone, ['lineage', 'metrics.json'], env);
  assert.deepEqual(
    lin.stages.map((s: any) => s.name),
    ['evaluate', 'train', 'prepare'],
  );
  assert.equal(lin.artifacts.find((a: any) => a.kind === 'raw').inStore, true);

  // A change in the clone reruns there as usual, and what it wrote pushes like any data.
  await fsp.writeFile(join(clone, 'params.json'), JSON.stringify({ train: { lr: 3 } }));
  assert.deepEqual(actions(await dvJson(clone, ['repro'], env)), ['prepare:up-to-date', 'train:ran', 'evaluate:ran']);
  assert.deepEqual(await f.ran(), ['train', 'evaluate']);
  const pushed = await dvJson(clone, ['push']);
  assert.ok(pushed.objectsSent > 0);
});
