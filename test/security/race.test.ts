/**
 * A local attacker racing `dv checkout`: while checkout creates directories, writes files and
 * removes what the snapshot no longer has, another process keeps swapping the workspace's
 * directories for symlinks to a directory outside. Checkout may succeed or refuse (UNSAFE_PATH),
 * but nothing outside may change and no process may hang. Also: a workspace file hard-linked to a
 * file outside, whose exec bit checkout must change, leaves the outside file's mode alone.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { dv, dvOk, dvJson, makeRepo, describeTree, tempDir } from '../helpers/cli.js';
import { ERROR_CODES } from '../../src/errors.js';

const cleanup: string[] = [];
after(async () => {
  for (const d of cleanup) await fsp.rm(d, { recursive: true, force: true });
});

// The attacker: a separate process polling as fast as it can, so a directory is swapped within
// microseconds of checkout creating it. Stops when the stop file appears, or after `limitMs`.
const ATTACKER = `
const fs = require('fs'), path = require('path');
const [ws, outside, stop, limitMs, ...names] = process.argv.slice(1);
const until = Date.now() + Number(limitMs);
let swaps = 0, n = 0;
while (Date.now() < until && !fs.existsSync(stop)) {
  for (const name of names) {
    const p = path.join(ws, name);
    try {
      const st = fs.lstatSync(p);
      if (!st.isDirectory()) continue;
      fs.renameSync(p, p + '.moved' + (n++));
      fs.symlinkSync(outside, p);
      swaps++;
    } catch { /* raced with checkout itself */ }
  }
}
process.stdout.write(String(swaps));
`;

function attack(ws: string, outside: string, stop: string, names: string[], limitMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', ATTACKER, ws, outside, stop, String(limitMs), ...names], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('close', () => resolve(Number(out) || 0));
  });
}

async function restoreWorkspace(ws: string): Promise<void> {
  // Undo the attacker's work: links go (never followed), moved directories go.
  const data = join(ws, 'data');
  const st = await fsp.lstat(data).catch(() => undefined);
  if (st?.isSymbolicLink()) await fsp.unlink(data);
  for (const dir of [ws, data]) {
    for (const name of await fsp.readdir(dir).catch(() => [] as string[])) {
      const p = join(dir, name);
      const s = await fsp.lstat(p);
      if (s.isSymbolicLink()) await fsp.unlink(p);
      else if (/\.moved\d+$/.test(name)) await fsp.rm(p, { recursive: true, force: true });
    }
  }
}

describe('a directory swapped for a symlink while checkout runs', () => {
  // Where /proc/self/fd is missing (macOS) dv can only re-check each directory before use: a window remains.
  const skip = existsSync('/proc/self/fd') ? false : 'needs /proc/self/fd (Linux) for openat-like writes';
  test('writes, directory creation and removals never reach outside the workspace', { timeout: 240_000, skip }, async (t) => {
    const box = tempDir('dv-race-');
    cleanup.push(box);
    const ws = join(box, 'ws');
    await fsp.rename(await makeRepo(), ws);
    const outside = join(box, 'outside');
    await fsp.mkdir(outside);
    await fsp.writeFile(join(outside, 'sentinel'), 'keep me\n');
    // Names the snapshots use, so a removal through a followed link would delete them.
    for (let i = 0; i < 4; i++) await fsp.writeFile(join(outside, `f${i}`), `outside ${i}\n`);
    const sentinel = await describeTree(outside);

    const dirs = Array.from({ length: 8 }, (_, d) => `d${d}`);
    const data = join(ws, 'data');
    for (const d of dirs) {
      await fsp.mkdir(join(data, d, 'in'), { recursive: true });
      for (let i = 0; i < 120; i++) await fsp.writeFile(join(data, d, `f${i}`), `${d}/${i}\n`);
      for (let i = 0; i < 20; i++) await fsp.writeFile(join(data, d, 'in', `g${i}`), `${d}/in/${i}\n`);
    }
    const full = (await dvJson(ws, ['add', 'data'])).added[0].snapshot as string;
    // A second state without half of the directories: checking it out removes them.
    for (const d of dirs.slice(4)) await fsp.rm(join(data, d), { recursive: true });
    const half = (await dvJson(ws, ['commit', 'data'])).committed[0].snapshot as string;
    assert.notEqual(half, full, 'two snapshots');

    let swaps = 0;
    const outcomes: string[] = [];
    const targets = [...dirs.map((d) => `data/${d}`), ...dirs.map((d) => `data/${d}/in`)];
    for (let round = 0; round < 6; round++) {
      // Odd rounds create everything from nothing; even rounds remove half of it.
      const from = round % 2 === 1 ? null : full;
      await restoreWorkspace(ws);
      if (from === null) await fsp.rm(data, { recursive: true, force: true });
      else await dv(ws, ['checkout', from.slice(0, 16), '--force']);
      await restoreWorkspace(ws);
      const stop = join(box, `stop${round}`);
      const attacker = attack(ws, outside, stop, round === 5 ? ['data', ...targets] : targets, 60_000);
      const r = await dv(ws, ['checkout', (from === null ? full : half).slice(0, 16), '--force']);
      await fsp.writeFile(stop, '');
      swaps += await attacker;
      outcomes.push(r.code === 0 ? 'ok' : (/^dv: error ([A-Z_]+)/.exec(r.stderr)?.[1] ?? r.stderr));
      assert.deepEqual(
        await describeTree(outside),
        sentinel,
        `round ${round} (${outcomes.at(-1)}): nothing outside written, chmod-ed or removed`,
      );
      if (r.code !== 0) {
        assert.match(
          r.stderr,
          /^dv: error (UNSAFE_PATH|PATH_OUTSIDE_REPO|UNSAVED_CHANGES): \S.*\n$/,
          `round ${round}: a clear refusal: ${r.stderr}`,
        );
        assert.ok(
          ([ERROR_CODES.UNSAFE_PATH.exit, ERROR_CODES.PATH_OUTSIDE_REPO.exit, ERROR_CODES.UNSAVED_CHANGES.exit] as number[]).includes(
            r.code,
          ),
        );
      }
    }
    t.diagnostic(`${swaps} swaps; outcomes ${outcomes.join(', ')}`);
    assert.ok(swaps > 0, `the attacker swapped directories (${swaps} swaps; outcomes ${outcomes.join(', ')})`);
    // Once the attacker is gone, checkout repairs the workspace.
    await restoreWorkspace(ws);
    await dvOk(ws, ['checkout', full.slice(0, 16), '--force']);
    assert.equal((await dvJson(ws, ['status'])).paths[0].state, 'clean');
  });

  test('an exec-bit change on a file hard-linked to one outside: the outside file keeps its mode and content', {
    timeout: 60_000,
  }, async () => {
    const box = tempDir('dv-race-');
    cleanup.push(box);
    const ws = join(box, 'ws');
    await fsp.rename(await makeRepo(), ws);
    await fsp.mkdir(join(ws, 'data'));
    await fsp.writeFile(join(ws, 'data', 'run.sh'), 'echo hi\n', { mode: 0o755 });
    await fsp.chmod(join(ws, 'data', 'run.sh'), 0o755);
    await fsp.writeFile(join(ws, 'data', 'plain.sh'), 'echo plain\n');
    await fsp.chmod(join(ws, 'data', 'plain.sh'), 0o755);
    await dvOk(ws, ['add', 'data']);
    // A file of the workspace's own (no other link) only has its mode set back, in place.
    await fsp.chmod(join(ws, 'data', 'plain.sh'), 0o644);
    const plainIno = (await fsp.stat(join(ws, 'data', 'plain.sh'))).ino;
    // Someone replaces the file by a hard link to an outside file of the same content, mode 0600.
    const secret = join(box, 'secret.sh');
    await fsp.writeFile(secret, 'echo hi\n', { mode: 0o600 });
    await fsp.chmod(secret, 0o600);
    await fsp.rm(join(ws, 'data', 'run.sh'));
    await fsp.link(secret, join(ws, 'data', 'run.sh'));
    await dvOk(ws, ['checkout']);
    const st = await fsp.stat(secret);
    assert.equal(st.mode & 0o777, 0o600, 'the outside file was not chmod-ed');
    assert.equal(await fsp.readFile(secret, 'utf8'), 'echo hi\n');
    const mine = await fsp.stat(join(ws, 'data', 'run.sh'));
    assert.equal(mine.mode & 0o777, 0o755, 'the workspace file has the exec bit');
    assert.notEqual(mine.ino, st.ino, 'the workspace file is a file of its own now');
    const plain = await fsp.stat(join(ws, 'data', 'plain.sh'));
    assert.equal(plain.mode & 0o777, 0o755);
    assert.equal(plain.ino, plainIno, 'a file with no other link is chmod-ed, not rewritten');
    assert.equal((await dvJson(ws, ['status'])).paths[0].state, 'clean');
  });
});
