/**
 * Many processes, one index: no dv command holds LevelDB across a network wait or a long
 * computation, so a `dv status` beside a push stuck on a hung server, or beside a `dv add`
 * hashing a large file, still uses the stat cache (its `--json` `filesHashed` is 0: nothing was
 * read again) instead of re-hashing every file; and writers and readers in a loop never corrupt
 * anything and never fail but with REPO_LOCKED naming the holder.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { DV_BIN, dv, dvJson, dvOk, makeRepo } from '../helpers/cli.js';
import { makeDataset } from '../helpers/data.js';
import { hungServer } from '../helpers/hung-server.js';
import { dvEnv } from '../helpers/kill.js';
import { inspectRepo } from '../helpers/repo-check.js';

const children: ChildProcess[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

interface Running {
  child: ChildProcess;
  stderr: () => string;
  exit: Promise<number | null>;
}

function start(cwd: string, args: string[], env: Record<string, string> = {}): Running {
  const child = spawn(process.execPath, [DV_BIN, ...args], { cwd, env: dvEnv(cwd, env), stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(child);
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  const exit = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  return { child, stderr: () => err, exit };
}

/** A repository whose `data/` (3,000 small files in 30 directories) is added: its stat cache is warm. */
async function trackedRepo(): Promise<string> {
  const repo = await makeRepo();
  await makeDataset(join(repo, 'data'), { files: 3000, dirs: 30 });
  await dvOk(repo, ['add', 'data', '-q']);
  const warm = await dvJson(repo, ['status']);
  assert.equal(warm.paths[0].filesHashed, 0, 'a quiet status reads nothing');
  return repo;
}

/** `dv status --json` while something else runs: clean, exit 0, no warning, and nothing re-hashed. */
async function statusUsesIndex(repo: string, other: Running): Promise<void> {
  const r = await dv(repo, ['status', '--json']);
  const stillRunning = other.child.exitCode === null;
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /warning/, r.stderr);
  const st = JSON.parse(r.stdout);
  assert.equal(st.clean, true);
  assert.equal(st.paths[0].filesHashed, 0, 'the stat cache vouched for every file: nothing was read again');
  assert.ok(stillRunning, `the other command was still running when status ended: ${other.stderr()}`);
}

test('`dv status` while `dv push` hangs on a hung server: clean, from the stat cache, exit 0', { timeout: 120_000 }, async () => {
  const hung = await hungServer();
  try {
    const repo = await trackedRepo();
    await dvOk(repo, ['remote', 'add', 's3', 's3://bucket/x', '--endpoint', `http://127.0.0.1:${hung.port}`]);
    await dvOk(repo, ['config', 'remote.s3.timeout', '120']);
    const aws = { AWS_ACCESS_KEY_ID: 'k', AWS_SECRET_ACCESS_KEY: 's', AWS_REGION: 'us-east-1' };
    const push = start(repo, ['push', 's3'], aws);
    // The push has opened the repository and read its index before it waits on the server.
    for (let i = 0; i < 200 && !(await held(repo, 'push')); i++) await sleep(10);
    await sleep(500);
    await statusUsesIndex(repo, push);
    // Twice: the second status finds the index as the first left it.
    await statusUsesIndex(repo, push);
    push.child.kill();
    await push.exit;
  } finally {
    hung.close();
  }
});

test('`dv status` while `dv add` hashes a large file: the stat cache is used all the same', { timeout: 180_000 }, async () => {
  const repo = await trackedRepo();
  // 64 GiB, sparse (no disk): hashing it takes minutes here, far longer than the status.
  const fh = await fsp.open(join(repo, 'big.bin'), 'w');
  await fh.truncate(64 * 2 ** 30);
  await fh.close();
  const add = start(repo, ['add', 'big.bin']);
  // It is hashing once it holds the index (its holder note) and has had a moment to start the pool.
  for (let i = 0; i < 500 && !(await held(repo, 'add')); i++) await sleep(10);
  await sleep(1000);
  assert.equal(add.child.exitCode, null, add.stderr());
  await statusUsesIndex(repo, add);
  await statusUsesIndex(repo, add);
  add.child.kill('SIGKILL');
  await add.exit;
});

test('writers and readers in a loop: nothing corrupted, no failure but REPO_LOCKED naming the holder', { timeout: 240_000 }, async () => {
  const repo = await makeRepo();
  await makeDataset(join(repo, 'data'), { files: 400, dirs: 8 });
  await dvOk(repo, ['add', 'data', '-q']);
  const until = Date.now() + 12_000;
  const failures: string[] = [];
  const ran = new Map<string, number>();
  /** Runs `next()` over and over until the time is up; every result must be 0, or 11 naming the holder. */
  const loop = async (name: string, next: (k: number) => Promise<string[]>): Promise<void> => {
    for (let k = 0; Date.now() < until; k++) {
      const args = await next(k);
      const r = await dv(repo, args);
      ran.set(name, (ran.get(name) ?? 0) + 1);
      if (r.code === 0 && !/warning/.test(r.stderr)) continue;
      const named = /^dv: error REPO_LOCKED: .*`dv [a-z ]+` \(pid \d+ on [^,]+, since [^)]+\)/;
      if (r.code === 11 && named.test(r.stderr) && r.stderr.trim().split('\n').length === 1) continue;
      failures.push(`dv ${args.join(' ')} -> ${r.code}: ${r.stderr}`);
    }
  };
  await Promise.all([
    loop('commit', async (k) => {
      await fsp.writeFile(join(repo, 'data', `d${k % 8}`, `f${k % 400}.dat`), `edit ${k}\n`);
      if (k % 3 === 0) await fsp.writeFile(join(repo, 'data', `d${k % 8}`, `new${k}.dat`), `new ${k}\n`);
      return ['commit', '-m', `edit ${k}`, '-q'];
    }),
    loop('gc', async () => ['gc', '-q']),
    loop('status', async () => ['status', '--json']),
    loop('read', async (k) => (k % 2 ? ['ls', 'data', '--json'] : ['log', '--json'])),
  ]);
  assert.deepEqual(failures, []);
  for (const name of ['commit', 'gc', 'status', 'read']) assert.ok((ran.get(name) ?? 0) >= 2, `${name} ran ${ran.get(name)} times`);
  const rep = await inspectRepo(repo);
  assert.equal(rep.fsck.ok, true, JSON.stringify(rep.fsck.problems));
  // The stat cache the readers and writers shared holds nothing false: a commit records exactly the workspace.
  await dvOk(repo, ['commit', '-m', 'last', '-q']);
  const st = await dvJson(repo, ['status']);
  assert.equal(st.clean, true);
  const fresh = await makeRepo();
  await fsp.cp(join(repo, 'data'), join(fresh, 'data'), { recursive: true });
  await dvOk(fresh, ['add', 'data', '-q']);
  const want = (await fsp.readFile(join(fresh, 'data.dv'), 'utf8')).match(/tree: (\w+)/)?.[1];
  assert.match(await fsp.readFile(join(repo, 'data.dv'), 'utf8'), new RegExp(`tree: ${want}`));
  assert.equal((await dv(repo, ['fsck'])).code, 0);
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Whether `.dv/lock.index` names a holder running `dv <command>`. */
async function held(repo: string, command: string): Promise<boolean> {
  const text = await fsp.readFile(join(repo, '.dv', 'lock.index'), 'utf8').catch(() => '');
  try {
    return JSON.parse(text).command === command;
  } catch {
    return false;
  }
}
