/**
 * Bad command lines: every refusal is one `dv: error USAGE: ...` line with exit 2, whether
 * commander or dv itself finds the problem, and nothing in the repository changes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import { hostname } from 'node:os';
import { basename, join } from 'node:path';
import { DV_BIN, dv, dvOk, makeRepo, type RunResult } from '../helpers/cli.js';

function assertUsage(r: RunResult, what: string, pattern?: RegExp): void {
  assert.equal(r.code, 2, `${what}: exit ${r.code}, stderr: ${r.stderr}`);
  assert.match(r.stderr, /^dv: error USAGE: \S[^\n]*\n$/, `${what}: one line: ${JSON.stringify(r.stderr)}`);
  assert.equal(r.stdout, '', `${what}: nothing on stdout`);
  if (pattern) assert.match(r.stderr, pattern, what);
}

test('argument errors commander finds are one dv USAGE line naming the command to ask for help', async () => {
  const dir = await makeRepo();
  const cases: [string[], RegExp][] = [
    [['--bogus'], /unknown option '--bogus'; run `dv --help`$/m],
    [['frobnicate', 'x'], /unknown command 'frobnicate'; run `dv --help`$/m],
    [['stat'], /unknown command 'stat' \(Did you mean one of cat, stage, status\?\); run `dv --help`$/m],
    [['diff'], /missing required argument 'a'; run `dv diff --help`$/m],
    [['add'], /missing required argument 'paths'; run `dv add --help`$/m],
    [['commit', '-m'], /option '-m, --message <msg>' argument missing; run `dv commit --help`$/m],
    [['stage', 'add', '-n', 'x', '--'], /missing required argument 'command'; run `dv stage add --help`$/m],
    [['stage', 'bogus'], /unknown command 'bogus'; run `dv stage --help`$/m],
    [['push', '--bogus'], /unknown option '--bogus'; run `dv push --help`$/m],
    [['init', 'a', 'b'], /too many arguments for 'init'\. Expected 0 arguments but got 2; run `dv init --help`$/m],
    [['help', 'nosuch'], /unknown command 'nosuch'; run `dv --help`$/m],
  ];
  for (const [args, pattern] of cases) assertUsage(await dv(dir, args), `dv ${args.join(' ')}`, pattern);
});

test('--help, help and --version still print and exit 0', async () => {
  const dir = await makeRepo();
  assert.match(await dvOk(dir, ['--help']), /^Usage: dv/);
  assert.match(await dvOk(dir, ['push', '--help']), /^Usage: dv push/);
  assert.match(await dvOk(dir, ['help', 'add']), /^Usage: dv add/);
  assert.match(await dvOk(dir, ['--version']), /^\d+\.\d+\.\d+/);
  assert.match(await dvOk(dir, ['help', 'codes']), /USAGE/);
});

test('numeric options: every one refuses what is not a number in range, before anything runs', async () => {
  const dir = await makeRepo();
  await fsp.mkdir(join(dir, 'data'));
  await fsp.writeFile(join(dir, 'data', 'a.txt'), 'a');
  await dvOk(dir, ['add', '-q', 'data']);
  await dvOk(dir, ['remote', 'add', 'origin', join(dir, '..', `${basename(dir)}-store`)]);
  await fsp.rm(join(dir, 'data', 'a.txt'));
  const config = await fsp.readFile(join(dir, '.dv', 'config'), 'utf8');
  const cases: [string[], string][] = [];
  for (const bad of ['abc', '0', '-3', '1.5', '1e3', '0x10', ' 4']) {
    for (const c of ['push', 'fetch', 'pull', 'checkout']) cases.push([[c, '-j', bad], `-j ${bad}: give a whole number of 1 or more`]);
    cases.push([['log', '-n', bad], `-n ${bad}: give a whole number of 1 or more`]);
    cases.push([['remote', 'add', 'other', '/tmp/x', '-j', bad], `-j ${bad}: give a whole number of 1 or more`]);
  }
  cases.push([['push', '--jobs', 'x'], '-j x: give a whole number of 1 or more']);
  cases.push([['gc', '--keep-days', '-1'], '--keep-days -1: give a number of 0 or more']);
  cases.push([['gc', '--keep-days', 'week'], '--keep-days week: give a number of 0 or more']);
  cases.push([['--wait', 'x', 'status'], '--wait x: give a number of 0 or more']);
  for (const [args, message] of cases) {
    const r = await dv(dir, args);
    assertUsage(r, `dv ${args.join(' ')}`);
    assert.equal(r.stderr, `dv: error USAGE: ${message}\n`);
  }
  await assert.rejects(fsp.stat(join(dir, 'data', 'a.txt')), 'checkout did not run');
  assert.equal(await fsp.readFile(join(dir, '.dv', 'config'), 'utf8'), config, 'remote add wrote nothing');
  assert.equal(JSON.parse(await dvOk(dir, ['log', '-n', '1', '--json'])).length, 1);
  await dvOk(dir, ['--wait', '0.5', 'checkout', '-j', '2', '-q']);
  assert.equal(await fsp.readFile(join(dir, 'data', 'a.txt'), 'utf8'), 'a');
  await dvOk(dir, ['gc', '--keep-days', '0', '-n', '-q']);
});

test('a short hex argument naming no file is a too-short id, not an untracked path; -C names a directory', async () => {
  const dir = await makeRepo();
  await fsp.mkdir(join(dir, 'data'));
  await fsp.writeFile(join(dir, 'data', 'a.txt'), 'a');
  await dvOk(dir, ['add', '-q', 'data']);
  const diff = await dv(dir, ['diff', '9f0']);
  assertUsage(diff, 'dv diff 9f0', /"9f0" is not an object id or prefix: give at least 4 hex characters/);
  for (const arg of ['9f0', '123', 'a']) {
    const r = await dv(dir, ['checkout', arg]);
    assertUsage(r, `dv checkout ${arg}`);
    assert.equal(r.stderr, diff.stderr.replace('9f0', arg));
  }
  // A file of that name is a path, as before.
  await fsp.writeFile(join(dir, '123'), 'x');
  const r = await dv(dir, ['checkout', '123']);
  assert.equal(r.code, 13, r.stderr);
  assert.match(r.stderr, /NOT_TRACKED: 123 is not tracked/);

  for (const C of [join(dir, 'nonexistent'), join(dir, '123')]) {
    const c = await dv(dir, ['-C', C, 'status']);
    assertUsage(c, `-C ${C}`);
    assert.equal(c.stderr, `dv: error USAGE: -C ${C}: no such directory\n`);
  }
  await dvOk(join(dir, 'data'), ['-C', '..', 'status']);
});

test('stage names on the command line: a bad or unknown one is USAGE, not PIPELINE_INVALID', async () => {
  const dir = await makeRepo();
  assertUsage(await dv(dir, ['stage', 'add', '-n', 'a b', '--', 'true']), 'stage add -n "a b"', /stage name "a b" must be/);
  assertUsage(await dv(dir, ['repro', 'nosuch']), 'repro nosuch', /no stage named "nosuch" in dv\.yaml: see `dv stage list`/);
  assertUsage(await dv(dir, ['repro', '--verify', 'nosuch']), 'repro --verify nosuch', /no stage named "nosuch"/);
  await assert.rejects(fsp.stat(join(dir, 'dv.yaml')), 'no dv.yaml written');
  const r = await dv(dir, ['repro']);
  assert.equal(r.code, 41, 'no stages at all is still PIPELINE_INVALID');
});

test('Ctrl-C: one line fitting the command (the workspace sentence only for commands that write it)', async () => {
  const dir = await makeRepo();
  // A live process holds the writer lock, so each command waits until it is interrupted.
  await fsp.writeFile(
    join(dir, '.dv', 'lock'),
    JSON.stringify({ pid: process.pid, host: hostname(), command: 'commit', since: new Date().toISOString() }),
  );
  const interrupted = (args: string[]): Promise<RunResult> =>
    new Promise((done, fail) => {
      const child = spawn(process.execPath, [DV_BIN, '--wait', '60', ...args], {
        cwd: dir,
        env: { ...process.env, NO_COLOR: '1', XDG_CONFIG_HOME: join(dir, '.xdg-test') },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      let sent = false;
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => {
        stderr += d;
        if (!sent && /waiting for `dv commit`/.test(stderr)) sent = child.kill('SIGINT');
      });
      child.on('error', fail);
      child.on('close', (code) => done({ code: code ?? -1, stdout, stderr: stderr.replace(/^dv: waiting for .*\n/, '') }));
    });
  const gc = await interrupted(['gc']);
  assert.equal(gc.code, 130);
  assert.equal(
    gc.stderr,
    'dv: error INTERRUPTED: `dv gc` stopped; what it wrote so far is complete and kept (nothing half-written): run the same command again to finish\n',
  );
  const co = await interrupted(['checkout']);
  assert.equal(co.code, 130);
  assert.equal(
    co.stderr,
    'dv: error INTERRUPTED: `dv checkout` stopped; what it wrote so far is complete and kept (nothing half-written), and the workspace files it had not reached are untouched: run the same command again to finish\n',
  );
  assert.ok(await fsp.stat(join(dir, '.dv', 'lock')), "the other process's lock is left alone");
});
