/** The optional `source:` line of an imported path's pointer file (core/pointer.ts): round trip, old pointers unchanged, bad values refused. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodePointer, encodePointer, type Pointer } from '../../src/core/pointer.js';
import { DvError } from '../../src/errors.js';

const base: Pointer = { path: 'labels', kind: 'dir', snapshot: 'a'.repeat(64), tree: 'b'.repeat(64), size: 10, files: 2 };
const source = { url: 'https://example.com/d.git', rev: 'v1', commit: 'c'.repeat(40), path: 'data/labels', snapshot: 'd'.repeat(64) };

test('a pointer without source encodes as before and decodes without one', () => {
  const text = encodePointer(base);
  assert.ok(!text.includes('source'));
  assert.equal(text.split('\n').length, 9, 'the eight lines (and the final newline) older dv writes');
  assert.deepEqual(decodePointer(text, 'labels.dv'), base);
});

test('source round-trips; rev and snapshot are optional', () => {
  const withSource = { ...base, source };
  const text = encodePointer(withSource);
  assert.match(text, /^source: \{"url":"https:\/\/example\.com\/d\.git",/m);
  assert.deepEqual(decodePointer(text, 'labels.dv'), withSource);
  const bare = { ...base, source: { url: '../up', commit: 'e'.repeat(40), path: 'x' } };
  assert.deepEqual(decodePointer(encodePointer(bare), 'labels.dv'), bare);
});

test('a malformed source is BAD_POINTER naming the file', () => {
  const text = encodePointer(base);
  for (const line of [
    'source: [1]',
    'source: {"url":"u","commit":"nothex","path":"p"}',
    'source: {"url":"u","commit":"' + 'c'.repeat(40) + '"}',
    'source: {"url":"u\\nx","commit":"' + 'c'.repeat(40) + '","path":"p"}',
    'source: {"url":"u","commit":"' + 'c'.repeat(40) + '","path":"p","snapshot":"zz"}',
    'source: not json',
  ]) {
    assert.throws(
      () => decodePointer(text + line + '\n', 'labels.dv'),
      (e: unknown) => e instanceof DvError && e.code === 'BAD_POINTER' && e.message.startsWith('labels.dv: '),
      line,
    );
  }
});
