/**
 * bin/dv starts Node with the flags and the environment src/cli/launch-flags.ts names (its first
 * line), and they take effect: executed as a program, the dv process keeps a young generation of
 * 2 × 2 MiB through an allocation churn where a plain node grows its own to several times that,
 * and it starts with its settings (MALLOC_ARENA_MAX=2, a fixed MALLOC_MMAP_THRESHOLD_, libuv's
 * pool of 12) while what it runs gets the caller's values (or none) back.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CALLER_KEY, LAUNCH_ENV, launchEnv, restoreCallerEnv, shebang } from '../../src/cli/launch-flags.js';
import { DV_BIN, tempDir } from '../helpers/cli.js';

const CHURN = `
import { getHeapSpaceStatistics } from 'node:v8';
process.on('exit', () => {
  let keep = [];
  for (let round = 0; round < 30; round++) {
    const batch = [];
    for (let i = 0; i < 100000; i++) batch.push({ s: 'y' + i + round });
    keep = batch;
  }
  const young = getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size;
  process.stdout.write('\\nyoung=' + young + ' kept=' + keep.length + '\\n');
});
`;

function youngOf(cmd: string, args: string[], preload: string): number {
  const env = { ...process.env, NODE_OPTIONS: `--import ${preload}` };
  const r = spawnSync(cmd, args, { encoding: 'utf8', env });
  assert.equal(r.status, 0, r.stderr);
  const m = /young=(\d+) kept=100000/.exec(r.stdout);
  assert.ok(m, `no young generation size in ${r.stdout}`);
  return Number(m[1]);
}

test("bin/dv's first line starts Node with the launch flags", () => {
  const first = readFileSync(DV_BIN, 'utf8').split('\n')[0];
  assert.equal(first, shebang());
});

test('executed as a program, dv keeps a small young generation where plain node grows its own', (t) => {
  const preload = join(tempDir(), 'churn.mjs');
  writeFileSync(preload, CHURN);
  const dv = youngOf(DV_BIN, ['--version'], preload);
  const plain = youngOf(process.execPath, ['-e', ''], preload);
  t.diagnostic(`young generation: dv ${dv / 2 ** 20} MiB, plain node ${plain / 2 ** 20} MiB`);
  assert.ok(dv <= 4 * 2 ** 20, `dv's young generation is ${dv} bytes`);
  assert.ok(plain > 2 * dv, `plain node's young generation (${plain}) did not outgrow dv's (${dv}): the test shows nothing`);
});

// At exit (after bin/dv gave the environment back): each setting the process started with
// (/proc/self/environ is the environment it was executed with) and the one it passes on.
const ALLOC = `
import { readFileSync } from 'node:fs';
process.on('exit', () => {
  const environ = readFileSync('/proc/self/environ', 'utf8').split('\\0');
  for (const n of ${JSON.stringify(Object.keys(LAUNCH_ENV))}) {
    const started = environ.find((v) => v.startsWith(n + '='));
    const marker = process.env[${JSON.stringify(CALLER_KEY)}];
    process.stdout.write('\\n' + n + ' started=' + started + ' passes=' + process.env[n] + ' marker=' + marker + '\\n');
  }
});
`;

test("dv starts with its settings and gives what it runs the caller's back", () => {
  const preload = join(tempDir(), 'alloc.mjs');
  writeFileSync(preload, ALLOC);
  for (const caller of [undefined, '7']) {
    const env: NodeJS.ProcessEnv = { ...process.env, NODE_OPTIONS: `--import ${preload}` };
    for (const n of Object.keys(LAUNCH_ENV)) {
      delete env[n];
      if (caller) env[n] = caller;
    }
    const r = spawnSync(DV_BIN, ['--version'], { encoding: 'utf8', env });
    assert.equal(r.status, 0, r.stderr);
    for (const [n, v] of Object.entries(LAUNCH_ENV)) {
      const want = `${n} started=${n}=${v} passes=${caller ?? 'undefined'} marker=undefined`;
      assert.ok(r.stdout.includes(want), `${want} not in ${r.stdout}`);
    }
  }
});

test("bin/dv's first line fits in the 256 bytes Linux reads of it", () => {
  assert.ok(Buffer.byteLength(shebang()) < 256, shebang());
});

test("a launcher's environment is given back as the first line's would be", () => {
  const caller = { MALLOC_ARENA_MAX: '5', UV_THREADPOOL_SIZE: '3', HOME: '/h' };
  const started: NodeJS.ProcessEnv = { ...caller, ...launchEnv(caller) };
  assert.equal(started.UV_THREADPOOL_SIZE, LAUNCH_ENV.UV_THREADPOOL_SIZE);
  restoreCallerEnv(started);
  assert.deepEqual(started, caller);
  // A caller's value with a comma cannot be told apart: dv's own values are passed on, the marker goes.
  const odd = { MALLOC_ARENA_MAX: '1,2' };
  const env: NodeJS.ProcessEnv = { ...odd, ...launchEnv(odd) };
  restoreCallerEnv(env);
  assert.deepEqual(env, { ...LAUNCH_ENV });
});
