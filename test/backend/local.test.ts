import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmod, copyFile, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { LocalBackend } from '../../src/backend/local.js';
import { withRetry } from '../../src/backend/retry.js';
import { collect, rejectsWith, runConformance } from './conformance.js';

runConformance('local directory', async () => {
  const root = await mkdtemp(path.join(tmpdir(), 'dv-local-'));
  return { backend: new LocalBackend(root), teardown: () => rm(root, { recursive: true, force: true }) };
});

describe('LocalBackend specifics', () => {
  let base: string;
  before(async () => {
    base = await mkdtemp(path.join(tmpdir(), 'dv-local-x-'));
  });
  after(async () => {
    await chmod(base, 0o755).catch(() => undefined);
    await rm(base, { recursive: true, force: true });
  });

  test('a missing root is REMOTE_NOT_FOUND from check(), put and list, and is not created', async () => {
    const root = path.join(base, 'absent');
    const be = new LocalBackend(root);
    await rejectsWith(be.check(), 'REMOTE_NOT_FOUND');
    await rejectsWith(be.put('a/b', Buffer.from('x')), 'REMOTE_NOT_FOUND');
    await rejectsWith(be.get('a/b'), 'REMOTE_NOT_FOUND');
    await rejectsWith(collect(be.list('')), 'REMOTE_NOT_FOUND');
    await assert.rejects(readdir(root), { code: 'ENOENT' });
  });

  test('a root that is a file is REMOTE_NOT_FOUND', async () => {
    const file = path.join(base, 'a-file');
    await writeFile(file, 'x');
    await rejectsWith(new LocalBackend(file).check(), 'REMOTE_NOT_FOUND');
  });

  test('init() and the create option make the root', async () => {
    const a = new LocalBackend(path.join(base, 'made', 'by', 'init'));
    await a.init();
    await a.check();
    const b = new LocalBackend(path.join(base, 'made', 'on', 'put'), { create: true });
    await b.put('x/y/z', Buffer.from('hi'));
    assert.equal((await b.get('x/y/z')).toString(), 'hi');
  });

  test('writes leave no temp files, and stray temp files are not listed', async () => {
    const root = path.join(base, 'tmpcheck');
    const be = new LocalBackend(root, { create: true });
    await Promise.all(Array.from({ length: 20 }, (_, i) => be.put(`d/k${i}`, Buffer.alloc(i))));
    assert.equal((await readdir(path.join(root, 'd'))).length, 20);
    await writeFile(path.join(root, 'd', 'k1~123-abc.tmp'), 'partial');
    const listed = await collect(be.list('d/'));
    assert.equal(listed.length, 20);
    assert.ok(listed.every((e) => !e.key.includes('~')));
  });

  test('a key whose parent is a file is a permanent error, not retried', async () => {
    const be = new LocalBackend(path.join(base, 'conflict'), { create: true });
    await be.put('a', Buffer.from('file'));
    let calls = 0;
    const retried = withRetry(be, { baseMs: 1, onRetry: () => calls++ });
    await rejectsWith(retried.put('a/b', Buffer.from('x')), 'REMOTE_ERROR');
    assert.equal(calls, 0);
    assert.equal(await be.stat('a/b'), undefined);
  });

  test('a read-only directory gives PERMISSION_DENIED, never retried', async () => {
    const root = path.join(base, 'ro');
    await mkdir(path.join(root, 'sub'), { recursive: true });
    await chmod(base, 0o755);
    await chmod(path.join(root, 'sub'), 0o555);
    // root ignores modes, so the write runs in a child that drops to "nobody"; it loads a
    // copy of the compiled modules, since the checkout may not be readable by that user.
    const lib = path.join(base, 'lib');
    await mkdir(path.join(lib, 'src', 'backend'), { recursive: true });
    await writeFile(path.join(lib, 'package.json'), '{"type":"module"}');
    const here = path.dirname(fileURLToPath(import.meta.url));
    const dist = path.resolve(here, '..', '..', 'src');
    await copyFile(path.join(dist, 'errors.js'), path.join(lib, 'src', 'errors.js'));
    for (const f of ['local.js', 'direct-copy.js', 'keys.js', 'retry.js'])
      await copyFile(path.join(dist, 'backend', f), path.join(lib, 'src', 'backend', f));
    const script = `
      const { LocalBackend } = await import('./src/backend/local.js');
      const { withRetry } = await import('./src/backend/retry.js');
      let retries = 0;
      const be = withRetry(new LocalBackend(${JSON.stringify(root)}), { baseMs: 1, onRetry: () => retries++ });
      try { await be.put('sub/x', Buffer.from('x')); console.log(JSON.stringify({ ok: true })); }
      catch (e) { console.log(JSON.stringify({ code: e.code, retries })); }`;
    const asRoot = process.getuid?.() === 0;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      cwd: lib,
      encoding: 'utf8',
      ...(asRoot ? { uid: 65534, gid: 65534 } : {}),
    });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout.trim()), { code: 'PERMISSION_DENIED', retries: 0 });
  });

  test('location is the absolute root', () => {
    const be = new LocalBackend('relative/dir');
    assert.equal(be.location, path.resolve('relative/dir'));
    assert.ok(path.isAbsolute(fileURLToPath(import.meta.url)));
  });
});
