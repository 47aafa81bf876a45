/**
 * `dv audit export` and `dv audit verify` through the real CLI on the three-stage pipeline of
 * test/pipeline/fixture.ts (with a raw file large enough to be chunked, so file manifests travel
 * too): the bundle verifies in an empty directory with no `.dv`, no git on PATH and no network;
 * each tampering fails with exit 43 and a line naming the cause.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import tar from 'tar-stream';
import { dv, dvJson, dvOk, tempDir, type RunResult } from '../helpers/cli.js';
import { pipelineRepo, type Fixture } from '../pipeline/fixture.js';

let f: Fixture;
let keys: string;
let bundle: string;
let dataCopy: string;
/** An empty directory, and an environment whose PATH holds no git. */
let empty: string;
let bare: Record<string, string>;

const trusted = (): string => join(keys, 'trusted.pub');

interface Entry {
  name: string;
  data: Buffer;
  type?: 'file' | 'symlink';
}

async function readTar(file: string): Promise<Entry[]> {
  const out: Entry[] = [];
  const x = tar.extract();
  const done = new Promise<void>((resolve, reject) => {
    x.on('entry', (h, stream, next) => {
      const parts: Buffer[] = [];
      stream.on('data', (d: unknown) => parts.push(d as Buffer));
      stream.on('end', () => {
        out.push({ name: h.name, data: Buffer.concat(parts) });
        next();
      });
    });
    x.on('finish', resolve);
    x.on('error', reject);
  });
  x.end(await fsp.readFile(file));
  await done;
  return out;
}

async function writeTar(file: string, entries: Entry[]): Promise<void> {
  const p = tar.pack();
  for (const e of entries) {
    if (e.type === 'symlink') p.entry({ name: e.name, type: 'symlink', linkname: '/etc/passwd' });
    else p.entry({ name: e.name, size: e.data.length }, e.data);
  }
  p.finalize();
  const parts: Buffer[] = [];
  for await (const c of p) parts.push(c as Buffer);
  await fsp.writeFile(file, Buffer.concat(parts));
}

/** A copy of the bundle with its entries changed by `edit` (in place, or by returning new ones). */
// biome-ignore lint/suspicious/noConfusingVoidType: an edit in place returns nothing
async function tampered(name: string, edit: (entries: Entry[]) => Entry[] | void): Promise<string> {
  const entries = await readTar(bundle);
  const file = join(tempDir('dv-bundle-'), name);
  await writeTar(file, edit(entries) ?? entries);
  return file;
}

const verify = (file: string, ...rest: string[]): Promise<RunResult> =>
  dv(empty, ['audit', 'verify', file, '--trusted-keys', trusted(), ...rest], bare);

async function fails(r: RunResult, cause: RegExp): Promise<void> {
  assert.equal(r.code, 43, r.stdout + r.stderr);
  assert.match(r.stderr, /^dv: error ATTESTATION_INVALID: .* does not verify: \d+ problems?/m);
  assert.match(r.stderr, cause);
}

before(async () => {
  f = await pipelineRepo();
  // Over 256 KiB: chunked, so the bundle carries its file manifest.
  const rows = Array.from({ length: 40_000 }, (_, i) => `${i % 97},${(i * 7919) % 1000}`).join('\n') + '\n';
  await fsp.writeFile(join(f.repo, 'data', 'raw', 'part4.csv'), rows);
  await dvOk(f.repo, ['commit', 'data/raw', '-m', 'more rows']);
  keys = tempDir('dv-keys-');
  await dvOk(f.repo, ['key', 'gen', join(keys, 'signing.key')]);
  await fsp.copyFile(join(keys, 'signing.key.pub'), trusted());
  await dvOk(f.repo, ['config', '--local', 'attest.key', join(keys, 'signing.key')]);
  await dvOk(f.repo, ['repro'], f.env);
  bundle = join(tempDir('dv-bundle-'), 'model-audit.tar');
  dataCopy = tempDir('dv-datacopy-');
  await fsp.cp(join(f.repo, 'data', 'raw'), join(dataCopy, 'data', 'raw'), { recursive: true });
  await fsp.copyFile(join(f.repo, 'model.json'), join(dataCopy, 'model.json'));
  empty = tempDir('dv-auditor-');
  const noGit = tempDir('dv-nogit-bin-');
  bare = { PATH: noGit, GIT_DIR: join(empty, 'no-such-git-dir') };
});

test('export -> verify in an empty directory with no git: passes, data bytes included', async () => {
  const r = await dvJson(f.repo, ['audit', 'export', 'model.json', '-o', bundle]);
  assert.equal(r.artifact, 'model.json');
  assert.equal(r.attestation, 'made');
  const names = (await readTar(bundle)).map((e) => e.name);
  for (const n of ['manifest.json', 'attestation.json', 'lineage.json', 'dv.lock', 'keys.pub'])
    assert.ok(names.includes(`dv-audit/${n}`), n);
  assert.equal(names.filter((n) => n.startsWith('dv-audit/objects/')).length, r.objects);
  assert.ok(r.objects >= 6, `snapshots, trees and a manifest: ${r.objects}`);

  assert.deepEqual(await fsp.readdir(empty), []);
  const j = await dvJson(empty, ['audit', 'verify', bundle, '--trusted-keys', trusted(), '--data', dataCopy], bare);
  assert.deepEqual([j.ok, j.artifact, j.keysFrom, j.failures], [true, 'model.json', 'file', []]);
  assert.equal(j.checked.dataFiles, 4, 'the four raw files, one of them chunked');
  assert.equal(j.checked.artifactFiles, 1, 'model.json against its sha256 subject');
  assert.equal(j.checked.objects, r.objects);
  assert.equal(j.codeCommits.length, 1);
  const text = await dvOk(empty, ['audit', 'verify', bundle], bare);
  assert.match(text, /^verified .*model-audit\.tar: model\.json \(snapshot [0-9a-f]{12}\) signed by sha256:/);
  assert.match(text, /note: trusted the bundle's own keys\.pub/);
  assert.deepEqual(await fsp.readdir(empty), [], 'verify wrote nothing');
});

test('export with a given attestation, and refusals', async () => {
  const att = join(keys, 'model.att.json');
  await dvOk(f.repo, ['attest', 'model.json', '-o', att]);
  const out = join(tempDir('dv-bundle-'), 'given.tar');
  const r = await dvJson(f.repo, ['audit', 'export', 'model.json', '-o', out, '--attestation', att]);
  assert.equal(r.attestation, 'given');
  assert.equal((await verify(out)).code, 0);
  const wrong = await dv(f.repo, ['audit', 'export', 'metrics.json', '-o', out + '2', '--attestation', att]);
  assert.equal(wrong.code, 2, wrong.stderr);
  assert.match(wrong.stderr, /attests model\.json snapshot [0-9a-f]{12}, not metrics\.json/);
  await assert.rejects(fsp.stat(out + '2'));
});

test('one byte of an object fails, naming the object', async () => {
  const file = await tampered('byte.tar', (es) => {
    const e = es.find((x) => x.name.startsWith('dv-audit/objects/'))!;
    e.data[e.data.length - 2] ^= 1;
  });
  await fails(await verify(file), /^dv: audit: object [0-9a-f]{12}: its bytes do not hash to its name/m);
});

test('a swapped signature fails; a key not trusted fails', async () => {
  const other = join(keys, 'other.key');
  await dvOk(f.repo, ['key', 'gen', other]);
  const metricsAtt = join(keys, 'metrics.att.json');
  await dvOk(f.repo, ['attest', 'metrics.json', '-o', metricsAtt]);
  const foreignSig = JSON.parse(await fsp.readFile(metricsAtt, 'utf8')).signatures;
  const file = await tampered('swapped.tar', (es) => {
    const e = es.find((x) => x.name === 'dv-audit/attestation.json')!;
    const env = JSON.parse(e.data.toString('utf8'));
    env.signatures = foreignSig;
    e.data = Buffer.from(JSON.stringify(env));
  });
  await fails(await verify(file), /attestation\.json: signature by sha256:[0-9a-f]+ does not verify/);
  const untrusted = await dv(empty, ['audit', 'verify', bundle, '--trusted-keys', other + '.pub'], bare);
  await fails(untrusted, /attestation\.json: signed by key sha256:[0-9a-f]+, which is not a trusted key/);
});

test('an extra file, an extra object, a link or a path outside the bundle fail', async () => {
  const extra = await tampered('extra.tar', (es) => [...es, { name: 'dv-audit/notes.txt', data: Buffer.from('hi') }]);
  await fails(await verify(extra), /unexpected entry "dv-audit\/notes\.txt"/);
  const objects = (await readTar(bundle)).filter((e) => e.name.startsWith('dv-audit/objects/'));
  // A real object of another artifact (its hash is right), that the attestation does not name.
  const otherBundle = join(tempDir('dv-bundle-'), 'metrics.tar');
  await dvOk(f.repo, ['audit', 'export', 'metrics.json', '-o', otherBundle]);
  const foreign = (await readTar(otherBundle)).find(
    (e) => e.name.startsWith('dv-audit/objects/') && !objects.some((o) => o.name === e.name),
  )!;
  const plus = await tampered('plus.tar', (es) => [...es, foreign]);
  await fails(await verify(plus), /object [0-9a-f]{12} is not named by the attestation/);
  const hostile = await tampered('hostile.tar', (es) => [
    ...es,
    { name: 'dv-audit/../../escape', data: Buffer.from('x') },
    { name: 'dv-audit/keys.pub', data: Buffer.from(''), type: 'symlink' },
  ]);
  const r = await verify(hostile);
  await fails(r, /unexpected entry "dv-audit\/\.\.\/\.\.\/escape"/);
  assert.match(r.stderr, /entry dv-audit\/keys\.pub is a symlink, not a file/);
  const missing = await tampered('missing.tar', (es) => es.filter((e) => e !== es.find((x) => x.name.startsWith('dv-audit/objects/'))));
  await fails(await verify(missing), /is not in the bundle/);
});

test('with --data, a changed or missing input file fails, naming it', async () => {
  const copy = tempDir('dv-datacopy-');
  await fsp.cp(dataCopy, copy, { recursive: true });
  const part2 = join(copy, 'data', 'raw', 'part2.csv');
  const b = await fsp.readFile(part2);
  b[0] ^= 1;
  await fsp.writeFile(part2, b);
  await fsp.rm(join(copy, 'data', 'raw', 'part3.csv'));
  await fsp.writeFile(join(copy, 'model.json'), '{"w":1}\n');
  const r = await verify(bundle, '--data', copy);
  await fails(r, /data data\/raw\/part2\.csv: its bytes differ from the attested input/);
  assert.match(r.stderr, /data data\/raw\/part3\.csv: missing \(/);
  assert.match(r.stderr, /artifact model\.json: its sha256 [0-9a-f]{12} is not the attested [0-9a-f]{12}/);
  assert.doesNotMatch(r.stderr, /part1|part4/);
  const bad = await dv(empty, ['audit', 'verify', bundle, '--data', join(copy, 'nope')], bare);
  assert.equal(bad.code, 2, bad.stderr);
});

test('with --data holding only the inputs, the artifact is said to be not checked', async () => {
  const copy = tempDir('dv-datacopy-');
  await fsp.cp(dataCopy, copy, { recursive: true });
  await fsp.rm(join(copy, 'model.json'));
  const r = await verify(bundle, '--data', copy);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /input files match their attested ids; artifact model\.json not in --data: not checked\n/);
  const j = await verify(bundle, '--data', copy, '--json');
  assert.deepEqual(JSON.parse(j.stdout).artifactNotFound, ['model.json']);
});

test('a file that is not a tar, or a truncated bundle, fails with one line', async () => {
  const dir = tempDir('dv-bundle-');
  await fsp.writeFile(join(dir, 'garbage.tar'), Buffer.alloc(5000, 7));
  const g = await verify(join(dir, 'garbage.tar'));
  assert.equal(g.code, 43, g.stderr);
  assert.match(g.stderr, /^dv: error ATTESTATION_INVALID: .*garbage\.tar: not a readable tar/m);
  const whole = await fsp.readFile(bundle);
  await fsp.writeFile(join(dir, 'cut.tar'), whole.subarray(0, Math.floor(whole.length / 2)));
  const c = await verify(join(dir, 'cut.tar'));
  assert.equal(c.code, 43, c.stderr);
  assert.equal(
    c.stderr
      .trim()
      .split('\n')
      .filter((l) => l.startsWith('dv: error')).length,
    1,
  );
  const none = await verify(join(dir, 'no-such.tar'));
  assert.equal(none.code, 2, none.stderr);
  assert.match(none.stderr, /no-such\.tar: no such file/);
});

test('export refuses when dv.lock no longer records the attested runs (the bundle could not verify)', async () => {
  const lockFile = join(f.repo, 'dv.lock');
  const before = await fsp.readFile(lockFile, 'utf8');
  assert.match(before, /train\.lr: 0\.5/);
  await fsp.writeFile(lockFile, before.replace('train.lr: 0.5', 'train.lr: 0.9'));
  try {
    const out = join(tempDir('dv-bundle-'), 'stale.tar');
    const r = await dv(f.repo, ['audit', 'export', 'model.json', '-o', out]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(
      r.stderr,
      /dv\.lock does not record the runs that made model\.json \(stage train: param params\.json:train\.lr is 0\.9 in dv\.lock/,
    );
    await assert.rejects(fsp.stat(out));
  } finally {
    await fsp.writeFile(lockFile, before);
  }
});
