/** The request guards of `dv ui` (src/ui/guard.ts): Host, methods, revisions and numbers from a query. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { allowedHosts, BadQuery, hostAllowed, intParam, methodAllowed, revParam, textParam } from '../../src/ui/guard.js';

test('Host: a loopback server answers its own loopback host:port only; a named address itself; a wildcard any', () => {
  const loop = allowedHosts('127.0.0.1', 8090);
  for (const h of ['127.0.0.1:8090', 'localhost:8090', 'LOCALHOST:8090', '[::1]:8090']) assert.ok(hostAllowed(loop, h), h);
  for (const h of [
    undefined,
    '',
    '127.0.0.1',
    '127.0.0.1:8091',
    'localhost',
    'evil.example:8090',
    'localhost.evil.example:8090',
    '127.0.0.1:8090.evil',
  ])
    assert.ok(!hostAllowed(loop, h), String(h));
  const named = allowedHosts('192.168.1.5', 80);
  assert.ok(hostAllowed(named, '192.168.1.5:80'));
  assert.ok(!hostAllowed(named, 'evil.example:80'));
  assert.ok(hostAllowed(allowedHosts('fe80::1', 81), '[fe80::1]:81'));
  assert.equal(allowedHosts('0.0.0.0', 80), undefined, 'a wildcard address has no name to check');
  assert.ok(hostAllowed(undefined, 'anything:1'));
});

test('methods: GET and HEAD only', () => {
  assert.deepEqual(
    ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PROPFIND', 'get', undefined].map((m) => methodAllowed(m)),
    [true, true, false, false, false, false, false, false, false],
  );
});

test('query values: revisions, numbers and names are checked before use', () => {
  const q = (s: string): URLSearchParams => new URLSearchParams(s);
  assert.equal(revParam(q('rev=HEAD~2'), 'rev'), 'HEAD~2');
  assert.equal(revParam(q(''), 'rev', 'HEAD'), 'HEAD');
  assert.equal(revParam(q('rev=v1.0%5E%7Bcommit%7D'), 'rev'), 'v1.0^{commit}');
  for (const bad of ['rev=', 'rev=--output=/tmp/x', 'rev=-n', 'rev=HEAD:secret', 'rev=a%0Ab', 'rev=a%00b', `rev=${'a'.repeat(257)}`, ''])
    assert.throws(() => revParam(q(bad), 'rev'), BadQuery, bad);
  assert.equal(intParam(q('limit=50'), 'limit', 30, 1, 200), 50);
  assert.equal(intParam(q(''), 'limit', 30, 1, 200), 30);
  for (const bad of ['limit=0', 'limit=201', 'limit=-1', 'limit=1.5', 'limit=1e3', 'limit=abc', 'limit=', 'limit=9999999999'])
    assert.throws(() => intParam(q(bad), 'limit', 30, 1, 200), BadQuery, bad);
  assert.equal(textParam(q('name=train'), 'name'), 'train');
  for (const bad of ['', 'name=', 'name=a%0Ab', `name=${'a'.repeat(4097)}`]) assert.throws(() => textParam(q(bad), 'name'), BadQuery, bad);
});
