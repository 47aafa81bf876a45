/**
 * Staged leaf directories (workspace/write-stage.ts) placed into the workspace when something
 * appeared at their name meanwhile: an empty directory is replaced, a directory holding files gets
 * the staged files one by one (its other files stay), anything else is refused and kept intact.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DvError } from '../../src/errors.js';
import { DirCache, PROC_FD } from '../../src/workspace/write-dir.js';
import { LeafStager } from '../../src/workspace/write-stage.js';
import { tempDir } from '../helpers/cli.js';

/** A workspace with `data/`, a DirCache on it and a stager under its `.dv/tmp`. */
function scene(): { root: string; dirs: DirCache; stager: LeafStager; put: (rel: string, name: string, text: string) => void } {
  const root = tempDir('dv-stage-');
  mkdirSync(join(root, 'data'));
  const dirs = new DirCache(root, 'data');
  const stager = LeafStager.create(join(root, '.dv', 'tmp'))!;
  assert.ok(stager, 'a stager on a plain .dv/tmp');
  const put = (rel: string, name: string, text: string): void => writeFileSync(join(dirs.get(rel, false)!.path, name), text);
  return { root, dirs, stager, put };
}

test('a staged directory is renamed into place once its last file is written; an empty directory there is replaced', {
  skip: !PROC_FD,
}, () => {
  const { root, dirs, stager, put } = scene();
  try {
    assert.equal(stager.open(dirs, 'data/d1', 2), true);
    assert.equal(stager.has('data/d1'), true);
    put('data/d1', 'a', 'A');
    stager.written(dirs, 'data/d1');
    assert.equal(existsSync(join(root, 'data', 'd1')), false, 'not in the workspace before its last file');
    mkdirSync(join(root, 'data', 'd1')); // an empty directory appears meanwhile
    put('data/d1', 'b', 'B');
    stager.written(dirs, 'data/d1');
    assert.deepEqual(readdirSync(join(root, 'data', 'd1')).sort(), ['a', 'b']);
    assert.equal(stager.has('data/d1'), false);
  } finally {
    stager.close();
    dirs.close();
  }
  assert.deepEqual(readdirSync(join(root, '.dv', 'tmp')), [], 'close removes the staging root');
});

test('a directory holding files that appeared at the name gets the staged files and keeps its own', { skip: !PROC_FD }, () => {
  const { root, dirs, stager, put } = scene();
  try {
    assert.equal(stager.open(dirs, 'data/d2', 2), true);
    put('data/d2', 'a', 'A');
    put('data/d2', 'b', 'B');
    mkdirSync(join(root, 'data', 'd2'));
    writeFileSync(join(root, 'data', 'd2', 'mine.txt'), 'user');
    stager.written(dirs, 'data/d2');
    stager.written(dirs, 'data/d2');
    assert.deepEqual(readdirSync(join(root, 'data', 'd2')).sort(), ['a', 'b', 'mine.txt']);
    assert.equal(readFileSync(join(root, 'data', 'd2', 'mine.txt'), 'utf8'), 'user');
    assert.equal(readFileSync(join(root, 'data', 'd2', 'a'), 'utf8'), 'A');
  } finally {
    stager.close();
    dirs.close();
  }
});

test('a file that appeared at the name is refused (UNSAVED_CHANGES) and kept; the staged files go with the staging root', {
  skip: !PROC_FD,
}, () => {
  const { root, dirs, stager, put } = scene();
  try {
    assert.equal(stager.open(dirs, 'data/d3', 1), true);
    put('data/d3', 'a', 'A');
    writeFileSync(join(root, 'data', 'd3'), 'a user file');
    assert.throws(
      () => stager.written(dirs, 'data/d3'),
      (e: unknown) => e instanceof DvError && e.code === 'UNSAVED_CHANGES' && /data\/d3 appeared while dv checked out/.test(e.message),
    );
    assert.equal(readFileSync(join(root, 'data', 'd3'), 'utf8'), 'a user file');
  } finally {
    stager.close();
    dirs.close();
  }
  assert.deepEqual(readdirSync(join(root, '.dv', 'tmp')), []);
});

test('a directory with no files is not staged', { skip: !PROC_FD }, () => {
  const { dirs, stager } = scene();
  try {
    assert.equal(stager.open(dirs, 'data/empty', 0), false);
    assert.equal(stager.has('data/empty'), false);
  } finally {
    stager.close();
    dirs.close();
  }
});
