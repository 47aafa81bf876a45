/**
 * Moving a staged file into place (src/workspace/place-staged.ts), as a write worker or the main
 * thread does it: a regular file of the declared size with no other link is renamed into the
 * directory, its mode set exactly (umask or not) and its stat answered; anything else is refused
 * with STAGED (the pool writes that file from the store) and stays where it is; a directory
 * replaced since it was verified is refused with UNSAFE_PATH; a stop is honoured before anything moves.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, linkSync, lstatSync, mkdirSync, readFileSync, renameSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { placeStaged, type PlaceTarget } from '../../src/workspace/place-staged.js';
import { tempDir } from '../helpers/cli.js';

const control = (): Int32Array => new Int32Array(new SharedArrayBuffer(8));

function scene(bytes = 'staged bytes\n'): { staged: string; dir: string; target: (o?: Partial<PlaceTarget>) => PlaceTarget } {
  const root = tempDir('dv-place-');
  const staged = join(root, 'stage', 'f1');
  mkdirSync(join(root, 'stage'));
  writeFileSync(staged, bytes, { mode: 0o600 });
  const dir = join(root, 'ws');
  mkdirSync(dir);
  const st = statSync(dir);
  const target = (o: Partial<PlaceTarget> = {}): PlaceTarget => ({
    i: 7,
    path: 'data/f.bin',
    dir,
    check: { dev: st.dev, ino: st.ino },
    name: 'f.bin',
    exec: false,
    size: Buffer.byteLength(bytes),
    ...o,
  });
  return { staged, dir, target };
}

const code = (c: string) => (e: unknown) => (e as { code?: string }).code === c;

test('a staged file of the declared size is renamed into place, its mode set exactly, its stat answered', () => {
  for (const exec of [false, true]) {
    const s = scene();
    const placed = placeStaged(s.target({ exec }), s.staged, control());
    const st = lstatSync(join(s.dir, 'f.bin'));
    assert.equal(readFileSync(join(s.dir, 'f.bin'), 'utf8'), 'staged bytes\n');
    assert.equal(st.mode & 0o777, exec ? 0o755 : 0o644);
    assert.deepEqual(placed, { i: 7, size: st.size, mtimeMs: st.mtimeMs, ino: st.ino });
    assert.equal(existsSync(s.staged), false);
  }
});

test('another size, a second link, a symlink or no file: refused with STAGED, nothing moves', () => {
  const wrongSize = scene();
  assert.throws(() => placeStaged(wrongSize.target({ size: 3 }), wrongSize.staged, control()), code('STAGED'));
  const linked = scene();
  linkSync(linked.staged, `${linked.staged}.other`);
  assert.throws(() => placeStaged(linked.target(), linked.staged, control()), code('STAGED'));
  const link = scene();
  renameSync(link.staged, `${link.staged}.real`);
  symlinkSync(`${link.staged}.real`, link.staged);
  assert.throws(() => placeStaged(link.target(), link.staged, control()), code('STAGED'));
  const gone = scene();
  assert.throws(() => placeStaged(gone.target(), `${gone.staged}.none`, control()), code('STAGED'));
  for (const s of [wrongSize, linked, link, gone]) assert.equal(existsSync(join(s.dir, 'f.bin')), false);
  assert.equal(existsSync(wrongSize.staged), true);
});

test('a directory replaced since it was verified: UNSAFE_PATH; a stop: nothing moves', () => {
  const s = scene();
  const t = s.target();
  renameSync(s.dir, `${s.dir}.old`);
  mkdirSync(s.dir);
  assert.throws(() => placeStaged(t, s.staged, control()), code('UNSAFE_PATH'));
  const stop = control();
  Atomics.store(stop, 0, 1);
  assert.throws(() => placeStaged(t, s.staged, stop), code('INTERRUPTED'));
  assert.equal(Atomics.load(stop, 1), 0, 'nothing counted in flight after it');
  assert.equal(existsSync(s.staged), true);
  assert.equal(existsSync(join(s.dir, 'f.bin')), false);
});
