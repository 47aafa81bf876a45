/**
 * `dv get`, `dv import`, `dv update` between two local git repositories, the source's data on a
 * directory remote (inside the source) and on s3rver: bytes equal, the pointer records the source,
 * an update follows the source's newer version, `dv lineage` names the source; and the refusals:
 * hostile URLs (`ext::`, a leading `-`), a committed directory remote outside the source, an
 * output that exists, a path the source does not track.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { describeTree, dv, dvJson, dvOk, git, makeRepo, prng, tempDir } from '../helpers/cli.js';
import { credsEnv, startS3rver, type S3TestServer } from '../helpers/s3server.js';

let srv: S3TestServer;
before(async () => {
  srv = await startS3rver();
});
after(async () => {
  await srv.stop();
});

interface Source {
  dir: string;
  env: Record<string, string>;
}

/** A source repository: data/ (a text file, a 1 MB file in sub/), pushed to its remote, committed. */
async function source(kind: 'dir' | 's3'): Promise<Source> {
  const dir = await makeRepo();
  await fsp.mkdir(join(dir, 'data', 'sub'), { recursive: true });
  await fsp.writeFile(join(dir, 'data', 'labels.csv'), 'id,label\n1,cat\n');
  await fsp.writeFile(join(dir, 'data', 'sub', 'big.bin'), prng(11, 1_000_000));
  await dvOk(dir, ['add', '-q', 'data']);
  let env: Record<string, string> = {};
  if (kind === 'dir') {
    // A directory remote inside the source repository (git-ignored), as the trust rule wants.
    await fsp.appendFile(join(dir, '.gitignore'), '/store/\n');
    await dvOk(dir, ['remote', 'add', 'origin', './store']);
  } else {
    const bucket = `src-${Math.random().toString(36).slice(2, 8)}`;
    await srv.createBucket(bucket);
    env = credsEnv(srv);
    await dvOk(dir, ['remote', 'add', 'origin', `s3://${bucket}/p`, '--endpoint', srv.endpoint]);
  }
  await dvOk(dir, ['push', '-q'], env);
  git(dir, ['add', '-A']);
  git(dir, ['commit', '-qm', 'v1']);
  git(dir, ['tag', 'v1']);
  return { dir, env };
}

async function newVersion(src: Source): Promise<void> {
  await fsp.writeFile(join(src.dir, 'data', 'labels.csv'), 'id,label\n1,cat\n2,dog\n');
  await dvOk(src.dir, ['commit', '-q']);
  await dvOk(src.dir, ['push', '-q'], src.env);
  git(src.dir, ['add', '-A']);
  git(src.dir, ['commit', '-qm', 'v2']);
}

for (const kind of ['dir', 's3'] as const) {
  test(`${kind}: dv get a file and a directory, byte for byte, nothing tracked`, async () => {
    const src = await source(kind);
    const me = await makeRepo();
    const f = await dvJson(me, ['get', src.dir, 'data/labels.csv', '--json'], src.env);
    assert.deepEqual([f.kind, f.files, f.remote, f.path], ['file', 1, 'origin', 'data/labels.csv']);
    assert.equal(await fsp.readFile(join(me, 'labels.csv'), 'utf8'), 'id,label\n1,cat\n');
    const d = await dvJson(me, ['get', src.dir, 'data', '-o', 'copy', '--json'], src.env);
    assert.equal(d.files, 2);
    assert.deepEqual(await describeTree(join(me, 'copy')), await describeTree(join(src.dir, 'data')));
    assert.deepEqual(await fsp.readdir(me).then((x) => x.filter((n) => n.endsWith('.dv') && n !== '.dv')), [], 'nothing tracked');
    // An older version by tag, after the source moved on.
    await newVersion(src);
    await dvOk(me, ['get', src.dir, 'data/labels.csv', '-o', 'v1.csv', '--rev', 'v1'], src.env);
    assert.equal(await fsp.readFile(join(me, 'v1.csv'), 'utf8'), 'id,label\n1,cat\n');
    const exists = await dv(me, ['get', src.dir, 'data/labels.csv', '-o', 'v1.csv'], src.env);
    assert.equal(exists.code, 16, exists.stderr);
    assert.equal(await fsp.readFile(join(me, 'v1.csv'), 'utf8'), 'id,label\n1,cat\n', 'never overwritten');
  });

  test(`${kind}: dv import records the source, dv update follows it, dv lineage names it`, async () => {
    const src = await source(kind);
    const me = await makeRepo();
    const imp = await dvJson(me, ['import', src.dir, 'data', '-o', 'ext', '--json'], src.env);
    assert.equal(imp.changed, true);
    assert.deepEqual(await describeTree(join(me, 'ext')), await describeTree(join(src.dir, 'data')));
    const head = git(src.dir, ['rev-parse', 'HEAD']).trim();
    const pointer = await fsp.readFile(join(me, 'ext.dv'), 'utf8');
    const line = /^source: (.*)$/m.exec(pointer)?.[1];
    assert.ok(line, pointer);
    const recorded = JSON.parse(line);
    assert.deepEqual([recorded.url, recorded.commit, recorded.path], [src.dir, head, 'data']);
    assert.match(recorded.snapshot, /^[0-9a-f]{64}$/);
    assert.equal((await dvJson(me, ['status', '--json'])).clean, true);
    const lineage = await dvOk(me, ['lineage', 'ext']);
    assert.ok(lineage.includes(`import of data from ${src.dir}`), lineage);
    git(me, ['add', '-A']);
    git(me, ['commit', '-qm', 'import']);

    const same = await dvJson(me, ['update', 'ext', '--json'], src.env);
    assert.equal(same.changed, false);
    await newVersion(src);
    const up = await dvJson(me, ['update', 'ext', '--json'], src.env);
    assert.deepEqual([up.changed, up.written], [true, 1]);
    assert.equal(await fsp.readFile(join(me, 'ext', 'labels.csv'), 'utf8'), 'id,label\n1,cat\n2,dog\n');
    const moved = JSON.parse(/^source: (.*)$/m.exec(await fsp.readFile(join(me, 'ext.dv'), 'utf8'))![1]);
    assert.equal(moved.commit, git(src.dir, ['rev-parse', 'HEAD']).trim());
    // Back to the tag: --rev is recorded and followed from then on.
    await dvOk(me, ['update', 'ext', '--rev', 'v1'], src.env);
    assert.equal(await fsp.readFile(join(me, 'ext', 'labels.csv'), 'utf8'), 'id,label\n1,cat\n');
    assert.equal(JSON.parse(/^source: (.*)$/m.exec(await fsp.readFile(join(me, 'ext.dv'), 'utf8'))![1]).rev, 'v1');
    // A single file imported.
    await dvOk(me, ['import', src.dir, 'data/sub/big.bin'], src.env);
    assert.ok((await fsp.readFile(join(me, 'big.bin'))).equals(await fsp.readFile(join(src.dir, 'data', 'sub', 'big.bin'))));
  });
}

test('refusals: hostile URLs, a committed directory remote outside the source, untracked paths, a path not imported', async () => {
  const src = await source('dir');
  const me = await makeRepo();
  const sentinel = join(tempDir(), 'pwned');
  for (const url of [`ext::sh -c touch% ${sentinel}`, 'fake::whatever', '-uhelp', '--upload-pack=touch /tmp/x']) {
    const r = await dv(me, ['get', '--', url, 'data']);
    assert.equal(r.code, 2, `${url}: ${r.stderr}`);
    assert.match(r.stderr, /^dv: error USAGE: .* is not a repository dv clones/);
  }
  await assert.rejects(fsp.lstat(sentinel), 'no program ran');

  // The source commits a remote that points elsewhere on this disk: refused, nothing read or written.
  const elsewhere = join(tempDir(), 'elsewhere');
  await dvOk(src.dir, ['remote', 'add', 'origin', elsewhere, '--force']).catch(async () => {
    await dvOk(src.dir, ['config', 'remote.origin.url', elsewhere]);
  });
  git(src.dir, ['add', '-A']);
  git(src.dir, ['commit', '-qm', 'remote elsewhere']);
  const out = await dv(me, ['get', src.dir, 'data/labels.csv']);
  assert.equal(out.code, 35, out.stderr);
  assert.match(out.stderr, /^dv: error REMOTE_UNTRUSTED: .*names the directory .*elsewhere.* outside /);
  await assert.rejects(fsp.lstat(join(me, 'labels.csv')));

  // A revision of the source whose committed config names no remote: the error names the source.
  const bare = await source('dir');
  await dvOk(bare.dir, ['remote', 'remove', 'origin']);
  git(bare.dir, ['add', '-A']);
  git(bare.dir, ['commit', '-qm', 'no remote']);
  const none = await dv(me, ['get', bare.dir, 'data/labels.csv', '-o', 'none.csv']);
  assert.equal(none.code, 30, none.stderr);
  assert.match(none.stderr, /^dv: error NO_REMOTE: .* at [0-9a-f]{10}: its committed \.dv\/config names no default remote/);

  const other = await source('dir');
  const miss = await dv(me, ['get', other.dir, 'nothere.csv']);
  assert.equal(miss.code, 13, miss.stderr);
  const inner = await dv(me, ['get', other.dir, 'data/none.csv']);
  assert.equal(inner.code, 15, inner.stderr);
  const up = await dv(me, ['import', other.dir, 'data/labels.csv', '-o', '../escape.csv']);
  assert.equal(up.code, 14, up.stderr);
  await fsp.mkdir(join(me, 'own'));
  await fsp.writeFile(join(me, 'own', 'x'), 'x');
  await dvOk(me, ['add', '-q', 'own']);
  const notImported = await dv(me, ['update', 'own']);
  assert.equal(notImported.code, 2, notImported.stderr);
  assert.match(notImported.stderr, /was not imported/);
});
