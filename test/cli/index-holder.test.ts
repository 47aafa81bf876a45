/**
 * Other dv processes: a command that finds the index held names who holds it (pid, host,
 * command), also when the holder is a reader waiting on the network.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { DV_BIN, dv, dvOk, makeRepo } from '../helpers/cli.js';
import { hungServer } from '../helpers/hung-server.js';

test('a writer finding the index held by `dv status --remote` on a hung server names it', { timeout: 60_000 }, async () => {
  // A server that accepts connections and never answers.
  const hung = await hungServer();
  const port = hung.port;
  try {
    const repo = await makeRepo();
    await fsp.writeFile(join(repo, 'a.txt'), 'a\n');
    await dvOk(repo, ['add', 'a.txt']);
    await dvOk(repo, ['remote', 'add', 's3', 's3://bucket/x', '--endpoint', `http://127.0.0.1:${port}`]);
    await dvOk(repo, ['config', 'remote.s3.timeout', '8']);
    const env = {
      ...process.env,
      NO_COLOR: '1',
      XDG_CONFIG_HOME: join(repo, '.xdg-test'),
      AWS_ACCESS_KEY_ID: 'k',
      AWS_SECRET_ACCESS_KEY: 's',
      AWS_REGION: 'us-east-1',
    };
    const reader = spawn(process.execPath, [DV_BIN, 'status', '--remote', 's3'], { cwd: repo, env, stdio: 'ignore' });
    const ended = new Promise((r) => reader.on('close', r));
    // Wait until the reader holds the index (its holder note appears).
    for (
      let i = 0;
      i < 100 &&
      !(await fsp.stat(join(repo, '.dv', 'lock.index')).then(
        () => true,
        () => false,
      ));
      i++
    )
      await new Promise((r) => setTimeout(r, 50));
    await fsp.writeFile(join(repo, 'b.txt'), 'b\n');
    const w = await dv(repo, ['--wait', '1', 'add', 'b.txt']);
    assert.equal(w.code, 11, w.stderr);
    assert.match(
      w.stderr,
      new RegExp(
        `^dv: error REPO_LOCKED: the index is in use by \`dv status\` \\(pid ${reader.pid} on .*, since .*\\): wait for it to finish`,
      ),
    );
    reader.kill();
    await ended;
    // Its note is no proof of anything once it is gone: the next writer gets the index.
    await dvOk(repo, ['add', 'b.txt']);
  } finally {
    hung.close();
  }
});
