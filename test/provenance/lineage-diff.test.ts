/**
 * `dv lineage diff` on the four-stage pipeline of four-stages.ts, with three git-committed versions
 * after the first: a data edit, a param change, and a package upgrade. The diff between the
 * first and last versions names exactly those three causes, and nothing else. dv.lock keeps the
 * package set as a digest; the packages are named from the run records, or, in a clone without
 * them, the diff says the set changed.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { dv, dvJson, dvOk, git, tempDir } from '../helpers/cli.js';
import { fourStages } from './four-stages.js';

let repo: string;
let env: Record<string, string>;

before(async () => {
  ({ repo, env } = await fourStages());
});

test('lineage diff names exactly the data edit, the param change and the package upgrade', async () => {
  const r = await dvJson(repo, ['lineage', 'diff', 'metrics.json', 'v0', 'v3'], env);
  assert.deepEqual(r.causes, [
    { stage: 'prepare', kind: 'data', what: ['data/raw'] },
    { stage: 'train', kind: 'params', what: ['params.json:train.lr'] },
    { stage: 'train', kind: 'env', what: ['pythonPackages.numpy'] },
  ]);
  assert.deepEqual(
    r.stages.map((s: any) => s.name),
    ['prepare', 'featurize', 'train', 'evaluate'],
  );
  const by = Object.fromEntries(r.stages.map((s: any) => [s.name, s]));
  // The data edit, file by file, from the tree diff of the input snapshots.
  const raw = by.prepare.inputs.find((i: any) => i.path === 'data/raw');
  assert.deepEqual(
    { kind: raw.kind, added: raw.added, modified: raw.modified, deleted: raw.deleted, paths: raw.paths },
    { kind: 'data', added: 0, modified: 1, deleted: 0, paths: [{ path: 'data/raw/part2.csv', change: 'modified' }] },
  );
  assert.deepEqual(by.train.params, [{ key: 'params.json:train.lr', a: 0.5, b: 0.25 }]);
  assert.deepEqual(by.train.env, [{ key: 'pythonPackages.numpy', a: '1.26.0', b: '1.26.4' }]);
  // Effects, not causes: an upstream out, the metric.
  assert.deepEqual(by.featurize.causes, []);
  assert.equal(by.featurize.inputs[0].kind, 'upstream');
  assert.deepEqual(by.evaluate.causes, []);
  assert.deepEqual(by.evaluate.inputs[0].paths, [{ path: 'model.json', change: 'modified' }]);
  assert.equal(by.evaluate.metrics[0].key, 'metrics.json:score');
  assert.notEqual(by.evaluate.metrics[0].a, by.evaluate.metrics[0].b);
  // The code commit moved, but only dv's files and a params file changed in git.
  assert.equal(by.train.code.files.length, 0);
  assert.ok(by.train.code.filtered > 0);
  for (const s of r.stages) assert.deepEqual(s.command, [], s.name);
});

test('lineage diff: the text and the Markdown table name the causes', async () => {
  const text = await dvOk(repo, ['lineage', 'diff', 'metrics.json', 'v0', 'v3'], env);
  assert.match(text, /causes: data \(prepare: data\/raw\); params \(train: params\.json:train\.lr\); env \(train: pythonPackages\.numpy\)/);
  assert.match(text, /M data\/raw\/part2\.csv/);
  assert.match(text, /env pythonPackages\.numpy: 1\.26\.0 → 1\.26\.4/);
  const md = await dvOk(repo, ['lineage', 'diff', 'metrics.json', 'v0', 'v3', '--md'], env);
  assert.match(md, /^\| stage \| cause\? \| kind \| what \| v0 \| v3 \|$/m);
  assert.match(md, /^\| train \| yes \| params \| params\.json:train\.lr \| 0\.5 \| 0\.25 \|$/m);
  assert.match(md, /^\| train \| yes \| env \| pythonPackages\.numpy \| 1\.26\.0 \| 1\.26\.4 \|$/m);
  assert.match(md, /^\| evaluate \| {2}\| metric \| metrics\.json:score \|/m);
  const causeRows = md.split('\n').filter((l) => /^\| \w+ \| yes \|/.test(l));
  assert.equal(causeRows.length, 3, md);
});

test('lineage diff of one step: only that cause; of a version with itself: none', async () => {
  const step = await dvJson(repo, ['lineage', 'diff', 'metrics.json', 'v1', 'v2'], env);
  assert.deepEqual(
    step.causes.map((c: any) => `${c.stage}:${c.kind}`),
    ['train:params'],
  );
  const none = await dvJson(repo, ['lineage', 'diff', 'metrics.json', 'v2', 'v2'], env);
  assert.deepEqual(none.causes, []);
  assert.ok(none.stages.every((s: any) => s.status === 'same'));
});

test('lineage diff takes snapshot ids of the artifact (read from the snapshots lineage)', async () => {
  const snapAt = (rev: string): string => /^snapshot: ([0-9a-f]+)$/m.exec(git(repo, ['show', `${rev}:metrics.json.dv`]))![1];
  const r = await dvJson(repo, ['lineage', 'diff', 'metrics.json', snapAt('v0').slice(0, 16), snapAt('v2')], env);
  assert.deepEqual(
    r.causes.map((c: any) => `${c.stage}:${c.kind}`),
    ['prepare:data', 'train:params'],
  );
  assert.equal(r.a.commit, undefined);
});

test('lineage diff refuses what it cannot compare, with one line', async () => {
  const bad = await dv(repo, ['lineage', 'diff', 'metrics.json', 'v0', 'no-such-rev'], env);
  assert.equal(bad.code, 20, bad.stderr);
  assert.match(bad.stderr, /^dv: error UNKNOWN_ID: no-such-rev is neither a git revision nor a snapshot id/m);
  const raw = await dv(repo, ['lineage', 'diff', 'data/raw', 'v0', 'v1'], env);
  assert.equal(raw.code, 13, raw.stderr);
  assert.match(raw.stderr, /data\/raw is not a stage output in dv\.lock at v0/);
  // `dv lineage <target>` still works beside its `diff` sub-command.
  assert.match(await dvOk(repo, ['lineage', 'model.json'], env), /train/);
});

test('dv.lock keeps the package set as one digest line; the diff names packages from the run records, or says the set changed', async () => {
  const lock = await fsp.readFile(join(repo, 'dv.lock'), 'utf8');
  assert.match(lock, /^ {6}pythonPackages: sha256:[0-9a-f]{64} \(2 packages\)$/m);
  assert.doesNotMatch(lock, /numpy/, 'the package list is in the run record, not in dv.lock');

  // A git clone has dv.lock at each commit but no run records (nothing fetched): the digests differ.
  const clone = join(tempDir('dv-clone-'), 'c');
  git(repo, ['clone', '-q', repo, clone]);
  const r = await dvJson(clone, ['lineage', 'diff', 'metrics.json', 'v0', 'v3'], env);
  assert.deepEqual(
    r.causes.map((c: any) => `${c.stage}:${c.kind}:${c.what.join(',')}`),
    ['prepare:data:data/raw', 'train:params:params.json:train.lr', 'train:env:pythonPackages'],
  );
  const train = r.stages.find((s: any) => s.name === 'train');
  assert.match(train.env[0].a, /^sha256:[0-9a-f]{64} \(2 packages\)$/);
  assert.notEqual(train.env[0].a, train.env[0].b);
  const text = await dvOk(clone, ['lineage', 'diff', 'metrics.json', 'v0', 'v3'], env);
  assert.match(text, /^ {2}env pythonPackages: package set changed \(digest [0-9a-f]{12} \(2 packages\) → [0-9a-f]{12} \(2 packages\)\)$/m);

  // A dv.lock an older dv wrote (the package map inline) still reads, and compares equal to the digest of the same set.
  const doc = parse(await fsp.readFile(join(clone, 'dv.lock'), 'utf8'));
  doc.stages.train.env.pythonPackages = { numpy: '1.26.4', pandas: '2.2.1' };
  await fsp.writeFile(join(clone, 'dv.lock'), stringify(doc));
  git(clone, ['commit', '-qam', 'old-style dv.lock']);
  const same = await dvJson(clone, ['lineage', 'diff', 'metrics.json', 'v3', 'HEAD'], env);
  assert.deepEqual(same.causes, []);
  const older = await dvJson(clone, ['lineage', 'diff', 'metrics.json', 'v0', 'HEAD'], env);
  assert.ok(older.causes.some((c: any) => c.stage === 'train' && c.kind === 'env'));
});

test('dv lineage shows the environment captured: package count and digest, CPU (text and --json)', async () => {
  const j = await dvJson(repo, ['lineage', 'model.json'], env);
  const train = j.stages.find((s: any) => s.name === 'train');
  assert.equal(train.environment.pythonPackages.count, 2);
  const lock = await fsp.readFile(join(repo, 'dv.lock'), 'utf8');
  const digests = [...lock.matchAll(/pythonPackages: (sha256:[0-9a-f]{64}) \(2 packages\)/g)].map((m) => m[1]);
  assert.ok(digests.includes(train.environment.pythonPackages.digest), 'the digest dv.lock keeps');
  assert.equal(typeof train.environment.cpu, 'string');
  const text = await dvOk(repo, ['lineage', 'model.json'], env);
  assert.match(text, /^ {2}host: {3}python packages 2 \(sha256:[0-9a-f]{12}\), cpu \S/m);
});
