import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { IdTable } from '../../src/transfer/id-table.js';

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
