/**
 * Bad command lines: every refusal is one `dv: error USAGE: ...` line with exit 2, whether
 * commander or dv itself finds the problem, and nothing in the repository changes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { basename, join } from 'node:path';
import { dv, dvOk, makeRepo, type RunResult } from '../helpers/cli.js';

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
    [['rm', 'x'], /unknown command 'rm'; run `dv --help`$/m],
    [['stat'], /unknown command 'stat' \(Did you mean one of stage, status\?\); run `dv --help`$/m],
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
