/**
 * Temp files of an interrupted or killed `dv add`: Ctrl-C (SIGINT) mid-hashing of a large file
 * removes the command's own temp packs and leaves the store, the pointer files and the workspace
 * as they were; after a SIGKILL the next command (a reader or a writer) removes the dead
 * process's temp files and keeps those of a live one.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { dvOk, makeRepo, prng } from '../helpers/cli.js';
import { exists, runSignalledWhen } from '../helpers/kill.js';
import { inspectRepo } from '../helpers/repo-check.js';

const MB = 1024 * 1024;

/** A file of `mb` MiB of incompressible bytes, written 16 MiB at a time. */
async function bigFile(path: string, mb: number): Promise<void> {
  const fh = await fsp.open(path, 'w');
  try {
    for (let i = 0; i < mb / 16; i++) await fh.write(prng(1000 + i, 16 * MB));
  } finally {
    await fh.close();
  }
}

async function sha(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const b of (await fsp.open(path)).createReadStream()) h.update(b as Buffer);
  return h.digest('hex');
}

const list = (dir: string): Promise<string[]> =>
  fsp.readdir(dir, { recursive: true }).then(
    (l) => l.map(String).sort(),
    () => [],
  );
/** Temp packs being written (a worker's, or a pack being sealed) in `tmp`. */
const tempPacks = async (tmp: string): Promise<string[]> => (await list(tmp)).filter((n) => /^w?pack-\d+-/.test(n));

/** `dv add` of an `mb` MiB file, signalled mid-hashing: exit 130, no temp file left, store, pointers and workspace as before. */
async function interruptedAdd(t: TestContext, signal: NodeJS.Signals, mb: number): Promise<void> {
  const a = await makeRepo();
  await bigFile(join(a, 'big.bin'), mb);
  const before = { sum: await sha(join(a, 'big.bin')), st: await fsp.stat(join(a, 'big.bin')) };
  const packs = join(a, '.dv', 'cache', 'packs');
  const tmp = join(a, '.dv', 'cache', 'tmp');
  const packsBefore = await list(packs);
  const gitignore = await fsp.readFile(join(a, '.gitignore'), 'utf8').catch(() => '');
  // Signalled as soon as a worker has begun a temp pack: hashing is under way, no pack sealed yet (32 MB each).
  const k = await runSignalledWhen(a, ['add', '-q', 'big.bin'], async () => (await tempPacks(tmp)).length > 0, signal, {}, 5);
  t.diagnostic(`${signal} after ${Math.round(k.signalledAtMs ?? -1)} ms, exit ${k.code} after ${Math.round(k.elapsedMs)} ms`);
  assert.ok(k.signalledAtMs !== undefined, `${signal} was never sent: ${k.stderr}`);
  assert.equal(k.code, 130);
  assert.match(k.stderr, /^dv: error INTERRUPTED: `dv add` stopped/);
  assert.equal(k.stderr.trim().split('\n').length, 1, `one line: ${k.stderr}`);
  assert.deepEqual(await list(tmp), [], 'the store temp dir is empty');
  assert.deepEqual(await list(join(a, '.dv', 'tmp')), [], '.dv/tmp is empty');
  assert.deepEqual(await list(packs), packsBefore, 'no pack or pack index was added');
  assert.equal(await exists(join(a, 'big.bin.dv')), false, 'no pointer file');
  assert.equal(await fsp.readFile(join(a, '.gitignore'), 'utf8').catch(() => ''), gitignore, '.gitignore unchanged');
  assert.equal(await exists(join(a, '.dv', 'lock')), false, 'the lock is released');
  const st = await fsp.stat(join(a, 'big.bin'));
  assert.deepEqual([st.size, st.mtimeMs, st.ino], [before.st.size, before.st.mtimeMs, before.st.ino], 'the workspace file is untouched');
  assert.equal(await sha(join(a, 'big.bin')), before.sum);
  assert.deepEqual(
    (await fsp.readdir(a)).filter((n) => n.includes('.tmp') || n.endsWith('.dvtmp')),
    [],
    'no temp file in the workspace',
  );
  const r = await inspectRepo(a);
  assert.equal(r.fsck.ok, true, JSON.stringify(r.fsck.problems.slice(0, 3)));
}

test('Ctrl-C (SIGINT) mid-hashing of a 320 MB add: exit 130, no temp file left, store, pointers and workspace as before', (t) =>
  interruptedAdd(t, 'SIGINT', 320));

test('SIGTERM mid-hashing of a 160 MB add: the same', (t) => interruptedAdd(t, 'SIGTERM', 160));

test("SIGKILL mid-add: the next dv status, and the next dv add, remove the dead writer's temp files and keep a live one's", async () => {
  const a = await makeRepo();
  await bigFile(join(a, 'big.bin'), 160);
  const tmp = join(a, '.dv', 'cache', 'tmp');
  const k = await runSignalledWhen(a, ['add', '-q', 'big.bin'], async () => (await tempPacks(tmp)).length > 0, 'SIGKILL', {}, 5);
  assert.equal(k.killed, true, `SIGKILL landed after the run ended: ${k.stderr}`);
  const left = await tempPacks(tmp);
  assert.ok(left.length > 0, 'the killed add left temp packs (else this test shows nothing)');
  const dead = Number(/^w?pack-(\d+)-/.exec(left[0])![1]);
  // A live process's temp pack (this test's), and a temp index file of the dead one.
  const live = `wpack-${process.pid}-1-abc.tmp`;
  await fsp.writeFile(join(tmp, live), 'a live process is writing this');
  await dvOk(a, ['status', '-q']);
  assert.deepEqual(await list(tmp), [live], 'status removed the dead writer temp packs only');

  const idxTemp = `.${'e'.repeat(64)}.idx.${dead}.m1abc.0.tmp`;
  await fsp.writeFile(join(tmp, idxTemp), 'x');
  await fsp.mkdir(join(a, '.dv', 'tmp'), { recursive: true });
  await fsp.writeFile(join(a, '.dv', 'tmp', `.big.bin.dv.${dead}.m1abc.1.tmp`), 'x');
  await dvOk(a, ['add', '-q', 'big.bin']);
  assert.deepEqual(await list(tmp), [live], 'add removed the dead temp index file, kept the live one');
  assert.deepEqual(await list(join(a, '.dv', 'tmp')), [], 'and the dead temp pointer file');
  const r = await inspectRepo(a);
  assert.equal(r.fsck.ok, true, JSON.stringify(r.fsck.problems.slice(0, 3)));
  assert.equal(r.status.clean, true);
});
