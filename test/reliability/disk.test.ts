/**
 * The file system says no: a full disk (ENOSPC on a small tmpfs) during add and checkout, and
 * permission denied (EACCES, dv run as an unprivileged user). Each gives a clear one-line error
 * with its code, leaves the repository intact and the workspace without partial or temp files,
 * and the command succeeds once the cause is gone.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { promises as fsp, statfsSync } from 'node:fs';
import { join } from 'node:path';
import { dv, dvOk, describeTree, git, prng, storeBytes, tempDir, makeRepo, type RunResult, type Manifest } from '../helpers/cli.js';
import { makeDataset } from '../helpers/data.js';
import { exists, TEMP_NAME } from '../helpers/kill.js';
import { inspectRepo } from '../helpers/repo-check.js';
import { cannotDropPrivileges, dvAsNobody, NOBODY } from '../helpers/as-user.js';
import { ERROR_CODES, type ErrorCode } from '../../src/errors.js';

function assertError(r: RunResult, code: ErrorCode, what: string): void {
  assert.equal(r.code, ERROR_CODES[code].exit, `${what}: exit ${r.code}, stderr: ${r.stderr}`);
  assert.match(r.stderr, new RegExp(`^dv: error ${code}: \\S.*\\n$`), `${what}: one clear line: ${JSON.stringify(r.stderr)}`);
}

/** Every path under `dir` that looks like a temp file of dv. */
async function temps(dir: string): Promise<string[]> {
  return (await fsp.readdir(dir, { recursive: true })).filter((p) => TEMP_NAME.test(p) || /\.tmp$/.test(p)).sort();
}

const freeBytes = (dir: string): number => {
  const s = statfsSync(dir);
  return s.bavail * s.bsize;
};

describe('disk full (ENOSPC on a 20 MB tmpfs)', () => {
  const mounts: string[] = [];
  const cleanup: string[] = [];
  after(() => {
    for (const m of mounts) spawnSync('umount', ['-l', m]);
    for (const d of [...mounts, ...cleanup]) execFileSync('rm', ['-rf', d]);
  });

  /** A fresh tmpfs of `mb` MB, or the reason there cannot be one. */
  function tmpfs(mb: number): string {
    const dir = tempDir('dv-tmpfs-');
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${mb}m`, 'tmpfs', dir]);
    mounts.push(dir);
    return dir;
  }

  function repoOn(mount: string): string {
    const dir = join(mount, 'repo');
    execFileSync('git', ['init', '-q', '-b', 'main', dir]);
    execFileSync('git', ['-C', dir, 'config', 'user.email', 'test@example.com']);
    execFileSync('git', ['-C', dir, 'config', 'user.name', 'Test User']);
    return dir;
  }

  test('add of a dataset bigger than the free space: NO_SPACE, space given back, repository intact, rerun succeeds after freeing space', async () => {
    const m = tmpfs(20);
    const a = repoOn(m);
    await dvOk(a, ['init']);
    await fsp.mkdir(join(a, 'data'));
    for (let i = 0; i < 6; i++) await fsp.writeFile(join(a, 'data', `big${i}.bin`), prng(i + 1, 2_000_000));
    await makeDataset(join(a, 'data', 'small'), { files: 200, dirs: 4 });
    await fsp.writeFile(join(a, 'notes.txt'), 'user file');
    const want = await describeTree(join(a, 'data'));
    const free = freeBytes(m);
    assert.ok(free < 9_000_000, `the dataset (12 MB) must not fit twice: ${free} bytes free`);

    const r = await dv(a, ['add', 'data']);
    assertError(r, 'NO_SPACE', 'add on a full disk');
    assert.deepEqual(await describeTree(join(a, 'data')), want, 'user files unchanged');
    assert.equal(await fsp.readFile(join(a, 'notes.txt'), 'utf8'), 'user file');
    const leftovers = await temps(a);
    const freeAfter = freeBytes(m);
    assert.equal(await exists(join(a, '.dv', 'lock')), false, 'the lock is released');
    assert.equal(await exists(join(a, 'data.dv')), false, 'no pointer names data that was not stored');
    const st = await dv(a, ['status']);
    assert.equal(st.code, 0, `a reader works on the full disk: ${st.stderr}`);

    execFileSync('mount', ['-o', 'remount,size=60m', m]);
    const mid = await inspectRepo(a);
    assert.equal(mid.fsck.ok, true, JSON.stringify(mid.fsck.problems));
    await dvOk(a, ['add', '-q', 'data']);
    const rep = await inspectRepo(a);
    assert.equal(rep.fsck.ok, true, JSON.stringify(rep.fsck.problems));
    assert.equal(rep.status.clean, true);
    await fsp.rm(join(a, 'data'), { recursive: true });
    await dvOk(a, ['checkout', '-q']);
    assert.deepEqual(await describeTree(join(a, 'data')), want);
    // Checked last so that the checks above run either way: a temp file left behind keeps the disk full.
    assert.deepEqual(leftovers, [], 'no temp files left after the failed add, in the workspace or in .dv');
    assert.ok(freeAfter >= free - 1_000_000, `the failed add gave its space back: ${free} bytes free before, ${freeAfter} after`);
  });

  test('checkout with too little space: NO_SPACE, no partial or temp file, user files unchanged; rerun after freeing space is exact', async () => {
    const m = tmpfs(20);
    const a = repoOn(m);
    await dvOk(a, ['init']);
    await fsp.mkdir(join(a, 'data'));
    for (let i = 0; i < 3; i++) await fsp.writeFile(join(a, 'data', `big${i}.bin`), prng(10 + i, 2_000_000));
    await makeDataset(join(a, 'data', 'small'), { files: 100, dirs: 2 });
    await dvOk(a, ['add', '-q', 'data']);
    const want = await describeTree(join(a, 'data'));
    await fsp.writeFile(join(a, 'notes.txt'), 'user file');
    // Two large files gone from the workspace: restoring them needs 4 MB; leave 2.5 MB.
    await fsp.rm(join(a, 'data', 'big0.bin'));
    await fsp.rm(join(a, 'data', 'big2.bin'));
    const filler = join(m, 'filler');
    await fsp.writeFile(filler, Buffer.alloc(Math.max(0, freeBytes(m) - 2_500_000)));
    const before = await describeTree(join(a, 'data'));
    const free = freeBytes(m);

    const r = await dv(a, ['checkout']);
    assertError(r, 'NO_SPACE', 'checkout on a full disk');
    const after = await describeTree(join(a, 'data'));
    for (const [p, d] of Object.entries(after)) {
      if (!TEMP_NAME.test(p)) assert.ok(d === before[p] || d === want[p], `${p} is partial`);
    }
    for (const p of Object.keys(before)) assert.ok(after[p] !== undefined, `${p} was lost`);
    assert.equal(await fsp.readFile(join(a, 'notes.txt'), 'utf8'), 'user file');
    // Files restored whole before the disk filled up are progress; anything else must be given back.
    let restored = 0;
    for (const p of Object.keys(after))
      if (before[p] === undefined && after[p].startsWith('file:')) restored += (await fsp.stat(join(a, 'data', p))).size;
    const freeAfter = freeBytes(m);
    assert.ok(
      freeAfter + restored >= free - 600_000,
      `the failed checkout gave back what it did not use: ${free} bytes free before, ${freeAfter} after, ${restored} restored`,
    );
    assert.equal(await exists(join(a, '.dv', 'lock')), false, 'the lock is released');
    assert.deepEqual(await temps(a), [], 'no temp files left');

    await fsp.rm(filler);
    const mid = await inspectRepo(a);
    assert.equal(mid.fsck.ok, true, JSON.stringify(mid.fsck.problems));
    await dvOk(a, ['checkout', '-q']);
    assert.deepEqual(await describeTree(join(a, 'data')), want);
    const rep = await inspectRepo(a);
    assert.equal(rep.fsck.ok, true);
    assert.equal(rep.status.clean, true);
  });
});

describe('permission denied (dv run as uid 65534)', () => {
  const why = cannotDropPrivileges();
  const cleanup: string[] = [];
  after(async () => {
    for (const d of cleanup) await fsp.rm(d, { recursive: true, force: true });
  });

  test('privileges can be dropped here (root runs the suite, setpriv exists)', (t) => {
    // CI runs as root on the same kind of machine; if that ever changes, say so loudly.
    if (why) t.diagnostic(`cannot run dv as another user: ${why}`);
    assert.equal(why, undefined, `cannot exercise EACCES: ${why}`);
  });

  /** A repository owned by nobody, with data added. */
  async function ownedRepo(): Promise<{ dir: string; want: Manifest }> {
    const dir = await makeRepo();
    cleanup.push(dir);
    await makeDataset(join(dir, 'data'), { files: 40, dirs: 2, large: [500_000] });
    await dvOk(dir, ['add', '-q', 'data']);
    git(dir, ['add', '-A']);
    git(dir, ['commit', '-qm', 'data']);
    await fsp.mkdir(join(dir, '.home'));
    await fsp.chmod(dir, 0o755);
    execFileSync('chown', ['-R', `${NOBODY}:${NOBODY}`, dir]);
    return { dir, want: await describeTree(join(dir, 'data')) };
  }

  test('an unreadable file in the data: PERMISSION_DENIED naming it, nothing stored', async (t) => {
    if (why) return t.diagnostic(why);
    const { dir } = await ownedRepo();
    await fsp.writeFile(join(dir, 'data', 'd0', 'secret.dat'), 'no');
    execFileSync('chown', [`${NOBODY}:${NOBODY}`, join(dir, 'data', 'd0', 'secret.dat')]);
    await fsp.chmod(join(dir, 'data', 'd0', 'secret.dat'), 0o000);
    const pointer = await fsp.readFile(join(dir, 'data.dv'), 'utf8');
    const store = await storeBytes(dir);
    const r = await dvAsNobody(dir, ['commit', '-m', 'x'], join(dir, '.home'));
    assertError(r, 'PERMISSION_DENIED', 'commit of an unreadable file');
    assert.match(r.stderr, /secret\.dat/);
    assert.equal(await fsp.readFile(join(dir, 'data.dv'), 'utf8'), pointer);
    assert.equal(await exists(join(dir, '.dv', 'lock')), false);
    const st = await dvAsNobody(dir, ['status'], join(dir, '.home'));
    assert.ok(st.code !== 0 || !/up to date/.test(st.stdout), `status does not call an unreadable file clean: ${st.stdout}`);
    await fsp.chmod(join(dir, 'data', 'd0', 'secret.dat'), 0o644);
    assert.equal((await dvAsNobody(dir, ['commit', '-q', '-m', 'x'], join(dir, '.home'))).code, 0);
    assert.ok((await storeBytes(dir)) > store);
  });

  test('checkout into a directory it may not write: PERMISSION_DENIED, nothing written; rerun after chmod is exact', async (t) => {
    if (why) return t.diagnostic(why);
    const { dir, want } = await ownedRepo();
    await fsp.rm(join(dir, 'data', 'd1'), { recursive: true });
    await fsp.rm(join(dir, 'data', 'large0.bin'));
    await fsp.chmod(join(dir, 'data'), 0o555);
    const before = await describeTree(join(dir, 'data'));
    const r = await dvAsNobody(dir, ['checkout'], join(dir, '.home'));
    assertError(r, 'PERMISSION_DENIED', 'checkout into a read-only directory');
    assert.deepEqual(await describeTree(join(dir, 'data')), before);
    assert.equal(await exists(join(dir, '.dv', 'lock')), false);
    await fsp.chmod(join(dir, 'data'), 0o755);
    const ok = await dvAsNobody(dir, ['checkout', '-q'], join(dir, '.home'));
    assert.equal(ok.code, 0, ok.stderr);
    assert.deepEqual(await describeTree(join(dir, 'data')), want);
  });

  test('an unreadable .dv/config: PERMISSION_DENIED, not an unexpected error', async (t) => {
    if (why) return t.diagnostic(why);
    const { dir } = await ownedRepo();
    execFileSync('chown', ['0:0', join(dir, '.dv', 'config')]);
    await fsp.chmod(join(dir, '.dv', 'config'), 0o600);
    for (const cmd of [['status'], ['commit'], ['remote', 'list']]) {
      assertError(await dvAsNobody(dir, cmd, join(dir, '.home')), 'PERMISSION_DENIED', `dv ${cmd.join(' ')} with an unreadable config`);
    }
  });

  test('a repository whose .dv it may not write: writers get PERMISSION_DENIED, readers still work', async (t) => {
    if (why) return t.diagnostic(why);
    const { dir } = await ownedRepo();
    execFileSync('chown', ['-R', '0:0', join(dir, '.dv')]);
    await fsp.writeFile(join(dir, 'data', 'd0', 'new.txt'), 'new');
    for (const cmd of [['commit', '-m', 'x'], ['add', 'data'], ['gc'], ['checkout']]) {
      assertError(await dvAsNobody(dir, cmd, join(dir, '.home')), 'PERMISSION_DENIED', `dv ${cmd[0]} with a read-only .dv`);
    }
    const st = await dvAsNobody(dir, ['status', '--json'], join(dir, '.home'));
    assert.equal(st.code, 0, `status in a read-only repository: ${st.stderr}`);
    assert.deepEqual(JSON.parse(st.stdout).paths[0].added, ['data/d0/new.txt']);
    const lg = await dvAsNobody(dir, ['log', '--json'], join(dir, '.home'));
    assert.equal(lg.code, 0, lg.stderr);
    assert.equal(JSON.parse(lg.stdout).length, 1);
  });
});
