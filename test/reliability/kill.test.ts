/**
 * Crash safety of the local commands: `dv add`, `commit`, `checkout` and `gc` killed with
 * SIGKILL at many seeded points spread over a measured uninterrupted run. After each kill the
 * workspace holds no half-written file, the same command run again finishes the job, fsck is
 * clean and the data is exact. Ctrl-C (SIGINT) stops with INTERRUPTED, exit 130.
 */
import { before, after, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { dv, dvOk, dvJson, makeRepo, describeTree, git, tempDir, storeBytes, prng, type Manifest } from '../helpers/cli.js';
import { makeDataset } from '../helpers/data.js';
import {
  copyTree,
  exists,
  indexedStoreBytes,
  runKillSeries,
  runSignalledWhen,
  TEMP_NAME,
  type KillSeries,
  type KillSeriesResult,
} from '../helpers/kill.js';
import { inspectRepo, readPointerFile } from '../helpers/repo-check.js';

const DATA = { files: 400, dirs: 10, large: [1_200_000, 1_000_000, 800_000] };
const POINTS = 20;
const cleanup: string[] = [];
const track = (d: string): string => {
  cleanup.push(d);
  return d;
};

/** Runs a kill series (see runKillSeries), reports its counts, and checks that it hit running commands. */
async function killSeries(t: TestContext, o: Omit<KillSeries, 'started'> & { started?: KillSeries['started'] }): Promise<KillSeriesResult> {
  const res = await runKillSeries({ ...o, started: o.started ?? lockLeft });
  t.diagnostic(res.summary);
  assert.ok(res.tried >= o.count);
  assert.ok(res.midRun >= Math.ceil(o.count / 4), `only ${res.midRun} of ${res.tried} kill points landed mid-run`);
  return res;
}

const lockLeft = (dir: string): Promise<boolean> => exists(join(dir, '.dv', 'lock'));

/** The files of `dir` that are neither content from `a` nor content from `b` (partial writes). */
function foreign(now: Manifest, a: Manifest, b: Manifest): string[] {
  return Object.entries(now)
    .filter(([p, d]) => d !== a[p] && d !== b[p])
    .map(([p]) => p);
}

async function assertRepoGood(dir: string, opts: { clean?: boolean } = {}): Promise<Awaited<ReturnType<typeof inspectRepo>>> {
  assert.equal(await lockLeft(dir), false, 'the lock of a finished command is gone');
  const r = await inspectRepo(dir);
  assert.equal(r.fsck.ok, true, `fsck: ${JSON.stringify(r.fsck.problems.slice(0, 3))}`);
  if (opts.clean !== false)
    assert.equal(
      r.status.clean,
      true,
      `status: ${JSON.stringify(r.status.paths.map((p) => [p.path, p.state, p.added.slice(0, 3), p.modified.slice(0, 3), p.deleted.slice(0, 3)]))}`,
    );
  return r;
}

/** Edits for a second version: rewrites, new files, deletions, a byte in the middle of a large file, an exec bit. */
async function editDataset(data: string): Promise<void> {
  for (let i = 0; i < 60; i++)
    await fsp.writeFile(join(data, `d${(i * 6) % DATA.dirs}`, `f${i * 6}.dat`), `rewritten ${i}\n`.repeat(20 + i));
  await fsp.mkdir(join(data, 'new', 'deep'), { recursive: true });
  for (let i = 0; i < 40; i++) await fsp.writeFile(join(data, 'new', i % 2 ? 'deep' : '', `n${i}.txt`), prng(7000 + i, 500 + i * 37));
  for (let i = 0; i < 30; i++) await fsp.rm(join(data, `d${(i * 5 + 1) % DATA.dirs}`, `f${i * 5 + 1}.dat`), { force: true });
  const fh = await fsp.open(join(data, 'large0.bin'), 'r+');
  await fh.write(Buffer.from('an edit in the middle'), 0, 21, 700_000);
  await fh.close();
  await fsp.chmod(join(data, 'd3', 'f3.dat'), 0o755);
}

describe('SIGKILL at any moment leaves the repository usable', () => {
  let tAdd: string; // git + dv init + data/, nothing added
  let tCommit: string; // data added and committed to git (v1), then edited on disk
  let tCheckout: string; // v2 in the workspace, pointer file back at v1
  let tGc: string; // one pack holding live and dead objects
  let v1: Manifest;
  let v2: Manifest;
  let v1Tree: string;
  let v2Tree: string;
  let v1Snapshot: string;

  before(async () => {
    tAdd = track(await makeRepo());
    await makeDataset(join(tAdd, 'data'), { ...DATA, seed: 5 });
    await fsp.writeFile(join(tAdd, 'README.md'), 'user file outside the tracked data\n');
    git(tAdd, ['add', '-A', '.dv', 'README.md']);
    git(tAdd, ['commit', '-qm', 'init']);
    v1 = await describeTree(join(tAdd, 'data'));

    tCommit = track(copyTree(tAdd));
    const added = await dvJson(tCommit, ['add', 'data']);
    v1Tree = added.added[0].tree;
    v1Snapshot = added.added[0].snapshot;
    git(tCommit, ['add', '-A']);
    git(tCommit, ['commit', '-qm', 'v1']);
    await editDataset(join(tCommit, 'data'));
    v2 = await describeTree(join(tCommit, 'data'));

    tCheckout = track(copyTree(tCommit));
    v2Tree = (await dvJson(tCheckout, ['commit', '-m', 'v2'])).committed[0].tree;
    git(tCheckout, ['commit', '-qam', 'v2']);
    git(tCheckout, ['checkout', '-q', 'HEAD~1', '--', 'data.dv']);

    // gc: `scratch` and `data` fetched together into one pack, then scratch dropped: gc must repack.
    tGc = track(copyTree(tAdd));
    const remote = track(tempDir('dv-kill-remote-'));
    await makeDataset(join(tGc, 'scratch'), { files: 200, dirs: 4, large: [800_000], seed: 9 });
    await dvOk(tGc, ['add', '-q', 'data', 'scratch']);
    await dvOk(tGc, ['remote', 'add', 'origin', remote]);
    await dvOk(tGc, ['push', '-q']);
    await fsp.rm(join(tGc, '.dv', 'cache'), { recursive: true });
    await fsp.rm(join(tGc, '.dv', 'index'), { recursive: true });
    await dvOk(tGc, ['fetch', '-q']);
    git(tGc, ['add', 'data.dv', '.gitignore', '.dv/config']);
    git(tGc, ['commit', '-qm', 'data only']);
    await fsp.rm(join(tGc, 'scratch.dv'));
    await fsp.rm(join(tGc, 'scratch'), { recursive: true });
  });

  after(async () => {
    for (const d of cleanup) await fsp.rm(d, { recursive: true, force: true });
  });

  test('add of a mixed dataset', async (t) => {
    const ref = track(copyTree(tAdd));
    await dvOk(ref, ['add', '-q', 'data']);
    const gitignore = await fsp.readFile(join(ref, '.gitignore'), 'utf8');
    const porcelain = git(ref, ['status', '--porcelain', '--untracked-files=all']);
    await killSeries(t, {
      name: 'add',
      template: tAdd,
      args: ['add', '-q', 'data'],
      count: POINTS,
      seed: 101,
      check: async (dir) => {
        assert.deepEqual(await describeTree(join(dir, 'data')), v1, 'add never touches the workspace');
        const r = await dv(dir, ['add', '-q', 'data']);
        assert.equal(r.code, 0, `rerun: ${r.stderr}`);
        assert.equal((await readPointerFile(dir, 'data')).tree, v1Tree);
        assert.equal(await fsp.readFile(join(dir, '.gitignore'), 'utf8'), gitignore);
        assert.equal(git(dir, ['status', '--porcelain', '--untracked-files=all']), porcelain, 'no stray files in the work tree');
        assert.deepEqual(await describeTree(join(dir, 'data')), v1);
        await assertRepoGood(dir);
      },
    });
  });

  test('commit of edits (rewrites, new and deleted files, a large file edited in the middle)', async (t) => {
    await killSeries(t, {
      name: 'commit',
      template: tCommit,
      args: ['commit', '-q', '-m', 'v2'],
      count: POINTS,
      seed: 202,
      check: async (dir) => {
        assert.deepEqual(await describeTree(join(dir, 'data')), v2, 'commit never touches the workspace');
        const r = await dv(dir, ['commit', '-q', '-m', 'v2']);
        assert.equal(r.code, 0, `rerun: ${r.stderr}`);
        const p = await readPointerFile(dir, 'data');
        assert.equal(p.tree, v2Tree);
        assert.deepEqual(await describeTree(join(dir, 'data')), v2);
        const rep = await assertRepoGood(dir);
        assert.equal(rep.log.length, 2, 'one new snapshot on top of v1');
        assert.equal(rep.log[0].id, p.snapshot);
        assert.deepEqual(rep.log[0].parents, [v1Snapshot]);
        assert.equal(git(dir, ['status', '--porcelain']), ' M data.dv\n');
      },
    });
  });

  test('checkout from v2 back to v1 (writes, deletions, chmod)', async (t) => {
    let tempsSeen = 0;
    await killSeries(t, {
      name: 'checkout',
      template: tCheckout,
      args: ['checkout', '-q'],
      count: POINTS,
      seed: 303,
      check: async (dir) => {
        const now = await describeTree(join(dir, 'data'));
        const temps = Object.keys(now).filter((p) => TEMP_NAME.test(p));
        tempsSeen += temps.length;
        const whole = Object.fromEntries(Object.entries(now).filter(([p]) => !temps.includes(p)));
        assert.deepEqual(foreign(whole, v1, v2), [], 'every file is whole: its v1 or its v2 content');
        assert.equal(await fsp.readFile(join(dir, 'README.md'), 'utf8'), 'user file outside the tracked data\n');
        // SIGKILL can leave a write worker's temp file beside its target: dv's own name, never
        // data: status does not list it, and the rerun removes it.
        for (const p of temps)
          assert.match(p, /(^|\/)\.[^/]*\.?\d+\.t[0-9a-z]{5}\.w\d+\.dvtmp$/, `${p}: only write-worker temp files may be left`);
        if (temps.length > 0) {
          const st = await dvJson<{ paths: { path: string; changes: { path: string }[] }[] }>(dir, ['status', '--json']);
          const listed = JSON.stringify(st);
          for (const p of temps)
            assert.ok(!listed.includes(p.split('/').pop()!), `status lists the temp file ${p}: ${listed.slice(0, 300)}`);
        }
        const r = await dv(dir, ['checkout', '-q']);
        assert.equal(r.code, 0, `rerun: ${r.stderr}`);
        assert.deepEqual(await describeTree(join(dir, 'data')), v1, 'the rerun restores v1 exactly and removes the temp files');
        assert.equal((await readPointerFile(dir, 'data')).tree, v1Tree);
        await assertRepoGood(dir);
      },
    });
    t.diagnostic(`checkout: write-worker temp files found in the workspace after kills (removed by the rerun): ${tempsSeen}`);
  });

  test('gc repacking a pack of live and dead objects', async (t) => {
    const ref = track(copyTree(tGc));
    const g = await dvJson(ref, ['gc', '--keep-days', '0']);
    assert.ok(g.removedObjects > 200 && g.repackedPacks >= 1, `reference gc: ${JSON.stringify(g)}`);
    const refBytes = await indexedStoreBytes(ref);
    await killSeries(t, {
      name: 'gc',
      template: tGc,
      args: ['gc', '-q', '--keep-days', '0'],
      count: 10,
      seed: 404,
      check: async (dir) => {
        assert.deepEqual(await describeTree(join(dir, 'data')), v1);
        const mid = await inspectRepo(dir);
        assert.equal(mid.fsck.ok, true, `after the kill, before the rerun: ${JSON.stringify(mid.fsck.problems.slice(0, 3))}`);
        const r = await dv(dir, ['gc', '-q', '--keep-days', '0']);
        assert.equal(r.code, 0, `rerun: ${r.stderr}`);
        assert.equal(await indexedStoreBytes(dir), refBytes, 'the rerun removes all the garbage, and only it');
        assert.equal(await storeBytes(dir), refBytes, 'no pack without an index is left behind');
        await assertRepoGood(dir);
      },
    });
  });
});

test('gc collects what killed processes left behind, and nothing else', async () => {
  const a = track(await makeRepo());
  await makeDataset(join(a, 'data'), { files: 50, dirs: 2, large: [300_000] });
  await dvOk(a, ['add', '-q', 'data']);
  const packs = join(a, '.dv', 'cache', 'packs');
  const tmp = join(a, '.dv', 'cache', 'tmp');
  await fsp.mkdir(tmp, { recursive: true });
  // A pack whose index was never written (killed between the two), a dead writer's temp pack and
  // outbox, a live process's temp pack, and a file that is not dv's.
  const fan = (await fsp.readdir(packs))[0];
  const some = (await fsp.readdir(join(packs, fan))).find((f) => f.endsWith('.pack'))!;
  const orphan = join(packs, 'ee', `${'e'.repeat(64)}.pack`);
  await fsp.mkdir(join(packs, 'ee'), { recursive: true });
  await fsp.copyFile(join(packs, fan, some), orphan);
  const dead = 999_999_999;
  await fsp.writeFile(join(tmp, `pack-${dead}-1-abc.tmp`), 'x');
  await fsp.writeFile(join(tmp, `wpack-${dead}-1-abc.tmp`), 'x');
  await fsp.mkdir(join(tmp, `outbox-${dead}-abc`));
  await fsp.writeFile(join(tmp, `pack-${process.pid}-1-abc.tmp`), 'a live process is writing this');
  await fsp.writeFile(join(tmp, 'README'), "not dv's");
  await dvOk(a, ['gc', '-q', '--keep-days', '0']);
  assert.equal(await exists(orphan), false, 'the orphan pack is gone');
  assert.deepEqual((await fsp.readdir(tmp)).sort(), ['README', `pack-${process.pid}-1-abc.tmp`]);
  await assertRepoGood(a);
});

describe('Ctrl-C (SIGINT) stops cleanly', () => {
  test('during add and during checkout: INTERRUPTED, exit 130, lock released, the rerun finishes', async (t) => {
    const a = track(await makeRepo());
    // Large enough that add outlasts the poll on a fast machine (add runs on all cores).
    await makeDataset(join(a, 'data'), { files: 1000, dirs: 10, large: [40_000_000, 40_000_000], seed: 11 });
    const want = await describeTree(join(a, 'data'));
    // Signalled once the repository is open and the work has begun (the writer lock exists).
    let lockSeen: number | undefined;
    const k = await runSignalledWhen(
      a,
      ['add', '-q', 'data'],
      async (ms) => {
        if (lockSeen === undefined && (await lockLeft(a))) lockSeen = ms;
        return lockSeen !== undefined && ms - lockSeen > 50;
      },
      'SIGINT',
    );
    t.diagnostic(`add: SIGINT after ${Math.round(k.signalledAtMs ?? -1)} ms, exit ${k.code} after ${Math.round(k.elapsedMs)} ms`);
    assert.equal(k.killed, true, `SIGINT landed after the run ended: ${k.stderr}`);
    assert.equal(k.code, 130);
    assert.match(k.stderr, /^dv: error INTERRUPTED: .*run the same command again/m);
    assert.equal(k.stderr.trim().split('\n').length, 1, `one line: ${k.stderr}`);
    assert.equal(await lockLeft(a), false, 'the lock is released');
    assert.deepEqual(await describeTree(join(a, 'data')), want);
    await dvOk(a, ['add', '-q', 'data']);
    await assertRepoGood(a);

    // Checkout into an empty directory, signalled once 300 files are written.
    await fsp.rm(join(a, 'data'), { recursive: true });
    const k2 = await runSignalledWhen(
      a,
      ['checkout', '-q'],
      async () => {
        const n = await fsp.readdir(join(a, 'data'), { recursive: true }).then(
          (l) => l.length,
          () => 0,
        );
        return n > 300;
      },
      'SIGINT',
      {},
      5,
    );
    t.diagnostic(`checkout: SIGINT after ${Math.round(k2.signalledAtMs ?? -1)} ms, exit ${k2.code} after ${Math.round(k2.elapsedMs)} ms`);
    assert.equal(k2.killed, true, 'SIGINT landed mid-checkout');
    assert.equal(k2.code, 130);
    assert.match(k2.stderr, /^dv: error INTERRUPTED: /m);
    assert.equal(await lockLeft(a), false, 'the lock is released');
    const partial = await describeTree(join(a, 'data'));
    const temps = Object.keys(partial).filter((p) => TEMP_NAME.test(p));
    for (const [p, d] of Object.entries(partial)) if (!temps.includes(p)) assert.equal(d, want[p], `${p} is half-written or foreign`);
    const r = await dv(a, ['checkout', '-q']);
    assert.equal(r.code, 0, `rerun: ${r.stderr}`);
    assert.deepEqual(await describeTree(join(a, 'data')), want);
    await assertRepoGood(a);
    assert.deepEqual(temps, [], 'an interrupted checkout leaves no temp file in the workspace');
  });
});
