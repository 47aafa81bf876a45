/**
 * Memory that goes back to the system (core/mapped.ts): small asks stay plain, large ones are
 * mapped apart, and an arena hands back exact copies of what it keeps.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { MAPPED_BYTES, MAPPED_MIN, MappedArena, mappedArrayBuffer, mappedUint32 } from '../../src/core/mapped.js';

test('mapped buffers: small ones are what was asked, large ones reserve a mapping of their own, all zeroed', () => {
  assert.equal(mappedArrayBuffer(4096).byteLength, 4096);
  assert.equal(mappedArrayBuffer(MAPPED_MIN).byteLength, MAPPED_BYTES);
  const big = mappedUint32(MAPPED_MIN); // 4 MiB of elements: its own mapping
  assert.equal(big.length, MAPPED_MIN);
  assert.ok(big.buffer.byteLength >= MAPPED_BYTES);
  assert.ok(big.every((x) => x === 0));
});

test('MappedArena: keeps exact copies across chunks, the first megabyte as given', () => {
  const arena = new MappedArena();
  const small = randomBytes(1000);
  assert.equal(arena.keep(small), small, 'below a megabyte kept, nothing is copied');
  const parts = Array.from({ length: 200 }, (_, k) => randomBytes(100_000 + k));
  const kept = parts.map((p) => arena.keep(p));
  parts.forEach((p, k) => {
    // Past the first megabyte, copies in the arena's own memory.
    if (k >= 20) assert.notEqual(kept[k].buffer, p.buffer);
    assert.ok(kept[k].equals(p), `part ${k} differs`);
  });
  assert.ok(kept[199].buffer.byteLength >= MAPPED_BYTES);
  // One larger than a quarter chunk gets its own mapping.
  const large = randomBytes(MAPPED_BYTES / 4 + 1);
  const copy = arena.keep(large);
  assert.ok(copy.equals(large));
  assert.ok(
    parts.every((p, k) => kept[k].equals(p)),
    'later keeps overwrite nothing kept before',
  );
});
