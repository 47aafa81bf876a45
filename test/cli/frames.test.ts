/**
 * Frames end to end through the real CLI: a CSV is stored in fewer bytes than per-chunk
 * compression, read back byte-identical, damage inside a frame is found and refused, frames
 * travel through directory and S3 remotes (also when the remote holds part of a frame), and gc
 * keeps partly dead frames readable.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { dv, dvOk, dvJson, makeRepo, describeTree, git, tempDir, prng, storeBytes } from '../helpers/cli.js';
import { startS3rver, credsEnv, type S3TestServer } from '../helpers/s3server.js';
import { writeCsv } from '../../benchmarks/lib/csv.js';
import { nextCut, CHUNKER_V1 } from '../../src/core/chunker.js';
import { decodePackIndex, type PackEntry } from '../../src/store/pack-index.js';
import { FLAG_FRAME } from '../../src/store/codec.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const zstd = createRequire(import.meta.url)('@mongodb-js/zstd/bindings.js') as { compress(b: Buffer, level: number): Promise<Buffer> };
const CSV_BYTES = 8_000_000;

/** What the file would take stored the old way: each chunk zstd-compressed alone (level 3), headers not counted. */
async function perChunkBytes(file: string): Promise<number> {
  const buf = await fsp.readFile(file);
  let n = 0;
  for (let pos = 0; pos < buf.length; ) {
    const len = nextCut(buf, pos, buf.length, true, CHUNKER_V1);
    const c = await zstd.compress(buf.subarray(pos, pos + len), 3);
    n += Math.min(c.length, len);
    pos += len;
  }
  return n;
}

/** Every pack and its index entries in a packs directory. */
async function packsOf(packsDir: string): Promise<{ pack: string; entries: PackEntry[] }[]> {
  const out: { pack: string; entries: PackEntry[] }[] = [];
  for (const fan of await fsp.readdir(packsDir).catch(() => [])) {
    for (const f of await fsp.readdir(join(packsDir, fan))) {
      if (!f.endsWith('.idx')) continue;
      out.push({
        pack: join(packsDir, fan, f.replace(/\.idx$/, '.pack')),
        entries: decodePackIndex(await fsp.readFile(join(packsDir, fan, f))),
      });
    }
  }
  return out;
}

async function csvRepo(): Promise<string> {
  const a = await makeRepo();
  await fsp.mkdir(join(a, 'data'));
  writeCsv(join(a, 'data', 'table.csv'), CSV_BYTES, 'frames');
  return a;
}

test('a CSV is stored in frames, smaller than per-chunk compression, read back identical; random data stays raw', async () => {
  const a = await csvRepo();
  await fsp.writeFile(join(a, 'data', 'noise.bin'), prng(7, 3_000_000));
  await dvOk(a, ['add', '-q', 'data']);
  const packs = await packsOf(join(a, '.dv', 'cache', 'packs'));
  const all = packs.flatMap((p) => p.entries);
  const framed = all.filter((e) => e.flags === FLAG_FRAME);
  assert.ok(framed.length >= 80, `${framed.length} framed chunks`);
  assert.ok(new Set(framed.map((e) => e.offset)).size >= 3, 'several frames');
  const csvStore = new Set(framed.map((e) => `${e.offset}`)).size;
  assert.ok(csvStore > 0);
  // Random data: chunks of about 64 KiB stored raw, not framed.
  const rawBig = all.filter((e) => e.flags === 0 && e.rawSize >= 32 * 1024);
  assert.ok(rawBig.reduce((n, e) => n + e.rawSize, 0) >= 3_000_000 - 256 * 1024, 'the random file is stored raw');
  const bound = (await perChunkBytes(join(a, 'data', 'table.csv'))) + 3_000_000;
  const stored = await storeBytes(a);
  assert.ok(stored < bound * 0.95, `stored ${stored} bytes, per-chunk compression would take ${bound}`);
  const good = await describeTree(join(a, 'data'));
  await fsp.rm(join(a, 'data'), { recursive: true });
  await dvOk(a, ['checkout']);
  assert.deepEqual(await describeTree(join(a, 'data')), good);
  assert.equal((await dvJson(a, ['status'])).clean, true);
  assert.equal((await dvJson(a, ['fsck'])).ok, true);
});

test('a flipped byte inside a frame: fsck exits 26 naming its objects, checkout refuses', async () => {
  const a = await csvRepo();
  await dvOk(a, ['add', '-q', 'data']);
  const { pack, entries } = (await packsOf(join(a, '.dv', 'cache', 'packs'))).find((p) => p.entries.some((e) => e.flags === FLAG_FRAME))!;
  const frame = entries.filter((e) => e.flags === FLAG_FRAME).sort((x, y) => x.offset - y.offset)[1];
  const fh = await fsp.open(pack, 'r+');
  try {
    const b = Buffer.alloc(1);
    await fh.read(b, 0, 1, frame.offset + Math.floor(frame.length / 2));
    b[0] ^= 0x40;
    await fh.write(b, 0, 1, frame.offset + Math.floor(frame.length / 2));
  } finally {
    await fh.close();
  }
  const f = await dv(a, ['fsck']);
  assert.equal(f.code, 26, f.stderr);
  const named = entries.filter((e) => e.offset === frame.offset && f.stderr.includes(`object ${e.id}`));
  assert.ok(named.length >= 1, f.stderr);
  assert.ok(
    !entries.some((e) => e.offset !== frame.offset && f.stderr.includes(`object ${e.id}`)),
    'only objects of the damaged frame are named',
  );
  await fsp.rm(join(a, 'data'), { recursive: true });
  const co = await dv(a, ['checkout']);
  assert.notEqual(co.code, 0);
  assert.match(co.stderr, /OBJECT_(CORRUPT|MISSING)/);
});

test('directory remote: frames pushed whole and pulled whole; a push where the remote holds part of a frame', async () => {
  const a = await csvRepo();
  await dvOk(a, ['add', '-q', 'data']);
  const remote = join(tempDir(), 'remote');
  // Another repository pushes the first half of the same CSV first: part of A's frames is there.
  const o = await makeRepo();
  await fsp.mkdir(join(o, 'half'));
  const csv = await fsp.readFile(join(a, 'data', 'table.csv'));
  await fsp.writeFile(join(o, 'half', 'h.csv'), csv.subarray(0, csv.indexOf('\n', csv.length / 2) + 1));
  await dvOk(o, ['add', '-q', 'half']);
  await dvOk(o, ['remote', 'add', 'origin', remote]);
  await dvOk(o, ['push', '-q']);

  await dvOk(a, ['remote', 'add', 'origin', remote]);
  git(a, ['add', '-A']);
  git(a, ['commit', '-qm', 'data']);
  const p = await dvJson(a, ['push']);
  assert.ok(p.alreadyThere > 10 && p.objectsSent > 10, JSON.stringify(p));
  const remoteFrames = (await packsOf(join(remote, 'index'))).flatMap((x) => x.entries).filter((e) => e.flags === FLAG_FRAME);
  assert.ok(remoteFrames.length > 20, 'frames travel as frames');

  const b = join(tempDir(), 'clone');
  git(tempDir(), ['clone', '-q', a, b]);
  await dvOk(b, ['pull', '-q']);
  assert.deepEqual(await describeTree(join(b, 'data')), await describeTree(join(a, 'data')));
  assert.equal((await dvJson(b, ['status'])).clean, true);
  assert.equal((await dvJson(b, ['fsck'])).ok, true);
  const local = (await packsOf(join(b, '.dv', 'cache', 'packs'))).flatMap((x) => x.entries);
  assert.ok(
    local.some((e) => e.flags === FLAG_FRAME),
    'the pulled store keeps frames',
  );
  assert.ok(
    (await storeBytes(b)) < (await storeBytes(a)) * 1.15,
    `pulled ${await storeBytes(b)} bytes, pushed from ${await storeBytes(a)}`,
  );
});

describe('S3 remote with frames', () => {
  let srv: S3TestServer | undefined;
  before(async () => {
    srv = await startS3rver();
  });
  after(async () => {
    await srv?.stop();
  });

  test('s3rver: push frames, clone, pull byte-identical', async () => {
    await srv!.createBucket('frames');
    const env = credsEnv(srv!);
    const a = await csvRepo();
    await dvOk(a, ['add', '-q', 'data']);
    await dvOk(a, ['remote', 'add', 's3', 's3://frames/p', '--endpoint', srv!.endpoint]);
    git(a, ['add', '-A']);
    git(a, ['commit', '-qm', 'data']);
    await dvOk(a, ['push', '-q'], env);
    const b = join(tempDir(), 'clone');
    git(tempDir(), ['clone', '-q', a, b]);
    const r = await dv(b, ['pull', '--json'], env);
    assert.equal(r.code, 0, r.stderr);
    const fetched = JSON.parse(r.stdout).fetch;
    const frames = new Set(
      (await packsOf(join(a, '.dv', 'cache', 'packs')))
        .flatMap((x) => x.entries)
        .filter((e) => e.flags === FLAG_FRAME)
        .map((e) => e.offset),
    ).size;
    assert.ok(fetched.requests <= frames + 10, `one read per frame at most: ${fetched.requests} requests for ${frames} frames`);
    assert.deepEqual(await describeTree(join(b, 'data')), await describeTree(join(a, 'data')));
    assert.equal((await dvJson(b, ['fsck'])).ok, true);
  });
});

test("gc after part of a file's history is gone: whole frames copied, partly dead frames re-stored, all readable", async () => {
  const a = await csvRepo();
  // scratch holds the whole CSV (its frames); data keeps only the first half, sharing chunks.
  await fsp.mkdir(join(a, 'scratch'));
  await fsp.rename(join(a, 'data', 'table.csv'), join(a, 'scratch', 'all.csv'));
  const csv = await fsp.readFile(join(a, 'scratch', 'all.csv'));
  await dvOk(a, ['add', '-q', 'scratch']);
  await fsp.writeFile(join(a, 'data', 'half.csv'), csv.subarray(0, csv.indexOf('\n', csv.length / 2) + 1));
  await dvOk(a, ['add', '-q', 'data']);
  git(a, ['add', 'data.dv', '.gitignore']);
  git(a, ['commit', '-qm', 'data only']);
  await fsp.rm(join(a, 'scratch.dv'));
  await fsp.rm(join(a, 'scratch'), { recursive: true });
  const before = await storeBytes(a);
  const g = await dvJson(a, ['gc', '--keep-days', '0']);
  assert.ok(g.removedObjects > 10 && g.repackedPacks >= 1, JSON.stringify(g));
  const afterBytes = await storeBytes(a);
  assert.ok(afterBytes < before * 0.75, `gc left ${afterBytes} of ${before} bytes`);
  assert.ok(
    (await packsOf(join(a, '.dv', 'cache', 'packs'))).flatMap((x) => x.entries).some((e) => e.flags === FLAG_FRAME),
    'live frames were kept whole',
  );
  assert.equal((await dvJson(a, ['fsck'])).ok, true);
  const good = await describeTree(join(a, 'data'));
  await fsp.rm(join(a, 'data'), { recursive: true });
  await dvOk(a, ['checkout']);
  assert.deepEqual(await describeTree(join(a, 'data')), good);
});
