/**
 * A push's progress counts stored bytes as they lie in the packs: the members of a zstd frame
 * share its bytes (one offset, one length in the pack index), so a frame counts once, in the
 * total and in what is done, whether the push locates its objects by reading the pack indexes
 * (a first push) or by looking them up (a small one). Counted once per member, a compressible
 * table's total was many times the bytes sent, and the bar said so.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { Repo } from '../../src/index.js';
import type { PushProgress } from '../../src/transfer/push.js';
import { dvOk, makeRepo, prng, tempDir } from '../helpers/cli.js';

/** A CSV of `rows` lines: a counter, a label and 16 pseudo-random hex digits (zstd keeps about half). */
function table(rows: number, seed: number): string {
  const hex = prng(seed, rows * 8).toString('hex');
  const lines: string[] = ['id,label,token'];
  for (let k = 0; k < rows; k++) lines.push(`${k},label-${k % 13},${hex.slice(k * 16, k * 16 + 16)}`);
  return `${lines.join('\n')}\n`;
}

async function pushSeen(repo: Repo): Promise<{ sent: number; last: PushProgress }> {
  const seen: PushProgress[] = [];
  const r = await repo.push({ onProgress: (p) => seen.push({ ...p }) });
  assert.ok(seen.length > 0, 'progress was reported');
  return { sent: r.bytesSent, last: seen[seen.length - 1] };
}

test('push progress counts a frame once: the total is the bytes sent, first push and incremental', async () => {
  const dir = await makeRepo();
  await fsp.mkdir(join(dir, 'data'));
  const csv = table(400_000, 7);
  await fsp.writeFile(join(dir, 'data', 'table.csv'), csv);
  await dvOk(dir, ['add', '-q', 'data']);
  await dvOk(dir, ['remote', 'add', 'origin', join(tempDir(), 'remote')]);
  const repo = await Repo.open(dir);

  const first = await pushSeen(repo);
  // Pack files add a header per object (and the index travels apart): the stored bytes are a little less.
  assert.equal(first.last.bytes, first.last.totalBytes, 'ends at its total');
  assert.ok(first.last.totalBytes <= first.sent, `total ${first.last.totalBytes} > ${first.sent} bytes sent`);
  assert.ok(first.last.totalBytes > first.sent * 0.9, `total ${first.last.totalBytes} of ${first.sent} bytes sent`);

  // A few lines changed near the start: a small plan, looked up in the index.
  await fsp.writeFile(join(dir, 'data', 'table.csv'), csv.replace('\n5,', '\n5,changed,'));
  await repo.commit({ message: 'edit' });
  const next = await pushSeen(repo);
  assert.equal(next.last.bytes, next.last.totalBytes, 'ends at its total');
  assert.ok(next.last.totalBytes <= next.sent, `total ${next.last.totalBytes} > ${next.sent} bytes sent`);
  assert.ok(next.sent < first.sent / 4, `an edit near the start sent ${next.sent} of ${first.sent} bytes`);
});
