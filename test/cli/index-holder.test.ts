/**
 * Other dv processes and the index: a reader waiting on the network does not keep it (a writer
 * gets it); a process that really keeps it (here: stopped while it held it) is named, pid, host
 * and command, in the writer's REPO_LOCKED and in the one warning line of a reader that had to
 * work without it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { DV_BIN, dv, dvOk, makeRepo } from '../helpers/cli.js';
import { makeDataset } from '../helpers/data.js';
import { hungServer } from '../helpers/hung-server.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function envFor(repo: string): NodeJS.ProcessEnv {
  return {
    ...process.env,
    NO_COLOR: '1',
    XDG_CONFIG_HOME: join(repo, '.xdg-test'),
    AWS_ACCESS_KEY_ID: 'k',
    AWS_SECRET_ACCESS_KEY: 's',
    AWS_REGION: 'us-east-1',
  };
}

/** The command `.dv/lock.index` names, if any. */
async function holder(repo: string): Promise<string | undefined> {
  try {
    return JSON.parse(await fsp.readFile(join(repo, '.dv', 'lock.index'), 'utf8')).command;
  } catch {
    return undefined;
  }
}

/**
 * Runs `dv args` again and again until it is stopped (SIGSTOP) while it holds the index: the
 * holder note names it before and after the stop (the note is removed before LevelDB is let go).
 */
async function stoppedHolder(repo: string, args: string[], command: string): Promise<ChildProcess> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const child = spawn(process.execPath, [DV_BIN, ...args], { cwd: repo, env: envFor(repo), stdio: 'ignore' });
    for (let i = 0; i < 3000 && child.exitCode === null; i++) {
      if ((await holder(repo)) !== command) {
        await sleep(2);
        continue;
      }
      child.kill('SIGSTOP');
      if ((await holder(repo)) === command) return child;
      child.kill('SIGCONT');
    }
    child.kill('SIGKILL');
  }
  throw new Error(`dv ${args.join(' ')} was never caught holding the index`);
}

async function end(child: ChildProcess): Promise<void> {
  const closed = new Promise((r) => child.on('close', r));
  child.kill('SIGKILL');
  child.kill('SIGCONT');
  await closed;
}

test('a writer gets the index while `dv status --remote` waits on a hung server', { timeout: 60_000 }, async () => {
  const hung = await hungServer();
  try {
    const repo = await makeRepo();
    await fsp.writeFile(join(repo, 'a.txt'), 'a\n');
    await dvOk(repo, ['add', 'a.txt']);
    await dvOk(repo, ['remote', 'add', 's3', 's3://bucket/x', '--endpoint', `http://127.0.0.1:${hung.port}`]);
    await dvOk(repo, ['config', 'remote.s3.timeout', '30']);
    const reader = spawn(process.execPath, [DV_BIN, 'status', '--remote', 's3'], { cwd: repo, env: envFor(repo), stdio: 'ignore' });
    const ended = new Promise((r) => reader.on('close', r));
    for (let i = 0; i < 500 && (await holder(repo)) !== 'status'; i++) await sleep(10);
    await sleep(500);
    await fsp.writeFile(join(repo, 'b.txt'), 'b\n');
    const w = await dv(repo, ['--wait', '2', 'add', 'b.txt']);
    assert.equal(w.code, 0, w.stderr);
    assert.equal(reader.exitCode, null, 'the reader was still waiting on the server');
    reader.kill();
    await ended;
  } finally {
    hung.close();
  }
});

test('a writer finding the index kept by a reader names it: REPO_LOCKED with pid, host and command', { timeout: 120_000 }, async () => {
  const repo = await makeRepo();
  await makeDataset(join(repo, 'data'), { files: 3000, dirs: 30 });
  await dvOk(repo, ['add', 'data', '-q']);
  const reader = await stoppedHolder(repo, ['status'], 'status');
  try {
    await fsp.writeFile(join(repo, 'b.txt'), 'b\n');
    const w = await dv(repo, ['--wait', '1', 'add', 'b.txt']);
    assert.equal(w.code, 11, w.stderr);
    assert.match(
      w.stderr,
      new RegExp(
        `^dv: error REPO_LOCKED: the index .* is in use by \`dv status\` \\(pid ${reader.pid} on [^,]+, since [^)]+\\): wait for it to finish`,
      ),
    );
    assert.equal(w.stderr.trim().split('\n').length, 1, w.stderr);
  } finally {
    await end(reader);
  }
  // Its note is no proof of anything once it is gone: the next writer gets the index.
  await dvOk(repo, ['add', 'b.txt']);
});

test('a reader that cannot get the index says once who keeps it, and re-hashes', { timeout: 120_000 }, async () => {
  const repo = await makeRepo();
  await makeDataset(join(repo, 'data'), { files: 300, dirs: 3 });
  await dvOk(repo, ['add', 'data', '-q']);
  const fh = await fsp.open(join(repo, 'big.bin'), 'w');
  await fh.truncate(64 * 2 ** 30); // sparse: a long hash, no disk
  await fh.close();
  const writer = await stoppedHolder(repo, ['add', 'big.bin'], 'add');
  try {
    const r = await dv(repo, ['--wait', '1', 'status', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(
      lines[0],
      new RegExp(
        `^dv: warning: the index is held by \`dv add\` \\(pid ${writer.pid} on [^,]+, since [^)]+\\) for more than 1 s: working without it, so every file is read and hashed again`,
      ),
    );
    const st = JSON.parse(r.stdout);
    assert.equal(st.clean, true);
    assert.equal(st.paths[0].filesHashed, 300);
  } finally {
    await end(writer);
  }
});
