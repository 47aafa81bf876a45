/**
 * Bad command lines: every refusal is one `dv: error USAGE: ...` line with exit 2, whether
 * commander or dv itself finds the problem, and nothing in the repository changes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
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
