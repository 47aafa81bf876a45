/**
 * `dv status` advises what is right: a pointer file moved by git (no hooks) → `dv checkout`; a
 * checkout killed halfway → `dv checkout` to finish; `dv commit` / `--force` only for local edits.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { dv, dvJson, dvOk, git, makeRepo, tempDir } from '../helpers/cli.js';

/** A git repository whose `data` went through two versions, one commit each; no hooks installed. */
async function twoVersions(): Promise<string> {
  const repo = await makeRepo();
  await fsp.mkdir(join(repo, 'data'));
  await fsp.writeFile(join(repo, 'data', 'x.csv'), 'v0\n');
  await dvOk(repo, ['add', 'data']);
  git(repo, ['add', '-A']);
  git(repo, ['commit', '-qm', 'first']);
  await fsp.writeFile(join(repo, 'data', 'x.csv'), 'v1\n');
  await fsp.writeFile(join(repo, 'data', 'y.csv'), 'new\n');
  await dvOk(repo, ['commit']);
  git(repo, ['add', '-A']);
  git(repo, ['commit', '-qm', 'second']);
  return repo;
}

test('after git checkout HEAD~1 without hooks, status says the pointer moved and advises dv checkout', async () => {
  const repo = await twoVersions();
  git(repo, ['checkout', '-q', 'HEAD~1']);
  const out = (await dv(repo, ['status'])).stdout;
  assert.match(out, /pointer file moved/);
  assert.match(out, /run `dv checkout`/);
  assert.doesNotMatch(out, /dv commit/);
  assert.doesNotMatch(out, /--force/);
  const j = await dvJson(repo, ['status']);
  assert.equal(j.clean, false);
  assert.equal(j.paths[0].state, 'modified');
  assert.equal(j.paths[0].reason, 'pointer-moved');
  // The advice works: a plain checkout follows the pointer, with no --force.
  await dvOk(repo, ['checkout']);
  assert.equal(await fsp.readFile(join(repo, 'data', 'x.csv'), 'utf8'), 'v0\n');
  assert.equal((await dvJson(repo, ['status'])).clean, true);
});

test('a pointer moved in a fresh clone (nothing in the snapshot log) is still told apart by git history', async () => {
  const repo = await twoVersions();
  await fsp.rm(join(repo, '.dv', 'snapshots.log'));
  git(repo, ['checkout', '-q', 'HEAD~1']);
  assert.equal((await dvJson(repo, ['status'])).paths[0].reason, 'pointer-moved');
});

test('local edits: status advises dv commit or dv checkout --force, reason edited', async () => {
  const repo = await twoVersions();
  await fsp.writeFile(join(repo, 'data', 'x.csv'), 'mine\n');
  const out = (await dv(repo, ['status'])).stdout;
  assert.match(out, /Record the changes with `dv commit`, or discard them with `dv checkout --force`/);
  assert.doesNotMatch(out, /pointer file moved/);
  assert.equal((await dvJson(repo, ['status'])).paths[0].reason, 'edited');
  // Edits on top of a moved pointer are still edits: --force would lose them.
  git(repo, ['checkout', '-q', 'HEAD~1']);
  assert.equal((await dvJson(repo, ['status'])).paths[0].reason, 'edited');
});

test('an interrupted checkout (temp file of a dead dv left behind): status advises dv checkout to finish', async () => {
  const repo = await twoVersions();
  // What a checkout killed mid-write leaves: an atomic-write temp file whose writer is gone.
  await fsp.writeFile(join(repo, 'data', '.y.csv.2147483646.abc.def.tmp'), 'ne');
  const out = (await dv(repo, ['status'])).stdout;
  assert.match(out, /checkout was interrupted/);
  assert.match(out, /run `dv checkout` to finish/);
  assert.doesNotMatch(out, /--force/);
  assert.equal((await dvJson(repo, ['status'])).paths[0].reason, 'interrupted-checkout');
  await dvOk(repo, ['checkout']);
  const j = await dvJson(repo, ['status']);
  assert.equal(j.clean, true);
  assert.equal(j.paths[0].reason, null);
});

test('after git pull without hooks in a clone, status says the pointer moved, not that the data was edited', async () => {
  const repo = await makeRepo();
  await fsp.mkdir(join(repo, 'data'));
  await fsp.writeFile(join(repo, 'data', 'x.csv'), 'v0\n');
  await dvOk(repo, ['add', 'data']);
  await dvOk(repo, ['remote', 'add', 'origin', join(tempDir(), 'remote')]);
  await dvOk(repo, ['push']);
  git(repo, ['add', '-A']);
  git(repo, ['commit', '-qm', 'first']);
  const clone = join(tempDir(), 'clone');
  git(tempDir(), ['clone', '-q', repo, clone]);
  await dvOk(clone, ['pull']);
  await fsp.writeFile(join(repo, 'data', 'x.csv'), 'v1\n');
  await dvOk(repo, ['commit']);
  await dvOk(repo, ['push']);
  git(repo, ['commit', '-qam', 'second']);
  git(clone, ['pull', '-q', '--ff-only']);
  // The new version is not fetched yet: pull is the advice.
  assert.equal((await dvJson(clone, ['status'])).paths[0].state, 'not-in-cache');
  assert.match((await dv(clone, ['status'])).stdout, /run `dv pull`/);
  await dvOk(clone, ['fetch']);
  const j = await dvJson(clone, ['status']);
  assert.equal(j.paths[0].reason, 'pointer-moved');
  const out = (await dv(clone, ['status'])).stdout;
  assert.match(out, /run `dv checkout`/);
  assert.doesNotMatch(out, /dv commit/);
});
