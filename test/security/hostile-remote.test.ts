/**
 * A hostile remote cannot exhaust the machine or stop good pulls: objects whose declared sizes lie
 * are refused before their bytes are written, pack indexes are read within a budget, special files
 * in a directory remote are never opened blocking, a trickling or oversized S3 body fails within its
 * deadline, and one index listing objects at wrong places does not break a pull that has another
 * copy. Each case asserts the refusal (or the recovery), the time it took and the disk it cost.
 */
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { encodeManifest } from '../../src/core/manifest.js';
import { blake3Hex } from '../../src/core/hash.js';
import { decodePackIndex, encodePackIndex } from '../../src/store/pack-index.js';
import { remoteIndexKey, remotePackKey } from '../../src/transfer/layout.js';
import { ERROR_CODES, type ErrorCode } from '../../src/errors.js';
import { dv, dvOk, git, makeRepo, tempDir, type RunResult } from '../helpers/cli.js';
import { obj, pointerText, rawTree, snapshotBytes, writeRemotePack, type Obj } from '../helpers/evil-remote.js';
import { credsEnv, startS3rver } from '../helpers/s3server.js';
import { RepoSession } from '../../src/repo/repo.js';

const MB = 1024 * 1024;

function assertRefused(r: RunResult, code: ErrorCode, what: string): void {
  assert.equal(r.code, ERROR_CODES[code].exit, `${what}: exit ${r.code}, stderr: ${r.stderr}`);
  assert.match(r.stderr, new RegExp(`^dv: error ${code}: `, 'm'), `${what}: ${r.stderr}`);
}

/** Bytes in files under `dir` (lstat sizes; a sparse or special file counts as what it claims). */
async function du(dir: string): Promise<number> {
  let total = 0;
  const stack = [dir];
  while (stack.length > 0) {
    const d = stack.pop()!;
    for (const e of await fsp.readdir(d, { withFileTypes: true }).catch(() => [])) {
      const p = join(d, e.name);
      if (e.isDirectory()) stack.push(p);
      else total += (await fsp.lstat(p)).size;
    }
  }
  return total;
}

/** A fresh workspace whose data.dv names `snapshot`, with `remote` as origin. */
async function victim(
  remote: string,
  snapshot: string,
  tree: string,
  env: Record<string, string> = {},
  extra: string[] = [],
): Promise<string> {
  const ws = await makeRepo();
  await dvOk(ws, ['remote', 'add', 'origin', remote, ...extra], env);
  await fsp.writeFile(join(ws, 'data.dv'), pointerText(snapshot, tree));
  return ws;
}

/** Runs `dv pull` and returns its result with the wall time it took. */
async function timedPull(ws: string, env: Record<string, string> = {}, args: string[] = []): Promise<RunResult & { ms: number }> {
  const t0 = Date.now();
  const r = await dv(ws, ['pull', ...args], env);
  return { ...r, ms: Date.now() - t0 };
}

/** A repository that pushed `files` small files to a directory remote; returns the repo, the remote and the pack ids. */
async function pushedRepo(files: number): Promise<{ repo: string; remote: string; packs: string[] }> {
  const repo = await makeRepo();
  const remote = tempDir('dv-hostile-remote-');
  await fsp.mkdir(join(repo, 'data'));
  for (let i = 0; i < files; i++) await fsp.writeFile(join(repo, 'data', `f${i}.txt`), `file ${i} `.repeat(50 + i));
  await dvOk(repo, ['add', 'data']);
  await dvOk(repo, ['remote', 'add', 'origin', remote]);
  await dvOk(repo, ['push']);
  git(repo, ['add', '-A']);
  git(repo, ['commit', '-qm', 'data']);
  const packs = (await fsp.readdir(join(remote, 'index'), { recursive: true }))
    .filter((f) => f.endsWith('.idx'))
    .map((f) => f.slice(-68, -4));
  return { repo, remote, packs };
}

/** A clone of `repo`'s pointer files, with `remote` as origin. */
async function cloneOf(repo: string, remote: string, env: Record<string, string> = {}, extra: string[] = []): Promise<string> {
  const ws = await makeRepo();
  await fsp.copyFile(join(repo, 'data.dv'), join(ws, 'data.dv'));
  await dvOk(ws, ['remote', 'add', 'origin', remote, ...extra], env);
  return ws;
}

describe('directory remote: sizes that lie', () => {
  test('a tree naming one subtree 1,000 times per level, declared as one file each: BAD_OBJECT at once, a few MB', {
    timeout: 60_000,
  }, async () => {
    const remote = tempDir('dv-hostile-fan-');
    const leaf = await obj('x');
    const objects: Obj[] = [leaf];
    let below = await obj(rawTree([['f', 'x', 1, leaf.id, 0]]));
    objects.push(below);
    // Five levels of 1,000 names each: 10^15 files if walked, each level claiming 1 file per entry.
    for (let level = 0; level < 5; level++) {
      const rows = Array.from({ length: 1000 }, (_, k) => ['d', `d${String(k).padStart(4, '0')}`, 1, below.id, 1]);
      below = await obj(rawTree(rows));
      objects.push(below);
    }
    const snap = await obj(snapshotBytes(below.id, 'data', 'dir', 1000, 1000));
    await writeRemotePack(remote, [...objects, snap]);
    const ws = await victim(remote, snap.id, below.id);
    const r = await timedPull(ws);
    assertRefused(r, 'BAD_OBJECT', 'shared subtrees');
    assert.match(r.stderr, /does not match its declared size/);
    assert.ok(r.ms < 30_000, `took ${r.ms} ms`);
    assert.ok((await du(join(ws, '.dv'))) < 5 * MB, 'the store grew by a few MB at most');
    assert.equal(await fsp.lstat(join(ws, 'data')).catch(() => null), null, 'nothing checked out');
  });

  test('a manifest whose chunks add up to more than its file declares: BAD_OBJECT, no file written', { timeout: 60_000 }, async () => {
    const remote = tempDir('dv-hostile-manifest-');
    const c1 = await obj(Buffer.alloc(4000, 1));
    const c2 = await obj(Buffer.alloc(4000, 2));
    const m = await obj(
      encodeManifest({
        level: 0,
        children: [
          { id: c1.id, size: 4000 },
          { id: c2.id, size: 4000 },
        ],
      }),
    );
    const tree = await obj(rawTree([['m', 'big.bin', 10, m.id, 0]]));
    const snap = await obj(snapshotBytes(tree.id, 'data', 'dir', 10, 1));
    await writeRemotePack(remote, [c1, c2, m, tree, snap]);
    const ws = await victim(remote, snap.id, tree.id);
    assertRefused(await timedPull(ws), 'BAD_OBJECT', 'manifest larger than its file');
    assert.equal(await fsp.lstat(join(ws, 'data')).catch(() => null), null);
  });

  test('a chunk far larger than its file declares is refused before it is downloaded', { timeout: 60_000 }, async () => {
    const remote = tempDir('dv-hostile-chunk-');
    const big = await obj(Buffer.alloc(3 * MB, 7));
    const tree = await obj(rawTree([['f', 'small.txt', 3, big.id, 0]]));
    const snap = await obj(snapshotBytes(tree.id, 'data', 'dir', 3, 1));
    await writeRemotePack(remote, [big, tree, snap]);
    const ws = await victim(remote, snap.id, tree.id);
    assertRefused(await timedPull(ws), 'BAD_OBJECT', 'chunk larger than its file');
    assert.ok((await du(join(ws, '.dv'))) < 1 * MB, 'the 3 MB chunk was never stored');
  });
});

describe('lies already in the local store (fetched before these checks existed)', () => {
  test('checkout of a tree naming one subtree 1,000 times per level fails fast; fsck reports the lying tree', {
    timeout: 60_000,
  }, async () => {
    const ws = await makeRepo();
    const leaf = await obj('x');
    let below = await obj(rawTree([['f', 'x', 1, leaf.id, 0]]));
    const liars: string[] = [];
    const s = await RepoSession.open({ cwd: ws, write: true, waitMs: 5000, command: 'test-plant' });
    try {
      await s.store.putObject(leaf.bytes);
      await s.store.putObject(below.bytes);
      for (let level = 0; level < 5; level++) {
        below = await obj(rawTree(Array.from({ length: 1000 }, (_, k) => ['d', `d${String(k).padStart(4, '0')}`, 1, below.id, 1])));
        await s.store.putObject(below.bytes);
        liars.push(below.id);
      }
      const snap = await obj(snapshotBytes(below.id, 'data', 'dir', 1000, 1000));
      await s.store.putObject(snap.bytes);
      await fsp.writeFile(join(ws, 'data.dv'), pointerText(snap.id, below.id));
    } finally {
      await s.close();
    }
    const t0 = Date.now();
    const r = await dv(ws, ['checkout']);
    assertRefused(r, 'BAD_OBJECT', 'checkout of shared subtrees');
    assert.ok(Date.now() - t0 < 20_000, `took ${Date.now() - t0} ms`);
    assert.ok((await du(join(ws, 'data'))) < 1 * MB, 'no expansion on disk');
    const f = await dv(ws, ['fsck', '--json']);
    assert.notEqual(f.code, 0);
    assert.match(
      f.stdout + f.stderr,
      new RegExp(`${liars[1]}[^\n]*does not match its declared size|does not match its declared size[^\n]*${liars[1].slice(0, 12)}`),
    );
  });
});

describe('directory remote: special files and oversized indexes', () => {
  test('a pack replaced by a FIFO fails at once (never opened blocking); a symlink to a file outside is refused', {
    timeout: 60_000,
  }, async () => {
    const { repo, remote, packs } = await pushedRepo(5);
    const pack = join(remote, ...remotePackKey(packs[0]).split('/'));
    await fsp.rm(pack);
    execFileSync('mkfifo', [pack]);
    const ws = await cloneOf(repo, remote);
    const r = await timedPull(ws);
    assertRefused(r, 'REMOTE_ERROR', 'FIFO pack');
    assert.match(r.stderr, /a FIFO, not a regular file/);
    assert.ok(r.ms < 20_000, `took ${r.ms} ms`);

    const secret = join(tempDir('dv-hostile-secret-'), 'secret');
    await fsp.writeFile(secret, 'secret');
    await fsp.rm(pack);
    await fsp.symlink(secret, pack);
    const r2 = await timedPull(ws);
    assertRefused(r2, 'REMOTE_ERROR', 'symlinked pack');
    assert.match(r2.stderr, /a symbolic link, not a regular file/);
  });

  test('an index of 65 MB is never read: ignored with a warning, a few MB of disk', { timeout: 60_000 }, async () => {
    const remote = tempDir('dv-hostile-bigidx-');
    const fake = '0'.repeat(64);
    const idx = join(remote, ...remoteIndexKey(fake).split('/'));
    await fsp.mkdir(join(idx, '..'), { recursive: true });
    // Sparse: costs no disk here, would cost 65 MB of memory and cache if read.
    await fsp.writeFile(idx, '');
    await fsp.truncate(idx, 65 * MB);
    const snapId = 'a'.repeat(64);
    const ws = await victim(remote, snapId, 'b'.repeat(64));
    const r = await timedPull(ws);
    assertRefused(r, 'BAD_OBJECT', 'nothing usable on the remote');
    assert.match(r.stderr, /is listed at 68157440 bytes, more than a pack index can be/);
    assert.ok(r.ms < 20_000, `took ${r.ms} ms`);
    assert.ok((await du(join(ws, '.dv'))) < 5 * MB, 'the index was not cached');
  });
});

/** A copy of the pack index `good` listing the same objects at shifted offsets, named so it sorts first. */
async function liarIndex(good: Buffer): Promise<{ id: string; bytes: Buffer }> {
  const entries = decodePackIndex(good, 'good');
  for (let shift = 1; ; shift++) {
    const bytes = encodePackIndex(entries.map((e) => ({ ...e, offset: e.offset + shift })));
    const id = blake3Hex(bytes);
    // Listed (and so tried) before the good index: the pull must fall back, not just be lucky.
    if (id < blake3Hex(good)) return { id, bytes };
  }
}

describe('one bad index does not break every pull', () => {
  test('directory remote: an index listing existing ids at wrong offsets; the pull uses the good copy and warns', {
    timeout: 90_000,
  }, async () => {
    const { repo, remote, packs } = await pushedRepo(8);
    const goodIdx = await fsp.readFile(join(remote, ...remoteIndexKey(packs[0]).split('/')));
    const liar = await liarIndex(goodIdx);
    const liarIdx = join(remote, ...remoteIndexKey(liar.id).split('/'));
    const liarPack = join(remote, ...remotePackKey(liar.id).split('/'));
    await fsp.mkdir(join(liarIdx, '..'), { recursive: true });
    await fsp.mkdir(join(liarPack, '..'), { recursive: true });
    await fsp.writeFile(liarIdx, liar.bytes);
    await fsp.copyFile(join(remote, ...remotePackKey(packs[0]).split('/')), liarPack);
    const ws = await cloneOf(repo, remote);
    const r = await timedPull(ws, {}, ['--json']);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.ok(
      out.fetch.warnings.some((w: string) => w.includes(liar.id.slice(0, 12))),
      `a warning names the bad index: ${r.stdout}`,
    );
    for (let i = 0; i < 8; i++) assert.equal(await fsp.readFile(join(ws, 'data', `f${i}.txt`), 'utf8'), `file ${i} `.repeat(50 + i));
    // And again: the next pull is not broken either.
    await fsp.rm(join(ws, 'data'), { recursive: true });
    await fsp.rm(join(ws, '.dv', 'cache'), { recursive: true, force: true });
    assert.equal((await timedPull(ws)).code, 0);
  });

  test('every index replaced by one listing its objects at wrong places: pulls fail; `dv push --repair` from a good clone mends it', {
    timeout: 120_000,
  }, async () => {
    const { repo, remote, packs } = await pushedRepo(6);
    const liars: string[] = [];
    for (const p of packs) {
      const idxFile = join(remote, ...remoteIndexKey(p).split('/'));
      const liar = await liarIndex(await fsp.readFile(idxFile));
      liars.push(liar.id);
      await fsp.mkdir(join(remote, ...remoteIndexKey(liar.id).split('/'), '..'), { recursive: true });
      await fsp.mkdir(join(remote, ...remotePackKey(liar.id).split('/'), '..'), { recursive: true });
      await fsp.writeFile(join(remote, ...remoteIndexKey(liar.id).split('/')), liar.bytes);
      await fsp.copyFile(join(remote, ...remotePackKey(p).split('/')), join(remote, ...remotePackKey(liar.id).split('/')));
      await fsp.rm(idxFile);
    }
    const ws = await cloneOf(repo, remote);
    assertRefused(await timedPull(ws), 'OBJECT_CORRUPT', 'only bad copies');
    // A plain push believes the remote: everything is listed there.
    assert.equal(JSON.parse(await dvOk(repo, ['push', '--json'])).objectsSent, 0);
    const fixed = JSON.parse(await dvOk(repo, ['push', '--repair', '--json']));
    assert.ok(fixed.repaired >= 7 && fixed.objectsSent >= 7, `repaired ${fixed.repaired}, sent ${fixed.objectsSent}`);
    assert.ok(fixed.warnings.length >= 1);
    const left = (await fsp.readdir(join(remote, 'index'), { recursive: true })).filter((f) => f.endsWith('.idx'));
    assert.ok(
      left.length >= 1 && left.every((f) => !liars.some((l) => f.includes(l))),
      `the bad indexes are removed, good ones written: ${left}`,
    );
    const again = await cloneOf(repo, remote);
    const r = await timedPull(again);
    assert.equal(r.code, 0, r.stderr);
    for (let i = 0; i < 6; i++) assert.equal(await fsp.readFile(join(again, 'data', `f${i}.txt`), 'utf8'), `file ${i} `.repeat(50 + i));
    // A second repair finds nothing to do.
    assert.equal(JSON.parse(await dvOk(repo, ['push', '--repair', '--json'])).repaired, 0);
  });

  test('s3rver: the same bad index over S3', { timeout: 120_000 }, async () => {
    const srv = await startS3rver();
    try {
      await srv.createBucket('liar');
      const env = credsEnv(srv);
      const { repo, remote, packs } = await pushedRepo(6);
      const client = new S3Client({ endpoint: srv.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: srv.credentials });
      try {
        const put = (key: string, body: Buffer) => client.send(new PutObjectCommand({ Bucket: 'liar', Key: `p/${key}`, Body: body }));
        for (const key of packs.flatMap((p) => [remoteIndexKey(p), remotePackKey(p)]))
          await put(key, await fsp.readFile(join(remote, ...key.split('/'))));
        const goodIdx = await fsp.readFile(join(remote, ...remoteIndexKey(packs[0]).split('/')));
        const liar = await liarIndex(goodIdx);
        await put(remoteIndexKey(liar.id), liar.bytes);
        await put(remotePackKey(liar.id), await fsp.readFile(join(remote, ...remotePackKey(packs[0]).split('/'))));
      } finally {
        client.destroy();
      }
      const ws = await cloneOf(repo, 's3://liar/p', env, ['--endpoint', srv.endpoint]);
      const r = await timedPull(ws, env, ['--json']);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(JSON.parse(r.stdout).fetch.warnings.length > 0, 'the bad index is reported');
      for (let i = 0; i < 6; i++) assert.equal(await fsp.readFile(join(ws, 'data', `f${i}.txt`), 'utf8'), `file ${i} `.repeat(50 + i));
    } finally {
      await srv.stop();
    }
  });
});

/**
 * A tiny hostile S3 endpoint: lists one pack index of `listed` bytes and answers its GET with
 * `mode`: 'huge' announces 10 GB and sends a little; 'trickle' sends one byte every 200 ms.
 */
async function hostileS3(mode: 'huge' | 'trickle', listed: number): Promise<{ endpoint: string; server: Server }> {
  const idxKey = `p/${remoteIndexKey('c'.repeat(64))}`;
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.searchParams.get('list-type') === '2') {
      const body =
        `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>evil</Name><Prefix>${url.searchParams.get('prefix') ?? ''}</Prefix>` +
        `<KeyCount>1</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated><Contents><Key>${idxKey}</Key><Size>${listed}</Size>` +
        '<LastModified>2024-01-01T00:00:00.000Z</LastModified><ETag>"x"</ETag></Contents></ListBucketResult>';
      res.writeHead(200, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
      res.end(body);
      return;
    }
    if (url.pathname === `/evil/${idxKey}`) {
      if (mode === 'huge') {
        res.writeHead(200, { 'content-length': String(10 * 1024 * MB) });
        res.write(Buffer.alloc(64 * 1024));
        return; // never ends
      }
      res.writeHead(200, { 'content-length': String(listed) });
      const t = setInterval(() => {
        if (!res.write('x')) clearInterval(t);
      }, 200);
      res.on('close', () => clearInterval(t));
      return;
    }
    res.writeHead(404, { 'content-type': 'application/xml' });
    res.end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchKey</Code><Message>no</Message></Error>');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return { endpoint: `http://127.0.0.1:${port}`, server };
}

describe('hostile S3 endpoint', () => {
  const servers: Server[] = [];
  after(() => {
    for (const s of servers) {
      s.closeAllConnections();
      s.close();
    }
  });
  const env = { AWS_ACCESS_KEY_ID: 'k', AWS_SECRET_ACCESS_KEY: 's', AWS_REGION: 'us-east-1', AWS_EC2_METADATA_DISABLED: 'true' };

  test('an index announced as 10 GB (listed as 100 bytes) is refused unread', { timeout: 60_000 }, async () => {
    const h = await hostileS3('huge', 100);
    servers.push(h.server);
    const ws = await victim('s3://evil/p', 'a'.repeat(64), 'b'.repeat(64), env, ['--endpoint', h.endpoint]);
    const r = await timedPull(ws, env);
    assertRefused(r, 'BAD_OBJECT', 'the huge index is ignored, so nothing is found');
    assert.match(r.stderr, /is 10737418240 bytes, more than the 100 expected of it/);
    assert.ok(r.ms < 20_000, `took ${r.ms} ms`);
    assert.ok((await du(join(ws, '.dv'))) < 5 * MB);
  });

  test('an index body that trickles fails after the configured timeout', { timeout: 90_000 }, async () => {
    const h = await hostileS3('trickle', 5000);
    servers.push(h.server);
    const ws = await victim('s3://evil/p', 'a'.repeat(64), 'b'.repeat(64), env, ['--endpoint', h.endpoint]);
    await dvOk(ws, ['config', '--local', 'remote.origin.timeout', '1'], env);
    const r = await timedPull(ws, env);
    assertRefused(r, 'REMOTE_UNREACHABLE', 'trickle');
    assert.match(r.stderr, /given up/);
    assert.ok(r.ms < 45_000, `took ${r.ms} ms`);
  });
});
