/**
 * Memory that goes back to the system (core/mapped.ts): small asks stay plain, large ones are
 * mapped apart.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAPPED_BYTES, MAPPED_MIN, mappedArrayBuffer, mappedUint32 } from '../../src/core/mapped.js';

test('mapped buffers: small ones are what was asked, large ones reserve a mapping of their own, all zeroed', () => {
  assert.equal(mappedArrayBuffer(4096).byteLength, 4096);
  assert.equal(mappedArrayBuffer(MAPPED_MIN).byteLength, MAPPED_BYTES);
  const big = mappedUint32(MAPPED_MIN); // 4 MiB of elements: its own mapping
  assert.equal(big.length, MAPPED_MIN);
  assert.ok(big.buffer.byteLength >= MAPPED_BYTES);
  assert.ok(big.every((x) => x === 0));
});
