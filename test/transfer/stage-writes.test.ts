/**
 * StagedWrites (stage-writes.ts) puts each chunk's bytes at each of its places, coalescing runs:
 * the files hold exactly the bytes a write per place would give, whatever the order chunks were
 * added in, across flushes, with runs longer than one pwritev takes; a chunk whose place has
 * another length, or whose run cannot be written, is reported failed and only it (and its run).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { StagedWrites } from '../../src/transfer/stage-writes.js';
import { prng, tempDir } from '../helpers/cli.js';

function fds(): { fdOf: (p: string) => number; closeAll: () => void; opened: string[] } {
  const open = new Map<string, number>();
  const opened: string[] = [];
  return {
    fdOf: (p) => {
      let fd = open.get(p);
      if (fd === undefined) {
        fd = openSync(p, 'w');
        open.set(p, fd);
        opened.push(p);
      }
      return fd;
    },
    closeAll: () => {
      for (const fd of open.values()) closeSync(fd);
    },
    opened,
  };
}

test('chunks land at their places, in runs, whatever the order they came in', () => {
  const dir = tempDir();
  const a = join(dir, 'a');
  const b = join(dir, 'b');
  // 80 chunks of 1-60 KiB (over one 1 MiB run) for a, shuffled; each also copied into b at an offset.
  const chunks: Buffer[] = [];
  for (let k = 0; k < 80; k++) chunks.push(prng(100 + k, 1 + ((k * 7919) % 61440)));
  const offsets: number[] = [];
  let size = 0;
  for (const c of chunks) {
    offsets.push(size);
    size += c.length;
  }
  const order = chunks.map((_, k) => k).sort((x, y) => ((x * 37) % 80) - ((y * 37) % 80));
  const failed: number[] = [];
  const f = fds();
  const w = new StagedWrites(f.fdOf, (k) => failed.push(k));
  for (const [n, k] of order.entries()) {
    const to = [{ path: a, offset: offsets[k], length: chunks[k].length }];
    if (k % 10 === 0) to.push({ path: b, offset: 1000 + offsets[k], length: chunks[k].length });
    w.add(k, chunks[k], to);
    if (n === 40) w.flush();
  }
  w.flush();
  f.closeAll();
  assert.deepEqual(failed, []);
  assert.ok(readFileSync(a).equals(Buffer.concat(chunks)), 'a holds every chunk at its offset');
  const bBytes = readFileSync(b);
  for (let k = 0; k < 80; k += 10) {
    assert.ok(bBytes.subarray(1000 + offsets[k], 1000 + offsets[k] + chunks[k].length).equals(chunks[k]), `b has chunk ${k}`);
  }
});

test('a place of another length fails its chunk alone; a run that cannot be written fails its chunks', () => {
  const dir = tempDir();
  const good = join(dir, 'good');
  const blocked = join(dir, 'blocked');
  writeFileSync(blocked, 'a file where a directory should be');
  const c = [100, 200, 300, 50].map((n, k) => prng(9 + k, n));
  const failed: number[] = [];
  const f = fds();
  const w = new StagedWrites(f.fdOf, (k) => failed.push(k));
  w.add(0, c[0], [{ path: good, offset: 0, length: 100 }]);
  w.add(1, c[1], [{ path: good, offset: 100, length: 999 }]);
  w.add(2, c[2], [{ path: join(blocked, 'x'), offset: 0, length: 300 }]);
  w.add(3, c[3], [
    { path: join(blocked, 'x'), offset: 300, length: 50 },
    { path: good, offset: 300, length: 50 },
  ]);
  w.flush();
  f.closeAll();
  assert.deepEqual(
    failed.sort((x, y) => x - y),
    [1, 2, 3],
  );
  const bytes = readFileSync(good);
  assert.ok(bytes.subarray(0, 100).equals(c[0]));
  assert.ok(bytes.subarray(300, 350).equals(c[3]), 'the place that could be written was');
});
