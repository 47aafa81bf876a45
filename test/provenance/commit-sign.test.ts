/**
 * Signing at `dv commit`: with `attest.key` set (or `--sign`, `attest.signCommits true`) it keeps an attestation of each
 * snapshot recorded, which `dv attest verify <path>` finds and verifies; without a signing key the
 * commit is refused with one line and nothing changes.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { dv, dvJson, dvOk, makeRepo, tempDir } from '../helpers/cli.js';

let repo: string;
let keys: string;
let keyid: string;
const trusted = (): string => join(keys, 'signing.key.pub');

before(async () => {
  repo = await makeRepo();
  await fsp.mkdir(join(repo, 'data'));
  await fsp.writeFile(join(repo, 'data', 'a.csv'), '1,2\n');
  await dvOk(repo, ['add', 'data']);
  keys = tempDir('dv-keys-');
  keyid = (await dvJson(repo, ['key', 'gen', join(keys, 'signing.key')])).keyid;
});

test('commit --sign without a signing key: one refusal line, nothing committed', async () => {
  const pointer = await fsp.readFile(join(repo, 'data.dv'), 'utf8');
  await fsp.writeFile(join(repo, 'data', 'a.csv'), '1,2\n3,4\n');
  const r = await dv(repo, ['commit', '--sign', 'data', '-m', 'more']);
  assert.equal(r.code, 2, r.stderr);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(
    r.stderr,
    /^dv: error USAGE: dv commit --sign \(or attest\.signCommits\) needs a signing key, and none is set: .*nothing was committed$/m,
  );
  assert.equal(await fsp.readFile(join(repo, 'data.dv'), 'utf8'), pointer, 'the pointer file is unchanged');
  assert.match(await dvOk(repo, ['status']), /modified|M /);
});

test('commit --sign keeps an attestation that `dv attest verify <path>` verifies', async () => {
  await dvOk(repo, ['config', '--local', 'attest.key', join(keys, 'signing.key')]);
  const out = await dvOk(repo, ['commit', '--sign', 'data', '-m', 'more']);
  assert.match(out, new RegExp(`^signed an attestation of data by ${keyid}: .*\\.json$`, 'm'));
  const v = await dvOk(repo, ['attest', 'verify', 'data', '--trusted-keys', trusted()]);
  assert.match(v, new RegExp(`^verified data: signed by ${keyid}; 2 subjects match the files on disk`));
  // The pointer file's name works as well.
  assert.equal((await dvJson(repo, ['attest', 'verify', 'data.dv', '--trusted-keys', trusted()])).ok, true);
});

test('with attest.key set every commit signs, as dv repro signs its runs; attest.signCommits false opts out', async () => {
  // No --sign and no attest.signCommits: the configured key is enough.
  await fsp.writeFile(join(repo, 'data', 'b.csv'), '5,6\n');
  const r = await dvJson(repo, ['commit', '-m', 'b']);
  assert.deepEqual(
    r.attestations.map((a: any) => [a.path, a.keyid, a.snapshot === r.committed[0].snapshot]),
    [['data', keyid, true]],
  );
  assert.equal((await dvJson(repo, ['attest', 'verify', 'data', '--trusted-keys', trusted()])).ok, true);

  await dvOk(repo, ['config', '--local', 'attest.signCommits', 'false']);
  await fsp.writeFile(join(repo, 'data', 'c.csv'), '7,8\n');
  const plain = await dvJson(repo, ['commit', '-m', 'c']);
  assert.equal(plain.attestations, undefined);
  const v = await dv(repo, ['attest', 'verify', 'data', '--trusted-keys', trusted()]);
  assert.equal(v.code, 43, v.stderr);
  assert.match(v.stderr, /^dv: attestation: no attestation is kept for data \(snapshot [0-9a-f]{12}\): sign one with `dv attest data`/m);
  // A file changed after a signed commit fails verification naming it.
  await dvOk(repo, ['attest', 'data']);
  await fsp.writeFile(join(repo, 'data', 'c.csv'), '7,9\n');
  const changed = await dv(repo, ['attest', 'verify', 'data', '--trusted-keys', trusted()]);
  assert.equal(changed.code, 43, changed.stderr);
  assert.match(changed.stderr, /^dv: attestation: data\/c\.csv: sha256 [0-9a-f]{12} on disk, attested [0-9a-f]{12} \(the file changed\)$/m);
});
