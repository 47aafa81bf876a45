/** Path patterns of a partial pull (core/glob.ts): components, classes, `**`, and linear time on hostile patterns. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isGlob, matchComponent, matchPath } from '../../src/core/glob.js';

const m = (pat: string, path: string, prefix = false): boolean => matchPath(pat.split('/'), path.split('/'), prefix);

test('components: * ? and classes stay inside one component', () => {
  assert.ok(matchComponent('*.png', '000123.png'));
  assert.ok(!matchComponent('*.png', '000123.jpg'));
  assert.ok(matchComponent('0001?3.png', '000123.png'));
  assert.ok(matchComponent('[0-9]*', '7up'));
  assert.ok(!matchComponent('[!0-9]*', '7up'));
  assert.ok(matchComponent('a*b*c', 'axxbyyc'));
  assert.ok(!matchComponent('a*b*c', 'axxbyy'));
  assert.ok(matchComponent('', ''));
  assert.ok(!m('train/*', 'train/a/b'), '* does not cross a slash');
  assert.equal(isGlob('data/x.png'), false);
  assert.equal(isGlob('data/**'), true);
});

test('paths: ** spans any number of components, prefix says where a match may still lie', () => {
  assert.ok(m('train/**', 'train'), '** may be empty: the directory itself');
  assert.ok(m('train/**', 'train/a/b.png'));
  assert.ok(m('**/*.png', 'a/b/c.png'));
  assert.ok(m('**/*.png', 'c.png'));
  assert.ok(!m('**/*.png', 'a/b/c.jpg'));
  assert.ok(m('a/**/z', 'a/z'));
  assert.ok(m('a/**/z', 'a/b/c/z'));
  assert.ok(m('images/*/0001*', 'images', true));
  assert.ok(m('images/*/0001*', 'images/train', true));
  assert.ok(!m('images/*/0001*', 'labels', true));
  assert.ok(!m('images/x.png', 'images/x.png', true), 'nothing below a full match');
});

test('a hostile pattern costs linear time, not exponential', () => {
  const t0 = Date.now();
  assert.ok(!matchComponent('*a*a*a*a*a*a*a*a*a*a*a*a*b', 'a'.repeat(5000)));
  assert.ok(!matchPath(Array(200).fill('**').concat('x'), Array(200).fill('a')));
  assert.ok(Date.now() - t0 < 2000, `${Date.now() - t0} ms`);
});
