/**
 * diffTrees at scale and in depth: a change of 1,000,000 entries in one directory and a chain of
 * 20,000 nested directories, both of which once overflowed the call stack (a spread of a big
 * list into push(), and one recursive call per level). Trees are built in memory.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { diffTrees, type Change } from '../../src/core/diff.js';
import type { Tree, TreeEntry } from '../../src/core/tree.js';

const id = (n: number): string => n.toString(16).padStart(64, '0');

function loaderOf(trees: Map<string, Tree>): (i: string) => Promise<Tree> {
  return async (i) => {
    const t = trees.get(i);
    if (!t) throw new Error(`no tree ${i}`);
    return t;
  };
}

test('a change of 1,000,000 files in one subdirectory: every change, in path order, within seconds', { timeout: 60_000 }, async () => {
  const N = 1_000_000;
  const entries: TreeEntry[] = [];
  for (let i = 0; i < N; i++)
    entries.push({ type: 'file', name: `f${String(i).padStart(7, '0')}`, size: 1, id: id(i + 10), chunked: false, exec: false });
  const trees = new Map<string, Tree>([
    [id(1), { entries }],
    [id(2), { entries: [{ type: 'dir', name: 'sub', size: N, id: id(1), files: N }] }],
    [id(3), { entries: [{ type: 'file', name: 'seed', size: 1, id: id(5), chunked: false, exec: false }] }],
  ]);
  const t0 = Date.now();
  const changes = await diffTrees(id(3), id(2), loaderOf(trees));
  assert.ok(Date.now() - t0 < 30_000, `took ${Date.now() - t0} ms`);
  assert.equal(changes.length, N + 1);
  assert.deepEqual(changes[0], { type: 'deleted', path: 'seed', kind: 'file', size: 1 });
  assert.deepEqual(changes[1], { type: 'added', path: 'sub/f0000000', kind: 'file', size: 1 });
  assert.equal(changes[N].path, 'sub/f0999999');
  // The callback form hands every change over and keeps none.
  let seen = 0;
  const kept = await diffTrees(id(2), null, loaderOf(trees), 'data', (c) => {
    seen++;
    assert.equal(c.type, 'deleted');
  });
  assert.equal(seen, N);
  assert.equal(kept.length, 0);
});

test('20,000 nested directories: no recursion, the leaf is found', { timeout: 30_000 }, async () => {
  const trees = new Map<string, Tree>();
  const D = 20_000;
  trees.set(id(1), { entries: [{ type: 'file', name: 'leaf', size: 3, id: id(7), chunked: false, exec: true }] });
  for (let d = 1; d < D; d++) trees.set(id(d + 1), { entries: [{ type: 'dir', name: 'd', size: 3, id: id(d), files: 1 }] });
  const changes = await diffTrees(null, id(D), loaderOf(trees));
  assert.equal(changes.length, 1);
  assert.equal(changes[0].path, `${'d/'.repeat(D - 1)}leaf`);
});

test('modified, type changes and unchanged subtrees, merged by name', async () => {
  const f = (name: string, n: number, exec = false): TreeEntry => ({ type: 'file', name, size: n, id: id(n), chunked: false, exec });
  const trees = new Map<string, Tree>([
    [id(100), { entries: [f('x', 1)] }],
    [id(101), { entries: [f('y', 2)] }],
    [
      id(200),
      {
        entries: [
          f('a', 1),
          { type: 'dir', name: 'b', size: 1, id: id(100), files: 1 },
          f('c', 3),
          { type: 'link', name: 'l', target: 't' },
          f('m', 4),
        ],
      },
    ],
    [
      id(201),
      {
        entries: [
          f('a', 1, true),
          { type: 'dir', name: 'b', size: 1, id: id(100), files: 1 },
          { type: 'dir', name: 'c', size: 2, id: id(101), files: 1 },
          { type: 'link', name: 'l', target: 'u' },
          f('n', 4),
        ],
      },
    ],
  ]);
  const got = (await diffTrees(id(200), id(201), loaderOf(trees))).map((c: Change) => `${c.type[0]} ${c.path} ${c.kind}`);
  assert.deepEqual(got, ['m a file', 'd c file', 'a c/y file', 'm l link', 'd m file', 'a n file']);
});
