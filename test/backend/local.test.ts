import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { constants as fsc, readFileSync } from 'node:fs';
import { chmod, copyFile, type FileHandle, mkdir, mkdtemp, open, readdir, rm, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { LocalBackend } from '../../src/backend/local.js';
import { BLOCK } from '../../src/backend/direct-copy.js';
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

  test('putFile writes the copy with O_DIRECT where the file system allows it, byte for byte', async (t) => {
    const root = path.join(base, 'direct');
    const be = new LocalBackend(root, { create: true });
    if (!(await directAllowed(base))) return t.skip('this file system refuses O_DIRECT');
    const data = randomBytes(5 * BLOCK + 333);
    const f = path.join(base, 'direct-src');
    await writeFile(f, data);
    const seen = await withFileWrite(
      (real, fh, args) => real.apply(fh, args),
      () => be.putFile('p/direct', f),
    );
    assert.ok(seen.direct >= 5, `the aligned blocks went with O_DIRECT (${seen.direct} direct writes)`);
    assert.ok(seen.buffered >= 1, 'the unaligned tail went buffered');
    assert.ok((await be.get('p/direct')).equals(data));
    assert.deepEqual(await readdir(path.join(root, 'p')), ['direct']);
  });

  test('where direct writes are refused (EINVAL), putFile writes them buffered: the same bytes', async () => {
    const be = new LocalBackend(path.join(base, 'refused'), { create: true });
    const data = randomBytes(3 * 1024 * 1024);
    const f = path.join(base, 'refused-src');
    await writeFile(f, data);
    let refused = 0;
    // Fault injection: every write through an O_DIRECT descriptor fails as on a file system without it.
    await withFileWrite(
      (real, fh, args) => {
        if (!isDirect(fh.fd)) return real.apply(fh, args);
        refused++;
        return Promise.reject(Object.assign(new Error('EINVAL: invalid argument, write'), { code: 'EINVAL' }));
      },
      () => be.putFile('k', f),
    );
    if (await directAllowed(base)) assert.ok(refused > 0, 'the direct writes were tried and refused');
    assert.ok((await be.get('k')).equals(data));
  });

  test('a write that fails mid-copy (disk full) fails putFile with NO_SPACE: no value, no temp file left', async () => {
    const root = path.join(base, 'full');
    const be = new LocalBackend(root, { create: true });
    await be.put('d/other', Buffer.from('x'));
    const f = path.join(base, 'full-src');
    await writeFile(f, randomBytes(6 * 1024 * 1024 + 5));
    let calls = 0;
    // Fault injection: the third write of the copy fails as a full disk would.
    await withFileWrite(
      (real, fh, args) =>
        ++calls === 3
          ? Promise.reject(Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }))
          : real.apply(fh, args),
      () => rejectsWith(be.putFile('d/big', f), 'NO_SPACE'),
    );
    assert.equal(await be.stat('d/big'), undefined);
    assert.deepEqual(await readdir(path.join(root, 'd')), ['other'], 'the temp file was removed');
  });

  test('location is the absolute root', () => {
    const be = new LocalBackend('relative/dir');
    assert.equal(be.location, path.resolve('relative/dir'));
    assert.ok(path.isAbsolute(fileURLToPath(import.meta.url)));
  });
});

/** Whether `dir`'s file system accepts O_DIRECT opens (tmpfs before Linux 6.6 does not). */
async function directAllowed(dir: string): Promise<boolean> {
  if (!fsc.O_DIRECT) return false;
  const probe = path.join(dir, `probe-${process.pid}`);
  try {
    await (await open(probe, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_DIRECT)).close();
    return true;
  } catch {
    return false;
  } finally {
    await rm(probe, { force: true });
  }
}

/** Whether descriptor `fd` of this process was opened with O_DIRECT (Linux: /proc/self/fdinfo). */
function isDirect(fd: number): boolean {
  const flags = /^flags:\s*([0-7]+)/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))?.[1];
  return flags !== undefined && (parseInt(flags, 8) & fsc.O_DIRECT) !== 0;
}

type WriteFn = (this: FileHandle, ...args: unknown[]) => Promise<unknown>;

/**
 * Runs `body` with FileHandle#write replaced by `fake` (fault injection), counting the writes
 * through O_DIRECT descriptors and the others.
 */
async function withFileWrite(
  fake: (real: WriteFn, fh: FileHandle, args: unknown[]) => Promise<unknown>,
  body: () => Promise<unknown>,
): Promise<{ direct: number; buffered: number }> {
  const probe = await open(process.execPath, 'r');
  const proto = Object.getPrototypeOf(probe) as { write: WriteFn };
  await probe.close();
  const real = proto.write;
  const seen = { direct: 0, buffered: 0 };
  proto.write = function (this: FileHandle, ...args: unknown[]) {
    if (isDirect(this.fd)) seen.direct++;
    else seen.buffered++;
    return fake(real, this, args);
  };
  try {
    await body();
  } finally {
    proto.write = real;
  }
  return seen;
}
