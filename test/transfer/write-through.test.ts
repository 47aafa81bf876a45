/**
 * Write-through of a pull (src/workspace/write-through.ts): a fetch given a stage writes each
 * large file of the trees it brings whole, from verified chunks, beside the store's packs; a file
 * is handed out only when every byte of it came that way. Real fetches from a directory remote into
 * fresh stores; then `dv pull` end to end (bytes, exec bit, status, no staging left behind), and a
 * remote whose chunk is damaged: refused, nothing in the workspace, no staging left behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp, statSync } from 'node:fs';
import { join } from 'node:path';
import { availableParallelism } from 'node:os';
import { openBackend } from '../../src/backend/open.js';
import { initHash } from '../../src/core/hash.js';
import { decodeManifest } from '../../src/core/manifest.js';
import { decodePointer } from '../../src/core/pointer.js';
import { decodeSnapshot } from '../../src/core/snapshot.js';
import { decodeTree, type FileEntry } from '../../src/core/tree.js';
import type { ObjectStore } from '../../src/store/object-store.js';
import { fetchObjects } from '../../src/transfer/fetch.js';
import { RemoteIndex } from '../../src/transfer/remote-index.js';
import { WriteThrough } from '../../src/workspace/write-through.js';
import { blake3Hex } from '../../src/core/hash.js';
import { FLAG_RAW, FLAG_ZSTD, maybeCompress } from '../../src/store/codec.js';
import { FetchPool } from '../../src/transfer/fetch-pool.js';
import { memoryStore } from '../helpers/memory-store.js';
import { describeTree, dv, dvJson, dvOk, git, makeRepo, prng, tempDir } from '../helpers/cli.js';

const LARGE = prng(7, 3 * 1024 * 1024 + 123);
const OTHER = prng(8, 2 * 1024 * 1024);

/** A repository with two large files (one also under a second name), a small one, pushed to a directory remote. */
async function pushed(): Promise<{ repo: string; remoteDir: string; root: string }> {
  const repo = await makeRepo();
  await fsp.mkdir(join(repo, 'data', 'sub'), { recursive: true });
  await fsp.writeFile(join(repo, 'data', 'large.bin'), LARGE);
  await fsp.writeFile(join(repo, 'data', 'sub', 'same.bin'), LARGE);
  await fsp.writeFile(join(repo, 'data', 'other.bin'), OTHER, { mode: 0o755 });
  await fsp.writeFile(join(repo, 'data', 'small.txt'), 'small\n');
  await dvOk(repo, ['add', 'data']);
  const remoteDir = join(tempDir(), 'remote');
  await dvOk(repo, ['remote', 'add', 'dir', remoteDir, '--default']);
  await dvOk(repo, ['push', '-q']);
  const root = decodePointer(await fsp.readFile(join(repo, 'data.dv'), 'utf8'), 'data.dv').snapshot;
  return { repo, remoteDir, root };
}

async function fetchWith(
  dir: string,
  store: ObjectStore,
  remoteDir: string,
  o: { roots?: string[]; leaves?: string[]; stage?: WriteThrough; batch?: number },
) {
  const backend = await openBackend(remoteDir);
  const remote = await RemoteIndex.load(backend, join(dir, 'cache'));
  await fetchObjects({
    store,
    backend,
    remote,
    roots: o.roots ?? [],
    leaves: o.leaves,
    history: false,
    jobs: 4,
    stage: o.stage,
    batch: o.batch,
  });
}

/** The file entries of the snapshot's tree, by name (the top directory only). */
async function entries(store: ObjectStore, root: string): Promise<Map<string, FileEntry>> {
  const snap = decodeSnapshot(await store.get(root), root);
  const tree = decodeTree(await store.get(snap.tree), snap.tree);
  return new Map(tree.entries.filter((e): e is FileEntry => e.type === 'file').map((e) => [e.name, e]));
}

test('a fetch with a stage writes each large file whole from verified chunks; each is handed out once', async () => {
  await initHash();
  const { remoteDir, root } = await pushed();
  for (const batch of [undefined, 16]) {
    const { dir, store } = await memoryStore();
    const stage = WriteThrough.create(join(dir, 'dvtmp'))!;
    await fetchWith(dir, store, remoteDir, { roots: [root], stage, batch });
    const files = await entries(store, root);
    const dev = statSync(stage.dir).dev;
    const large = files.get('large.bin')!;
    const other = files.get('other.bin')!;
    assert.ok(large.chunked && other.chunked, 'both files are chunked');
    const a = stage.claim(large.id, large.size, dev);
    assert.ok(a, `large.bin was staged (batch ${batch ?? 'default'})`);
    assert.ok((await fsp.readFile(a)).equals(LARGE), 'its staged bytes are the file');
    assert.equal(stage.claim(large.id, large.size, dev), undefined, 'handed out once (sub/same.bin is written from the store)');
    assert.equal(stage.claim(other.id, other.size, dev + 1), undefined, 'never onto another file system');
    assert.equal(stage.claim(other.id, other.size - 1, dev), undefined, 'never at another size');
    const b = stage.claim(other.id, other.size, dev);
    assert.ok(b && (await fsp.readFile(b)).equals(OTHER));
    assert.equal(stage.claim(files.get('small.txt')!.id, 6, dev), undefined, 'small files are not staged');
    assert.equal(stage.used, 2);
    await stage.dispose();
    await assert.rejects(fsp.stat(stage.dir), /ENOENT/);
  }
});

test('a fetch worker writes a verified chunk at each of its places, decompressed; a damaged one nowhere, a misfit one is reported', async () => {
  await initHash();
  const dir = tempDir();
  const file = join(dir, 'staged');
  const pool = new FetchPool(join(dir, 'tmp'), 64 << 20, 1);
  try {
    const a = prng(1, 70_000);
    const text = Buffer.from('x,y\n'.repeat(20_000));
    const z = await maybeCompress(text);
    assert.equal(z.flags, FLAG_ZSTD);
    const bad = prng(3, 1000);
    const data = Buffer.concat([a, z.data, bad]);
    const res = await pool.write(Buffer.from(data), [
      { id: blake3Hex(a), at: 0, length: a.length, rawSize: a.length, flags: FLAG_RAW, to: [{ path: file, offset: 0, length: a.length }] },
      {
        id: blake3Hex(text),
        at: a.length,
        length: z.data.length,
        rawSize: text.length,
        flags: z.flags,
        to: [
          { path: file, offset: a.length, length: text.length },
          { path: file, offset: a.length + text.length, length: text.length },
        ],
      },
      // Damaged: its id is of other bytes.
      {
        id: blake3Hex(prng(4, 1000)),
        at: a.length + z.data.length,
        length: 1000,
        rawSize: 1000,
        flags: FLAG_RAW,
        to: [{ path: file, offset: 0, length: 1000 }],
      },
      // Verifies, but its place says another length: not staged.
      {
        id: blake3Hex(bad),
        at: a.length + z.data.length,
        length: 1000,
        rawSize: 1000,
        flags: FLAG_RAW,
        to: [{ path: file, offset: 5, length: 999 }],
      },
    ]);
    assert.deepEqual(
      res.bad.map((b) => b.k),
      [2],
    );
    assert.deepEqual(res.unstaged, [3]);
    await pool.finish();
    assert.ok((await fsp.readFile(file)).equals(Buffer.concat([a, text, text])), 'the staged file holds the raw bytes at their offsets');
  } finally {
    await pool.close();
  }
});

test('a file with a chunk already in the store is not handed out: checkout writes it from the store', async () => {
  await initHash();
  const { remoteDir, root } = await pushed();
  // The ids of the two files and a chunk of large.bin, from a first fetch.
  const first = await memoryStore();
  await fetchWith(first.dir, first.store, remoteDir, { roots: [root] });
  const files = await entries(first.store, root);
  const large = files.get('large.bin')!;
  const other = files.get('other.bin')!;
  let node = decodeManifest(await first.store.get(large.id), large.id);
  while (node.level > 0) node = decodeManifest(await first.store.get(node.children[0].id), node.children[0].id);

  const { dir, store } = await memoryStore();
  await fetchWith(dir, store, remoteDir, { leaves: [node.children[0].id] });
  const stage = WriteThrough.create(join(dir, 'dvtmp'))!;
  await fetchWith(dir, store, remoteDir, { roots: [root], stage });
  const dev = statSync(stage.dir).dev;
  assert.equal(stage.claim(large.id, large.size, dev), undefined, 'one of its chunks was here already: not staged whole');
  assert.ok(stage.claim(other.id, other.size, dev), 'the other file was');
  await stage.dispose();
});

/** A git clone of `repo` (its pointer files committed first), pulled under DV_POOL_STATS=1: the clone and the pull's output. */
async function clonePulled(repo: string) {
  git(repo, ['add', '-A']);
  git(repo, ['commit', '-qm', 'data']);
  const b = join(tempDir(), 'clone');
  git(tempDir(), ['clone', '-q', repo, b]);
  const pulled = await dv(b, ['pull', '--json'], { DV_POOL_STATS: '1' });
  assert.equal(pulled.code, 0, pulled.stderr);
  return { b, pulled };
}

/** The pull's staging directory is gone from the clone's `.dv/tmp`. */
async function noStagingLeft(b: string): Promise<void> {
  const left = await fsp.readdir(join(b, '.dv', 'tmp')).catch(() => [] as string[]);
  assert.deepEqual(
    left.filter((n) => n.startsWith('co-')),
    [],
  );
}

test('dv pull puts staged files in place: same bytes, exec bit, status clean, nothing left in .dv/tmp', async () => {
  const { repo } = await pushed();
  const { b, pulled } = await clonePulled(repo);
  // small.txt is not staged: the job goes to a worker (which renames the staged files beside it).
  assert.match(pulled.stderr, /dv write pool stats: 1 workers/);
  const r = JSON.parse(pulled.stdout);
  assert.equal(r.checkout.paths[0].written, 4);
  assert.deepEqual(await describeTree(join(b, 'data')), await describeTree(join(repo, 'data')));
  assert.equal((await dvJson(b, ['status'])).clean, true);
  assert.equal((await dvJson(b, ['fsck'])).ok, true, 'the store got every chunk too');
  await noStagingLeft(b);
});

test('dv pull of large files only: the checkout renames every staged file into place itself, same bytes, status clean', async () => {
  const repo = await makeRepo();
  await fsp.mkdir(join(repo, 'data', 'sub'), { recursive: true });
  await fsp.writeFile(join(repo, 'data', 'large.bin'), LARGE);
  await fsp.writeFile(join(repo, 'data', 'sub', 'other.bin'), OTHER, { mode: 0o755 });
  await dvOk(repo, ['add', 'data']);
  await dvOk(repo, ['remote', 'add', 'dir', join(tempDir(), 'remote'), '--default']);
  await dvOk(repo, ['push', '-q']);
  const { b, pulled } = await clonePulled(repo);
  assert.match(pulled.stderr, /dv write pool stats: 0 workers, 2 staged files placed here/);
  assert.equal(JSON.parse(pulled.stdout).checkout.paths[0].written, 2);
  assert.deepEqual(await describeTree(join(b, 'data')), await describeTree(join(repo, 'data')));
  assert.equal(statSync(join(b, 'data', 'sub', 'other.bin')).mode & 0o777, 0o755);
  assert.equal((await dvJson(b, ['status'])).clean, true);
  await noStagingLeft(b);
});

test('dv pull of large files each also under a second name: the copies written from the store fill jobs of their own', async () => {
  // 12 files of 3 MiB staged once each: the first path of each is renamed, the second written
  // from the store, so the second ones (36 MiB) cannot all go in one job of 32 MiB.
  const repo = await makeRepo();
  await fsp.mkdir(join(repo, 'data', 'a'), { recursive: true });
  await fsp.mkdir(join(repo, 'data', 'b'), { recursive: true });
  for (let k = 0; k < 12; k++) {
    const bytes = prng(100 + k, 3 * 1024 * 1024);
    await fsp.writeFile(join(repo, 'data', 'a', `f${k}.bin`), bytes);
    await fsp.writeFile(join(repo, 'data', 'b', `f${k}.bin`), bytes);
  }
  await dvOk(repo, ['add', 'data']);
  await dvOk(repo, ['remote', 'add', 'dir', join(tempDir(), 'remote'), '--default']);
  await dvOk(repo, ['push', '-q']);
  const { b, pulled } = await clonePulled(repo);
  const threads = Math.min(availableParallelism(), 8);
  assert.match(pulled.stderr, new RegExp(`dv write pool stats: ${threads} workers`));
  assert.equal(JSON.parse(pulled.stdout).checkout.paths[0].written, 24);
  assert.deepEqual(await describeTree(join(b, 'data')), await describeTree(join(repo, 'data')));
  assert.equal((await dvJson(b, ['status'])).clean, true);
  await noStagingLeft(b);
});

test('a damaged chunk on the remote: the pull is refused, nothing reaches the workspace, no staging is left', async () => {
  const { repo, remoteDir } = await pushed();
  git(repo, ['add', '-A']);
  git(repo, ['commit', '-qm', 'data']);
  // Flip bytes in the middle of every pack on the remote (the large files' chunks are there).
  const packs: string[] = [];
  for (const d of await fsp.readdir(join(remoteDir, 'packs'), { recursive: true, withFileTypes: true }))
    if (d.isFile() && d.name.endsWith('.pack')) packs.push(join(d.parentPath, d.name));
  let damaged = 0;
  for (const p of packs) {
    const buf = await fsp.readFile(p);
    if (buf.length < 1024 * 1024) continue;
    for (let k = 0; k < 64; k++) buf[(buf.length >> 1) + k] ^= 0xff;
    await fsp.writeFile(p, buf);
    damaged++;
  }
  assert.ok(damaged > 0, 'a pack holding large chunks was damaged');
  const b = join(tempDir(), 'clone');
  git(tempDir(), ['clone', '-q', repo, b]);
  const r = await dv(b, ['pull']);
  assert.notEqual(r.code, 0, r.stdout);
  assert.match(r.stderr, /OBJECT_CORRUPT|damaged|does not match/);
  await assert.rejects(fsp.stat(join(b, 'data', 'large.bin')), /ENOENT/);
  await assert.rejects(fsp.stat(join(b, 'data', 'other.bin')), /ENOENT/);
  await noStagingLeft(b);
});

test('a pull that would overwrite an unsaved change is refused as before: the staged file is not used, the edit stays', async () => {
  const { repo } = await pushed();
  git(repo, ['add', '-A']);
  git(repo, ['commit', '-qm', 'data']);
  const b = join(tempDir(), 'clone');
  git(tempDir(), ['clone', '-q', repo, b]);
  await dvOk(b, ['pull', '-q']);
  // A new version of large.bin upstream (all new chunks: it is staged whole by the next pull) ...
  await fsp.writeFile(join(repo, 'data', 'large.bin'), prng(9, 3 * 1024 * 1024));
  await dvOk(repo, ['commit', '-m', 'v2']);
  await dvOk(repo, ['push', '-q']);
  git(repo, ['commit', '-qam', 'v2']);
  // ... and an unsaved edit of it here.
  const mine = prng(10, 1024 * 1024 + 5);
  await fsp.writeFile(join(b, 'data', 'large.bin'), mine);
  git(b, ['pull', '-q']);
  const r = await dv(b, ['pull']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /UNSAVED_CHANGES/);
  assert.ok((await fsp.readFile(join(b, 'data', 'large.bin'))).equals(mine), 'the unsaved edit is untouched');
  await noStagingLeft(b);
  // With --force the new version is taken (the staged copy or the store's: the same bytes).
  await dvOk(b, ['pull', '--force', '-q']);
  assert.ok((await fsp.readFile(join(b, 'data', 'large.bin'))).equals(prng(9, 3 * 1024 * 1024)));
});
