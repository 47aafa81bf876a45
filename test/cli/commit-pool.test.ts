/**
 * A command that snapshots several tracked paths hashes them all with one pool of workers
 * (history/snapshot.ts withScanPool): the workers start once, not once per path. Each worker
 * prints its stats at the end of every run (DV_POOL_STATS), so a worker that served two paths
 * reports twice.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { dv, dvOk, makeRepo, prng } from '../helpers/cli.js';

/** The worker ids of each stats line, in order. */
const workerLines = (stderr: string): string[] => [...stderr.matchAll(/dv pool stats: worker (\d+) busy/g)].map((m) => m[1]);

for (const cmd of ['add', 'commit'] as const)
  test(`dv ${cmd} of two paths runs both through the same workers, and records both`, async () => {
    const repo = await makeRepo();
    for (const d of ['a', 'b']) {
      await fsp.mkdir(join(repo, d));
      await fsp.writeFile(join(repo, d, 'f.bin'), prng(d.charCodeAt(0), 3 << 20));
    }
    if (cmd === 'commit') {
      await dvOk(repo, ['add', '-q', 'a', 'b']);
      for (const d of ['a', 'b']) await fsp.writeFile(join(repo, d, 'f.bin'), prng(d.charCodeAt(0) + 10, 3 << 20));
    }
    const r = await dv(repo, cmd === 'add' ? ['add', '-q', 'a', 'b'] : ['commit', '-q', '-m', 'both'], { DV_POOL_STATS: '1' });
    assert.equal(r.code, 0, r.stderr);
    const lines = workerLines(r.stderr);
    assert.ok(lines.length >= 2, `stats of both runs: ${r.stderr}`);
    assert.ok(new Set(lines).size < lines.length, `a worker served both paths: ids ${lines.join(', ')}`);
    // Both were recorded: a fresh checkout of each gives the bytes back.
    for (const d of ['a', 'b']) {
      const want = await fsp.readFile(join(repo, d, 'f.bin'));
      await fsp.rm(join(repo, d), { recursive: true });
      await dvOk(repo, ['checkout', '-q', d]);
      assert.ok((await fsp.readFile(join(repo, d, 'f.bin'))).equals(want), `${d} reads back`);
    }
  });
