/**
 * Bad command lines: every refusal is one `dv: error USAGE: ...` line with exit 2, whether
 * commander or dv itself finds the problem, and nothing in the repository changes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { DV_BIN, dv, dvOk, makeRepo, type RunResult } from '../helpers/cli.js';

function assertUsage(r: RunResult, what: string, pattern?: RegExp): void {
  assert.equal(r.code, 2, `${what}: exit ${r.code}, stderr: ${r.stderr}`);
  assert.match(r.stderr, /^dv: error USAGE: \S[^\n]*\n$/, `${what}: one line: ${JSON.stringify(r.stderr)}`);
  assert.equal(r.stdout, '', `${what}: nothing on stdout`);
  if (pattern) assert.match(r.stderr, pattern, what);
}

// Option parsing, help and the --json error envelope are tested in-process (test/cli/parse.test.ts);
// these go through the real bin/dv: its exit code, streams and signals.
test('through bin/dv: a USAGE line with exit 2, help and version with exit 0, a --json error on stdout', async () => {
  const dir = await makeRepo();
  assertUsage(await dv(dir, ['push', '-j', '0']), 'dv push -j 0', /^dv: error USAGE: -j 0: give a whole number of 1 or more\n$/);
  assertUsage(await dv(dir, ['stat']), 'dv stat', /unknown command 'stat' \(Did you mean one of cat, stage, status\?\); run `dv --help`$/m);
  assert.match(await dvOk(dir, ['push', '--help']), /^Usage: dv push/);
  assert.match(await dvOk(dir, ['--version']), /^\d+\.\d+\.\d+/);
  const j = await dv(dir, ['--json', 'diff', 'abcdef']);
  assert.equal(j.code, 20, j.stderr);
  assert.equal(j.stderr, '');
  assert.deepEqual(Object.keys(JSON.parse(j.stdout).error), ['code', 'message', 'data']);
  assert.equal(JSON.parse(j.stdout).error.code, 'UNKNOWN_ID');
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
