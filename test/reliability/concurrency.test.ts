/**
 * Two dv processes in one repository: readers work while a writer holds the repository, a
 * second writer waits (saying so) or fails with REPO_LOCKED naming the holder under --wait 0,
 * and a lock left by a killed writer is recognised as stale and cleared.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { dv, dvOk, dvJson, makeRepo, describeTree, git, DV_BIN } from '../helpers/cli.js';
import { makeDataset } from '../helpers/data.js';
import { dvEnv, exists } from '../helpers/kill.js';
import { inspectRepo, readPointerFile } from '../helpers/repo-check.js';

const cleanup: string[] = [];
after(async () => {
  for (const d of cleanup) await fsp.rm(d, { recursive: true, force: true });
});

interface Running {
  child: ChildProcess;
  stderr: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function start(cwd: string, args: string[]): Running {
  const child = spawn(process.execPath, [DV_BIN, ...args], { cwd, env: dvEnv(cwd), stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  child.stdout!.resume();
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    child.on('close', (code, signal) => r({ code, signal })),
  );
  return { child, stderr: () => err, exit };
}

async function until(what: string, cond: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A repository with two snapshots of data/ (v1 committed to git), and v3 edits on disk: a 300 MB file and more. */
async function repoWithHistory(): Promise<{ dir: string; s1: string; s2: string }> {
  const dir = await makeRepo();
  cleanup.push(dir);
  await makeDataset(join(dir, 'data'), { files: 300, dirs: 6, large: [2_000_000] });
  const s1 = (await dvJson(dir, ['add', 'data'])).added[0].snapshot as string;
  git(dir, ['add', '-A']);
  git(dir, ['commit', '-qm', 'v1']);
  await fsp.writeFile(join(dir, 'data', 'd0', 'f0.dat'), 'v2');
  await fsp.rm(join(dir, 'data', 'd1', 'f1.dat'));
  const s2 = (await dvJson(dir, ['commit', '-m', 'v2'])).committed[0].snapshot as string;
  // v3: big enough that hashing it takes a while (sparse: no disk needed).
  const fh = await fsp.open(join(dir, 'data', 'big.bin'), 'w');
  await fh.truncate(300_000_000);
  await fh.close();
  await fsp.writeFile(join(dir, 'data', 'd2', 'new.txt'), 'v3');
  return { dir, s1, s2 };
}

/** Starts `dv commit` and freezes it (SIGSTOP) once it holds the repository: a writer that takes as long as we like. */
async function frozenWriter(dir: string): Promise<Running> {
  const w = start(dir, ['commit', '-m', 'v3']);
  await until('the writer to take the lock', () => exists(join(dir, '.dv', 'lock')));
  await new Promise((r) => setTimeout(r, 150));
  assert.equal(w.child.exitCode, null, `the writer ended early: ${w.stderr()}`);
  w.child.kill('SIGSTOP');
  return w;
}

test('read-only commands work while a writer holds the repository (and its index)', async () => {
  const { dir, s1, s2 } = await repoWithHistory();
  const w = await frozenWriter(dir);
  try {
    const [st, lg, df, ls] = await Promise.all([
      dv(dir, ['status', '--json']),
      dv(dir, ['log', '--json']),
      dv(dir, ['diff', s1.slice(0, 10), s2.slice(0, 10), '--json']),
      dv(dir, ['ls', 'data', '--json']),
    ]);
    for (const r of [st, lg, df, ls]) assert.equal(r.code, 0, r.stderr);
    const status = JSON.parse(st.stdout);
    assert.equal(status.clean, false);
    assert.deepEqual(status.paths[0].added.sort(), ['data/big.bin', 'data/d2/new.txt']);
    assert.deepEqual(
      JSON.parse(lg.stdout).map((e: { id: string }) => e.id),
      [s2, s1],
    );
    assert.deepEqual(
      JSON.parse(df.stdout)
        .changes.map((c: { type: string; path: string }) => `${c.type} ${c.path}`)
        .sort(),
      ['deleted d1/f1.dat', 'modified d0/f0.dat'],
    );
    assert.ok(JSON.parse(ls.stdout).some((e: { path: string }) => e.path === 'large0.bin'));
    assert.equal(w.child.exitCode, null, 'the writer was still holding the repository');
  } finally {
    w.child.kill('SIGCONT');
  }
  const done = await w.exit;
  assert.equal(done.code, 0, w.stderr());
  assert.equal((await inspectRepo(dir)).fsck.ok, true);
  assert.equal((await dvJson(dir, ['status'])).clean, true);
});

test('a second writer fails with REPO_LOCKED naming the holder under --wait 0, and waits (saying so) otherwise', async () => {
  const { dir } = await repoWithHistory();
  await makeDataset(join(dir, 'other'), { files: 20, dirs: 2, seed: 3 });
  const w = await frozenWriter(dir);
  let waiter: Running | undefined;
  try {
    for (const args of [['commit', '-m', 'x'], ['add', 'other'], ['gc'], ['checkout'], ['fsck']]) {
      const r = await dv(dir, ['--wait', '0', ...args]);
      assert.equal(r.code, 11, `dv ${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`^dv: error REPO_LOCKED: .*\`dv commit\` \\(pid ${w.child.pid} on `));
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    }
    assert.equal(await exists(join(dir, 'other.dv')), false);
    waiter = start(dir, ['--wait', '120', 'add', 'other']);
    await until('the waiting message', async () => /waiting for `dv commit` \(pid \d+\)/.test(waiter!.stderr()), 15_000);
    assert.match(waiter.stderr(), new RegExp(`waiting for \`dv commit\` \\(pid ${w.child.pid}\\)`));
    assert.equal(waiter.child.exitCode, null, 'the second writer waits');
  } finally {
    w.child.kill('SIGCONT');
  }
  assert.equal((await w.exit).code, 0, w.stderr());
  assert.equal((await waiter!.exit).code, 0, waiter!.stderr());
  const rep = await inspectRepo(dir);
  assert.equal(rep.fsck.ok, true, JSON.stringify(rep.fsck.problems));
  assert.equal(rep.status.clean, true);
  assert.deepEqual(rep.status.paths.map((p) => p.path).sort(), ['data', 'other']);
});

test('a lock left by a writer killed with SIGKILL is detected as stale and cleared', async () => {
  const { dir } = await repoWithHistory();
  const want = await describeTree(join(dir, 'data'));
  const w = start(dir, ['commit', '-m', 'v3']);
  await until('the writer to take the lock', () => exists(join(dir, '.dv', 'lock')));
  w.child.kill('SIGKILL');
  await w.exit;
  const held = JSON.parse(await fsp.readFile(join(dir, '.dv', 'lock'), 'utf8'));
  assert.equal(held.pid, w.child.pid, 'the killed writer left its lock');
  const r = await dv(dir, ['--wait', '0', 'commit', '-m', 'v3']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(await exists(join(dir, '.dv', 'lock')), false);
  assert.deepEqual(await describeTree(join(dir, 'data')), want);
  const rep = await inspectRepo(dir);
  assert.equal(rep.fsck.ok, true, JSON.stringify(rep.fsck.problems));
  assert.equal(rep.status.clean, true);
  assert.equal(rep.log[0].message, 'v3');
});

test('stale locks of every shape: four writers racing for one all finish in turn; foreign and fresh locks are respected', async () => {
  const dir = await makeRepo();
  cleanup.push(dir);
  const lock = join(dir, '.dv', 'lock');
  for (let i = 0; i < 4; i++) await makeDataset(join(dir, `p${i}`), { files: 30, dirs: 2, seed: 40 + i });

  // A dead owner: four writers start together; each must clear or wait, none may run alongside another.
  await fsp.writeFile(lock, JSON.stringify({ pid: 999_999_999, host: hostname(), command: 'add', since: new Date().toISOString() }));
  const rs = await Promise.all([0, 1, 2, 3].map((i) => dv(dir, ['--wait', '120', 'add', '-q', `p${i}`])));
  for (const [i, r] of rs.entries()) assert.equal(r.code, 0, `writer ${i}: ${r.stderr}`);
  let rep = await inspectRepo(dir);
  assert.equal(rep.fsck.ok, true, JSON.stringify(rep.fsck.problems));
  assert.deepEqual(
    rep.status.paths.map((p) => `${p.path}:${p.state}`),
    ['p0:clean', 'p1:clean', 'p2:clean', 'p3:clean'],
  );
  for (let i = 0; i < 4; i++) assert.equal((await readPointerFile(dir, `p${i}`)).files, 30);

  // An empty lock: what a writer killed between creating the file and writing it would leave.
  await fsp.writeFile(lock, '');
  const fresh = await dv(dir, ['--wait', '0', 'commit']);
  assert.equal(fresh.code, 11, 'a lock being written right now is not stolen');
  assert.match(fresh.stderr, /REPO_LOCKED/);
  const old = new Date(Date.now() - 60_000);
  await fsp.utimes(lock, old, old);
  const r = await dv(dir, ['--wait', '0', 'commit']);
  assert.equal(r.code, 0, `an empty lock a minute old is a remnant: ${r.stderr}`);
  assert.equal(await exists(lock), false);

  // Another host's lock is never judged from here.
  await fsp.writeFile(
    lock,
    JSON.stringify({ pid: 999_999_999, host: 'elsewhere.example', command: 'push', since: '2020-01-01T00:00:00.000Z' }),
  );
  const f = await dv(dir, ['--wait', '0', 'gc']);
  assert.equal(f.code, 11);
  assert.match(
    f.stderr,
    /locked by `dv push` \(pid 999999999 on elsewhere\.example, since 2020-01-01T00:00:00\.000Z\).*remove .*\.dv\/lock/,
  );
  await fsp.rm(lock);
  rep = await inspectRepo(dir);
  assert.equal(rep.fsck.ok, true);
});

test('a push (which takes no writer lock) racing a gc that repacks what it reads: nothing is corrupted', async (t) => {
  const dir = await makeRepo();
  cleanup.push(dir);
  const base = dir.split('/').pop()!;
  const first = join(dir, '..', `${base}-remote1`);
  const second = join(dir, '..', `${base}-remote2`);
  const clone = join(dir, '..', `${base}-clone`);
  cleanup.push(first, second, clone);
  await makeDataset(join(dir, 'data'), { files: 400, dirs: 8, large: [3_000_000, 3_000_000] });
  await makeDataset(join(dir, 'scratch'), { files: 400, dirs: 8, large: [3_000_000], seed: 8 });
  await dvOk(dir, ['add', '-q', 'data', 'scratch']);
  await dvOk(dir, ['remote', 'add', 'origin', first]);
  await dvOk(dir, ['push', '-q']);
  // Fetched back together, data and scratch share one pack: gc must repack it to drop scratch.
  await fsp.rm(join(dir, '.dv', 'cache'), { recursive: true });
  await fsp.rm(join(dir, '.dv', 'index'), { recursive: true });
  await dvOk(dir, ['fetch', '-q']);
  await fsp.rm(join(dir, 'scratch.dv'));
  await dvOk(dir, ['remote', 'add', 'second', second, '--default']);
  git(dir, ['add', 'data.dv', '.gitignore', '.dv/config']);
  git(dir, ['commit', '-qm', 'data']);
  const [p, g] = await Promise.all([dv(dir, ['push', '-j', '1']), dv(dir, ['gc', '--keep-days', '0', '--json'])]);
  t.diagnostic(`push exit ${p.code} ${p.stderr.trim()}; gc exit ${g.code} ${g.stderr.trim()}`);
  assert.equal(g.code, 0, g.stderr);
  assert.ok(JSON.parse(g.stdout).repackedPacks >= 1, 'gc repacked the pack the push was reading');
  if (p.code !== 0) {
    assert.match(p.stderr, /^dv: error [A-Z_]+: /, 'a failed push says why');
    assert.equal(p.stderr.trim().split('\n').length, 1, p.stderr);
  }
  const rep = await inspectRepo(dir);
  assert.equal(rep.fsck.ok, true, JSON.stringify(rep.fsck.problems));
  await dvOk(dir, ['push', '-q']);
  git(join(dir, '..'), ['clone', '-q', dir, clone]);
  await dvOk(clone, ['pull', '-q']);
  assert.deepEqual(await describeTree(join(clone, 'data')), await describeTree(join(dir, 'data')));
});

test("two repositories sharing one cache (cache.dir): gc in one collects for both and never deletes the other's data", async () => {
  const shared = join(await makeRepo({ init: false }), 'shared-cache');
  cleanup.push(join(shared, '..'));
  const a = await makeRepo();
  const b = await makeRepo();
  cleanup.push(a, b);
  for (const [dir, seed] of [
    [a, 1],
    [b, 2],
  ] as const) {
    await dvOk(dir, ['config', '--local', 'cache.dir', shared]);
    await makeDataset(join(dir, 'data'), { files: 50, dirs: 2, large: [300_000], seed });
    await dvOk(dir, ['add', '-q', 'data']);
  }
  // Both repositories track something, then drop it: data that nothing names any more.
  const scratch = Buffer.from('scratch data, tracked once and dropped\n'.repeat(100));
  for (const dir of [a, b]) {
    await fsp.mkdir(join(dir, 'scratch'));
    await fsp.writeFile(join(dir, 'scratch', `${dir === a ? 'a' : 'b'}.txt`), scratch);
    await dvOk(dir, ['add', '-q', 'scratch']);
    await fsp.rm(join(dir, 'scratch'), { recursive: true });
    await fsp.rm(join(dir, 'scratch.dv'));
  }
  const wantB = await describeTree(join(b, 'data'));
  const wantA = await describeTree(join(a, 'data'));

  const dry = await dvJson(a, ['gc', '--dry-run', '--keep-days', '0']);
  assert.equal(dry.repositories.length, 2, `gc sees both repositories: ${JSON.stringify(dry.repositories)}`);
  assert.ok(dry.removedObjects >= 2, `the two old versions are garbage: ${dry.removedObjects}`);

  // A writer busy in B stops gc in A with a message naming B; nothing is removed.
  const lock = join(b, '.dv', 'lock');
  await fsp.writeFile(lock, JSON.stringify({ pid: process.pid, host: hostname(), command: 'add', since: new Date().toISOString() }));
  const busy = await dv(a, ['gc', '--keep-days', '0', '--wait', '0']);
  await fsp.rm(lock);
  assert.equal(busy.code, 11, busy.stderr);
  assert.match(busy.stderr, /REPO_LOCKED: gc needs every repository sharing .* idle/);
  assert.ok(busy.stderr.includes(b) || busy.stderr.includes(await fsp.realpath(b)), busy.stderr);

  const g = await dvJson(a, ['gc', '--keep-days', '0']);
  assert.equal(g.removedObjects, dry.removedObjects);
  for (const [dir, want] of [
    [a, wantA],
    [b, wantB],
  ] as const) {
    const rep = await inspectRepo(dir);
    assert.equal(rep.fsck.ok, true, `${dir}: ${JSON.stringify(rep.fsck.problems.slice(0, 3))}`);
    await fsp.rm(join(dir, 'data'), { recursive: true });
    await dvOk(dir, ['checkout', '-q']);
    assert.deepEqual(await describeTree(join(dir, 'data')), want);
  }
  // B's index still named the collected data: adding it again must store it, not trust the index.
  await fsp.mkdir(join(b, 'scratch'));
  await fsp.writeFile(join(b, 'scratch', 'b.txt'), scratch);
  await dvOk(b, ['add', '-q', 'scratch']);
  const back = await inspectRepo(b);
  assert.equal(back.fsck.ok, true, `re-adding collected data: ${JSON.stringify(back.fsck.problems.slice(0, 3))}`);
  await fsp.rm(join(b, 'scratch'), { recursive: true });
  await dvOk(b, ['checkout', '-q', 'scratch']);
  assert.deepEqual(await fsp.readFile(join(b, 'scratch', 'b.txt')), scratch);
});
