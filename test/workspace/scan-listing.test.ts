/**
 * The columns a scan lists a directory into (walk.ts listDirStats, lstat-row.ts) hold exactly the
 * numbers `lstatSync` gives, so the stat cache and the directory records written by other code
 * paths (checkout records files from its own stat calls) keep matching.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initHash } from '../../src/core/hash.js';
import { lstatRow, lstatRowMode, STAT_FIELDS } from '../../src/workspace/lstat-row.js';
import { dirStatDigest } from '../../src/workspace/scan.js';
import { fileStat, listDir, listDirStats } from '../../src/workspace/walk.js';

function fixture(): string {
  const dir = mkdtempSync(join(tmpdir(), 'dv-listing-'));
  for (const name of ['b', 'a', 'Z', 'é', 'a b', '10', '9']) writeFileSync(join(dir, name), `${name}\n`.repeat(name.length));
  chmodSync(join(dir, 'a'), 0o755);
  mkdirSync(join(dir, 'sub'));
  mkdirSync(join(dir, '.git'));
  symlinkSync('a', join(dir, 'link'));
  writeFileSync(join(dir, '.x.123.w0.dvtmp'), 'temp');
  return dir;
}

test('lstatRow gives lstatSync numbers for files, directories and links, and false for a missing path', () => {
  const dir = fixture();
  try {
    const row = new Float64Array(STAT_FIELDS * 2);
    for (const name of ['a', 'é', 'sub', 'link']) {
      assert.equal(lstatRow(join(dir, name), row, STAT_FIELDS), true);
      const st = lstatSync(join(dir, name));
      assert.deepEqual([...row.subarray(STAT_FIELDS)], [st.size, st.mtimeMs, st.ino, st.mode], name);
    }
    assert.equal(lstatRow(join(dir, 'missing'), row, 0), false);
    // Node 20 (what dv is built for) gets the fast way; elsewhere either way gives the same numbers.
    if (process.versions.node.startsWith('20.')) assert.equal(lstatRowMode(), 'binding');
    assert.throws(() => lstatRow(join(dir, 'a', 'below-a-file'), row, 0), /ENOTDIR/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a directory lists sorted by code units, with lstat data, links, temps and no .git', async () => {
  await initHash();
  const dir = fixture();
  try {
    const cwd = process.cwd();
    const l = listDirStats(dir);
    assert.equal(process.cwd(), cwd, 'the listing went into the directory and back');
    assert.deepEqual(l.names, ['10', '9', 'Z', 'a', 'a b', 'b', 'é']);
    assert.deepEqual(l.dirs, ['sub']);
    assert.deepEqual(
      l.links.map((x) => x.name),
      ['link'],
    );
    assert.deepEqual(l.temps, ['.x.123.w0.dvtmp']);
    assert.equal(l.stats.length, l.names.length * STAT_FIELDS);
    l.names.forEach((name, k) => {
      const st = lstatSync(join(dir, name));
      assert.deepEqual(fileStat(l.stats, k), { size: st.size, mtimeMs: st.mtimeMs, ino: st.ino, mode: st.mode });
    });
    const objects = listDir(dir);
    assert.deepEqual(
      objects.files.map((f) => f.name),
      l.names,
    );
    // The digest changes with any of a file's name, size, mtime, inode or exec bit, and with nothing else.
    const base = dirStatDigest(objects.files);
    const same = objects.files.map((f) => ({ name: f.name, stats: { ...f.stats, mode: f.stats.mode & ~0o022 } }));
    assert.equal(dirStatDigest(same), base);
    const variants = [
      (f: (typeof same)[number]) => ({ ...f, name: `${f.name}x` }),
      (f: (typeof same)[number]) => ({ ...f, stats: { ...f.stats, size: f.stats.size + 1 } }),
      (f: (typeof same)[number]) => ({ ...f, stats: { ...f.stats, mtimeMs: f.stats.mtimeMs + 0.001 } }),
      (f: (typeof same)[number]) => ({ ...f, stats: { ...f.stats, ino: f.stats.ino + 1 } }),
      (f: (typeof same)[number]) => ({ ...f, stats: { ...f.stats, mode: f.stats.mode ^ 0o100 } }),
    ];
    for (const [k, v] of variants.entries()) assert.notEqual(dirStatDigest(same.map((f, i) => (i === 2 ? v(f) : f))), base, `variant ${k}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
