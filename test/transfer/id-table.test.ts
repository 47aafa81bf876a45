import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { IdList, IdTable } from '../../src/transfer/id-table.js';
import { PushPlan } from '../../src/transfer/push-plan.js';

test('IdTable holds exactly the ids added, through growth, and ids sharing their first bytes stay apart', () => {
  const t = new IdTable();
  const ids = Array.from({ length: 5000 }, () => randomBytes(32).toString('hex'));
  // Same first 4 bytes (same home slot), different rest: probing must compare all 32 bytes.
  const twin = `${ids[0].slice(0, 8)}${'0'.repeat(56)}`;
  for (const id of ids) t.add(id);
  t.add(ids[0]); // again: counted once
  assert.equal(t.size, 5000);
  for (const id of ids) assert.equal(t.has(id), true);
  assert.equal(t.has(twin), false);
  t.add(twin);
  assert.equal(t.has(twin), true);
  for (let k = 0; k < 2000; k++) assert.equal(t.has(randomBytes(32).toString('hex')), false);
  assert.equal(t.has('not an id'), false);
  assert.equal(t.has(ids[1].toUpperCase()), false); // ids are lowercase hex
});

test('IdList keeps ids and tags in order across pages, and refuses an index beyond its end', () => {
  const l = new IdList();
  const ids = Array.from({ length: 70_000 }, (_, k) => createHash('sha256').update(String(k)).digest('hex'));
  ids.forEach((id, k) => {
    l.pushBytes(Buffer.from(id, 'hex'), 0, k * 3);
  });
  assert.equal(l.length, ids.length);
  for (const k of [0, 1, 65_535, 65_536, 65_537, 69_999]) {
    assert.equal(l.id(k), ids[k]);
    assert.equal(l.tag(k), k * 3);
  }
  l.setTag(65_536, 7);
  assert.equal(l.tag(65_536), 7);
  assert.equal(l.tag(65_535), 65_535 * 3);
  assert.throws(() => l.id(70_000), RangeError);
  assert.throws(() => l.tag(-1), RangeError);
});

test('PushPlan plans what a Set-based plan would: each missing id once, in first-seen order, data and meta apart', () => {
  const pool = Array.from({ length: 3000 }, () => randomBytes(32).toString('hex'));
  // Ids sharing their first four bytes (one home slot) stay apart; 3,000 ids grow the table past its first 1,024 slots.
  for (let k = 0; k < 20; k++) pool.push(`${pool[0].slice(0, 8)}${randomBytes(28).toString('hex')}`);
  const onRemote = new Set(pool.filter((_, k) => k % 3 === 0));
  const isMeta = (id: string): boolean => id.charCodeAt(0) % 4 === 0;
  // Batches with repeats inside and across them, as slices of a walk naming shared chunks.
  const batches = Array.from({ length: 40 }, () => Array.from({ length: 200 }, () => pool[Math.floor(Math.random() * pool.length)]));
  const plan = new PushPlan((id) => onRemote.has(id));
  const seen = new Set<string>();
  const data: string[] = [];
  const meta: string[] = [];
  let there = 0;
  for (const b of batches) {
    plan.add(b, isMeta);
    for (const id of b) {
      if (seen.has(id)) continue;
      if (onRemote.has(id)) {
        there++;
        continue;
      }
      seen.add(id);
      (isMeta(id) ? meta : data).push(id);
    }
  }
  const list = (l: IdList): string[] => Array.from({ length: l.length }, (_, k) => l.id(k));
  assert.deepEqual(list(plan.data), data);
  assert.deepEqual(list(plan.meta), meta);
  assert.equal(plan.alreadyThere, there);
  assert.equal(plan.size, seen.size);
  assert.deepEqual([...plan.ids()], [...data, ...meta]);
  for (const id of pool) assert.equal(plan.has(id), seen.has(id));
  assert.throws(() => plan.add(['not an id'], false), /not an object id/);
});
