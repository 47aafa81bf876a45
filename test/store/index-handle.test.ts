/**
 * The scoped LevelDB handle (store/index-handle.ts) and a read session's index over it
 * (store/reader-index.ts), with two handles on one folder in one process (LevelDB refuses a
 * second opening in a process as it does in another): a run of calls opens LevelDB once, an idle
 * handle lets go, a busy one takes turns with a waiter, REPO_LOCKED names the holder, and a
 * reader keeps object locations in memory and falls back to the pack indexes, saying so once.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, promises as fsp } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { DvError } from '../../src/errors.js';
import { LevelIndex, type Index } from '../../src/store/index-db.js';
import type { HolderNote } from '../../src/store/index-handle.js';
import { ReaderIndex } from '../../src/store/reader-index.js';

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await fsp.rm(d, { recursive: true, force: true });
});

function place(): { dir: string; holderFile: string; wantFile: string } {
  const root = mkdtempSync(join(tmpdir(), 'dv-index-handle-'));
  dirs.push(root);
  return { dir: join(root, 'index'), holderFile: join(root, 'lock.index'), wantFile: join(root, 'lock.index.want') };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const pack = (c: string): string => c.repeat(64);
const entry = (c: string) => ({ id: c.repeat(64), offset: 0, length: 10, rawSize: 10, flags: 0 });

test('a run of calls opens LevelDB once; idle, it is let go and its holder note removed', async () => {
  const p = place();
  const a = new LevelIndex({ ...p, waitMs: 5000, command: 'status' });
  for (let i = 0; i < 500; i++) await a.getStats([`data/f${i}`]);
  assert.ok(a.handle.stats.opens <= 2, `opened ${a.handle.stats.opens} times for 500 calls in a row`);
  assert.equal(JSON.parse(await fsp.readFile(p.holderFile, 'utf8')).command, 'status');
  // Idle: let go (IDLE_MS), the note first; a second handle then opens at once, without waiting.
  for (let i = 0; i < 500 && (await fsp.stat(p.holderFile).catch(() => undefined)); i++) await sleep(10);
  await sleep(100); // the note goes just before LevelDB is closed
  const b = new LevelIndex({ ...p, waitMs: 0, command: 'add' });
  await b.putStats([['data/f1', { size: 1, mtimeMs: 2, ino: 3, id: 'a'.repeat(64), chunked: false }]]);
  await b.close();
  assert.equal((await a.getStats(['data/f1']))[0]?.ino, 3, 'the first handle opens again and sees what the second wrote');
  await a.close();
});

test('a busy holder lets a waiter in (turns), and gets the index back', async () => {
  const p = place();
  const a = new LevelIndex({ ...p, waitMs: 10_000, command: 'add' });
  let stop = false;
  let calls = 0;
  const busy = (async () => {
    for (const end = Date.now() + 60_000; !stop && Date.now() < end; calls++) await a.getLocations([entry('c').id]);
  })();
  while (calls < 10) await sleep(5);
  const b = new LevelIndex({ ...p, waitMs: 10_000, command: 'status' });
  await b.addPack(pack('1'), [entry('d')]);
  const busyStill = !stop && calls > 0;
  await b.close();
  const before = calls;
  while (calls < before + 10) await sleep(5);
  stop = true;
  await busy;
  assert.ok(busyStill, 'the holder was still busy when the waiter got its turn');
  assert.ok(a.handle.stats.opens >= 2, 'the holder let go and opened again');
  assert.equal((await a.getLocations([entry('d').id]))[0]?.pack, pack('1'));
  await a.close();
});

test('REPO_LOCKED from a held index names the holder: command, pid, host', async () => {
  const p = place();
  const a = new LevelIndex({ ...p, waitMs: 1000, command: 'push' });
  let release!: () => void;
  const held = a.handle.use(() => new Promise<void>((r) => (release = r)));
  while (!release) await sleep(5);
  const b = new LevelIndex({ ...p, waitMs: 200, command: 'add' });
  await assert.rejects(b.getStats(['x']), (e: unknown) => {
    assert.ok(e instanceof DvError && e.code === 'REPO_LOCKED');
    assert.match(e.message, new RegExp(`is in use by \`dv push\` \\(pid ${process.pid} on ${hostname()}, since [^)]+\\): wait for it`));
    assert.equal((e.data as { holder: HolderNote }).holder.command, 'push');
    return true;
  });
  release();
  await held;
  await a.close();
  await b.close();
});

test('a reader keeps object locations in memory, shares the stat cache, and falls back saying so once', async () => {
  const p = place();
  const loaded: string[] = [];
  const load = async (into: Index): Promise<void> => {
    loaded.push('all');
    await into.addPack(pack('2'), [entry('e')]);
  };
  const told: (HolderNote | undefined)[] = [];
  const r = new ReaderIndex(new LevelIndex({ ...p, waitMs: 300, command: 'status' }), load, (h) => told.push(h));
  await r.addPack(pack('1'), [entry('d')]);
  await r.putStats([['data/a', { size: 1, mtimeMs: 2, ino: 3, id: 'a'.repeat(64), chunked: false }]]);
  assert.equal((await r.getLocations([entry('d').id]))[0]?.pack, pack('1'));
  await r.close();
  const w = new LevelIndex({ ...p, waitMs: 1000, command: 'gc' });
  assert.equal((await w.getLocations([entry('d').id]))[0], undefined, 'a reader never writes where objects are');
  assert.equal((await w.getStats(['data/a']))[0]?.ino, 3, 'the stat cache is shared');
  // Held by the writer (inside one call) for longer than the reader waits: memory, one warning.
  let release!: () => void;
  const held = w.handle.use(() => new Promise<void>((res) => (release = res)));
  while (!release) await sleep(5);
  const r2 = new ReaderIndex(new LevelIndex({ ...p, waitMs: 300, command: 'status' }), load, (h) => told.push(h));
  const [stat, loc] = await Promise.all([r2.getStats(['data/a']), r2.getLocations([entry('e').id])]);
  assert.equal(stat[0], undefined, 'no stat cache: the files are hashed again');
  assert.equal(loc[0]?.pack, pack('2'), 'locations from the pack indexes');
  assert.equal(r2.persistent, false);
  assert.deepEqual(
    told.map((h) => h?.command),
    ['gc'],
  );
  assert.deepEqual(loaded, ['all']);
  release();
  await held;
  await r2.close();
  await w.close();
});
