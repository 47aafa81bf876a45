/**
 * The command line parsed in-process: `main(args, io)` returns the exit code and writes only
 * through `io`, so bad options, help and the --json error envelope are checked without starting
 * a process each (test/cli/usage.test.ts keeps a few through the real bin/dv).
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { basename, join } from 'node:path';
import { dvInProcess as dv } from '../helpers/in-process.js';
import { ERROR_CODES } from '../../src/errors.js';
import { makeRepo, tempDir, type RunResult } from '../helpers/cli.js';

before(() => {
  process.env.XDG_CONFIG_HOME = tempDir('dv-parse-xdg-');
});

async function dvOk(cwd: string, args: string[]): Promise<string> {
  const r = await dv(cwd, args);
  assert.equal(r.code, 0, `dv ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

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

test('--help, help and --version print on stdout and exit 0', async () => {
  const dir = tempDir();
  assert.match(await dvOk(dir, ['--help']), /^Usage: dv/);
  assert.match(await dvOk(dir, ['push', '--help']), /^Usage: dv push[\s\S]*Exit codes:/);
  assert.match(await dvOk(dir, ['help', 'add']), /^Usage: dv add/);
  assert.match(await dvOk(dir, ['remote', 'add', '--help']), /^Usage: dv remote add[\s\S]*Example:\n {2}dv remote add origin/);
  assert.match(await dvOk(dir, ['--version']), /^\d+\.\d+\.\d+\n$/);
  assert.match(await dvOk(dir, ['help', 'codes']), /USAGE/);
  // No command: the help on stderr, exit 0 (as before).
  const none = await dv(dir, []);
  assert.equal(none.code, 0);
  assert.match(none.stderr, /^Usage: dv/);
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

test('--json: an error is one JSON object on stdout, {error: {code, message, data}}, with the exit code of its code', async () => {
  const dir = await makeRepo();
  const cases: [string[], keyof typeof ERROR_CODES, RegExp, Record<string, unknown>?][] = [
    // Refused while parsing (before or after the command name), by dv or by commander.
    [['--json', 'push', '-j', '0'], 'USAGE', /^-j 0: give a whole number of 1 or more$/, { option: '-j', value: '0' }],
    [['push', '--bogus', '--json'], 'USAGE', /^unknown option '--bogus'; run `dv push --help`$/, { commander: 'commander.unknownOption' }],
    [['--json', 'frobnicate'], 'USAGE', /^unknown command 'frobnicate'/],
    [['--json', '-C', join(dir, 'nonexistent'), 'status'], 'USAGE', /no such directory$/, { path: join(dir, 'nonexistent') }],
    // Refused by the operation.
    [['status', 'nope', '--json'], 'NOT_TRACKED', /nope is not tracked/],
    [['diff', 'abcdef', '--json'], 'UNKNOWN_ID', /abcdef/],
    [['push', '--json'], 'NO_REMOTE', /remote/],
    [['remote', 'default', '--json', 'nosuch'], 'NO_REMOTE', /no remote named "nosuch"/],
  ];
  for (const [args, code, message, data] of cases) {
    const r = await dv(dir, args);
    const what = `dv ${args.join(' ')}`;
    assert.equal(r.code, ERROR_CODES[code].exit, `${what}: ${r.stdout}${r.stderr}`);
    assert.equal(r.stderr, '', `${what}: nothing on stderr`);
    const out = JSON.parse(r.stdout);
    assert.deepEqual(Object.keys(out), ['error'], what);
    assert.deepEqual(Object.keys(out.error), ['code', 'message', 'data'], what);
    assert.equal(out.error.code, code, what);
    assert.match(out.error.message, message, what);
    if (data) assert.deepEqual(out.error.data, data, what);
    else assert.equal(typeof out.error.data, 'object', what);
  }
  // Outside a repository; and without --json the same error is the one line on stderr.
  const plain = tempDir();
  const j = await dv(plain, ['log', '--json']);
  assert.equal(j.code, ERROR_CODES.NOT_A_REPO.exit);
  assert.equal(JSON.parse(j.stdout).error.code, 'NOT_A_REPO');
  const h = await dv(plain, ['log']);
  assert.equal(h.code, ERROR_CODES.NOT_A_REPO.exit);
  assert.equal(h.stdout, '');
  assert.equal(h.stderr, `dv: error NOT_A_REPO: ${JSON.parse(j.stdout).error.message}\n`);
  // A name with control characters (C1 too) stays valid JSON and never reaches a terminal raw.
  const odd = 'x\x7fy\x9b2Jz\x1b[1m';
  const o = await dv(dir, ['status', odd, '--json']);
  assert.equal(o.code, ERROR_CODES.NOT_TRACKED.exit);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the test looks for raw control characters
  assert.doesNotMatch(o.stdout, /[\x00-\x09\x0b-\x1f\x7f-\x9f]/);
  assert.equal(JSON.parse(o.stdout).error.data.path, odd);
  // `--json` after `--` is the stage's command, not dv's option.
  const s = await dv(dir, ['stage', 'add', '-n', 'a b', '--', 'echo', '--json']);
  assertUsage(s, 'stage add -n "a b" -- echo --json', /stage name "a b" must be/);
});

test('results and exit codes come back through main: config get of an unset key exits 1, fsck problems 26', async () => {
  const dir = await makeRepo();
  await fsp.mkdir(join(dir, 'data'));
  await fsp.writeFile(join(dir, 'data', 'a.txt'), 'a');
  const added = JSON.parse(await dvOk(dir, ['add', 'data', '--json']));
  assert.equal(added.added[0].path, 'data');
  assert.deepEqual(await dv(dir, ['config', 'cache.dir']), { code: 1, stdout: '', stderr: '' });
  await dvOk(dir, ['config', '--local', 'cache.dir', join(dir, '..', `${basename(dir)}-cache`)]);
  assert.equal(await dvOk(dir, ['config', 'cache.dir']), `${join(dir, '..', `${basename(dir)}-cache`)}\n`);
  await dvOk(dir, ['config', '--local', '--unset', 'cache.dir']);
  assert.match(await dvOk(dir, ['status']), /^data: up to date\n/);
  const packs = join(dir, '.dv', 'cache', 'packs');
  for (const f of await fsp.readdir(packs, { recursive: true })) if (String(f).endsWith('.pack')) await fsp.rm(join(packs, String(f)));
  const bad = await dv(dir, ['fsck', '--json']);
  assert.equal(bad.code, ERROR_CODES.FSCK_FAILED.exit);
  assert.equal(JSON.parse(bad.stdout).ok, false, 'a failing fsck prints its result, not an error');
});
