/** core/csv.ts: RFC 4180 rows (quotes, `""`, separators and line breaks inside quotes, CRLF, blank lines) and its caps. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { csvSplit } from '../../src/core/csv.js';

const limits = { maxFields: 4, maxRows: 3, tooBig: (what: 'fields' | 'rows') => new Error(`too many ${what}`) };

test('csvSplit reads RFC 4180 rows and keeps its caps', () => {
  assert.deepEqual(csvSplit('a,b\r\n1,"x, ""y""\nz"\n\n2,3', ',', limits), [
    ['a', 'b'],
    ['1', 'x, "y"\nz'],
    ['2', '3'],
  ]);
  assert.deepEqual(csvSplit('a\tb\n1\t2\n', '\t', limits), [
    ['a', 'b'],
    ['1', '2'],
  ]);
  assert.deepEqual(csvSplit('', ',', limits), []);
  assert.throws(() => csvSplit('1,2,3,4,5\n', ',', limits), /too many fields/);
  assert.throws(() => csvSplit('1\n2\n3\n4\n', ',', limits), /too many rows/);
});
