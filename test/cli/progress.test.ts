/**
 * Progress bars: the line (a pure function of the state: phase, done/total, bytes, percentage,
 * rate, ETA, the latest retry), a bar's phases and retry lines on a terminal stream, and a real
 * `dv checkout` under a pseudo-terminal (`script` from util-linux) showing its totals, and a
 * fetch whose total (the bytes its snapshot declares) is known before its chunks come.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { progress, renderLine, retryLine, duration } from '../../src/cli/progress.js';
import { Repo } from '../../src/index.js';
import type { FetchProgress } from '../../src/transfer/fetch.js';
import { DV_BIN, dvOk, git, makeRepo, prng, tempDir } from '../helpers/cli.js';

test('renderLine: phase, bar, percentage, done/total items and bytes, rate, ETA', () => {
  const s = { phase: 'push', unit: 'objects', done: 50, total: 200, bytes: 250e6, totalBytes: 1e9, elapsedMs: 5000 };
  assert.equal(renderLine(s), 'push [###---------] 25% 50/200 objects 250.0 MB/1.0 GB 50.0 MB/s ETA 15s');
  // The fraction is by bytes when their total is known: files differ in size.
  assert.match(renderLine({ ...s, done: 199 }), / 25% 199\/200 objects /);
  // Done: 100 %, no ETA.
  assert.equal(renderLine({ ...s, done: 200, bytes: 1e9 }), 'push [############] 100% 200/200 objects 1.0 GB/1.0 GB 200.0 MB/s');
  // Items only.
  assert.equal(
    renderLine({ phase: 'checkout', unit: 'files', done: 30, total: 120, elapsedMs: 2000 }),
    'checkout [###---------] 25% 30/120 files 15 files/s ETA 6s',
  );
});

test('renderLine: no total, no percentage or ETA made up; a retry shown on the line; cut to the width', () => {
  assert.equal(
    renderLine({ phase: 'pull: fetch', unit: 'objects', done: 12, bytes: 3e6, elapsedMs: 2000 }),
    'pull: fetch 12 objects 3.0 MB 1.5 MB/s',
  );
  const note = 'dv: retrying s3://bucket/p/packs/ab/abcdef (2/6): SlowDown';
  const line = renderLine({ phase: 'push', unit: 'objects', done: 1, total: 4, bytes: 1e6, totalBytes: 4e6, elapsedMs: 2000, note });
  assert.ok(line.startsWith('push [###---------] 25% 1/4 objects'), line);
  assert.ok(line.endsWith(`| ${note}`), line);
  const cut = renderLine({ phase: 'push', unit: 'objects', done: 1, total: 4, elapsedMs: 2000, note }, 40);
  assert.equal(cut.length, 40);
  assert.ok(cut.endsWith('…'));
  assert.deepEqual([duration(45), duration(185), duration(7800)], ['45s', '3m05s', '2h10m']);
});

/** A terminal stream that keeps what is written (cli-progress draws on it). */
function fakeTty(): {
  isTTY: true;
  columns: number;
  text: string;
  write(s: string): boolean;
  cursorTo(): boolean;
  clearLine(): boolean;
  moveCursor(): boolean;
} {
  return {
    isTTY: true,
    columns: 200,
    text: '',
    write(s: string) {
      this.text += s;
      return true;
    },
    cursorTo: () => true,
    clearLine: () => true,
    moveCursor: () => true,
  };
}

test('a bar names each phase and starts its counts afresh; a retry goes onto the drawn bar, not a line of its own', async () => {
  const tty = fakeTty();
  let clock = 0;
  const bar = progress('pull', true, tty, 'files', () => clock);
  clock = 400; // past the 300 ms before a bar is drawn
  bar.update(10, { bytes: 1e6, phase: 'fetch', unit: 'objects' });
  await new Promise((r) => setTimeout(r, 150)); // cli-progress redraws at most 10 times a second
  clock = 1400;
  retryLine(tty, 'dv: retrying s3://b/packs/ab/cd (2/6): SlowDown');
  await new Promise((r) => setTimeout(r, 150));
  clock = 2400;
  bar.update(3, { bytes: 3e6, total: 12, totalBytes: 12e6, phase: 'checkout', unit: 'files' });
  await new Promise((r) => setTimeout(r, 150));
  clock = 3400;
  bar.update(6, { bytes: 6e6 });
  bar.stop();
  assert.match(tty.text, /pull: fetch 10 objects 1\.0 MB/);
  assert.match(tty.text, /pull: fetch 10 objects .*\| dv: retrying s3:\/\/b\/packs\/ab\/cd \(2\/6\): SlowDown/);
  assert.ok(!tty.text.includes('SlowDown\n'), 'the retry is on the bar, not a line of its own');
  assert.match(tty.text, /pull: checkout \[###---------\] 25% 3\/12 files 3\.0 MB\/12\.0 MB/);
  // After the bar is gone, a retry is a line again; with no terminal there is no bar at all.
  retryLine(tty, 'dv: retrying later');
  assert.ok(tty.text.endsWith('dv: retrying later\n'));
  const pipe = { text: '', write: (s: string) => (pipe.text += s) };
  const none = progress('push', true, pipe, 'objects', () => 1000);
  none.update(1, { total: 2 });
  none.stop();
  assert.equal(pipe.text, '');
});

test('dv checkout under a pseudo-terminal draws phase, totals and percentage', async (t) => {
  const has = spawnSync('script', ['--version'], { encoding: 'utf8' });
  if (has.status !== 0) {
    t.skip('script (util-linux) is not installed');
    return;
  }
  const a = await makeRepo();
  await fsp.mkdir(join(a, 'data'));
  for (let i = 0; i < 400; i++) await fsp.writeFile(join(a, 'data', `f${i}.bin`), prng(i + 1, 256 * 1024));
  await dvOk(a, ['add', '-q', 'data']);
  await fsp.rm(join(a, 'data'), { recursive: true });
  // script runs the command on a pseudo-terminal (stdout and stderr both; 200 columns, so the whole line fits) and copies what it draws to our stdout.
  const out = execFileSync(
    'script',
    ['-qfec', `stty cols 200 2>/dev/null; '${process.execPath}' '${DV_BIN}' checkout --jobs 1`, '/dev/null'],
    {
      cwd: a,
      encoding: 'utf8',
      // The bar from the first update: on a quiet machine this checkout ends before the usual 300 ms.
      env: { ...process.env, NO_COLOR: '1', XDG_CONFIG_HOME: join(a, '.xdg-test'), DV_PROGRESS_DELAY: '0' },
      timeout: 120_000,
    },
  );
  assert.match(out, /data: 400 written/);
  assert.match(
    out,
    /checkout: data \[[#-]{12}\] \d{1,3}% \d+\/400 files [\d.]+ [KMG]?B\/104\.9 MB [\d.]+ [KMG]?B\/s( ETA \d+[smh])?/,
    JSON.stringify(out.slice(0, 600)),
  );
});

test('a fetch knows its total before the chunks come, and ends with all of it accounted for (repeats and shared subtrees too)', async () => {
  const a = await makeRepo();
  await fsp.mkdir(join(a, 'data', 'x'), { recursive: true });
  let size = 0;
  for (let i = 0; i < 30; i++) {
    const b = prng(i + 1, 100_000 + i * 997);
    size += b.length;
    await fsp.writeFile(join(a, 'data', 'x', `f${i}.bin`), b);
  }
  // A repeated file and a repeated subtree: bytes the walk meets again without downloading them.
  await fsp.cp(join(a, 'data', 'x'), join(a, 'data', 'y'), { recursive: true });
  await fsp.writeFile(join(a, 'data', 'again.bin'), prng(1, 100_000));
  size = size * 2 + 100_000;
  await dvOk(a, ['add', '-q', 'data']);
  await dvOk(a, ['remote', 'add', 'origin', join(tempDir(), 'store')]);
  await dvOk(a, ['push', '-q']);
  git(a, ['add', '-A']);
  git(a, ['commit', '-qm', 'data']);
  const b = join(tempDir(), 'clone');
  git(tempDir(), ['clone', '-q', a, b]);
  const seen: FetchProgress[] = [];
  const r = await (await Repo.open(b)).fetch({ onProgress: (p) => seen.push({ ...p }) });
  assert.ok(r.objectsFetched > 0);
  const last = seen[seen.length - 1];
  assert.equal(last.total, size, 'the total is what the snapshot declares');
  assert.equal(last.data, size, 'every byte accounted for: fetched, or met again');
  assert.ok(
    seen.some((p) => p.total === size && p.data < size),
    'the total was known while data was still coming',
  );
  assert.ok(
    seen.every((p, k) => k === 0 || (p.data >= seen[k - 1].data && p.total >= seen[k - 1].total)),
    'never goes back',
  );
});
