/**
 * bin/dv loads the CLI from the bundle and its code cache that the build makes (src/cli/bundle.ts,
 * scripts/bundle.mjs), and only while they are the build's: a bundle whose dist/src changed since
 * (any tsc run, incremental too) or that does not compile is passed over for the modules, and a
 * cache made from other text, or damaged, is never offered to V8 (which checks neither: it takes
 * a cache of the same length, and one flipped byte of its data crashed the process).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CODE_CACHE, distFiles, loadCli, MANIFEST, writeCodeCache } from '../../src/cli/bundle.js';
import type { Io } from '../../src/cli/main.js';
import { dv, tempDir } from '../helpers/cli.js';

const io = {} as Io;

/** A dist directory with a two-line bundle whose main answers `code`, and modules whose main answers 5. */
function fakeDist(code: number): string {
  const dist = tempDir();
  mkdirSync(join(dist, 'src', 'cli'), { recursive: true });
  const cli = (f: string, text: string): void => writeFileSync(join(dist, 'src', 'cli', f), text);
  cli('main.js', 'export const main = async () => 5;\n');
  cli('interrupt.js', 'export const exitOnInterrupt = () => undefined;\n');
  cli('launch-flags.js', 'export const restoreCallerEnv = () => {};\n');
  writeBundle(dist, code);
  return dist;
}

/** The bundle and the manifest of dist/src, as the build leaves them. */
function writeBundle(dist: string, code: number): void {
  const text = [
    `exports.main = async () => ${code};`,
    'exports.exitOnInterrupt = () => undefined; exports.restoreCallerEnv = () => {}; exports.warm = async () => {};',
  ].join('\n');
  writeFileSync(join(dist, 'dv.cjs'), text);
  writeFileSync(join(dist, MANIFEST), JSON.stringify(distFiles(dist)));
}

test('the dv the tests run loads from the bundle, and V8 takes its code cache', async () => {
  const r = await dv(tempDir(), ['--version'], { DV_LOAD_TRACE: '1' });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /^dv: loaded from bundle \(code cache used\) in \d+ ms$/m, 'run `npm run build`: it bundles after tsc');
  const off = await dv(tempDir(), ['--version'], { DV_LOAD_TRACE: '1', DV_BUNDLE: '0' });
  assert.match(off.stderr, /loaded from modules/);
  assert.equal(off.stdout, r.stdout);
});

test('a bundle whose dist/src changed since it was built, or that does not compile, is passed over', async () => {
  const dist = fakeDist(7);
  const fresh = await loadCli(dist);
  assert.equal(fresh.from, 'bundle');
  assert.equal(await fresh.main([], io), 7);
  // One file rewritten (as an incremental tsc does): its time moved.
  const later = Date.now() / 1000 + 10;
  utimesSync(join(dist, 'src', 'cli', 'interrupt.js'), later, later);
  const stale = await loadCli(dist);
  assert.equal(stale.from, 'modules');
  assert.equal(await stale.main([], io), 5);
  // Rebuilt, then cut short.
  writeBundle(dist, 7);
  assert.equal((await loadCli(dist)).from, 'bundle');
  writeFileSync(join(dist, 'dv.cjs'), 'exports.main = async () => {');
  assert.equal((await loadCli(dist)).from, 'modules');
});

test('a code cache is offered only to the bundle it was made from, and only whole', async () => {
  const dist = fakeDist(7);
  assert.ok((await writeCodeCache(dist)) > 64);
  const cached = await loadCli(dist);
  assert.equal(cached.cache, 'used');
  assert.equal(await cached.main([], io), 7);
  // A byte of V8's data flipped: not offered.
  const whole = readFileSync(join(dist, CODE_CACHE));
  const flipped = Buffer.from(whole);
  flipped[flipped.length - 5] ^= 0xff;
  writeFileSync(join(dist, CODE_CACHE), flipped);
  assert.equal((await loadCli(dist)).cache, 'none');
  // Same length, other text: V8 alone would run the cached 7.
  writeFileSync(join(dist, CODE_CACHE), whole);
  writeBundle(dist, 8);
  const other = await loadCli(dist);
  assert.equal(other.from, 'bundle');
  assert.equal(other.cache, 'none');
  assert.equal(await other.main([], io), 8);
  // A cache file that is not one (cut short) is not offered either.
  writeFileSync(join(dist, CODE_CACHE), whole.subarray(0, 40));
  assert.equal((await loadCli(dist)).cache, 'none');
});
