/**
 * Sharing experiments: `dv exp push` sends the refs to a bare git repository and the data to a
 * directory dv remote; a second clone's `dv exp pull` brings both, `exp show` lists them with
 * their metrics, and `exp apply` restores the outs byte for byte from what it fetched. Refs a
 * remote lists that are not of dv's shape are not taken; an experiment commit naming `.git/...` or
 * a path behind a symlink leading out is refused before anything is written.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { dv, dvJson, dvOk, git, tempDir } from '../helpers/cli.js';
import { expRepo } from './fixture-exp.js';

test('exp push to a bare git repo + directory dv remote; exp pull in a second clone shows them and apply restores the outs', async () => {
  const f = await expRepo();
  const { repo, env } = f;
  const bare = join(tempDir(), 'origin.git');
  git(tempDir(), ['init', '-q', '--bare', '-b', 'main', bare]);
  const store = join(tempDir(), 'store');
  await dvOk(repo, ['remote', 'add', 'storage', store, '--default']);
  git(repo, ['add', '-A']);
  git(repo, ['commit', '-qm', 'dv remote']);
  git(repo, ['remote', 'add', 'origin', bare]);
  await dvOk(repo, ['push']);
  git(repo, ['push', '-q', 'origin', 'main']);
  const head = git(repo, ['rev-parse', 'HEAD']).trim();

  await dvOk(repo, ['exp', 'run', '-S', 'train.lr=0.02', '-n', 'lr-02'], env);
  await dvOk(repo, ['exp', 'run', '-S', 'prepare.split=0.5', '-n', 'split-half'], env);
  await dvOk(repo, ['exp', 'run', '-S', 'train.epochs=9', '-n', 'not-shared'], env);
  await f.ran();
  const refused = await dv(repo, ['exp', 'push', 'origin'], env);
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /^dv: error USAGE: name the experiments to share, or pass --all\n$/);
  const pushed = await dvJson(repo, ['exp', 'push', 'origin', 'lr-02', 'split-half'], env);
  assert.deepEqual(
    pushed.pushed.map((e: any) => e.name),
    ['lr-02', 'split-half'],
  );
  assert.ok(pushed.data.objectsSent > 0, 'the outs went to the dv remote');
  assert.deepEqual(git(bare, ['for-each-ref', '--format=%(refname)', 'refs/exps/']).trim().split('\n'), [
    `refs/exps/${head}/lr-02`,
    `refs/exps/${head}/split-half`,
  ]);

  const clone = join(tempDir(), 'clone');
  git(tempDir(), ['clone', '-q', bare, clone]);
  await dvOk(clone, ['pull']);
  const none = await dv(clone, ['exp', 'pull', 'origin', 'nope'], env);
  assert.equal(none.code, 44);
  assert.match(none.stderr, /^dv: error UNKNOWN_EXPERIMENT: origin has no experiment named "nope"\n$/);
  const pulled = await dvJson(clone, ['exp', 'pull', 'origin', '--all'], env);
  assert.deepEqual(
    pulled.pulled.map((e: any) => e.name),
    ['lr-02', 'split-half'],
  );
  assert.ok(pulled.objectsFetched > 0);

  const here = await dvJson(repo, ['exp', 'show'], env);
  const there = await dvJson(clone, ['exp', 'show'], env);
  assert.deepEqual(
    there.rows.map((r: any) => r.name),
    ['workspace', 'main', 'lr-02', 'split-half'],
  );
  for (const name of ['lr-02', 'split-half']) {
    const a = here.rows.find((r: any) => r.name === name);
    const b = there.rows.find((r: any) => r.name === name);
    assert.deepEqual([b.params, b.metrics, b.commit], [a.params, a.metrics, a.commit], name);
  }

  await dvOk(clone, ['exp', 'apply', 'split-half'], env);
  const ref = `refs/exps/${head}/split-half`;
  for (const out of ['model.bin', 'data/prepared/train.csv', 'data/prepared/test.csv', 'data/features/train.json']) {
    const want = Buffer.from(await dvOk(repo, ['cat', `${ref}:${out}`]), 'utf8');
    assert.deepEqual(await fsp.readFile(join(clone, out)), want, out);
  }
  assert.deepEqual(await fsp.readFile(join(clone, 'params.yaml')), Buffer.from(git(repo, ['show', `${ref}:params.yaml`])));
  await dvOk(clone, ['repro'], env);
  assert.deepEqual(await f.ran(), [], 'the applied experiment is up to date in the clone: nothing runs');
});

test('exp pull takes only refs of dv shape from a remote, and a local experiment is replaced only with -f', async () => {
  const f = await expRepo();
  const { repo, env } = f;
  const bare = join(tempDir(), 'origin.git');
  git(tempDir(), ['init', '-q', '--bare', '-b', 'main', bare]);
  git(repo, ['remote', 'add', 'origin', bare]);
  git(repo, ['push', '-q', 'origin', 'main']);
  const head = git(repo, ['rev-parse', 'HEAD']).trim();
  // Hostile refs beside a real one: names git accepts but dv never writes.
  for (const r of [`refs/exps/${head}/a/b`, 'refs/exps/notasha/x', `refs/exps/${head}/-dash`, `refs/exps/${head}/${'n'.repeat(80)}`])
    git(bare, ['update-ref', r, head]);
  await dvOk(repo, ['exp', 'run', '-S', 'train.lr=0.02', '-n', 'ok'], env);
  await dvOk(repo, ['exp', 'push', 'origin', '--all'], env);

  const clone = join(tempDir(), 'clone');
  git(tempDir(), ['clone', '-q', bare, clone]);
  const pulled = await dvJson(clone, ['exp', 'pull', 'origin', '--all'], env);
  assert.deepEqual(
    pulled.pulled.map((e: any) => e.name),
    ['ok'],
  );
  assert.equal(git(clone, ['for-each-ref', '--format=%(refname)', 'refs/exps/']).trim(), `refs/exps/${head}/ok`);

  // The same name made here differently: not replaced without -f.
  await dvOk(clone, ['exp', 'remove', 'ok'], env);
  const mine = git(clone, ['commit-tree', '-p', head, '-m', 'other', `${head}^{tree}`]).trim();
  git(clone, ['update-ref', `refs/exps/${head}/ok`, mine]);
  const r = await dv(clone, ['exp', 'pull', 'origin', 'ok'], env);
  assert.equal(r.code, 34, r.stderr);
  assert.match(r.stderr, /git fetch from origin failed.*-f replaces/);
  assert.equal(git(clone, ['rev-parse', `refs/exps/${head}/ok`]).trim(), mine);
  await dvOk(clone, ['exp', 'pull', 'origin', 'ok', '-f'], env);
  assert.equal(git(clone, ['rev-parse', `refs/exps/${head}/ok`]).trim(), git(repo, ['rev-parse', `refs/exps/${head}/ok`]).trim());
});

test('exp apply of a hostile experiment commit (.git/hooks, a path behind a symlink leading out) is refused before anything is written', async () => {
  const f = await expRepo();
  const { repo, env } = f;
  const head = git(repo, ['rev-parse', 'HEAD']).trim();
  const outside = tempDir('dv-exp-outside-');
  await fsp.symlink(outside, join(repo, 'out'));
  const gitIn = (args: string[], input: string): string => execFileSync('git', args, { cwd: repo, input, encoding: 'utf8' }).trim();
  const blob = gitIn(['hash-object', '-w', '--stdin'], 'echo pwned\n');
  const mk = (lines: string[]): string => gitIn(['mktree'], lines.join('\n') + '\n');
  const headTree = git(repo, ['ls-tree', 'HEAD']).trim().split('\n');
  const hooks = mk([`100755 blob ${blob}\tpost-commit`]);
  const dotGit = mk([`040000 tree ${hooks}\thooks`]);
  const out = mk([`100644 blob ${blob}\tevil.txt`]);
  const cases: [string, string[], number, RegExp][] = [
    ['git-hook', [`040000 tree ${dotGit}\t.git`], 25, /UNSAFE_PATH: refusing to write ".git\/hooks\/post-commit"/],
    ['via-link', [`040000 tree ${out}\tout`], 14, /PATH_OUTSIDE_REPO: out\/evil\.txt lies behind a symbolic link leading outside/],
  ];
  for (const [name, extra, code, msg] of cases) {
    const tree = mk([...headTree, `100644 blob ${blob}\tok.txt`, ...extra]);
    const commit = git(repo, ['commit-tree', tree, '-p', head, '-m', name]).trim();
    git(repo, ['update-ref', `refs/exps/${head}/${name}`, commit]);
    const r = await dv(repo, ['exp', 'apply', name], env);
    assert.equal(r.code, code, r.stderr);
    assert.match(r.stderr, msg);
  }
  await assert.rejects(fsp.stat(join(repo, '.git', 'hooks', 'post-commit')));
  await assert.rejects(fsp.stat(join(repo, 'ok.txt')), 'nothing was written');
  assert.deepEqual(await fsp.readdir(outside), []);
});
