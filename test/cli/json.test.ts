/**
 * The --json output is an interface scripts rely on: every command's keys and their types are
 * pinned here. Objects must have exactly the keys listed (a trailing `?` marks an optional key),
 * so adding, renaming or retyping a field fails this test until the documentation follows.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { dv, dvJson, dvOk, git, makeRepo, tempDir } from '../helpers/cli.js';

type Spec =
  | 'string'
  | 'number'
  | 'boolean'
  | 'id'
  | 'time'
  | 'record'
  | null
  | readonly Spec[]
  | Spec[]
  | { [key: string]: Spec }
  | { oneOf: Spec[] }
  | { enum: string[] };

function check(v: unknown, spec: Spec, at: string): void {
  if (spec === null) {
    assert.equal(v, null, `${at} should be null`);
    return;
  }
  if (typeof spec === 'string') {
    if (spec === 'id') {
      assert.match(String(v), /^[0-9a-f]{64}$/, `${at} should be an id`);
      return;
    }
    if (spec === 'time') {
      assert.ok(typeof v === 'string' && !Number.isNaN(Date.parse(v)), `${at} should be an ISO time`);
      return;
    }
    if (spec === 'record') {
      assert.ok(v && typeof v === 'object' && !Array.isArray(v), `${at} should be an object`);
      for (const [k, x] of Object.entries(v as object)) assert.equal(typeof x, 'string', `${at}.${k} should be a string`);
      return;
    }
    if (spec === 'number') assert.ok(Number.isInteger(v) && (v as number) >= 0, `${at} should be a count, got ${JSON.stringify(v)}`);
    assert.equal(typeof v, spec, `${at} should be a ${spec}, got ${JSON.stringify(v)}`);
    return;
  }
  if (Array.isArray(spec)) {
    assert.ok(Array.isArray(v), `${at} should be an array`);
    for (const [i, x] of (v as unknown[]).entries()) check(x, spec[0], `${at}[${i}]`);
    return;
  }
  if ('oneOf' in spec && Array.isArray(spec.oneOf)) {
    const errors: string[] = [];
    for (const s of spec.oneOf) {
      try {
        check(v, s, at);
        return;
      } catch (e) {
        errors.push((e as Error).message);
      }
    }
    assert.fail(`${at} matches none of its shapes: ${errors.join(' | ')}`);
  }
  if ('enum' in spec && Array.isArray(spec.enum)) {
    const allowed = spec.enum as string[];
    assert.ok(allowed.includes(v as string), `${at}: ${JSON.stringify(v)} not in ${allowed.join('|')}`);
    return;
  }
  assert.ok(v && typeof v === 'object' && !Array.isArray(v), `${at} should be an object`);
  const obj = v as Record<string, unknown>;
  const keys = Object.keys(spec as object);
  for (const k of Object.keys(obj)) assert.ok(keys.includes(k) || keys.includes(k + '?'), `${at}.${k} is not a documented field`);
  for (const k of keys) {
    const name = k.replace(/\?$/, '');
    if (!(name in obj)) {
      assert.ok(k.endsWith('?'), `${at}.${name} is missing`);
      continue;
    }
    check(obj[name], (spec as Record<string, Spec>)[k], `${at}.${name}`);
  }
}

const idOrNull: Spec = { oneOf: ['id', null] };
const commitEntry: Record<string, Spec> = {
  path: 'string',
  snapshot: 'id',
  tree: 'id',
  parent: idOrNull,
  changed: 'boolean',
  size: 'number',
  files: 'number',
  filesHashed: 'number',
  bytesHashed: 'number',
};
const checkoutPaths: Spec = [{ path: 'string', snapshot: 'id', tree: 'id', written: 'number', removed: 'number', bytes: 'number' }];
const checkoutResult: Spec = { paths: checkoutPaths };
// dv checkout <git revision | id fetched on demand>: the commit read, the snapshots fetched.
const checkoutAtResult: Spec = { paths: checkoutPaths, 'commit?': 'string', 'fetched?': ['string'] };
const fetchResult: Spec = {
  remote: 'string',
  url: 'string',
  snapshots: ['id'],
  warnings: ['string'],
  objectsFetched: 'number',
  bytesFetched: 'number',
  dataFetched: 'number',
  requests: 'number',
  'largestBatch?': 'number',
  'partial?': [{ rel: 'string', entries: ['string'] }],
  'whole?': ['string'],
};
const SHAPES: Record<string, Spec> = {
  init: { root: 'string', git: 'boolean' },
  add: {
    added: [{ ...commitEntry, pointer: 'string', 'gitignore?': 'string' }],
    gitAdd: ['string'],
    bytesStored: 'number',
    objectsStored: 'number',
  },
  commit: { committed: [commitEntry], gitAdd: ['string'], bytesStored: 'number', objectsStored: 'number' },
  status: {
    clean: 'boolean',
    upToDate: 'boolean',
    paths: [
      {
        path: 'string',
        pointer: 'string',
        snapshot: 'id',
        state: { enum: ['clean', 'modified', 'missing', 'not-in-cache', 'partial'] },
        added: ['string'],
        modified: ['string'],
        deleted: ['string'],
        notFetched: ['string'],
        filesHashed: 'number',
        reason: { oneOf: [{ enum: ['pointer-moved', 'interrupted-checkout', 'edited'] }, null] },
      },
    ],
    stages: [
      { name: 'string', changes: [{ type: { enum: ['new', 'cmd', 'dep', 'param', 'out', 'upstream'] }, what: 'string', how: 'string' }] },
    ],
    'metrics?': [{ stage: 'string', path: 'string', values: { oneOf: ['record', null] } }],
  },
  log: [
    {
      id: 'id',
      path: 'string',
      kind: { enum: ['dir', 'file'] },
      tree: 'id',
      parents: ['id'],
      message: 'string',
      author: 'string',
      time: 'time',
      size: 'number',
      files: 'number',
      lineage: {
        git: { oneOf: [{ commit: { oneOf: ['string', null] }, branch: { oneOf: ['string', null] }, dirty: 'boolean' }, null] },
        dv: 'string',
        meta: 'record',
        'pipeline?': 'record',
      },
    },
  ],
  diff: {
    from: 'id',
    to: { oneOf: ['id', { enum: ['workspace'] }] },
    changes: [{ type: { enum: ['added', 'modified', 'deleted'] }, path: 'string', kind: { enum: ['file', 'link'] }, 'size?': 'number' }],
  },
  ls: [
    {
      oneOf: [
        { path: 'string', type: { enum: ['file'] }, size: 'number', id: 'id', exec: 'boolean' },
        { path: 'string', type: { enum: ['dir'] }, size: 'number', id: 'id', files: 'number' },
        { path: 'string', type: { enum: ['link'] }, target: 'string' },
      ],
    },
  ],
  checkout: checkoutAtResult,
  gc: {
    dryRun: 'boolean',
    roots: 'number',
    reachableObjects: 'number',
    removedObjects: 'number',
    removedBytes: 'number',
    removedPacks: 'number',
    repackedPacks: 'number',
    leftoverFiles: 'number',
    leftoverBytes: 'number',
    repositories: ['string'],
  },
  fsck: {
    ok: 'boolean',
    packs: 'number',
    objects: 'number',
    bytes: 'number',
    roots: 'number',
    problems: [
      {
        code: { enum: ['OBJECT_MISSING', 'OBJECT_CORRUPT', 'BAD_OBJECT', 'BAD_POINTER', 'UNSAFE_PATH'] },
        'id?': 'id',
        'pack?': 'string',
        message: 'string',
      },
    ],
    stale: [{ id: 'id', pack: 'string' }],
    shallow: 'number',
    notFetched: 'number',
    indexRebuilt: 'boolean',
  },
  remoteList: [
    {
      name: 'string',
      url: 'string',
      isDefault: 'boolean',
      'endpoint?': 'string',
      'region?': 'string',
      'profile?': 'string',
      'pathStyle?': 'string',
      'checksum?': 'string',
      'jobs?': 'string',
      'timeout?': 'string',
      'sse?': 'string',
      'sseKmsKeyId?': 'string',
      'sseBucketKey?': 'string',
      'objectLockDays?': 'string',
      'objectLockMode?': 'string',
    },
  ],
  remoteDefault: { default: { oneOf: ['string', null] } },
  push: {
    remote: 'string',
    url: 'string',
    snapshots: ['id'],
    objectsSent: 'number',
    bytesSent: 'number',
    packsSent: 'number',
    alreadyThere: 'number',
    'repaired?': 'number',
    'warnings?': ['string'],
    runsSent: 'number',
  },
  remoteStatus: {
    remote: 'string',
    url: 'string',
    upToDate: 'boolean',
    notPushed: { objects: 'number', bytes: 'number' },
    notFetched: { objects: 'number', onRemote: 'number' },
  },
  fetch: fetchResult,
  pull: { fetch: fetchResult, checkout: checkoutResult },
  gcRemote: {
    remote: 'string',
    url: 'string',
    dryRun: 'boolean',
    graceMs: 'number',
    roots: 'number',
    attested: 'number',
    protectedRefs: ['string'],
    liveObjects: 'number',
    packsBefore: 'number',
    bytesBefore: 'number',
    packsAfter: 'number',
    bytesAfter: 'number',
    packsRemoved: 'number',
    objectsRemoved: 'number',
    bytesRemoved: 'number',
    packsMarked: 'number',
    unmarked: 'number',
    packsWaiting: 'number',
    orphanPacks: 'number',
    packsRepacked: 'number',
    packsWritten: 'number',
    bytesWritten: 'number',
    objectsCopied: 'number',
    runsKept: 'number',
    runsMarked: 'number',
    runsRemoved: 'number',
    leftovers: 'number',
    leftoverBytes: 'number',
    packsLocked: 'number',
    bundlesRemoved: 'number',
    bundlesWritten: 'number',
    warnings: ['string'],
    locked: [
      {
        key: 'string',
        kind: { enum: ['pack', 'index', 'run', 'bundle', 'mark'] },
        retainUntil: { oneOf: ['time', null] },
        mode: { oneOf: ['string', null] },
      },
    ],
  },
  install: {
    hooksDir: 'string',
    uninstall: 'boolean',
    hooks: [
      {
        hook: { enum: ['post-checkout', 'post-merge', 'post-rewrite', 'pre-push', 'pre-commit'] },
        file: 'string',
        action: { enum: ['created', 'added', 'updated', 'unchanged', 'kept', 'disabled', 'removed', 'deleted', 'absent'] },
      },
    ],
  },
};

async function json(name: keyof typeof SHAPES, cwd: string, args: string[]): Promise<any> {
  const v = await dvJson(cwd, args);
  check(v, SHAPES[name], name);
  return v;
}

test('--json shapes: init, add, status, commit, log, diff, ls, checkout, gc, fsck, install', async () => {
  const repo = await makeRepo({ init: false });
  assert.equal((await json('init', repo, ['init'])).git, true);
  const d = join(repo, 'data');
  await fsp.mkdir(join(d, 'sub'), { recursive: true });
  await fsp.writeFile(join(d, 'a.csv'), 'x,y\n1,2\n');
  await fsp.writeFile(join(d, 'run.sh'), '#!/bin/sh\n', { mode: 0o755 });
  await fsp.writeFile(join(d, 'sub', 'b.txt'), 'b');
  await fsp.symlink('a.csv', join(d, 'link'));
  const add = await json('add', repo, ['add', 'data', '-m', 'first', '--meta', 'k=v']);
  assert.equal(add.added[0].parent, null);
  assert.equal(add.added[0].gitignore, '.gitignore');
  assert.equal((await json('status', repo, ['status'])).paths[0].state, 'clean');

  await fsp.writeFile(join(d, 'a.csv'), 'x,y\n1,2\n3,4\n');
  await fsp.rm(join(d, 'sub', 'b.txt'));
  const st = await json('status', repo, ['status']);
  assert.deepEqual(
    [st.clean, st.paths[0].state, st.paths[0].modified, st.paths[0].deleted],
    [false, 'modified', ['data/a.csv'], ['data/sub/b.txt']],
  );
  const ws = await json('diff', repo, ['diff', add.added[0].snapshot]);
  assert.notEqual(ws.to, ws.from, 'the workspace tree differs');
  assert.deepEqual(
    ws.changes.map((x: any) => [x.type, x.path, x.size]),
    [
      ['modified', 'a.csv', 12],
      ['deleted', 'sub/b.txt', 1],
    ],
  );
  const c = await json('commit', repo, ['commit', '-m', 'second']);
  assert.equal(c.committed[0].parent, add.added[0].snapshot);

  const log = await json('log', repo, ['log']);
  assert.equal(log.length, 2);
  assert.deepEqual(log[1].lineage.meta, { k: 'v' });
  assert.equal(log[0].lineage.git.branch, 'main');
  const df = await json('diff', repo, ['diff', log[1].id, log[0].id]);
  assert.deepEqual(
    df.changes.map((x: any) => [x.type, x.path, x.kind]),
    [
      ['modified', 'a.csv', 'file'],
      ['deleted', 'sub/b.txt', 'file'],
    ],
  );
  const ls = await json('ls', repo, ['ls', 'data', '-R']);
  assert.deepEqual(ls.map((e: any) => e.type).sort(), ['dir', 'file', 'file', 'link']);
  assert.equal(ls.find((e: any) => e.path === 'run.sh').exec, true);
  await json('ls', repo, ['ls', log[1].id]);

  const co = await json('checkout', repo, ['checkout', log[1].id]);
  assert.equal(co.paths[0].written >= 2, true);
  await json('checkout', repo, ['checkout']);
  assert.equal((await json('gc', repo, ['gc', '--dry-run'])).dryRun, true);
  const fsck = await json('fsck', repo, ['fsck']);
  assert.deepEqual([fsck.ok, fsck.problems, fsck.indexRebuilt], [true, [], false]);
  assert.equal((await json('fsck', repo, ['fsck', '--rebuild-index'])).indexRebuilt, true);
  assert.deepEqual(
    (await json('install', repo, ['install'])).hooks.map((h: any) => h.action),
    ['created', 'created', 'created', 'created', 'created'],
  );

  // A failing fsck still prints its JSON (and exits 26): problems carry the pack they were found in.
  const packsDir = join(repo, '.dv', 'cache', 'packs');
  const packs = (await fsp.readdir(packsDir, { recursive: true })).filter((f) => String(f).endsWith('.pack'));
  await fsp.rm(join(packsDir, String(packs[0])));
  const bad = await dv(repo, ['fsck', '--json']);
  assert.equal(bad.code, 26, bad.stderr);
  const badJson = JSON.parse(bad.stdout);
  check(badJson, SHAPES.fsck, 'fsck');
  assert.equal(badJson.ok, false);
  assert.ok(
    badJson.problems.some((p: any) => p.pack),
    JSON.stringify(badJson.problems),
  );
});

test('--json shapes: remote list/default, push, status --remote, fetch, pull', async () => {
  const repo = await makeRepo();
  await fsp.mkdir(join(repo, 'data'));
  await fsp.writeFile(join(repo, 'data', 'a.bin'), 'payload');
  await dvOk(repo, ['add', 'data']);
  assert.deepEqual(await json('remoteList', repo, ['remote', 'list']), []);
  assert.deepEqual(await json('remoteDefault', repo, ['remote', 'default']), { default: null });
  const store = join(tempDir(), 'store');
  await dvOk(repo, ['remote', 'add', 'origin', store, '--jobs', '4']);
  await dvOk(repo, ['remote', 'add', 'minio', 's3://bucket/p', '--endpoint', 'http://127.0.0.1:9', '--region', 'us-east-1']);
  const list = await json('remoteList', repo, ['remote', 'list']);
  assert.deepEqual(
    list.map((r: any) => [r.name, r.isDefault, r.jobs ?? null, r.endpoint ?? null]),
    [
      ['minio', false, null, 'http://127.0.0.1:9'],
      ['origin', true, '4', null],
    ],
  );
  assert.deepEqual(await json('remoteDefault', repo, ['remote', 'default']), { default: 'origin' });

  const p = await json('push', repo, ['push']);
  assert.deepEqual([p.remote, p.url, p.alreadyThere], ['origin', store, 0]);
  assert.ok(p.objectsSent >= 3 && p.packsSent >= 1 && p.bytesSent > 0);
  const rs = await json('remoteStatus', repo, ['status', '--remote']);
  assert.deepEqual([rs.upToDate, rs.notPushed, rs.notFetched], [true, { objects: 0, bytes: 0 }, { objects: 0, onRemote: 0 }]);

  git(repo, ['add', '-A']);
  git(repo, ['commit', '-qm', 'data']);
  const clone = join(tempDir(), 'clone');
  git(tempDir(), ['clone', '-q', repo, clone]);
  const rsClone = await json('remoteStatus', clone, ['status', '--remote']);
  // Only the snapshot is known to be missing until it is fetched (what it references is unknown).
  assert.ok(rsClone.notFetched.objects >= 1 && rsClone.notFetched.onRemote === rsClone.notFetched.objects, JSON.stringify(rsClone));
  const f = await json('fetch', clone, ['fetch']);
  assert.ok(f.objectsFetched >= 3 && f.requests >= 1);
  const pl = await json('pull', clone, ['pull']);
  assert.deepEqual(
    [pl.fetch.remote, pl.fetch.objectsFetched, pl.checkout.paths[0].path, pl.checkout.paths[0].written],
    ['origin', 0, 'data', 1],
  );
  assert.equal(await fsp.readFile(join(clone, 'data', 'a.bin'), 'utf8'), 'payload');
  // A partial pull (a path inside a tracked directory): what it matched.
  const other = join(tempDir(), 'clone');
  git(tempDir(), ['clone', '-q', repo, other]);
  const part = await json('pull', other, ['pull', 'data/a.bin']);
  assert.deepEqual(part.fetch.partial, [{ rel: 'data', entries: ['a.bin'] }]);
  assert.equal((await json('status', other, ['status'])).paths[0].state, 'clean');
});

test('--json shape: gc --remote (a dry run, a marking run, the sweeping run)', async () => {
  const repo = await makeRepo();
  await fsp.mkdir(join(repo, 'data'));
  await fsp.writeFile(join(repo, 'data', 'a.bin'), 'kept');
  await dvOk(repo, ['add', 'data']);
  await dvOk(repo, ['remote', 'add', 'origin', join(tempDir(), 'store')]);
  await dvOk(repo, ['push']);
  git(repo, ['add', '-A']);
  git(repo, ['commit', '-qm', 'data']);
  await fsp.mkdir(join(repo, 'tmp'));
  await fsp.writeFile(join(repo, 'tmp', 'x.bin'), 'dropped');
  await dvOk(repo, ['add', 'tmp']);
  await dvOk(repo, ['push']);
  await fsp.rm(join(repo, 'tmp.dv'));
  const dry = await json('gcRemote', repo, ['gc', '--remote', '--grace', '0', '--dry-run']);
  assert.deepEqual([dry.dryRun, dry.graceMs, dry.locked], [true, 0, []]);
  assert.ok(dry.packsMarked >= 1);
  assert.equal((await json('gcRemote', repo, ['gc', '--remote', '--grace', '0'])).packsMarked, dry.packsMarked);
  const swept = await json('gcRemote', repo, ['gc', '--remote', '--grace', '0']);
  assert.deepEqual([swept.remote, swept.packsRemoved, swept.packsLocked], ['origin', dry.packsMarked, 0]);
});
