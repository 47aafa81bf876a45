/**
 * The dv process keeps its JS heap close to what is alive (bin/dv sets V8's heap growing factor):
 * a command over a million files keeps little alive but passes much through, and V8's default
 * let the heap grow to 4x what survived a full GC. The same churn (a set of live objects and
 * batches that die after surviving a few scavenges) runs at the exit of `dv --version` and of a
 * plain node: dv's peak heap must stay well below plain node's.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DV_BIN, tempDir } from '../helpers/cli.js';

const CHURN = `
process.on('exit', () => {
  const live = [];
  for (let i = 0; i < 200000; i++) live.push({ a: 'x' + i, b: [i, i] });
  let peak = 0;
  let prev = [];
  for (let round = 0; round < 40; round++) {
    const batch = [];
    for (let i = 0; i < 100000; i++) batch.push({ s: 'y' + i + round, n: [i] });
    prev = batch;
    peak = Math.max(peak, process.memoryUsage().heapTotal);
  }
  process.stdout.write('\\npeak=' + peak + ' kept=' + (prev.length + live.length) + '\\n');
});
`;

function peakHeap(preload: string, args: string[]): number {
  const r = spawnSync(process.execPath, ['--import', preload, ...args], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const m = /peak=(\d+) kept=300000/.exec(r.stdout);
  assert.ok(m, `no peak in ${r.stdout}`);
  return Number(m[1]);
}

test('the dv process grows its heap to 1.5x what survives a full GC, not 4x', (t) => {
  const preload = join(tempDir(), 'churn.mjs');
  writeFileSync(preload, CHURN);
  const dv = peakHeap(preload, [DV_BIN, '--version']);
  const plain = peakHeap(preload, ['-e', '']);
  t.diagnostic(`peak heap: dv ${(dv / 2 ** 20).toFixed(0)} MiB, plain node ${(plain / 2 ** 20).toFixed(0)} MiB`);
  assert.ok(dv < 0.7 * plain, `dv's peak heap ${dv} is not well below plain node's ${plain}`);
});
