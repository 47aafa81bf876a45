/**
 * Keys and where they may come from: OpenSSH and PEM keys sign and verify alike; `dv key gen`
 * never overwrites; malformed or foreign-algorithm keys are BAD_CONFIG naming the file; and the
 * committed `.dv/config` can choose neither the signing key nor the trusted keys.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { dv, dvJson, dvOk, tempDir } from '../helpers/cli.js';
import { pipelineRepo, type Fixture } from '../pipeline/fixture.js';

let f: Fixture;
let keys: string;
const hasSshKeygen = ((): boolean => {
  try {
    execFileSync('ssh-keygen', ['-?'], { stdio: 'ignore' });
    return true;
  } catch (e) {
    return (e as { status?: number }).status !== undefined && (e as { code?: string }).code !== 'ENOENT';
  }
})();

before(async () => {
  f = await pipelineRepo();
  keys = tempDir('dv-keys-');
  await dvOk(f.repo, ['repro'], f.env);
});

test('dv key gen writes a 0600 key and its .pub, and never overwrites either', async () => {
  const key = join(keys, 'k1');
  const r = await dvJson(f.repo, ['key', 'gen', key]);
  assert.match(r.keyid, /^sha256:[0-9a-f]{64}$/);
  assert.match(await fsp.readFile(key, 'utf8'), /^-----BEGIN PRIVATE KEY-----/);
  assert.match(await fsp.readFile(key + '.pub', 'utf8'), /^-----BEGIN PUBLIC KEY-----/);
  const before = await fsp.readFile(key);
  const again = await dv(f.repo, ['key', 'gen', key]);
  assert.equal(again.code, 2);
  assert.match(again.stderr, /k1 exists: dv key gen never overwrites a key/);
  assert.deepEqual(await fsp.readFile(key), before);
  // A parent directory that is not there yet (~/.config/dv/ on a new machine) is made, for the owner alone.
  const nested = join(keys, 'new', 'dir', 'signing.key');
  await dvOk(f.repo, ['key', 'gen', nested]);
  assert.equal((await fsp.stat(join(keys, 'new', 'dir'))).mode & 0o777, 0o700);
  assert.equal((await fsp.stat(nested)).mode & 0o777, 0o600);
});

test('an OpenSSH ed25519 key signs; its ssh-ed25519 line, mixed with PEM keys and comments, verifies', {
  skip: !hasSshKeygen,
}, async () => {
  const key = join(keys, 'id_ed25519');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'auditor@test', '-f', key]);
  await dvOk(f.repo, ['key', 'gen', join(keys, 'pem-other')]);
  const trusted = join(keys, 'team.keys');
  await fsp.writeFile(
    trusted,
    `# team signing keys\n${await fsp.readFile(join(keys, 'pem-other.pub'), 'utf8')}\n${await fsp.readFile(key + '.pub', 'utf8')}`,
  );
  await dvOk(f.repo, ['config', '--local', 'attest.key', key]);
  const att = join(keys, 'ssh.att.json');
  try {
    await dvOk(f.repo, ['attest', 'model.json', '-o', att]);
  } finally {
    await dvOk(f.repo, ['config', '--local', '--unset', 'attest.key']);
  }
  const v = await dvJson(f.repo, ['attest', 'verify', att, 'model.json', '--trusted-keys', trusted]);
  assert.equal(v.ok, true);
  assert.equal(v.signedBy.length, 1);
  // An encrypted OpenSSH key is refused with what to do.
  const enc = join(keys, 'id_enc');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', 'secret passphrase', '-f', enc]);
  await dvOk(f.repo, ['config', '--local', 'attest.key', enc]);
  try {
    const r = await dv(f.repo, ['attest', 'model.json', '-o', join(keys, 'x.json')]);
    assert.equal(r.code, 17);
    assert.match(r.stderr, /BAD_CONFIG: .*id_enc: the OpenSSH key is encrypted/);
  } finally {
    await dvOk(f.repo, ['config', '--local', '--unset', 'attest.key']);
  }
});

test('keys that are not Ed25519, and trusted-keys files with a stray line, are BAD_CONFIG naming the file', async () => {
  const rsa = join(keys, 'rsa.pem');
  await fsp.writeFile(
    rsa,
    generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
  );
  await dvOk(f.repo, ['config', '--local', 'attest.key', rsa]);
  try {
    const r = await dv(f.repo, ['attest', 'model.json']);
    assert.equal(r.code, 17);
    assert.match(r.stderr, /rsa\.pem is a rsa key: dv signs with Ed25519 keys only/);
  } finally {
    await dvOk(f.repo, ['config', '--local', '--unset', 'attest.key']);
  }
  const bad = join(keys, 'bad.keys');
  await fsp.writeFile(bad, '# ok\n\nssh-rsa AAAAB3Nza... someone\n');
  const r = await dv(f.repo, ['attest', 'verify', join(keys, 'none.json'), '--trusted-keys', bad]);
  assert.equal(r.code, 17);
  assert.match(r.stderr, /bad\.keys:3: not a public key/);
});

test('the committed .dv/config can choose neither the signing key nor the trusted keys', async () => {
  const usage = await dv(f.repo, ['config', 'attest.key', join(keys, 'k1')]);
  assert.equal(usage.code, 2);
  assert.match(
    usage.stderr,
    /attest\.key: the committed \.dv\/config cannot choose signing or trusted keys .*dv config --local attest\.key/,
  );
  // Written into the file by hand (as a clone would bring it): ignored, so never read.
  const secret = join(keys, 'secret.txt');
  await fsp.writeFile(secret, 'not a key, and not for a repository to read\n');
  const cfgFile = join(f.repo, '.dv', 'config');
  const cfg = JSON.parse(await fsp.readFile(cfgFile, 'utf8'));
  cfg.attest = { key: secret, trustedKeys: join(keys, 'k1.pub') };
  await fsp.writeFile(cfgFile, JSON.stringify(cfg, null, 2));
  const a = await dv(f.repo, ['attest', 'model.json']);
  assert.equal(a.code, 2, a.stderr);
  assert.match(a.stderr, /no signing key: set one with `dv config --local attest\.key PATH`/);
  const v = await dv(f.repo, ['attest', 'verify', join(keys, 'none.json')]);
  assert.equal(v.code, 2);
  assert.match(v.stderr, /no trusted keys/);
  // The same values from this clone's local config count.
  await dvOk(f.repo, ['config', '--local', 'attest.key', join(keys, 'k1')]);
  await dvOk(f.repo, ['attest', 'model.json', '-o', join(keys, 'local.json')]);
  await dvOk(f.repo, ['config', '--local', 'attest.trustedKeys', join(keys, 'k1.pub')]);
  assert.equal((await dvJson(f.repo, ['attest', 'verify', join(keys, 'local.json')])).ok, true);
});

test('dv config refuses a signing or trusted key file that is not there', async () => {
  const before = (await dv(f.repo, ['config', '--local', '-l'])).stdout;
  for (const key of ['attest.key', 'attest.trustedKeys']) {
    const r = await dv(f.repo, ['config', '--local', key, join(keys, 'not-made-yet')]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`^dv: error USAGE: ${key.replace('.', '\\.')} .*not-made-yet is not a file`));
  }
  assert.match((await dv(f.repo, ['config', '--local', 'attest.key', join(keys, 'nope')])).stderr, /make one first \(`dv key gen /);
  assert.equal((await dv(f.repo, ['config', '--local', '-l'])).stdout, before, 'nothing was set');
});
