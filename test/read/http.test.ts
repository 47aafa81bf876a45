/** The pure HTTP pieces of `dv serve` (src/read/http.ts): ranges, types, escaping of hostile names. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { contentType, davMultistatus, hrefOf, htmlListing, parseRange } from '../../src/read/http.js';
import { parseTarget } from '../../src/ops/serve.js';

test('parseRange: one range served, several or malformed answered whole, past the end unsatisfiable', () => {
  assert.deepEqual(parseRange('bytes=0-0', 10), { start: 0, end: 1 });
  assert.deepEqual(parseRange('bytes=3-', 10), { start: 3, end: 10 });
  assert.deepEqual(parseRange('bytes=3-100', 10), { start: 3, end: 10 });
  assert.deepEqual(parseRange('bytes=-4', 10), { start: 6, end: 10 });
  assert.deepEqual(parseRange('bytes=-40', 10), { start: 0, end: 10 });
  assert.equal(parseRange(undefined, 10), 'all');
  assert.equal(parseRange('bytes=0-1,4-5', 10), 'all');
  assert.equal(parseRange('bytes=5-2', 10), 'all');
  assert.equal(parseRange('items=0-1', 10), 'all');
  assert.equal(parseRange('bytes=1234567890123456-', 10), 'all');
  assert.equal(parseRange('bytes=10-', 10), 'unsatisfiable');
  assert.equal(parseRange('bytes=-0', 10), 'unsatisfiable');
  assert.equal(parseRange('bytes=0-', 0), 'unsatisfiable');
});

test('contentType never names a type a browser runs', () => {
  for (const n of ['a.html', 'a.htm', 'a.svg', 'a.js', 'a.mjs', 'a.xhtml', 'noext', '.html'])
    assert.equal(contentType(n), 'application/octet-stream', n);
  assert.equal(contentType('a.CSV'), 'text/plain; charset=utf-8');
  assert.equal(contentType('x.png'), 'image/png');
});

test('a hostile name cannot inject markup or change the path a link names', () => {
  const name = '"><script>alert(1)</script>?x=/../#';
  const html = htmlListing('t', ['data'], [{ name, type: 'file', size: 1, id: 'ab' }]);
  assert.ok(!html.includes('<script>'), html);
  assert.ok(html.includes(`href="/data/${encodeURIComponent(name).replace(/'/g, '&#39;')}"`), html);
  const xml = davMultistatus(['data'], { name: 'data', type: 'dir' }, [{ name: 'a<b>&\u0001', type: 'file', size: 2 }], new Date(0));
  assert.ok(xml.includes('<D:displayname>a&lt;b&gt;&amp;\ufffd</D:displayname>'), xml);
  assert.ok(xml.includes('<D:href>/data/a%3Cb%3E%26%01</D:href>'), xml);
  assert.equal(hrefOf([], true), '/');
  assert.equal(hrefOf(['a b', 'c'], true), '/a%20b/c/');
});

test('parseTarget: segments decoded; traversal, encoded slash, NUL and option-like revisions refused', () => {
  assert.deepEqual(parseTarget('/data/a%20b?x=1'), { segments: ['data', 'a b'] });
  assert.deepEqual(parseTarget('/@HEAD~1/data/'), { rev: 'HEAD~1', segments: ['data'] });
  for (const bad of ['/data/%2e%2e/x', '/data/..', '/./x', '/a%2Fb', '/a%00', '/%E0%A4%A', '/@-x/data', '/@a:b/c', '/@/c'])
    assert.equal(parseTarget(bad), undefined, bad);
});
