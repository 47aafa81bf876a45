/**
 * The declared-size ledger keeps its records off the JS heap (core/claim-table.ts): it must answer
 * exactly as the Map of claims did, across table growth and pages, for ids sharing their first
 * bytes, for ids that are no hex id, and name who made each claim in its refusals.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { ClaimTable } from '../../src/core/claim-table.js';
import { DeclaredLedger } from '../../src/core/declared.js';
import { DvError } from '../../src/errors.js';
import type { Tree } from '../../src/core/tree.js';

const idOf = (k: number): string => createHash('sha256').update(`id ${k}`).digest('hex');

const refused = (f: () => unknown, why: RegExp): void => {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof DvError && e.code === 'BAD_OBJECT', String(e));
    assert.match((e as Error).message, why);
    return true;
  });
};

test('ClaimTable: one record per id through growth and pages; twins of the same first bytes and odd ids stay apart', () => {
  const t = new ClaimTable();
  // Past the 64 Ki records of the small pages: into the first large (mapped) page.
  const n = 70_000;
  for (let k = 0; k < n; k++) assert.equal(t.add(idOf(k)), k);
  // Same first 4 bytes (same home slot), different rest.
  const twin = `${idOf(0).slice(0, 8)}${'0'.repeat(56)}`;
  assert.equal(t.find(twin), -1);
  assert.equal(t.add(twin), n);
  assert.equal(t.add('not an id'), n + 1);
  assert.equal(t.add(idOf(0).toUpperCase()), n + 2, 'an uppercase id is another string, as it was in a Map');
  for (let k = 0; k < n; k += 97) assert.equal(t.find(idOf(k)), k);
  assert.equal(t.find(twin), n);
  assert.equal(t.find('not an id'), n + 1);
  assert.equal(t.find(idOf(n + 5)), -1);
  assert.equal(t.size, n + 3);

  t.setClaim(7, { size: 2 ** 50 + 3, files: 12, level: 3 }, `tree ${idOf(1).slice(0, 12)}`);
  t.setClaim(n + 1, { size: 5 }, 'the paths asked for');
  t.setClaim(9_000, { size: 0 }, 'tree tttttttttttt');
  t.setClaim(69_999, { size: 42, files: 2 }, `snapshot ${idOf(3).slice(0, 12)}`);
  assert.equal(t.id(69_999), idOf(69_999));
  assert.equal(t.claimedSize(69_999), 42);
  assert.equal(t.files(69_999), 2);
  assert.equal(t.by(69_999), `snapshot ${idOf(3).slice(0, 12)}`);
  assert.equal(t.id(n + 1), 'not an id');
  assert.equal(t.claimedSize(7), 2 ** 50 + 3);
  assert.equal(t.files(7), 12);
  assert.equal(t.level(7), 3);
  assert.equal(t.by(7), `tree ${idOf(1).slice(0, 12)}`);
  assert.equal(t.files(n + 1), undefined);
  assert.equal(t.level(n + 1), undefined);
  assert.equal(t.by(n + 1), 'the paths asked for');
  assert.equal(t.by(9_000), 'tree tttttttttttt');
  t.setFlags(7, 5);
  assert.equal(t.flags(7), 5);
  assert.equal(t.flags(8), 0);
});

test('DeclaredLedger: a second, different claim is refused after thousands of others, naming both claimants', () => {
  const ledger = new DeclaredLedger();
  const n = 10_000;
  const dir = (k: number): Tree => ({
    entries: [{ type: 'file', name: `f${k}`, size: 100 + k, id: idOf(k), chunked: false, exec: false }],
  });
  for (let k = 0; k < n; k++) ledger.tree(idOf(1e6 + k), dir(k));
  for (let k = 0; k < n; k++) assert.equal(ledger.claimed(idOf(k)), 100 + k);
  // The same claim again is fine; a different one is a lie, whoever makes it.
  ledger.claim(idOf(5), 'chunk', { size: 105 }, `tree ${idOf(2e6).slice(0, 12)}`);
  refused(
    () => ledger.claim(idOf(5), 'chunk', { size: 999 }, `file manifest ${idOf(3e6).slice(0, 12)}`),
    new RegExp(`file manifest ${idOf(3e6).slice(0, 12)} says 999 bytes, tree ${idOf(1e6 + 5).slice(0, 12)} says 105 bytes`),
  );
  // A chunk is held to its claim (a verified size, or an index entry), and unclaimed ones are free.
  ledger.chunk(idOf(9_999), 10_099);
  refused(() => ledger.chunk(idOf(9_998), 10_099), /says 10098 bytes, it holds 10099/);
  ledger.chunk(idOf(n + 1), 1);
  assert.equal(ledger.claimed(idOf(n + 1)), undefined);
});

test('DeclaredLedger: a subtree checked once still holds a later, lying claim to its size and file count', () => {
  const ledger = new DeclaredLedger();
  const leaf: Tree = { entries: [{ type: 'file', name: 'a', size: 10, id: idOf(1), chunked: false, exec: false }] };
  const sub = idOf(2);
  ledger.claim(sub, 'tree', { size: 10, files: 1 }, 'snapshot aaaaaaaaaaaa');
  ledger.tree(sub, leaf);
  ledger.tree(sub, leaf); // seen: memoised
  const parent = (size: number, files: number): Tree => ({ entries: [{ type: 'dir', name: 'd', size, id: sub, files }] });
  ledger.tree(idOf(3), parent(10, 1));
  refused(() => ledger.tree(idOf(4), parent(10, 2)), /says 10 bytes in 2 files, snapshot aaaaaaaaaaaa says 10 bytes in 1 files/);
  refused(() => ledger.tree(idOf(5), parent(11, 1)), /does not match its declared size/);
  // The root of a walk, checked without a claim, is recorded as the root's.
  ledger.tree(idOf(6), leaf);
  refused(
    () => ledger.claim(idOf(6), 'tree', { size: 11 }, 'the paths asked for'),
    /the paths asked for says 11 bytes, the root says 10 bytes/,
  );
});

test('DeclaredLedger: manifest levels are held to their claims; each id has one record number, visited once', () => {
  const ledger = new DeclaredLedger();
  const top = idOf(10);
  ledger.manifest(top, { level: 2, children: [{ id: idOf(11), size: 5 }] });
  assert.equal(ledger.claimed(idOf(11)), 5);
  refused(
    () => ledger.manifest(idOf(11), { level: 0, children: [{ id: idOf(12), size: 5 }] }),
    /it is level 0, file manifest .* expects level 1/,
  );
  refused(() => ledger.claim(idOf(11), 'manifest', { size: 5, level: 4 }, 'tree bbbbbbbbbbbb'), /give it different levels/);
  // A walk's wants are record numbers: each id has one, and gives it back.
  const ref = ledger.ref(top);
  assert.equal(ledger.ref(top), ref);
  assert.equal(ledger.id(ref), top);
  assert.equal(ledger.claimed(ledger.ref(idOf(11))), 5);
  assert.equal(ledger.visit(ref), true);
  assert.equal(ledger.visit(ref), false);
  const fresh = ledger.ref(idOf(99));
  assert.equal(ledger.visit(fresh), true, 'an id nothing claimed can be visited');
  assert.equal(ledger.visit(fresh), false);
  assert.equal(ledger.claimed(idOf(99)), undefined, 'a visit is no claim');
  const odd = ledger.ref('not an id');
  assert.equal(ledger.id(odd), 'not an id');
  assert.equal(ledger.visit(odd), true);
  assert.equal(ledger.visit(odd), false);
});
