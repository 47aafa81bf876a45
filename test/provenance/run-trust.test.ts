/**
 * Signed run records and the run-cache trust policy, over a directory remote: with attest.key
 * set, `dv repro` signs its run records and `dv push` sends the signatures beside them; a clone
 * with attest.trustedKeys restores only records a trusted key signed, byte for byte. An unsigned,
 * foreign-signed or forged record is not restored: the stage runs and dv says why.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { dv, dvJson, dvOk, tempDir } from '../helpers/cli.js';
import { pipelineRepo, type Fixture } from '../pipeline/fixture.js';

const STAGES = ['prepare', 'train', 'evaluate'];

async function keyPair(dir: string, name: string): Promise<{ key: string; pub: string; keyid: string }> {
  const key = join(dir, name);
  const { keyid } = await dvJson(dir, ['key', 'gen', key]);
  return { key, pub: key + '.pub', keyid };
}

/** A clone that runs the pipeline (signing with `key` when given) and pushes it to `store`. */
async function runAndPush(store: string, key?: string): Promise<Fixture> {
  const a = await pipelineRepo();
  if (key) await dvOk(a.repo, ['config', '--local', 'attest.key', key]);
  await dvOk(a.repo, ['remote', 'add', 'origin', store, '--default']);
  await dvOk(a.repo, ['repro'], a.env);
  assert.deepEqual(await a.ran(), STAGES);
  assert.equal((await dvJson(a.repo, ['push'])).runsSent, 3);
  return a;
}

/** A fresh clone of the same pipeline (no dv.lock) trusting `trusted` (a file), running repro against `store`. */
async function reproWithTrust(
  store: string,
  trusted: string | undefined,
): Promise<{ ran: string[]; stderr: string; stdout: string; repo: string }> {
  const b = await pipelineRepo();
  if (trusted) await dvOk(b.repo, ['config', '--local', 'attest.trustedKeys', trusted]);
  await dvOk(b.repo, ['remote', 'add', 'origin', store, '--default']);
  const r = await dv(b.repo, ['repro'], b.env);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  return { ran: await b.ran(), stderr: r.stderr, stdout: r.stdout, repo: b.repo };
}

async function runFiles(store: string): Promise<string[]> {
  const out: string[] = [];
  for (const d of await fsp.readdir(join(store, 'runs')))
    for (const f of await fsp.readdir(join(store, 'runs', d))) out.push(`runs/${d}/${f}`);
  return out.sort();
}

test('signed run records restore in a clone that trusts the key; one trusting another key runs every stage and says why', async () => {
  const keys = tempDir('dv-keys-');
  const signer = await keyPair(keys, 'team.key');
  const other = await keyPair(keys, 'other.key');
  const store = join(tempDir(), 'store');
  await runAndPush(store, signer.key);
  const files = await runFiles(store);
  assert.equal(files.filter((x) => x.endsWith('.sig')).length, 3, 'a signature beside each record');
  const sig = JSON.parse(await fsp.readFile(join(store, files.find((x) => x.endsWith('.sig'))!), 'utf8'));
  assert.equal(sig.payloadType, 'application/vnd.dv.run.v1');
  assert.equal(sig.signatures[0].keyid, signer.keyid);
  assert.match(Buffer.from(sig.payload, 'base64').toString('utf8'), /^dvrun 1\n/);

  const trusting = await reproWithTrust(store, signer.pub);
  assert.deepEqual(trusting.ran, [], 'every stage restored from the remote, none ran');
  for (const st of STAGES) assert.match(trusting.stdout, new RegExp(`^${st}: restored from the remote run cache`, 'm'));
  // The verified signatures came along: pushed on to another remote, they stay beside their records.
  const store2 = join(tempDir(), 'store2');
  await dvOk(trusting.repo, ['remote', 'add', 'second', store2]);
  assert.equal((await dvJson(trusting.repo, ['push', '-r', 'second'])).runsSent, 3);
  assert.deepEqual(await runFiles(store2), files, 'the same records and signatures');

  const foreign = await reproWithTrust(store, other.pub);
  assert.deepEqual(foreign.ran, STAGES, 'a record signed by a key not trusted is not restored');
  for (const st of STAGES)
    assert.match(
      foreign.stderr,
      new RegExp(
        `run record runs/\\S+ on remote origin signed by key ${signer.keyid}, which is not a trusted key .* stage ${st} runs instead`,
      ),
    );
});

test('unsigned records: restored without a trust policy, run instead when trusted keys are set', async () => {
  const keys = tempDir('dv-keys-');
  const signer = await keyPair(keys, 'team.key');
  const store = join(tempDir(), 'store');
  await runAndPush(store);
  assert.equal((await runFiles(store)).filter((x) => x.endsWith('.sig')).length, 0);
  assert.deepEqual((await reproWithTrust(store, undefined)).ran, [], 'no policy: unchanged behaviour');
  const r = await reproWithTrust(store, signer.pub);
  assert.deepEqual(r.ran, STAGES);
  assert.match(
    r.stderr,
    /run record runs\/\S+ on remote origin is unsigned \(attest\.trustedKeys is set: only runs signed by a trusted key are restored\): ignoring it, stage prepare runs instead/,
  );
});

test('a forged remote run record (edited after signing, or given another record signature) is not restored', async () => {
  const keys = tempDir('dv-keys-');
  const signer = await keyPair(keys, 'team.key');
  const store = join(tempDir(), 'store');
  await runAndPush(store, signer.key);
  const records = (await runFiles(store)).filter((x) => !x.endsWith('.sig'));
  assert.equal(records.length, 3);
  // One record edited in a field outside its key (its key checks still pass), its signature kept.
  const edited = join(store, records[0]);
  const text = await fsp.readFile(edited, 'utf8');
  const forged = text.replace(/"ranAt":"[^"]+"/, '"ranAt":"2020-01-01T00:00:00.000Z"');
  assert.notEqual(forged, text);
  await fsp.writeFile(edited, forged);
  // Another record given a signature that is valid, but over a different record.
  await fsp.copyFile(join(store, records[0] + '.sig'), join(store, records[1] + '.sig'));
  const r = await reproWithTrust(store, signer.pub);
  assert.equal((r.stderr.match(/has a signature over another record/g) ?? []).length, 2, r.stderr);
  assert.ok(r.ran.length >= 2, `the forged stages ran: ${r.ran.join(',')}`);
  assert.match(r.stdout, /restored from the remote run cache/, 'the untouched record still restores');
});

test('an oversized signature on the remote is read no further than the cap: the record is refused, the stage runs', async () => {
  const keys = tempDir('dv-keys-');
  const signer = await keyPair(keys, 'team.key');
  const store = join(tempDir(), 'store');
  await runAndPush(store, signer.key);
  const sigs = (await runFiles(store)).filter((x) => x.endsWith('.sig'));
  await fsp.writeFile(join(store, sigs[0]), Buffer.alloc(200 * 1024, 0x20));
  const r = await reproWithTrust(store, signer.pub);
  assert.equal((r.stderr.match(/has a signature that cannot be read \(REMOTE_ERROR\)/g) ?? []).length, 1, r.stderr);
  assert.ok(r.ran.length >= 1);
});
