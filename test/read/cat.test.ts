/**
 * `dv cat <rev>:<path>`, `dv ls <rev>:<path>` and `repo.open/readFile/list` against a directory
 * remote, from a clone that fetched nothing: the old version byte for byte, only that file's
 * bytes read from the remote, nothing written to the store, one clear line for each refusal, and
 * a damaged chunk refused after the verified bytes only.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { Repo, type FileStream } from '../../src/index.js';
import { decodePackIndex, type PackEntry } from '../../src/store/pack-index.js';
import { dvOk, git, makeRepo, prng, storeBytes, tempDir } from '../helpers/cli.js';
import { dvBytes, twoVersionsPushed, type Pushed } from './setup.js';

let p: Pushed;
let remote: string;
before(async () => {
  process.env.XDG_CONFIG_HOME = tempDir('dv-read-xdg-');
  remote = join(tempDir(), 'remote');
  p = await twoVersionsPushed(remote);
});

test('dv cat v1:path in a clone that fetched nothing: byte-identical, and the store stays empty', async () => {
  const r = await dvBytes(p.b, ['cat', 'v1:data/large0.bin']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  assert.ok(r.stdout.equals(p.v1), 'the bytes of v1, not of the workspace version');
  const v2 = await dvBytes(p.b, ['cat', 'HEAD:data/large0.bin']);
  assert.ok(v2.stdout.equals(await fsp.readFile(join(p.a, 'data', 'large0.bin'))), 'HEAD holds v2');
  assert.ok(!v2.stdout.equals(p.v1));
  const small = await dvBytes(join(p.b), ['cat', 'v1:data/d3/f3.dat']);
  assert.ok(small.stdout.equals(await fsp.readFile(join(p.a, 'data', 'd3', 'f3.dat'))), 'a file stored as a single chunk');
  assert.equal(await storeBytes(p.b), 0, 'nothing was written to the local store');
});

test('repo.open streams only that file from the remote: bytes read close to its size, not the snapshot', async (t) => {
  const repo = await Repo.open(p.b);
  const s: FileStream = await repo.open('data/large0.bin', { rev: 'v1' });
  assert.equal(s.size, p.v1.length);
  const parts: Buffer[] = [];
  for await (const c of s) parts.push(c as Buffer);
  assert.ok(Buffer.concat(parts).equals(p.v1));
  assert.ok(s.stats.bytes >= p.v1.length, `${s.stats.bytes} bytes read`);
  assert.ok(s.stats.bytes < p.v1.length * 1.05 + 256 * 1024, `${s.stats.bytes} bytes read for a file of ${p.v1.length}`);
  assert.ok(p.v1Size > 7 * p.v1.length, `the snapshot (${p.v1Size} bytes) is much larger than the file`);
  assert.ok(s.stats.requests <= 10, `${s.stats.requests} ranged reads`);
  t.diagnostic(`file ${p.v1.length} B, snapshot ${p.v1Size} B: ${s.stats.bytes} B in ${s.stats.requests} ranged reads`);
  assert.ok((await repo.readFile('data/large1.bin', { rev: 'v1' })).equals(await fsp.readFile(join(p.a, 'data', 'large1.bin'))));
  // A snapshot id the clone never fetched: found on the remote; the path is inside the snapshot.
  const log = JSON.parse(await dvOk(p.b, ['log', '--git', '--json']));
  const snap1 = log.at(-1).paths[0].snapshot as string;
  assert.ok((await repo.readFile('large0.bin', { rev: snap1.slice(0, 10) })).equals(p.v1));
  const listed = await repo.list('data', { rev: 'v1' });
  assert.deepEqual(
    listed.filter((e) => e.type === 'file').map((e) => [e.path, e.size]),
    [
      ['large0.bin', 4_000_000],
      ['large1.bin', 12_000_000],
      ['large2.bin', 12_000_000],
    ],
  );
  assert.equal(listed.filter((e) => e.type === 'dir').length, 10);
  assert.deepEqual(
    (await repo.list('', { rev: 'v1' })).map((e) => [e.path, e.type]),
    [['data', 'dir']],
  );
  assert.equal(await storeBytes(p.b), 0);
});

test('dv ls rev:path lists names, sizes and types (--json), from the remote', async () => {
  const text = await dvOk(p.b, ['ls', 'v1:data']);
  assert.match(text, /^file +3\.8 MiB|file .* large0\.bin$/m);
  assert.match(text, /^dir .* d0\/$/m);
  const j = JSON.parse(await dvOk(p.b, ['ls', 'v1:data/d0', '--json']));
  assert.ok(j.length === 30 && j.every((e: any) => e.type === 'file' && e.size > 0 && /^f\d+\.dat$/.test(e.path)), JSON.stringify(j[0]));
  const one = JSON.parse(await dvOk(p.b, ['ls', 'v2:data/large0.bin', '--json']));
  assert.deepEqual(
    one.map((e: any) => [e.path, e.type, e.size]),
    [['large0.bin', 'file', 4_000_000]],
  );
  const rec = JSON.parse(await dvOk(p.b, ['ls', '-R', 'v1:data', '--json']));
  assert.equal(rec.filter((e: any) => e.type === 'file').length, 303);
});

test('refusals: one line with a stable code and exit status, nothing on stdout', async () => {
  const cases: [string[], string, number, RegExp][] = [
    [['cat', 'v1:data'], 'USAGE', 2, /v1:data is a directory: list it with `dv ls v1:data`/],
    [['cat', 'v1:elsewhere/x.csv'], 'NOT_TRACKED', 13, /elsewhere\/x\.csv is not inside a path tracked at v1 .*\(tracked: data\)/],
    [['cat', 'v1:data/d0/nope.dat'], 'PATH_NOT_FOUND', 15, /no data\/d0\/nope\.dat in this version/],
    [['cat', 'v1:data/large0.bin/x'], 'PATH_NOT_FOUND', 15, /data\/large0\.bin is a file, not a directory/],
    [['cat', 'v1:data/../../etc/passwd'], 'USAGE', 2, /may not contain "\.\."/],
    [['cat', 'nosuchrev:data/large0.bin'], 'UNKNOWN_ID', 20, /neither a git revision nor an object id/],
    [['cat', 'v1:'], 'USAGE', 2, /names no file/],
    [['ls', 'v1:data/nope'], 'PATH_NOT_FOUND', 15, /no data\/nope/],
    [
      ['cat', '-r', 'nope', 'v1:data/large0.bin'],
      'NO_REMOTE',
      30,
      /not in the local store and there is no remote to read it from: no remote named "nope"/,
    ],
  ];
  for (const [args, code, exit, msg] of cases) {
    const r = await dvBytes(p.b, args);
    assert.equal(r.code, exit, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stdout.length, 0, args.join(' '));
    const lines = r.stderr.trimEnd().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0], new RegExp(`^dv: error ${code}: `));
    assert.match(lines[0], msg);
  }
});

test('a corrupted chunk on the remote is refused: OBJECT_CORRUPT, and stdout holds only bytes that verified', async () => {
  const a = await makeRepo();
  const content = prng(77, 12_000_000);
  await fsp.mkdir(join(a, 'data'));
  await fsp.writeFile(join(a, 'data', 'big.bin'), content);
  await dvOk(a, ['add', '-q', 'data']);
  const rem = join(tempDir(), 'remote');
  await dvOk(a, ['remote', 'add', 'origin', rem]);
  await dvOk(a, ['push', '-q']);
  git(a, ['add', '-A']);
  git(a, ['commit', '-qm', 'data']);
  const b = join(tempDir(), 'clone');
  git(tempDir(), ['clone', '-q', a, b]);
  // Damage one chunk three quarters into the file: the entry at that place in the pack.
  // The pack holding the file's chunks: the one whose index lists the most of them.
  let best: { packId: string; entries: PackEntry[] } = { packId: '', entries: [] };
  for (const sub of await fsp.readdir(join(rem, 'index'))) {
    for (const name of await fsp.readdir(join(rem, 'index', sub))) {
      const packId = name.slice(0, 64);
      const entries = decodePackIndex(await fsp.readFile(join(rem, 'index', sub, name)), packId).filter((e) => e.rawSize > 16_000);
      if (entries.length > best.entries.length) best = { packId, entries };
    }
  }
  const { packId } = best;
  const entries = best.entries.sort((x, y) => x.offset - y.offset);
  const victim = entries[Math.floor(entries.length * 0.75)];
  const packFile = join(rem, 'packs', packId.slice(0, 2), `${packId}.pack`);
  const fh = await fsp.open(packFile, 'r+');
  const at = victim.offset + Math.floor(victim.length / 2);
  const byte = Buffer.alloc(1);
  await fh.read(byte, 0, 1, at);
  byte[0] ^= 0xff;
  await fh.write(byte, 0, 1, at);
  await fh.close();

  const r = await dvBytes(b, ['cat', 'HEAD:data/big.bin']);
  assert.equal(r.code, 23, r.stderr);
  assert.match(
    r.stderr,
    new RegExp(`^dv: error OBJECT_CORRUPT: object ${victim.id} from .* does not match its hash: the remote copy is damaged`),
  );
  assert.equal(r.stderr.trimEnd().split('\n').length, 1);
  assert.ok(r.stdout.length < content.length * 0.8, `${r.stdout.length} bytes written`);
  assert.ok(r.stdout.length > 0, 'the verified chunks before the damage were streamed');
  assert.ok(content.subarray(0, r.stdout.length).equals(r.stdout), 'what was written is a verified prefix of the file');
  const api = await (await Repo.open(b)).readFile('data/big.bin', { rev: 'HEAD' }).then(
    () => 'read',
    (e) => e.code,
  );
  assert.equal(api, 'OBJECT_CORRUPT');
  assert.equal(await storeBytes(b), 0);
});

test('the local store serves what it holds, the remote is not opened; ":path" reads the workspace pointer files', async () => {
  const r = await dvBytes(p.a, ['cat', ':data/d1/f1.dat']);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(r.stdout.equals(await fsp.readFile(join(p.a, 'data', 'd1', 'f1.dat'))));
  const s = await (await Repo.open(p.a)).open('data/large0.bin', { rev: 'v1', remote: 'no-such-remote' });
  const parts: Buffer[] = [];
  for await (const c of s) parts.push(c as Buffer);
  assert.ok(Buffer.concat(parts).equals(p.v1));
  assert.deepEqual([s.stats.requests, s.stats.remoteObjects], [0, 0], 'a remote that does not exist was never needed');
  assert.ok(s.stats.localObjects > 50);
});

test('a corrupt chunk in the local store is read from the remote instead, verified', async () => {
  const a = await makeRepo();
  const content = prng(91, 3_000_000);
  await fsp.mkdir(join(a, 'data'));
  await fsp.writeFile(join(a, 'data', 'big.bin'), content);
  await dvOk(a, ['add', '-q', 'data']);
  await dvOk(a, ['remote', 'add', 'origin', join(tempDir(), 'remote')]);
  await dvOk(a, ['push', '-q']);
  // Damage the largest local pack in the middle of one of its chunks.
  const packs = join(a, '.dv', 'cache', 'packs');
  let best: { file: string; entries: PackEntry[] } = { file: '', entries: [] };
  for (const sub of await fsp.readdir(packs)) {
    for (const name of (await fsp.readdir(join(packs, sub))).filter((n) => n.endsWith('.idx'))) {
      const entries = decodePackIndex(await fsp.readFile(join(packs, sub, name)), name.slice(0, 64)).filter((e) => e.rawSize > 16_000);
      if (entries.length > best.entries.length) best = { file: join(packs, sub, name.replace(/\.idx$/, '.pack')), entries };
    }
  }
  const victim = best.entries.sort((x, y) => x.offset - y.offset)[1];
  const fh = await fsp.open(best.file, 'r+');
  const at = victim.offset + Math.floor(victim.length / 2);
  const byte = Buffer.alloc(1);
  await fh.read(byte, 0, 1, at);
  byte[0] ^= 0xff;
  await fh.write(byte, 0, 1, at);
  await fh.close();
  const s = await (await Repo.open(a)).open('data/big.bin');
  const parts: Buffer[] = [];
  for await (const c of s) parts.push(c as Buffer);
  assert.ok(Buffer.concat(parts).equals(content), 'byte-identical');
  assert.equal(s.stats.remoteObjects, 1, 'the damaged chunk alone came from the remote');
  assert.ok(s.stats.localObjects > 10);
});
