import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DvError } from '../../src/errors.js';
import { initHash, blake3Hex } from '../../src/core/hash.js';
import { encodeTree, decodeTree, badEntryName, sortEntries, type TreeEntry } from '../../src/core/tree.js';
import { encodeSnapshot, decodeSnapshot, type Snapshot } from '../../src/core/snapshot.js';
import { encodePointer, decodePointer, type Pointer } from '../../src/core/pointer.js';
import { encodeManifest, decodeManifest, ManifestBuilder } from '../../src/core/manifest.js';
import { encodePackIndex, decodePackIndex, MAX_OBJECT_BYTES } from '../../src/store/pack-index.js';

const hex64 = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('hex'));
const name = fc.string({ minLength: 1, maxLength: 40, unit: 'binary' }).filter((n) => !badEntryName(n));
const size = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });

const entry: fc.Arbitrary<TreeEntry> = fc.oneof(
  fc.record({ type: fc.constant('file' as const), name, size, id: hex64, chunked: fc.boolean(), exec: fc.boolean() }),
  fc.record({ type: fc.constant('dir' as const), name, size, id: hex64, files: fc.nat() }),
  fc.record({
    type: fc.constant('link' as const),
    name,
    target: fc.string({ minLength: 1, maxLength: 30 }).filter((t) => !t.includes('\0')),
  }),
);

const uniqueEntries = fc.uniqueArray(entry, { selector: (e) => e.name, maxLength: 30 }).map((es) => sortEntries(es.map((e) => ({ ...e }))));

/** Decoding arbitrary bytes either succeeds or throws a DvError, never anything else. */
function onlyTypedErrors(decode: (b: Buffer) => unknown): (b: Uint8Array) => void {
  return (b) => {
    try {
      decode(Buffer.from(b));
    } catch (e) {
      assert.ok(e instanceof DvError, `untyped error: ${(e as Error).stack}`);
    }
  };
}

function mutate(buf: Buffer, pos: number, byte: number): Buffer {
  const b = Buffer.from(buf);
  if (b.length > 0) b[pos % b.length] = byte;
  return b;
}

test('tree: encode/decode round trip; decode of mutations never crashes', () => {
  fc.assert(
    fc.property(uniqueEntries, (entries) => {
      const enc = encodeTree({ entries });
      assert.deepEqual(decodeTree(enc).entries, entries);
      assert.ok(enc.equals(encodeTree(decodeTree(enc))));
    }),
    { numRuns: 200 },
  );
  fc.assert(
    fc.property(uniqueEntries, fc.nat(), fc.integer({ min: 0, max: 255 }), (entries, pos, byte) => {
      onlyTypedErrors((b) => decodeTree(b))(mutate(encodeTree({ entries }), pos, byte));
    }),
    { numRuns: 300 },
  );
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 300 }),
      onlyTypedErrors((b) => decodeTree(b)),
    ),
    { numRuns: 300 },
  );
});

test('tree: unsafe names are refused when decoding', () => {
  const id = 'a'.repeat(64);
  for (const bad of ['..', '.', 'a/b', '/abs', 'x\0y', '', 'a\\b']) {
    const text = `dvtree 1\n${JSON.stringify(['f', bad, 1, id, 0])}\n`;
    assert.throws(
      () => decodeTree(Buffer.from(text)),
      (e: unknown) => e instanceof DvError && (e.code === 'UNSAFE_PATH' || e.code === 'BAD_OBJECT'),
      `name ${JSON.stringify(bad)}`,
    );
  }
  assert.throws(
    () => decodeTree(Buffer.from(`dvtree 1\n${JSON.stringify(['f', 'b', 1, id, 0])}\n${JSON.stringify(['f', 'a', 1, id, 0])}\n`)),
    /out of order/,
  );
  assert.throws(() => decodeTree(Buffer.from(`dvtree 1\n${JSON.stringify(['f', 'a', -1, id, 0])}\n`)), DvError);
});

const snapshot: fc.Arbitrary<Snapshot> = fc.record({
  path: fc.string({ minLength: 1 }),
  kind: fc.constantFrom('dir' as const, 'file' as const),
  tree: hex64,
  parents: fc.array(hex64, { maxLength: 2 }),
  message: fc.string(),
  author: fc.string(),
  time: fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
  size: fc.nat(),
  files: fc.nat(),
  lineage: fc.record({
    git: fc.option(fc.record({ commit: fc.option(fc.string()), branch: fc.option(fc.string()), dirty: fc.boolean() }), { nil: null }),
    dv: fc.string(),
    meta: fc.dictionary(
      fc.string({ minLength: 1 }).filter((k) => k !== '__proto__'),
      fc.string(),
    ),
  }),
});

test('snapshot: canonical encoding round trips; garbage gives typed errors', () => {
  fc.assert(
    fc.property(snapshot, (s) => {
      const enc = encodeSnapshot(s);
      const dec = decodeSnapshot(enc);
      assert.ok(encodeSnapshot(dec).equals(enc));
    }),
    { numRuns: 200 },
  );
  fc.assert(
    fc.property(snapshot, fc.nat(), fc.integer({ min: 0, max: 255 }), (s, pos, byte) => {
      onlyTypedErrors((b) => decodeSnapshot(b))(mutate(encodeSnapshot(s), pos, byte));
    }),
    { numRuns: 300 },
  );
});

test('pointer: round trip, and malformed or truncated pointers give BAD_POINTER naming the file', () => {
  const p: Pointer = { path: 'my data', kind: 'dir', snapshot: 'a'.repeat(64), tree: 'b'.repeat(64), size: 10, files: 2 };
  const text = encodePointer(p);
  assert.deepEqual(decodePointer(text, 'x.dv'), p);
  for (let cut = 0; cut < text.length - 1; cut += 7) {
    try {
      decodePointer(text.slice(0, cut), 'data.dv');
    } catch (e) {
      assert.ok(e instanceof DvError && e.code === 'BAD_POINTER' && e.message.includes('data.dv'));
    }
  }
  assert.throws(() => decodePointer(text.replace('"my data"', '"../etc"'), 'p.dv'), /unsafe path/);
  assert.throws(() => decodePointer(text.replace('a'.repeat(64), 'xyz'), 'p.dv'), /snapshot is not a valid id/);
  fc.assert(
    fc.property(fc.string({ maxLength: 400 }), (s) => {
      try {
        decodePointer(s, 'f.dv');
      } catch (e) {
        assert.ok(e instanceof DvError && e.code === 'BAD_POINTER');
      }
    }),
    { numRuns: 300 },
  );
});

test('manifest: round trip, builder produces one root, mutations give typed errors', async () => {
  await initHash();
  const children = Array.from({ length: 3000 }, (_, i) => ({ id: blake3Hex(Buffer.from(String(i))), size: 1000 + i }));
  const nodes = new Map<string, Buffer>();
  const b = new ManifestBuilder((bytes) => {
    const id = blake3Hex(bytes);
    nodes.set(id, bytes);
    return id;
  });
  for (const c of children) b.add(c.id, c.size);
  const root = b.finish();
  assert.equal(root.chunked, true);
  // Walking the tree from the root yields the chunks in order.
  const flat: { id: string; size: number }[] = [];
  const walk = (id: string): void => {
    const n = decodeManifest(nodes.get(id)!, id);
    for (const c of n.children) n.level > 0 ? walk(c.id) : flat.push(c);
  };
  walk(root.id);
  assert.deepEqual(flat, children);
  const one = new ManifestBuilder(() => {
    throw new Error('no node for one chunk');
  });
  one.add(children[0].id, 5);
  assert.deepEqual(one.finish(), { id: children[0].id, chunked: false });
  const enc = encodeManifest({ level: 0, children: children.slice(0, 10) });
  fc.assert(
    fc.property(fc.nat(), fc.integer({ min: 0, max: 255 }), (pos, byte) =>
      onlyTypedErrors((x) => decodeManifest(x))(mutate(enc, pos, byte)),
    ),
    { numRuns: 300 },
  );
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 200 }),
      onlyTypedErrors((x) => decodeManifest(x)),
    ),
    { numRuns: 200 },
  );
});

test('pack index: round trip sorted by id; garbage gives typed errors', () => {
  fc.assert(
    fc.property(
      fc.uniqueArray(
        fc.record({
          id: hex64,
          offset: fc.integer({ min: 0, max: 2 ** 40 }),
          length: fc.nat({ max: MAX_OBJECT_BYTES }),
          rawSize: fc.nat({ max: MAX_OBJECT_BYTES }),
          flags: fc.constantFrom(0, 1),
        }),
        { selector: (e) => e.id, maxLength: 50 },
      ),
      (entries) => {
        const dec = decodePackIndex(encodePackIndex(entries));
        assert.deepEqual(
          dec,
          entries.map((e) => ({ ...e })).sort((a, b) => (a.id < b.id ? -1 : 1)),
        );
      },
    ),
    { numRuns: 100 },
  );
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 300 }),
      onlyTypedErrors((b) => decodePackIndex(b)),
    ),
    { numRuns: 300 },
  );
  // An entry claiming more than any object dv writes is damage, refused before anything reads it.
  const huge = encodePackIndex([{ id: 'a'.repeat(64), offset: 512, length: MAX_OBJECT_BYTES + 1, rawSize: 10, flags: 0 }]);
  assert.throws(
    () => decodePackIndex(huge),
    (e: unknown) => e instanceof DvError && e.code === 'BAD_OBJECT',
  );
});
