/**
 * `dv attest` and `dv attest verify` through the real CLI on the three-stage pipeline of
 * test/pipeline/fixture.ts: an attestation verifies offline, conforms to DSSE and in-toto
 * Statement v1 / SLSA provenance v1 (independent checks in schema.ts), and each tampering fails
 * verification with exit 43 and a line naming the cause.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { createPrivateKey, sign } from 'node:crypto';
import { dv, dvJson, dvOk, tempDir, type RunResult } from '../helpers/cli.js';
import { pipelineRepo, type Fixture } from '../pipeline/fixture.js';
import { envelopeViolations, pae, signatureVerifies, statementViolations } from './schema.js';

let f: Fixture;
let keys: string;
let modelAtt: string;
let metricsAtt: string;
let dirAtt: string;
let keyid: string;

const trusted = (): string => join(keys, 'trusted.pub');
const verifyArgs = (att: string, ...rest: string[]): string[] => ['attest', 'verify', att, ...rest, '--trusted-keys', trusted()];
const payloadOf = (env: any): any => JSON.parse(Buffer.from(env.payload, 'base64').toString('utf8'));

/** A verify that must fail: exit 43, the error line, and a failure line matching `cause`. */
async function fails(r: RunResult, cause: RegExp): Promise<void> {
  assert.equal(r.code, 43, r.stdout + r.stderr);
  assert.match(r.stderr, /^dv: error ATTESTATION_INVALID: .* does not verify/m);
  assert.match(r.stderr, cause);
}

/** Runs `fn` with a file's bytes changed by `edit`, then puts them back (verified). */
async function withEdited(file: string, edit: (b: Buffer) => Buffer, fn: () => Promise<void>): Promise<void> {
  const before = await fsp.readFile(file);
  await fsp.writeFile(file, edit(Buffer.from(before)));
  try {
    await fn();
  } finally {
    await fsp.writeFile(file, before);
  }
}

const editLock =
  (change: (lock: any) => void) =>
  (b: Buffer): Buffer => {
    const doc = parse(b.toString('utf8'));
    change(doc);
    return Buffer.from(stringify(doc));
  };

before(async () => {
  f = await pipelineRepo();
  keys = tempDir('dv-keys-');
  keyid = (await dvJson(f.repo, ['key', 'gen', join(keys, 'signing.key')])).keyid;
  assert.equal(((await fsp.stat(join(keys, 'signing.key'))).mode & 0o777).toString(8), '600');
  await fsp.copyFile(join(keys, 'signing.key.pub'), trusted());
  await dvOk(f.repo, ['config', '--local', 'attest.key', join(keys, 'signing.key')]);
  await dvOk(f.repo, ['repro'], f.env);
  modelAtt = join(keys, 'model.att.json');
  metricsAtt = join(keys, 'metrics.att.json');
  dirAtt = join(keys, 'prepared.att.json');
  const r = await dvJson(f.repo, ['attest', 'model.json', '-o', modelAtt]);
  assert.deepEqual([r.artifact, r.keyid, r.stages], ['model.json', keyid, 2]);
  await dvOk(f.repo, ['attest', 'metrics.json', '-o', metricsAtt]);
  await dvOk(f.repo, ['attest', 'data/prepared', '-o', dirAtt]);
});

test('sign -> verify passes offline, and the envelope and statement conform to DSSE, in-toto Statement v1 and SLSA provenance v1', async () => {
  const out = await dvOk(f.repo, verifyArgs(modelAtt, 'model.json'));
  assert.match(out, /^verified model\.json: signed by sha256:[0-9a-f]{64}; 2 subjects match/);
  const j = await dvJson(f.repo, verifyArgs(dirAtt));
  assert.deepEqual([j.ok, j.artifact, j.failures], [true, 'data/prepared', []]);
  assert.equal(j.checked.subjects, 3, 'two files and the snapshot');

  const env = JSON.parse(await fsp.readFile(modelAtt, 'utf8'));
  assert.deepEqual(envelopeViolations(env), []);
  assert.equal(env.payloadType, 'application/vnd.in-toto+json');
  assert.equal(env.signatures[0].keyid, keyid);
  assert.ok(signatureVerifies(env, await fsp.readFile(trusted(), 'utf8')), 'the signature verifies by an independent PAE');
  const st = payloadOf(env);
  assert.deepEqual(statementViolations(st), []);
  assert.deepEqual(
    st.subject.map((s: any) => s.name),
    ['model.json', 'dv-snapshot:model.json'],
  );
  const { createHash } = await import('node:crypto');
  assert.equal(
    st.subject[0].digest.sha256,
    createHash('sha256')
      .update(await fsp.readFile(join(f.repo, 'model.json')))
      .digest('hex'),
  );
  const b = st.predicate.buildDefinition;
  assert.deepEqual([b.externalParameters.stage, b.externalParameters.cmd], ['train', 'node train.mjs']);
  assert.deepEqual(b.externalParameters.params, { 'params.json': { 'train.lr': 0.5 } });
  assert.deepEqual(
    b.internalParameters.stages.map((s: any) => s.name),
    ['train', 'prepare'],
  );
  const names = b.resolvedDependencies.map((d: any) => d.name).sort();
  assert.deepEqual(names, ['code', 'data/prepared', 'data/raw', 'prepare.mjs', 'train.mjs'], 'materials back to raw data');
  assert.match(b.resolvedDependencies.find((d: any) => d.name === 'code').digest.gitCommit, /^[0-9a-f]{40}$/);
  assert.match(b.resolvedDependencies.find((d: any) => d.name === 'data/raw').digest.dvSnapshot, /^[0-9a-f]{64}$/);

  // The independent checks catch what they claim to.
  assert.notDeepEqual(statementViolations({ ...st, _type: 'https://in-toto.io/Statement/v0.1' }), []);
  assert.notDeepEqual(envelopeViolations({ ...env, signatures: [] }), []);
  assert.ok(!signatureVerifies({ ...env, payloadType: 'text/plain' }, await fsp.readFile(trusted(), 'utf8')));
});

test('one byte of an out changed: verify names the file and both sha256', async () => {
  await withEdited(
    join(f.repo, 'model.json'),
    (b) => {
      b[2] ^= 1;
      return b;
    },
    async () =>
      fails(
        await dv(f.repo, verifyArgs(modelAtt, 'model.json')),
        /attestation: model\.json: sha256 [0-9a-f]{12} on disk, attested [0-9a-f]{12}/,
      ),
  );
  // A file added to a directory artifact is named too.
  await fsp.writeFile(join(f.repo, 'data/prepared/extra.txt'), 'x');
  try {
    await fails(await dv(f.repo, verifyArgs(dirAtt)), /data\/prepared\/extra\.txt: on disk in data\/prepared, not attested/);
  } finally {
    await fsp.rm(join(f.repo, 'data/prepared/extra.txt'));
  }
  await dvOk(f.repo, verifyArgs(modelAtt));
});

test('a param value changed in dv.lock: verify names the stage, the param and both values', async () => {
  await withEdited(
    join(f.repo, 'dv.lock'),
    editLock((l) => (l.stages.train.params['params.json']['train.lr'] = 0.7)),
    async () =>
      fails(
        await dv(f.repo, verifyArgs(modelAtt)),
        /attestation: stage train: param params\.json:train\.lr is 0\.7 in dv\.lock, attested 0\.5/,
      ),
  );
});

test('an env field changed in dv.lock: verify names the field', async () => {
  await withEdited(
    join(f.repo, 'dv.lock'),
    editLock((l) => (l.stages.prepare.env.tools.node = '99.0.0')),
    async () =>
      fails(
        await dv(f.repo, verifyArgs(modelAtt)),
        /attestation: stage prepare: env\.tools\.node is "99\.0\.0" in dv\.lock, attested "\d+\./,
      ),
  );
});

test('a material snapshot id changed: in dv.lock, or (re-signed) in the attestation itself', async () => {
  const lock = parse(await fsp.readFile(join(f.repo, 'dv.lock'), 'utf8'));
  const raw = lock.stages.prepare.deps.find((d: any) => d.path === 'data/raw').snapshot;
  await withEdited(
    join(f.repo, 'dv.lock'),
    editLock((l) => (l.stages.train.deps.find((d: any) => d.path === 'data/prepared').snapshot = raw)),
    async () =>
      fails(
        await dv(f.repo, verifyArgs(modelAtt)),
        new RegExp(`stage train: dep data/prepared is snapshot "${raw}" in dv\\.lock, attested "[0-9a-f]{64}"`),
      ),
  );
  // The signer's own attestation naming a snapshot this clone does not hold.
  const env = JSON.parse(await fsp.readFile(modelAtt, 'utf8'));
  const st = payloadOf(env);
  const bogus = 'ab'.repeat(32);
  st.predicate.buildDefinition.resolvedDependencies.find((d: any) => d.name === 'data/raw').digest.dvSnapshot = bogus;
  const payload = Buffer.from(JSON.stringify(st));
  const key = createPrivateKey(await fsp.readFile(join(keys, 'signing.key'), 'utf8'));
  const forged = join(keys, 'resigned.json');
  await fsp.writeFile(
    forged,
    JSON.stringify({
      payload: payload.toString('base64'),
      payloadType: env.payloadType,
      signatures: [{ keyid, sig: sign(null, pae(env.payloadType, payload), key).toString('base64') }],
    }),
  );
  await fails(
    await dv(f.repo, verifyArgs(forged)),
    new RegExp(`material data/raw: snapshot ${bogus.slice(0, 12)} is not in the local store`),
  );
});

test('a swapped or missing signature, or a changed payload, fails on the signature', async () => {
  const model = JSON.parse(await fsp.readFile(modelAtt, 'utf8'));
  const metrics = JSON.parse(await fsp.readFile(metricsAtt, 'utf8'));
  const swapped = join(keys, 'swapped.json');
  await fsp.writeFile(swapped, JSON.stringify({ ...model, signatures: metrics.signatures }));
  await fails(await dv(f.repo, verifyArgs(swapped)), new RegExp(`signature by ${keyid} does not verify`));
  const missing = join(keys, 'missing.json');
  await fsp.writeFile(missing, JSON.stringify({ ...model, signatures: [] }));
  await fails(await dv(f.repo, verifyArgs(missing)), /the envelope has no signature/);
  const edited = payloadOf(model);
  edited.predicate.buildDefinition.externalParameters.params['params.json']['train.lr'] = 0.9;
  const changed = join(keys, 'changed.json');
  await fsp.writeFile(changed, JSON.stringify({ ...model, payload: Buffer.from(JSON.stringify(edited)).toString('base64') }));
  await fails(await dv(f.repo, verifyArgs(changed)), /does not verify \(the payload or the signature was changed\)/);
});

test('a key not in the trusted set: the signature is named as a foreign key', async () => {
  const other = join(keys, 'other.key');
  await dvOk(f.repo, ['key', 'gen', other]);
  const r = await dv(f.repo, ['attest', 'verify', modelAtt, '--trusted-keys', other + '.pub']);
  await fails(r, new RegExp(`signed by key ${keyid}, which is not a trusted key`));
  assert.doesNotMatch(r.stderr, /sha256 .* on disk/, 'nothing of an untrusted payload is compared');
});

test('a replayed attestation of another artifact fails: the artifact is not its subject', async () => {
  await fails(
    await dv(f.repo, verifyArgs(metricsAtt, 'model.json')),
    /model\.json is not a subject of this attestation: it attests metrics\.json/,
  );
  await dvOk(f.repo, verifyArgs(metricsAtt, 'metrics.json'));
});

test('no trusted keys is USAGE, never a trust in the key the attestation carries; a malformed file is ATTESTATION_INVALID', async () => {
  const r = await dv(f.repo, ['attest', 'verify', modelAtt]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /no trusted keys: give --trusted-keys FILE/);
  const junk = join(keys, 'junk.json');
  await fsp.writeFile(junk, '{"payload": 1}');
  const j = await dv(f.repo, verifyArgs(junk));
  assert.equal(j.code, 43);
  assert.match(j.stderr, /junk\.json is not a DSSE envelope: payloadType/);
});

test('the artifact swapped for a link to an identical copy elsewhere fails: links are never followed to hash a subject', async () => {
  const dir = join(f.repo, 'data', 'prepared');
  const away = join(tempDir('dv-away-'), 'prepared');
  await fsp.cp(dir, away, { recursive: true });
  await fsp.rename(dir, dir + '.moved');
  await fsp.symlink(away, dir);
  try {
    await fails(await dv(f.repo, verifyArgs(dirAtt)), /data\/prepared\/count\.txt: a directory on its path is a link or not a directory/);
  } finally {
    await fsp.rm(dir);
    await fsp.rename(dir + '.moved', dir);
  }
  await dvOk(f.repo, verifyArgs(dirAtt));
});

test('raw tracked data and a snapshot id can be attested too: no stage, the snapshot and its files', async () => {
  const raw = join(keys, 'raw.att.json');
  const r = await dvJson(f.repo, ['attest', 'data/raw', '-o', raw]);
  assert.deepEqual([r.artifact, r.stages, r.subjects], ['data/raw', 0, 4]);
  const st = payloadOf(JSON.parse(await fsp.readFile(raw, 'utf8')));
  assert.deepEqual(statementViolations(st), []);
  assert.equal(st.predicate.buildDefinition.externalParameters.stage, undefined);
  await dvOk(f.repo, verifyArgs(raw, 'data/raw/part2.csv'));
  const bySnapshot = JSON.parse(await dvOk(f.repo, ['attest', r.snapshot.slice(0, 12)]));
  assert.equal(payloadOf(bySnapshot).predicate.buildDefinition.internalParameters.snapshot, r.snapshot);
});

test("hostile subject names in a trusted signer's attestation are refused before any is joined to the repository", async () => {
  const env = JSON.parse(await fsp.readFile(modelAtt, 'utf8'));
  const st = payloadOf(env);
  st.subject = [
    { name: '../outside.txt', digest: { sha256: '0'.repeat(64) } },
    { name: '/etc/hostname', digest: { sha256: '0'.repeat(64) } },
    { name: '.git/config', digest: { sha256: '0'.repeat(64) } },
    ...st.subject,
  ];
  const payload = Buffer.from(JSON.stringify(st));
  const key = createPrivateKey(await fsp.readFile(join(keys, 'signing.key'), 'utf8'));
  const file = join(keys, 'hostile.json');
  const sig = sign(null, pae(env.payloadType, payload), key).toString('base64');
  await fsp.writeFile(
    file,
    JSON.stringify({ payload: payload.toString('base64'), payloadType: env.payloadType, signatures: [{ keyid, sig }] }),
  );
  const r = await dv(f.repo, verifyArgs(file));
  await fails(r, /subject "\.\.\/outside\.txt" /);
  assert.match(r.stderr, /subject "\/etc\/hostname" is not a relative path/);
  assert.match(r.stderr, /subject "\.git\/config" /);
  assert.equal((r.stderr.match(/^dv: attestation: /gm) ?? []).length, 3, 'the three names, nothing else');
});

test('materials are what the runs read: an out of the same run, or one nothing downstream read, is none', async () => {
  const g = await pipelineRepo();
  const k = tempDir('dv-keys-');
  await dvOk(g.repo, ['key', 'gen', join(k, 'signing.key')]);
  await dvOk(g.repo, ['config', '--local', 'attest.key', join(k, 'signing.key')]);
  await dvOk(g.repo, [
    'stage',
    'add',
    '-n',
    'split',
    '-d',
    'data/raw',
    '-o',
    'a.txt',
    '-o',
    'b.txt',
    '--',
    'cat data/raw/*.csv > a.txt; echo b > b.txt',
  ]);
  await dvOk(g.repo, ['stage', 'add', '-n', 'use', '-d', 'a.txt', '-o', 'c.txt', '--', 'cp a.txt c.txt']);
  await dvOk(g.repo, ['repro', 'use'], g.env);
  const materials = async (artifact: string): Promise<string[]> => {
    const out = join(k, `${artifact}.att.json`);
    await dvOk(g.repo, ['attest', artifact, '-o', out]);
    const st = payloadOf(JSON.parse(await fsp.readFile(out, 'utf8')));
    return st.predicate.buildDefinition.resolvedDependencies.map((d: any) => d.name).sort();
  };
  assert.deepEqual(await materials('c.txt'), ['a.txt', 'code', 'data/raw']);
  assert.deepEqual(await materials('a.txt'), ['code', 'data/raw']);
});
