/**
 * dv repro lets go of the writer lock while a command runs (a stage may call dv), re-checks its
 * inputs afterwards, and refuses tracked deps with changes not `dv commit`ed unless --force.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { DV_BIN, dv, dvJson, dvOk, git } from '../helpers/cli.js';
import { pipelineRepo } from './fixture.js';

test('a stage whose command runs `dv status` and `dv add` completes: the lock is let go while it runs', async () => {
  const f = await pipelineRepo();
  const { repo, env } = f;
  await fsp.mkdir(join(repo, 'notes'));
  await fsp.writeFile(join(repo, 'notes', 'a.txt'), 'side data\n');
  // --wait 3: with the lock held by repro, `dv add` would give up with REPO_LOCKED after 3 s.
  await dvOk(repo, [
    'stage',
    'add',
    '-n',
    'report',
    '-d',
    'metrics.json',
    '-o',
    'report.json',
    '--',
    `"${DV_BIN}" status --json --wait 3 > report.json && "${DV_BIN}" add notes -q --wait 3`,
  ]);
  const t0 = Date.now();
  const r = await dv(repo, ['repro'], env);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.ok(Date.now() - t0 < 60_000);
  const inner = JSON.parse(await fsp.readFile(join(repo, 'report.json'), 'utf8'));
  assert.ok(Array.isArray(inner.stages), 'the inner dv status ran and printed its JSON');
  assert.deepEqual(
    inner.stages.map((s: any) => s.name),
    ['report'],
    'it saw the stages before it recorded',
  );
  await fsp.access(join(repo, 'notes.dv'));
  const st = await dvJson(repo, ['status'], env);
  assert.deepEqual(st.stages, [], 'report is recorded in dv.lock');
  assert.match(await fsp.readFile(join(repo, 'dv.lock'), 'utf8'), /^ {2}report:$/m);
});

test('a command that changes its own dep is not recorded under inputs it did not read', async () => {
  const f = await pipelineRepo();
  const { repo, env } = f;
  await fsp.writeFile(join(repo, 'counter.txt'), '1\n');
  await dvOk(repo, [
    'stage',
    'add',
    '-n',
    'bump',
    '-d',
    'counter.txt',
    '-o',
    'out.txt',
    '--',
    'cat counter.txt > out.txt; echo 2 >> counter.txt',
  ]);
  const r = await dv(repo, ['repro', 'bump'], env);
  assert.equal(r.code, 40, r.stdout + r.stderr);
  assert.match(
    r.stderr,
    /STAGE_FAILED: stage bump: dep counter.txt changed while its command ran \(by the command or another process\): nothing was recorded for it/,
  );
  assert.doesNotMatch(await fsp.readFile(join(repo, 'dv.lock'), 'utf8').catch(() => ''), /bump:/);
});

test('a tracked dep with changes not committed: refused naming `dv commit`; with --force recorded as uncommitted in dv.lock and lineage', async () => {
  const f = await pipelineRepo();
  const { repo, env } = f;
  await fsp.appendFile(join(repo, 'data', 'raw', 'part1.csv'), '7,70\n');
  const r = await dv(repo, ['repro'], env);
  assert.equal(r.code, 16, r.stderr);
  assert.match(
    r.stderr,
    /^dv: error UNSAVED_CHANGES: stage prepare: dep data\/raw is not what data\/raw.dv names \(changes not recorded with `dv commit`, or data\/raw.dv changed by git and not checked out\), so no snapshot would name what the stage read: run `dv commit data\/raw` to record it, or `dv checkout data\/raw` for what data\/raw.dv names \(or `dv repro --force` to record it as uncommitted\)\n$/,
  );
  assert.deepEqual(await f.ran(), [], 'nothing ran');
  await assert.rejects(fsp.access(join(repo, 'dv.lock')));
  const dry = await dvJson(repo, ['repro', '-n'], env);
  assert.match(dry.stages[0].refused, /^stage prepare: dep data\/raw is not what data\/raw\.dv names/);

  await dvOk(repo, ['repro', '--force'], env);
  assert.deepEqual(await f.ran(), ['prepare', 'train', 'evaluate']);
  const lock = await fsp.readFile(join(repo, 'dv.lock'), 'utf8');
  assert.match(lock, /- path: data\/raw\n {8}id: [0-9a-f]{64}\n {8}uncommitted: true\n/);
  const lin = await dvJson(repo, ['lineage', 'metrics.json'], env);
  const raw = lin.artifacts.find((a: any) => a.path === 'data/raw');
  assert.deepEqual([raw.kind, raw.snapshot, raw.uncommitted], ['raw', null, true]);
  assert.match(
    await dvOk(repo, ['lineage', 'metrics.json'], env),
    /in: {5}data\/raw {2}id [0-9a-f]{12} {2}\(UNCOMMITTED changes to tracked data: in no snapshot\)/,
  );

  // Committed as it was read: repro runs nothing, and dv.lock names the snapshot (the run record,
  // and so the lineage of that run, keep what was true when it ran).
  await dvOk(repo, ['commit', '-m', 'part1 grows']);
  const settled = await dvJson(repo, ['repro'], env);
  assert.deepEqual(
    settled.stages.map((s: any) => s.action),
    ['up-to-date', 'up-to-date', 'up-to-date'],
  );
  assert.deepEqual(await f.ran(), []);
  assert.doesNotMatch(await fsp.readFile(join(repo, 'dv.lock'), 'utf8'), /uncommitted/);
  const snapshot = (await fsp.readFile(join(repo, 'data', 'raw.dv'), 'utf8')).match(/snapshot: ([0-9a-f]{64})/)![1];
  // The lineage of that run says both: what was true when it ran, and the snapshot since.
  assert.match(
    await dvOk(repo, ['lineage', 'metrics.json'], env),
    new RegExp(`in: {5}data/raw {2}id [0-9a-f]{12} {2}\\(UNCOMMITTED when read; committed since as snapshot ${snapshot.slice(0, 12)}\\)`),
  );
  assert.match(
    await fsp.readFile(join(repo, 'dv.lock'), 'utf8'),
    new RegExp(`- path: data/raw\\n {8}id: [0-9a-f]{64}\\n {8}snapshot: ${snapshot}\\n`),
  );
  // Rerun: the same.
  await dvOk(repo, ['repro', '--force', 'prepare'], env);
  assert.doesNotMatch(await fsp.readFile(join(repo, 'dv.lock'), 'utf8'), /uncommitted/);
  const lin2 = await dvJson(repo, ['lineage', 'data/prepared'], env);
  assert.equal(lin2.artifacts.find((a: any) => a.path === 'data/raw').snapshot.length, 64);
  git(repo, ['status', '--porcelain']);
});

test("a dep inside a tracked directory: committed it names the directory's snapshot; edited or new, it is refused as uncommitted", async () => {
  const f = await pipelineRepo();
  const { repo, env } = f;
  await dvOk(repo, ['stage', 'add', '-n', 'peek', '-d', 'data/raw/part2.csv', '-o', 'peek.txt', '--', 'cp data/raw/part2.csv peek.txt']);
  await dvOk(repo, ['repro', 'peek'], env);
  const snapshot = (await fsp.readFile(join(repo, 'data', 'raw.dv'), 'utf8')).match(/snapshot: ([0-9a-f]{64})/)![1];
  const lock = await fsp.readFile(join(repo, 'dv.lock'), 'utf8');
  assert.match(lock, new RegExp(`- path: data/raw/part2.csv\\n {8}id: [0-9a-f]{64}\\n {8}snapshot: ${snapshot}\\n`), lock);
  const lin = await dvJson(repo, ['lineage', 'peek.txt'], env);
  const part = lin.artifacts.find((a: any) => a.path === 'data/raw/part2.csv');
  assert.deepEqual([part?.kind, part?.snapshot], ['raw', snapshot], JSON.stringify(lin.artifacts));

  // Edited and not committed: refused, naming the file.
  await fsp.appendFile(join(repo, 'data', 'raw', 'part2.csv'), '9,90\n');
  const r = await dv(repo, ['repro', 'peek'], env);
  assert.equal(r.code, 16, r.stdout + r.stderr);
  assert.match(
    r.stderr,
    /UNSAVED_CHANGES: stage peek: dep data\/raw\/part2.csv is not what data\/raw.dv names .* run `dv commit data\/raw` to record it/,
  );
  await dvOk(repo, ['repro', '--force', 'peek'], env);
  assert.match(
    await fsp.readFile(join(repo, 'dv.lock'), 'utf8'),
    /- path: data\/raw\/part2.csv\n {8}id: [0-9a-f]{64}\n {8}uncommitted: true\n/,
  );
  // `dv commit` of the file commits its tracked directory; the dep names the new snapshot.
  await dvOk(repo, ['commit', 'data/raw/part2.csv', '-m', 'part2 grows']);
  await dvOk(repo, ['repro', '--force', 'peek'], env);
  const snapshot2 = (await fsp.readFile(join(repo, 'data', 'raw.dv'), 'utf8')).match(/snapshot: ([0-9a-f]{64})/)![1];
  assert.notEqual(snapshot2, snapshot);
  assert.match(
    await fsp.readFile(join(repo, 'dv.lock'), 'utf8'),
    new RegExp(`- path: data/raw/part2.csv\\n {8}id: [0-9a-f]{64}\\n {8}snapshot: ${snapshot2}\\n`),
  );

  // A new file inside the tracked directory, not committed: uncommitted too.
  await fsp.writeFile(join(repo, 'data', 'raw', 'part9.csv'), '1,1\n');
  await dvOk(repo, ['stage', 'add', '-n', 'peek9', '-d', 'data/raw/part9.csv', '-o', 'peek9.txt', '--', 'cp data/raw/part9.csv peek9.txt']);
  const r9 = await dv(repo, ['repro', 'peek9'], env);
  assert.equal(r9.code, 16, r9.stdout + r9.stderr);
  assert.match(r9.stderr, /dep data\/raw\/part9.csv is not what data\/raw.dv names/);
});

test('deps inside a tracked directory: two naming one snapshot both show in lineage; one through a symlink in it is not refused', async () => {
  const f = await pipelineRepo();
  const { repo, env } = f;
  await fsp.mkdir(join(repo, 'data', 'raw', 'v2'));
  await fsp.writeFile(join(repo, 'data', 'raw', 'v2', 'a.csv'), '5,50\n');
  await fsp.symlink('v2', join(repo, 'data', 'raw', 'latest'));
  await dvOk(repo, ['commit', 'data/raw', '-m', 'v2 and a link to it']);
  const snapshot = (await fsp.readFile(join(repo, 'data', 'raw.dv'), 'utf8')).match(/snapshot: ([0-9a-f]{64})/)![1];
  await dvOk(repo, [
    'stage',
    'add',
    '-n',
    'two',
    '-d',
    'data/raw/part1.csv',
    '-d',
    'data/raw/part3.csv',
    '-o',
    'two.txt',
    '--',
    'cat data/raw/part1.csv data/raw/part3.csv > two.txt',
  ]);
  await dvOk(repo, [
    'stage',
    'add',
    '-n',
    'linked',
    '-d',
    'data/raw/latest/a.csv',
    '-o',
    'linked.txt',
    '--',
    'cp data/raw/latest/a.csv linked.txt',
  ]);
  await dvOk(repo, ['repro', 'two', 'linked'], env);
  const lin = await dvJson(repo, ['lineage', 'two.txt'], env);
  for (const p of ['data/raw/part1.csv', 'data/raw/part3.csv']) {
    assert.equal(lin.artifacts.find((a: any) => a.path === p)?.snapshot, snapshot, `${p}: ${JSON.stringify(lin.artifacts)}`);
  }
  const dot = await dvOk(repo, ['lineage', 'two.txt', '--format', 'dot'], env);
  assert.match(dot, /part1\.csv/);
  assert.match(dot, /part3\.csv/);
  assert.equal(await fsp.readFile(join(repo, 'linked.txt'), 'utf8'), '5,50\n');
});
