/**
 * The hash workers' pack write path (store/direct-append.ts through SyncPackWriter with
 * `direct`): the same bytes as the plain buffered writer for any member sizes (across 1 MiB
 * blocks, many queued behind the writes in flight, a tail that is or is not 4 KiB-aligned), packs sealed and read back
 * through the store, the buffered fallback where O_DIRECT is refused, and a failed write that
 * never hands over a pack (so no index can name missing data).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs, { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes, createHash } from 'node:crypto';
import { SyncPackWriter } from '../../src/store/pack-writer.js';
import { DirectAppender, BACKLOG, BLOCK, directStats, whenDrained } from '../../src/store/direct-append.js';
import { sealPack, packPaths } from '../../src/store/pack.js';
import { decodePackIndex } from '../../src/store/pack-index.js';
import { initHash } from '../../src/core/hash.js';

const tmp = (): string => mkdtempSync(join(tmpdir(), 'dv-pack-direct-'));
const idOf = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** Member sizes that cross blocks, queue many blocks behind the writes in flight, and end unaligned. */
function members(seed: number): Buffer[] {
  const sizes = [1, 511, 512, 513, 4096, BLOCK - 512, BLOCK, BLOCK + 1, 3 * BLOCK + 77, 65536];
  for (let k = 0; k < 40; k++) sizes.push(((seed * 7919 + k * 104729) % (300 * 1024)) + 1);
  return sizes.map((n) => randomBytes(n));
}

async function writeBoth(dir: string, data: Buffer[]): Promise<{ plain: Buffer; direct: Buffer; sealed: { tmp: string; size: number } }> {
  const plainW = new SyncPackWriter(join(dir, 'p'), 1 << 40);
  const directW = new SyncPackWriter(join(dir, 'd'), 1 << 40, undefined, true);
  for (const d of data) {
    plainW.add(idOf(d), d, d.length, 0);
    directW.add(idOf(d), d, d.length, 0);
  }
  const p = plainW.finish()!;
  const d = (await directW.finishAsync())!;
  assert.deepEqual(d.entries, p.entries);
  assert.equal(d.size, p.size);
  return { plain: readFileSync(p.tmp), direct: readFileSync(d.tmp), sealed: d };
}

test('a writer that waits for whenDrained holds a bounded number of blocks, and gets the very bytes written', async () => {
  // First in this file: the thread's free blocks are then all this test's own. The default bound,
  // then a caller's larger one (a large file's parts, hash-worker.ts).
  for (const limit of [undefined, 3 * BACKLOG]) {
    const dir = tmp();
    try {
      const path = join(dir, 'f');
      const app = new DirectAppender(path);
      const piece = randomBytes(256 * 1024 + 7);
      let waited = 0;
      const want = createHash('sha256');
      for (let k = 0; k < 160; k++) {
        const d = whenDrained(limit);
        if (d) {
          waited++;
          await d;
        }
        piece.writeUInt32LE(k, 0);
        app.append(piece);
        want.update(piece);
      }
      await app.close();
      assert.ok(waited > 0, 'the writer had to wait for the disk');
      // The backlog, the block being filled and what one append adds past the bound (blocks are reused).
      assert.ok(directStats.blocks <= (limit ?? BACKLOG) / BLOCK + 2, `${directStats.blocks} blocks (limit ${limit})`);
      // Appends run without yielding until the bound is passed: a larger bound is used in full.
      if (limit) assert.ok(directStats.blocks >= limit / BLOCK, `${directStats.blocks} blocks (limit ${limit})`);
      assert.equal(createHash('sha256').update(readFileSync(path)).digest('hex'), want.digest('hex'));
      assert.equal(whenDrained(), undefined, 'nothing is left queued');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
});

test('a direct pack holds the very bytes of a buffered one, whatever the member sizes', async (t) => {
  const dir = tmp();
  try {
    const probe = new DirectAppender(join(dir, 'probe'));
    t.diagnostic(`O_DIRECT in ${tmpdir()}: ${probe.direct}`);
    await probe.close();
    for (const seed of [1, 2]) {
      const { plain, direct, sealed } = await writeBoth(dir, members(seed));
      assert.equal(direct.length, sealed.size);
      assert.ok(direct.equals(plain), `seed ${seed}: direct pack differs from the buffered one`);
    }
    // Tails that are a multiple of 4 KiB (written with O_DIRECT) and that are not.
    for (const n of [4096 - 1024 - 512, 8192 - 1024 - 512, 1000]) {
      const { plain, direct } = await writeBoth(dir, [randomBytes(n)]);
      assert.ok(direct.equals(plain), `one member of ${n} bytes`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a direct pack is sealed, indexed and read back whole; several packs in flight on one thread', async () => {
  await initHash();
  const dir = tmp();
  try {
    const w = new SyncPackWriter(join(dir, 'tmp'), 2 * BLOCK, undefined, true);
    const data = members(3);
    const finishing: ReturnType<SyncPackWriter['finishAsync']>[] = [];
    for (const d of data) {
      w.add(idOf(d), d, d.length, 0);
      // The next pack starts while the last one's writes are still in flight.
      if (w.size >= w.target) finishing.push(w.finishAsync());
    }
    finishing.push(w.finishAsync());
    const packs = (await Promise.all(finishing)).filter((x) => x !== undefined);
    assert.ok(packs.length >= 3);
    const seen = new Map<string, Buffer>();
    for (const p of packs) {
      const { packId } = await sealPack(join(dir, 'packs'), join(dir, 'tmp'), p.tmp, p.size, p.entries);
      const { pack, idx } = packPaths(join(dir, 'packs'), packId);
      const bytes = readFileSync(pack);
      for (const e of decodePackIndex(readFileSync(idx), packId)) seen.set(e.id, bytes.subarray(e.offset, e.offset + e.length));
    }
    for (const d of data) assert.ok(seen.get(idOf(d))?.equals(d), 'every member reads back from its sealed pack');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Whether descriptor `fd` of this process was opened with O_DIRECT (Linux: /proc/self/fdinfo). */
function isDirect(fd: number): boolean {
  const flags = /^flags:\s*([0-7]+)/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))?.[1];
  return flags !== undefined && (parseInt(flags, 8) & fs.constants.O_DIRECT) !== 0;
}

/** Replaces fs.write (as the store's modules see it) with `fake` while `body` runs: fault injection. */
async function withWrite(fake: (real: (...a: unknown[]) => void, args: unknown[]) => void, body: () => Promise<void>): Promise<void> {
  const real = fs.write as unknown as (...a: unknown[]) => void;
  (fs as { write: unknown }).write = (...args: unknown[]): void => fake(real, args);
  syncBuiltinESMExports();
  try {
    await body();
  } finally {
    (fs as { write: unknown }).write = real;
    syncBuiltinESMExports();
  }
}

test('where the file system refuses O_DIRECT writes (EINVAL), the bytes go buffered and are the same', async () => {
  const dir = tmp();
  let refused = 0;
  try {
    await withWrite(
      (real, args) => {
        // Fault injection: every write through the O_DIRECT descriptor fails as on a file system without it.
        if (isDirect(args[0] as number)) {
          refused++;
          const cb = args[args.length - 1] as (e: Error) => void;
          process.nextTick(cb, Object.assign(new Error('EINVAL: invalid argument, write'), { code: 'EINVAL' }));
          return;
        }
        real(...args);
      },
      async () => {
        const { plain, direct } = await writeBoth(dir, members(4));
        assert.ok(direct.equals(plain));
      },
    );
    assert.ok(refused > 0, 'the direct writes were refused');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a failed block write fails the pack: it is never handed over to be sealed, so no index names it', async () => {
  const dir = tmp();
  let calls = 0;
  // Fault injection: the third asynchronous write fails as a full disk would.
  const fake = (real: (...a: unknown[]) => void, args: unknown[]): void => {
    if (++calls === 3) {
      const cb = args[args.length - 1] as (e: Error) => void;
      process.nextTick(cb, Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }));
      return;
    }
    real(...args);
  };
  try {
    await withWrite(fake, async () => {
      const w = new SyncPackWriter(join(dir, 'tmp'), 1 << 40, undefined, true);
      let failedEarly = false;
      try {
        for (const d of members(5)) w.add(idOf(d), d, d.length, 0);
      } catch (e) {
        // A later append may already see the failure.
        failedEarly = (e as NodeJS.ErrnoException).code === 'ENOSPC';
      }
      if (!failedEarly) await assert.rejects(w.finishAsync(), /ENOSPC/);
      else w.abort();
    });
    assert.ok(calls >= 3, 'the fault was injected');
    // Nothing sealed: no pack and no index exist.
    assert.equal(existsSync(join(dir, 'packs')), false);
    for (const name of readdirSync(join(dir, 'tmp'))) assert.ok(statSync(join(dir, 'tmp', name)).isFile());
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
