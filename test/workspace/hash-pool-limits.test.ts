/**
 * The hashing workers run with a small young generation (WORKER_LIMITS): each one's heap stays
 * near 16 MB instead of V8's default of about 43 MB, which at a million files was a sixth of
 * `dv add`'s peak memory.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';
import { initHash } from '../../src/core/hash.js';
import { HashPool, WORKER_LIMITS } from '../../src/workspace/hash-pool.js';

test('the hashing pool starts its workers with a young generation of at most 8 MB', async () => {
  await initHash();
  assert.ok(WORKER_LIMITS.maxYoungGenerationSizeMb <= 8);
  const dir = mkdtempSync(join(tmpdir(), 'dv-limits-'));
  const pool = new HashPool(null, 2);
  try {
    const files = Array.from({ length: 40 }, (_, i) => {
      const path = join(dir, `f${i}`);
      writeFileSync(path, `file ${i}\n`.repeat(100 + i));
      return { path, size: 0 };
    });
    const out = await pool.hash(files);
    assert.equal(out.length, files.length);
    // (The pool's workers are private: the test reads the limits each was started with.)
    const workers = (pool as unknown as { workers: { w: Worker }[] }).workers;
    assert.equal(workers.length, 2);
    for (const { w } of workers) assert.ok(w.resourceLimits!.maxYoungGenerationSizeMb! <= 8, JSON.stringify(w.resourceLimits));
  } finally {
    await pool.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
