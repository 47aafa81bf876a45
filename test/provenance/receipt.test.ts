/**
 * Rebuild receipts: `dv repro --verify --rebuild` signs one receipt per rebuilt stage (in-toto
 * Statement v1 in a DSSE envelope), kept in the store's directory; `dv attest verify` accepts it
 * ("rebuilt and matched by <key> at <time>") and reports it beside an attestation of the same
 * artifact. A receipt of another artifact, a tampered one, an untrusted signer, and a rebuild of a
 * non-deterministic stage each fail with their cause (the last with exit 42, not reproduced).
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { dv, dvJson, dvOk, git, makeRepo, tempDir } from '../helpers/cli.js';
import { pipelineRepo, type Fixture } from '../pipeline/fixture.js';
import tar from 'tar-stream';
import { envelopeViolations, signatureVerifies } from './schema.js';

let f: Fixture;
let keys: string;
let keyid: string;
let modelReceipt: string;
let metricsReceipt: string;

const trusted = (): string => join(keys, 'trusted.pub');
const payloadOf = (env: any): any => JSON.parse(Buffer.from(env.payload, 'base64').toString('utf8'));

before(async () => {
  f = await pipelineRepo();
  keys = tempDir('dv-keys-');
  keyid = (await dvJson(f.repo, ['key', 'gen', join(keys, 'signing.key')])).keyid;
  await fsp.copyFile(join(keys, 'signing.key.pub'), trusted());
  await dvOk(f.repo, ['repro'], f.env);
  git(f.repo, ['add', '-A']);
  git(f.repo, ['commit', '-qm', 'run']);
});

test('without a signing key, --rebuild is refused with one line before anything is rebuilt', async () => {
  await fsp.rm(f.runLog, { force: true });
  const r = await dv(f.repo, ['repro', '--verify', '--rebuild'], f.env);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /^dv: error USAGE: --rebuild signs a receipt, and no signing key is set: `dv config --local attest\.key PATH`/m);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.equal(await fsp.readFile(f.runLog, 'utf8').catch(() => ''), '', 'no stage ran');
});

test('a matching rebuild writes a receipt per stage that attest verify accepts', async () => {
  await dvOk(f.repo, ['config', '--local', 'attest.key', join(keys, 'signing.key')]);
  const r = await dvJson(f.repo, ['repro', '--verify', '--rebuild'], f.env);
  assert.equal(r.ok, true);
  assert.deepEqual(
    r.receipts.map((x: any) => [x.stage, x.artifacts, x.matched, x.keyid]),
    [
      ['prepare', ['data/prepared'], true, keyid],
      ['train', ['model.json'], true, keyid],
      ['evaluate', ['metrics.json'], true, keyid],
    ],
  );
  modelReceipt = r.receipts[1].files[0];
  metricsReceipt = r.receipts[2].files[0];
  const env = JSON.parse(await fsp.readFile(modelReceipt, 'utf8'));
  assert.deepEqual(envelopeViolations(env), []);
  assert.ok(signatureVerifies(env, await fsp.readFile(trusted(), 'utf8')));
  const st = payloadOf(env);
  assert.equal(st._type, 'https://in-toto.io/Statement/v1');
  assert.equal(st.subject[0].name, 'dv-snapshot:model.json');
  const lock = await dvJson(f.repo, ['lineage', 'model.json']);
  assert.equal(st.subject[0].digest.dvSnapshot, lock.target.snapshot);
  assert.equal(st.predicate.reproduced.stage, 'train');
  assert.match(st.predicate.reproduced.run, /^[0-9a-f]{64}$/);
  assert.equal(st.predicate.rebuild.signer, keyid);
  assert.equal(typeof st.predicate.rebuild.env.os, 'string');
  assert.deepEqual(
    st.predicate.outs.map((o: any) => [o.path, o.matched, o.rebuilt === o.tree]),
    [['model.json', true, true]],
  );

  const out = await dvOk(f.repo, ['attest', 'verify', modelReceipt, 'model.json', '--trusted-keys', trusted()]);
  assert.match(out, new RegExp(`^verified rebuild receipt for model\\.json: rebuilt and matched by ${keyid} at \\d{4}-\\d\\d-\\d\\dT`));
  // An attestation of the same artifact reports the kept receipt.
  const att = join(keys, 'model.att.json');
  await dvOk(f.repo, ['attest', 'model.json', '-o', att]);
  const v = await dvOk(f.repo, ['attest', 'verify', att, '--trusted-keys', trusted()]);
  assert.match(v, new RegExp(`^ {2}rebuilt and matched by ${keyid} at .* \\(stage train;`, 'm'));
});

test('a receipt of another artifact, a tampered receipt and an untrusted signer each fail with exit 43 and the cause', async () => {
  const other = await dv(f.repo, ['attest', 'verify', modelReceipt, 'metrics.json', '--trusted-keys', trusted()]);
  assert.equal(other.code, 43, other.stderr);
  assert.match(
    other.stderr,
    /^dv: receipt: metrics\.json is not a subject of this receipt: it is about model\.json \(a receipt of another artifact\)$/m,
  );

  // Tampered: the payload says the rebuild wrote another tree; the signature no longer covers it.
  const env = JSON.parse(await fsp.readFile(modelReceipt, 'utf8'));
  const st = payloadOf(env);
  st.predicate.reproduced.cmd = 'node other.mjs';
  const tampered = join(keys, 'tampered.json');
  await fsp.writeFile(tampered, JSON.stringify({ ...env, payload: Buffer.from(JSON.stringify(st)).toString('base64') }));
  const t = await dv(f.repo, ['attest', 'verify', tampered, '--trusted-keys', trusted()]);
  assert.equal(t.code, 43, t.stderr);
  assert.match(
    t.stderr,
    /^dv: receipt: .*tampered\.json: signature by sha256:[0-9a-f]{64} does not verify \(the payload or the signature was changed\)/m,
  );
  assert.match(t.stderr, /^dv: error ATTESTATION_INVALID: .*tampered\.json does not verify/m);

  const otherKey = join(keys, 'other.key');
  await dvOk(f.repo, ['key', 'gen', otherKey]);
  const u = await dv(f.repo, ['attest', 'verify', modelReceipt, '--trusted-keys', otherKey + '.pub']);
  assert.equal(u.code, 43, u.stderr);
  assert.match(u.stderr, new RegExp(`signed by key ${keyid}, which is not a trusted key`));
});

/** The bundle's entries, and a copy with them changed by `edit`. */
async function retar(file: string, out: string, edit: (e: { name: string; data: Buffer }[]) => void): Promise<void> {
  const entries: { name: string; data: Buffer }[] = [];
  const x = tar.extract();
  const done = new Promise<void>((resolve, reject) => {
    x.on('entry', (h, stream, next) => {
      const parts: Buffer[] = [];
      stream.on('data', (d: unknown) => parts.push(d as Buffer));
      stream.on('end', () => {
        entries.push({ name: h.name, data: Buffer.concat(parts) });
        next();
      });
    });
    x.on('finish', resolve);
    x.on('error', reject);
  });
  x.end(await fsp.readFile(file));
  await done;
  edit(entries);
  const p = tar.pack();
  for (const e of entries) p.entry({ name: e.name, size: e.data.length }, e.data);
  p.finalize();
  const parts: Buffer[] = [];
  for await (const c of p) parts.push(c as Buffer);
  await fsp.writeFile(out, Buffer.concat(parts));
}

test('audit export carries the receipts of the artifact; audit verify reports them, and refuses a changed or foreign one', async () => {
  const dir = tempDir('dv-bundle-');
  const bundle = join(dir, 'model.tar');
  const e = await dvJson(f.repo, ['audit', 'export', 'model.json', '-o', bundle]);
  assert.equal(e.receipts, 1);
  const empty = tempDir('dv-empty-');
  const ok = await dvOk(empty, ['audit', 'verify', bundle, '--trusted-keys', trusted()]);
  assert.match(ok, new RegExp(`^ {2}rebuilt and matched by ${keyid} at .* \\(stage train;`, 'm'));
  const j = await dvJson(empty, ['audit', 'verify', bundle, '--trusted-keys', trusted()]);
  assert.deepEqual(
    j.receipts.map((x: any) => [x.stage, x.matched, x.signer]),
    [['train', true, keyid]],
  );

  const changed = join(dir, 'changed.tar');
  await retar(bundle, changed, (es) => {
    const r = es.find((x) => x.name.startsWith('dv-audit/receipts/'))!;
    r.data = Buffer.from(r.data.toString('utf8').replace('"payloadType"', '"payloadType" '));
  });
  const c = await dv(empty, ['audit', 'verify', changed, '--trusted-keys', trusted()]);
  assert.equal(c.code, 43, c.stderr);
  assert.match(c.stderr, /^dv: audit: receipts\/[0-9a-f]{64}\.json: its bytes do not hash to its name \(the receipt was changed\)$/m);

  const foreign = join(dir, 'foreign.tar');
  const other = await fsp.readFile(metricsReceipt);
  const { createHash } = await import('node:crypto');
  await retar(bundle, foreign, (es) => {
    es.push({ name: `dv-audit/receipts/${createHash('sha256').update(other).digest('hex')}.json`, data: other });
  });
  const o = await dv(empty, ['audit', 'verify', foreign, '--trusted-keys', trusted()]);
  assert.equal(o.code, 43, o.stderr);
  assert.match(o.stderr, /^dv: audit: receipts\/[0-9a-f]{64}\.json: a receipt of another artifact: it is about metrics\.json/m);
});

test('a non-deterministic stage: the receipt records the mismatch and verify reports it not reproduced (exit 42)', async () => {
  const repo = await makeRepo();
  await dvOk(repo, ['config', '--local', 'attest.key', join(keys, 'signing.key')]);
  await fsp.writeFile(join(repo, 'noise.mjs'), "import fs from 'node:fs';\nfs.writeFileSync('noise.txt', String(Math.random()));\n");
  await dvOk(repo, ['stage', 'add', '-n', 'noise', '-d', 'noise.mjs', '-o', 'noise.txt', '--', 'node noise.mjs']);
  await dvOk(repo, ['repro']);
  git(repo, ['add', '-A']);
  git(repo, ['commit', '-qm', 'noise']);
  const r = await dv(repo, ['repro', '--verify', '--rebuild', '--json']);
  assert.equal(r.code, 42, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.deepEqual(
    j.receipts.map((x: any) => [x.stage, x.matched]),
    [['noise', false]],
  );
  const file = j.receipts[0].files[0];
  const st = payloadOf(JSON.parse(await fsp.readFile(file, 'utf8')));
  assert.equal(st.predicate.matched, false);
  assert.equal(st.predicate.outs[0].matched, false);
  assert.notEqual(st.predicate.outs[0].rebuilt, st.predicate.outs[0].tree);

  const v = await dv(repo, ['attest', 'verify', file, 'noise.txt', '--trusted-keys', trusted()]);
  assert.equal(v.code, 42, v.stderr);
  assert.match(
    v.stderr,
    /^dv: receipt: not reproduced: out noise\.txt: rebuilt as tree [0-9a-f]{12}, recorded [0-9a-f]{12} \(not bit-identical\)$/m,
  );
  assert.match(v.stderr, /^dv: error NOT_REPRODUCIBLE: .* noise\.txt was rebuilt by sha256:[0-9a-f]{64} at .* and NOT reproduced/m);
  const vj = JSON.parse((await dv(repo, ['attest', 'verify', file, '--trusted-keys', trusted(), '--json'])).stdout);
  assert.deepEqual([vj.error?.code ?? vj.code], ['NOT_REPRODUCIBLE']);
});

test('a receipt signed by a trusted key but claiming a match its outs deny is refused as malformed', async () => {
  const { createPrivateKey, sign } = await import('node:crypto');
  const { pae } = await import('./schema.js');
  const env = JSON.parse(await fsp.readFile(modelReceipt, 'utf8'));
  const st = payloadOf(env);
  st.predicate.outs[0].matched = false;
  st.predicate.outs[0].rebuilt = 'f'.repeat(64);
  const payload = Buffer.from(JSON.stringify(st));
  const key = createPrivateKey(await fsp.readFile(join(keys, 'signing.key'), 'utf8'));
  const sig = sign(null, pae(env.payloadType, payload), key).toString('base64');
  const forged = join(keys, 'forged.json');
  await fsp.writeFile(
    forged,
    JSON.stringify({ payload: payload.toString('base64'), payloadType: env.payloadType, signatures: [{ keyid, sig }] }),
  );
  const r = await dv(f.repo, ['attest', 'verify', forged, '--trusted-keys', trusted()]);
  assert.equal(r.code, 43, r.stderr);
  assert.match(r.stderr, /the rebuild receipt says matched, but its outs or exit code do not/);
});
