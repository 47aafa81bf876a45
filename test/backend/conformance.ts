// One suite that every Backend must pass: the contract in src/backend/backend.ts.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import pLimit from 'p-limit';
import type { Backend } from '../../src/backend/backend.js';
import { isDvError, type ErrorCode } from '../../src/errors.js';

const MiB = 1024 * 1024;

export interface ConformanceTarget {
  backend: Backend;
  teardown(): Promise<void>;
}

/** Asserts that `p` rejects with a DvError of `code`, returning it. */
export async function rejectsWith(p: Promise<unknown>, code: ErrorCode): Promise<Record<string, unknown>> {
  let data: Record<string, unknown> = {};
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isDvError(e), `expected DvError ${code}, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.ok(!e.message.includes('\n'), 'messages are one line');
    data = e.data;
    return true;
  });
  return data;
}

/** Listing order is not part of the contract (s3rver walks directories): tests sort. */
export function sorted<T extends { key: string }>(entries: T[]): T[] {
  return [...entries].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

export async function collect(it: AsyncIterable<{ key: string; size: number }>): Promise<Array<{ key: string; size: number }>> {
  const out: Array<{ key: string; size: number }> = [];
  for await (const e of it) out.push(e);
  return out;
}

/** Registers the conformance suite for one backend; `make` runs once, before the tests. */
export function runConformance(name: string, make: () => Promise<ConformanceTarget>): void {
  describe(`Backend conformance: ${name}`, () => {
    let be: Backend;
    let target: ConformanceTarget;
    let dir: string;
    // Generated once and sliced, so large cases do not pay for randomness twice.
    const big = randomBytes(65 * MiB + 12_345);

    before(async () => {
      target = await make();
      be = target.backend;
      dir = await mkdtemp(path.join(tmpdir(), 'dv-conf-'));
    });
    after(async () => {
      await target?.teardown();
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    test('check() accepts an existing location', async () => {
      await be.check();
    });

    test('put/get round trip, byte for byte', async () => {
      for (const size of [1, 1000, 64 * 1024 + 7, MiB]) {
        const data = randomBytes(size);
        await be.put(`rt/${size}`, data);
        assert.ok((await be.get(`rt/${size}`)).equals(data), `size ${size}`);
        assert.deepEqual(await be.stat(`rt/${size}`), { size });
      }
    });

    test('put accepts a Uint8Array view into a larger buffer', async () => {
      const view = new Uint8Array(big.buffer, big.byteOffset + 10, 100);
      await be.put('view', view);
      assert.ok((await be.get('view')).equals(Buffer.from(view)));
    });

    test('empty object via put and putFile', async () => {
      await be.put('empty/a', new Uint8Array(0));
      assert.equal((await be.get('empty/a')).length, 0);
      assert.deepEqual(await be.stat('empty/a'), { size: 0 });
      const f = path.join(dir, 'empty');
      await writeFile(f, '');
      await be.putFile('empty/b', f);
      assert.equal((await be.get('empty/b')).length, 0);
      assert.deepEqual(sorted(await collect(be.list('empty/'))), [
        { key: 'empty/a', size: 0 },
        { key: 'empty/b', size: 0 },
      ]);
    });

    test('putFile of 20 MiB round trips', async () => {
      const data = big.subarray(0, 20 * MiB + 3);
      const f = path.join(dir, 'twenty');
      await writeFile(f, data);
      await be.putFile('large/20m', f);
      assert.ok((await be.get('large/20m')).equals(data));
      assert.deepEqual(await be.stat('large/20m'), { size: data.length });
    });

    test('putFile over 64 MiB (multipart on S3) round trips, ranges across parts', async () => {
      const f = path.join(dir, 'big');
      await writeFile(f, big);
      await be.putFile('large/65m', f);
      assert.deepEqual(await be.stat('large/65m'), { size: big.length });
      assert.ok((await be.get('large/65m')).equals(big));
      const at = 16 * MiB - 100;
      assert.ok((await be.getRange('large/65m', at, 300)).equals(big.subarray(at, at + 300)));
      await rm(f);
    });

    test('putFile stores a copy: the local file changed or removed afterwards leaves the stored value as it was', async () => {
      // Push copies whole packs with putFile: a hard link would make the remote and the store one
      // file, so damage to one would be damage to both.
      const data = randomBytes(300_000);
      const f = path.join(dir, 'copied');
      await writeFile(f, data);
      await be.putFile('copy/a', f);
      const fh = await open(f, 'r+');
      try {
        await fh.write(Buffer.from('overwritten'), 0, 11, 1000);
      } finally {
        await fh.close();
      }
      assert.ok((await be.get('copy/a')).equals(data), 'a write to the local file does not reach the stored value');
      await rm(f);
      assert.ok((await be.get('copy/a')).equals(data));
      assert.deepEqual(await be.stat('copy/a'), { size: data.length });
    });

    test('putFile round trips sizes on either side of the 4 KiB and MiB boundaries (a directory copies aligned blocks)', async () => {
      // The local backend writes 2 MiB blocks with O_DIRECT, four at once, and an unaligned tail
      // buffered: every size class of the last block, and more blocks than it has in flight.
      const sizes = [4095, 4096, 4097, MiB, 2 * MiB - 1, 2 * MiB, 2 * MiB + 1, 3 * MiB + 4096, 9 * MiB + 4095];
      await Promise.all(
        sizes.map(async (size) => {
          const data = big.subarray(size % 977, (size % 977) + size);
          const f = path.join(dir, `edge-${size}`);
          await writeFile(f, data);
          await be.putFile(`edge/${size}`, f);
          assert.ok((await be.get(`edge/${size}`)).equals(data), `size ${size}`);
          await rm(f);
        }),
      );
      assert.deepEqual(
        sorted(await collect(be.list('edge/'))),
        sorted(sizes.map((size) => ({ key: `edge/${size}`, size }))),
        'one value per key, nothing else listed',
      );
      // Removed again: the listing tests below count the keys (s3rver pages them in its own order).
      for (const size of sizes) await be.delete(`edge/${size}`);
    });

    test('putFile over an existing key replaces its value whole', async () => {
      const f = path.join(dir, 'replace');
      await writeFile(f, big.subarray(0, 2 * MiB + 10));
      await be.putFile('replace/k', f);
      await writeFile(f, big.subarray(5, 5 + MiB));
      await be.putFile('replace/k', f);
      assert.ok((await be.get('replace/k')).equals(big.subarray(5, 5 + MiB)));
      await rm(f);
      await be.delete('replace/k');
    });

    test('putFile of a missing local file is PATH_NOT_FOUND', async () => {
      await rejectsWith(be.putFile('x', path.join(dir, 'no-such-file')), 'PATH_NOT_FOUND');
    });

    test('getRange in the middle, at the end, empty, and out of range', async () => {
      const data = randomBytes(10_000);
      await be.put('range/obj', data);
      assert.ok((await be.getRange('range/obj', 1234, 4321)).equals(data.subarray(1234, 5555)));
      assert.ok((await be.getRange('range/obj', 9990, 10)).equals(data.subarray(9990)));
      assert.ok((await be.getRange('range/obj', 0, 10_000)).equals(data));
      assert.equal((await be.getRange('range/obj', 500, 0)).length, 0);
      const d = await rejectsWith(be.getRange('range/obj', 9995, 10), 'OBJECT_CORRUPT');
      assert.equal(d.size, 10_000);
      await rejectsWith(be.getRange('range/obj', 10_000, 1), 'OBJECT_CORRUPT');
      await rejectsWith(be.getRange('range/obj', 50_000, 10), 'OBJECT_CORRUPT');
      await rejectsWith(be.getRange('range/obj', -1, 10), 'USAGE');
      await rejectsWith(be.getRange('range/obj', 0, 1.5), 'USAGE');
      const m = await rejectsWith(be.getRange('range/missing', 0, 10), 'OBJECT_MISSING');
      assert.equal(m.key, 'range/missing');
    });

    test('getRange into a caller buffer (a SharedArrayBuffer view too) fills its start and returns a view of it', async () => {
      const data = randomBytes(300_000);
      await be.put('range/into', data);
      const ring = new SharedArrayBuffer(400_000);
      const into = Buffer.from(ring, 1000, 350_000);
      into.fill(7);
      const got = await be.getRange('range/into', 1234, 200_000, into);
      assert.ok(got.equals(data.subarray(1234, 201_234)));
      assert.equal(got.buffer, ring, 'the result is a view of the buffer given, not a copy');
      assert.equal(got.byteOffset, 1000);
      assert.ok(into.subarray(0, 200_000).equals(data.subarray(1234, 201_234)));
      assert.equal(into[200_000], 7, 'nothing past the range is written');
      const plain = Buffer.alloc(10_000);
      assert.ok((await be.getRange('range/into', 290_000, 10_000, plain)).equals(data.subarray(290_000)));
      await rejectsWith(be.getRange('range/into', 0, 10_001, plain), 'USAGE');
      await rejectsWith(be.getRange('range/into', 295_000, 10_000, plain), 'OBJECT_CORRUPT');
    });

    test('getRangeTo streams a range to a sink in order (a sink failure passes through as it is)', async () => {
      if (!be.getRangeTo) return;
      const data = randomBytes(5 * MiB + 1000);
      await be.put('range/stream', data);
      const got: Buffer[] = [];
      await be.getRangeTo('range/stream', 777, 5 * MiB, async (piece) => {
        // Each piece is valid only during the call: a copy is kept.
        got.push(Buffer.from(piece));
      });
      assert.ok(Buffer.concat(got).equals(data.subarray(777, 777 + 5 * MiB)));
      const oops = new Error('the sink is full');
      await assert.rejects(
        be.getRangeTo('range/stream', 0, 2 * MiB, () => {
          throw oops;
        }),
        (e: unknown) => e === oops,
      );
      await rejectsWith(
        be.getRangeTo('range/stream', data.length - 10, 11, () => undefined),
        'OBJECT_CORRUPT',
      );
      const m = await rejectsWith(
        be.getRangeTo('range/missing', 0, 10, () => undefined),
        'OBJECT_MISSING',
      );
      assert.equal(m.key, 'range/missing');
      await rejectsWith(
        be.getRangeTo('range/stream', -1, 10, () => undefined),
        'USAGE',
      );
    });

    test('list pages through 100 keys, sorted, with sizes', async () => {
      const keys = Array.from({ length: 100 }, (_, i) => `page/k${String(i).padStart(3, '0')}`);
      const limit = pLimit(16);
      await Promise.all(keys.map((k, i) => limit(() => be.put(k, Buffer.alloc(i % 13)))));
      const listed = sorted(await collect(be.list('page/')));
      assert.deepEqual(
        listed,
        keys.map((key, i) => ({ key, size: i % 13 })),
      );
    });

    test('list filters by prefix, including partial segments', async () => {
      for (const k of ['pf/aa/1', 'pf/aa/2', 'pf/ab', 'pf/b/x', 'pfx/1', 'pf-/1']) await be.put(k, Buffer.from(k));
      const keys = async (p: string) => sorted(await collect(be.list(p))).map((e) => e.key);
      assert.deepEqual(await keys('pf/a'), ['pf/aa/1', 'pf/aa/2', 'pf/ab']);
      assert.deepEqual(await keys('pf/aa/'), ['pf/aa/1', 'pf/aa/2']);
      assert.deepEqual(await keys('pf/'), ['pf/aa/1', 'pf/aa/2', 'pf/ab', 'pf/b/x']);
      assert.deepEqual(await keys('pf'), ['pf-/1', 'pf/aa/1', 'pf/aa/2', 'pf/ab', 'pf/b/x', 'pfx/1']);
      assert.deepEqual(await keys('pf/ab'), ['pf/ab']);
      assert.deepEqual(await keys('nothing/'), []);
      const all = await keys('');
      assert.ok(all.includes('pfx/1') && all.includes('pf/b/x'));
      assert.equal(new Set(all).size, all.length, 'no key is listed twice');
    });

    test('stat of existing and missing keys', async () => {
      await be.put('stat/x', Buffer.from('hello'));
      assert.deepEqual(await be.stat('stat/x'), { size: 5 });
      assert.equal(await be.stat('stat/missing'), undefined);
      assert.equal(await be.stat('no-such-dir/missing'), undefined);
    });

    test('get of a missing key is OBJECT_MISSING naming the key', async () => {
      const d = await rejectsWith(be.get('missing/key'), 'OBJECT_MISSING');
      assert.equal(d.key, 'missing/key');
    });

    test('delete removes; deleting a missing key succeeds', async () => {
      await be.put('del/x', Buffer.from('x'));
      await be.delete('del/x');
      await rejectsWith(be.get('del/x'), 'OBJECT_MISSING');
      assert.equal(await be.stat('del/x'), undefined);
      assert.deepEqual(await collect(be.list('del/')), []);
      await be.delete('del/x');
      await be.delete('never/was');
    });

    test('sweepLeftovers, where there is one, never removes a key, whatever the age it is given', async () => {
      if (!be.sweepLeftovers) return;
      await be.put('sweep/a', Buffer.from('a'));
      const f = path.join(dir, 'sweep-b');
      await writeFile(f, randomBytes(10_000));
      await be.putFile('sweep/b', f);
      const keys = await collect(be.list(''));
      assert.deepEqual(await be.sweepLeftovers(0, true), { files: 0, bytes: 0 });
      assert.deepEqual(await be.sweepLeftovers(0, false), { files: 0, bytes: 0 });
      assert.deepEqual(await collect(be.list('')), keys);
      assert.ok((await be.get('sweep/a')).equals(Buffer.from('a')));
    });

    test('invalid keys and prefixes are USAGE errors', async () => {
      for (const key of ['../x', '/abs', 'a//b', '', 'a/', './a', 'a/../b', 'a\\b', 'sp ace', 'a\0b', 'x~y']) {
        await rejectsWith(be.put(key, Buffer.from('x')), 'USAGE');
        await rejectsWith(be.putFile(key, __filename()), 'USAGE');
        await rejectsWith(be.get(key), 'USAGE');
        await rejectsWith(be.getRange(key, 0, 1), 'USAGE');
        await rejectsWith(be.stat(key), 'USAGE');
        await rejectsWith(be.delete(key), 'USAGE');
      }
      for (const prefix of ['../', '/x', 'a//', './', 'a/../b']) await rejectsWith(collect(be.list(prefix)), 'USAGE');
    });

    test('overwrite with the same bytes is harmless, with new bytes replaces', async () => {
      const a = randomBytes(3000);
      await be.put('ow/x', a);
      await be.put('ow/x', a);
      assert.ok((await be.get('ow/x')).equals(a));
      const b = randomBytes(100);
      await be.put('ow/x', b);
      assert.ok((await be.get('ow/x')).equals(b));
      assert.deepEqual(await collect(be.list('ow/')), [{ key: 'ow/x', size: 100 }]);
    });

    test('concurrent writers of the same key leave one whole value', async () => {
      const a = randomBytes(256 * 1024);
      await Promise.all(Array.from({ length: 8 }, () => be.put('race/x', a)));
      assert.ok((await be.get('race/x')).equals(a));
      assert.deepEqual(await collect(be.list('race/')), [{ key: 'race/x', size: a.length }]);
    });
  });
}

function __filename(): string {
  return new URL(import.meta.url).pathname;
}
