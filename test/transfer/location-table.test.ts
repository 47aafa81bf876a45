/**
 * The off-heap location table of a remote index answers as the Map of locations it replaced:
 * the first pack listing an id gives its preferred copy, later ones its alternates in order, a
 * forgotten id is gone (and the table still finds the ids probed past it), and a frame's members
 * are every framed row of that pack at that offset.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { FLAG_FRAME } from '../../src/store/codec.js';
import { encodePackIndex, decodePackIndex, locationIn, type ObjectLocation, type PackEntry } from '../../src/store/pack-index.js';
import { LocationTable } from '../../src/transfer/location-table.js';
import { tempDir } from '../helpers/cli.js';

const hex = (): string => randomBytes(32).toString('hex');

function pack(ids: string[], framed: boolean): PackEntry[] {
  let offset = 0;
  return ids.map((id, k) => {
    if (framed && k % 3 !== 2) {
      // Three objects to a frame at the same offset.
      const frameAt = Math.floor(k / 3) * 1000;
      return { id, offset: frameAt, length: 900, rawSize: 100 + k, flags: FLAG_FRAME, inner: (k % 3) * 200 };
    }
    offset += 5000;
    return { id, offset: 1_000_000 + offset, length: 4000, rawSize: 4096, flags: k % 2 };
  });
}

test('answers as a Map of first copies plus alternates, across growth, duplicates and deletions', () => {
  const table = new LocationTable();
  const first = new Map<string, ObjectLocation>();
  const alt = new Map<string, ObjectLocation[]>();
  const all: string[] = [];
  for (let p = 0; p < 12; p++) {
    // Some ids of earlier packs again (a re-push): they become alternates.
    const ids = Array.from({ length: 700 }, () => hex());
    for (let k = 0; k < 40 && all.length > 0; k++) ids.push(all[(p * 97 + k * 31) % all.length]);
    const entries = pack(ids, p % 2 === 0);
    const bytes = encodePackIndex(entries);
    const packId = hex();
    const decoded = decodePackIndex(bytes, packId);
    table.addPack(packId, bytes);
    for (const e of decoded) {
      const loc = locationIn(packId, e);
      if (!first.has(e.id)) first.set(e.id, loc);
      else alt.set(e.id, [...(alt.get(e.id) ?? []), loc]);
    }
    all.push(...ids.slice(0, 700));
  }
  assert.equal(table.size, first.size);
  for (const id of first.keys()) assert.deepEqual(table.copies(id), [first.get(id), ...(alt.get(id) ?? [])]);
  assert.deepEqual(new Set(table.keys()), new Set(first.keys()));
  assert.equal(table.get(hex()), undefined);
  assert.equal(table.has('not an id'), false);

  const forgotten = all.filter((_, k) => k % 5 === 0);
  for (const id of forgotten) table.delete(id);
  for (const id of forgotten) assert.equal(table.has(id), false);
  for (const id of all.filter((_, k) => k % 5 !== 0)) assert.deepEqual(table.get(id), first.get(id));
  assert.equal(table.size, first.size - forgotten.length);
  // Growth after deletions drops the tombstones and keeps every live id.
  const more = Array.from({ length: 9000 }, () => hex());
  table.addPack(hex(), encodePackIndex(pack(more, false)));
  for (const id of more) assert.equal(table.has(id), true);
  for (const id of all.filter((_, k) => k % 5 !== 0)) assert.deepEqual(table.get(id), first.get(id));
});

test('frame members: every framed row of the pack at that offset, none of another frame or pack', () => {
  const table = new LocationTable();
  const ids = Array.from({ length: 30 }, () => hex());
  const entries = pack(ids, true);
  const packId = hex();
  table.addPack(packId, encodePackIndex(entries));
  table.addPack(
    hex(),
    encodePackIndex(
      pack(
        Array.from({ length: 30 }, () => hex()),
        true,
      ),
    ),
  );
  const want = (offset: number): string[] =>
    entries
      .filter((e) => e.flags === FLAG_FRAME && e.offset === offset)
      .map((e) => e.id)
      .sort();
  for (const offset of [0, 3000, 9000]) {
    const got = table.frameMembers(packId, offset);
    assert.deepEqual(got.map((m) => m.id).sort(), want(offset));
    for (const m of got) {
      const e = entries.find((x) => x.id === m.id)!;
      assert.equal(m.rawSize, e.rawSize);
      assert.equal(m.inner, e.inner);
    }
  }
  assert.deepEqual(table.frameMembers(packId, 1), []);
  assert.deepEqual(table.frameMembers(hex(), 0), []);
});

test('rows live in a spill file nobody else sees: none is left in its directory; the order added, not kept, picks the preferred copy', () => {
  const dir = tempDir('dv-location-spill-');
  const table = new LocationTable(dir);
  const shared = Array.from({ length: 50 }, () => hex());
  const [a, b] = [hex(), hex()];
  // b's rows are kept first (its download ended first) but a is added first (listed first).
  const keptB = table.keep(b, encodePackIndex(pack([...shared, hex()], false)));
  const keptA = table.keep(a, encodePackIndex(pack([...shared, hex()], true)));
  assert.deepEqual(readdirSync(dir), [], 'the spill file is unlinked at once');
  table.reserve(keptA.rows + keptB.rows);
  table.add(a, keptA);
  table.add(b, keptB);
  for (const id of shared)
    assert.deepEqual(
      table.copies(id).map((c) => c.pack),
      [a, b],
    );
  assert.equal(table.size, shared.length + 2);
  assert.equal(new Set(table.keys()).size, shared.length + 2);
});

test('lookups read rows back by blocks: exact in pack order, at random past the blocks held, and as later packs fill a block', () => {
  const table = new LocationTable();
  const want = new Map<string, ObjectLocation>();
  const addPack = (n: number): string[] => {
    const ids = Array.from({ length: n }, () => hex());
    const packId = hex();
    const bytes = encodePackIndex(pack(ids, false));
    table.addPack(packId, bytes);
    for (const e of decodePackIndex(bytes, packId)) want.set(e.id, locationIn(packId, e));
    return ids;
  };
  // 30 rows: a block not yet full is read row by row; the next pack fills it and it is read whole.
  const few = addPack(30);
  for (const id of few) assert.deepEqual(table.get(id), want.get(id));
  const ids = [...few, ...addPack(25_000)];
  for (const id of few) assert.deepEqual(table.get(id), want.get(id));
  // In pack order (a large file's chunks), then at random over more rows than the blocks held.
  for (const id of ids) assert.deepEqual(table.get(id), want.get(id));
  for (let k = 0; k < 20_000; k++) {
    const id = ids[(k * 7919) % ids.length];
    assert.deepEqual(table.get(id), want.get(id));
  }
  assert.deepEqual(new Set(table.keys()), new Set(want.keys()));
  assert.equal(table.get(hex()), undefined);
});
