/**
 * transfer/heap-headroom.ts: while a download is in, the 64 KiB buffers a socket hands over do
 * not drive V8 into a mark-compact every few MB (bin/dv's growth of 50 % leaves a small heap little
 * room); after the last leave the growth is 50 % again. Each case runs in its own Node process with
 * the growth bin/dv sets, keeps some 20 MB alive and passes 512 MiB of 64 KiB ArrayBuffers through,
 * counting the major GCs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { REPO_DIR, tempDir } from '../helpers/cli.js';

const MODULE = pathToFileURL(join(REPO_DIR, 'dist', 'src', 'transfer', 'heap-headroom.js')).href;

const SCRIPT = `
import { setFlagsFromString } from 'node:v8';
import { PerformanceObserver, constants } from 'node:perf_hooks';
setFlagsFromString('--heap-growing-percent=50');
const { enterDownload, leaveDownload } = await import(${JSON.stringify(MODULE)});
const live = [];
for (let i = 0; i < 200000; i++) live.push({ s: 'x' + i, n: i });
let major = 0;
const obs = new PerformanceObserver((l) => {
  for (const e of l.getEntries()) if (e.detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) major++;
});
obs.observe({ entryTypes: ['gc'] });
const mode = process.argv[2];
if (mode !== 'plain') enterDownload();
if (mode === 'after') leaveDownload();
let sum = 0;
for (let i = 0; i < 8192; i++) {
  const b = new Uint8Array(new ArrayBuffer(64 * 1024));
  b[0] = i & 1;
  sum += b[0];
}
await new Promise((r) => setTimeout(r, 50));
process.stdout.write(JSON.stringify({ major, live: live.length, sum }));
`;

function majorGcs(mode: 'plain' | 'download' | 'after'): number {
  const file = join(tempDir(), 'churn.mjs');
  writeFileSync(file, SCRIPT);
  const r = spawnSync(process.execPath, [file, mode], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { major: number; live: number; sum: number };
  assert.equal(out.sum, 4096); // (the buffers were written, not optimised away)
  return out.major;
}

test('a download gives the heap headroom: far fewer major GCs for the same buffers, and 50 % again after leave', (t) => {
  const plain = majorGcs('plain');
  const download = majorGcs('download');
  const after = majorGcs('after');
  t.diagnostic(`major GCs: plain ${plain}, during a download ${download}, after leave ${after}`);
  assert.ok(plain >= 4, `the churn ran only ${plain} major GCs without headroom: the test shows nothing`);
  assert.ok(download * 3 <= plain, `with headroom ${download} major GCs, without ${plain}`);
  assert.ok(after * 2 >= plain, `after leave ${after} major GCs: the growth was not put back (plain ${plain})`);
});
