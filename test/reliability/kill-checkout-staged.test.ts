/**
 * Checkout into an empty place builds each new directory of files in `.dv/tmp` and renames it into
 * the workspace whole (workspace/write-stage.ts), its files created in place there. Killed with
 * SIGKILL at seeded points, or stopped with Ctrl-C, it must leave no half-written file under a
 * workspace name, no status that calls a partial tree clean, and a rerun that finishes the job;
 * the staging directory of a dead checkout is removed by the next command.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { dv, dvJson, dvOk, describeTree, git, makeRepo, type Manifest } from '../helpers/cli.js';
import { makeDataset } from '../helpers/data.js';
import { copyTree, exists, runKillSeries, runSignalledWhen, TEMP_NAME } from '../helpers/kill.js';
import { inspectRepo } from '../helpers/repo-check.js';

const cleanup: string[] = [];
const staging = async (dir: string): Promise<string[]> =>
  (await fsp.readdir(join(dir, '.dv', 'tmp')).catch(() => [] as string[])).filter((n) => /^co-\d+-t[0-9a-z]{5}-s/.test(n));

describe('checkout into an empty directory through staged directories', () => {
  let template: string; // data added and committed, then removed from the workspace
  let v1: Manifest;

  before(async () => {
    const a = await makeRepo();
    cleanup.push(a);
    await makeDataset(join(a, 'data'), { files: 3000, dirs: 30, large: [1_500_000], seed: 21 });
    v1 = await describeTree(join(a, 'data'));
    await dvOk(a, ['add', '-q', 'data']);
    git(a, ['add', '-A']);
    git(a, ['commit', '-qm', 'v1']);
    await fsp.rm(join(a, 'data'), { recursive: true });
    template = a;
  });

  after(async () => {
    for (const d of cleanup) await fsp.rm(d, { recursive: true, force: true });
  });

  test('SIGKILL at any moment: no partial file in the workspace, status never clean before the tree is whole, the rerun finishes', async (t) => {
    let stagedSeen = 0;
    let partialTrees = 0;
    const res = await runKillSeries({
      name: 'checkout (empty dir)',
      template,
      args: ['checkout', '-q'],
      count: 12,
      seed: 505,
      started: (dir) => exists(join(dir, '.dv', 'lock')),
      check: async (dir) => {
        const now = (await exists(join(dir, 'data'))) ? await describeTree(join(dir, 'data')) : {};
        const whole = Object.entries(now).filter(([p]) => !TEMP_NAME.test(p));
        for (const [p, d] of whole) assert.equal(d, v1[p], `${p} is half-written or foreign`);
        for (const p of Object.keys(now).filter((p) => TEMP_NAME.test(p)))
          assert.match(p, /(^|\/)\.[^/]*\.?\d+\.t[0-9a-z]{5}\.w\d+\.dvtmp$/, `${p}: only write-worker temp files may be left`);
        stagedSeen += (await staging(dir)).length;
        if (whole.length < Object.keys(v1).length) partialTrees++;
        // The stat cache and the directory records vouch only for whole files: status is clean only when the tree is.
        const st = await dvJson<{ clean: boolean }>(dir, ['status', '--json']);
        if (st.clean) assert.deepEqual(now, v1, 'status says clean, so the tree must be whole');
        assert.deepEqual(await staging(dir), [], 'the next command removes a dead checkout staging directory');
        const r = await dv(dir, ['checkout', '-q']);
        assert.equal(r.code, 0, `rerun: ${r.stderr}`);
        assert.deepEqual(await describeTree(join(dir, 'data')), v1, 'the rerun restores the data exactly');
        const rep = await inspectRepo(dir);
        assert.equal(rep.fsck.ok, true, `fsck: ${JSON.stringify(rep.fsck.problems.slice(0, 3))}`);
        assert.equal(rep.status.clean, true, 'status is clean after the rerun');
        assert.deepEqual(await staging(dir), []);
      },
    });
    t.diagnostic(`${res.summary}; staging directories left by kills: ${stagedSeen}; partial trees: ${partialTrees}`);
    assert.ok(res.midRun >= 3, `only ${res.midRun} kills landed mid-run`);
  });

  test('Ctrl-C mid-checkout: exit 130, the staging directory is gone, every file in the workspace whole', async () => {
    const dir = copyTree(template);
    cleanup.push(dir);
    // Signalled once a directory has been renamed into place and more are being staged.
    const k = await runSignalledWhen(
      dir,
      ['checkout', '-q'],
      async () => (await staging(dir)).length > 0 && (await fsp.readdir(join(dir, 'data')).catch(() => [] as string[])).length > 3,
      'SIGINT',
      {},
      2,
    );
    assert.equal(k.killed, true, `SIGINT landed mid-checkout: ${k.stderr}`);
    assert.equal(k.code, 130, k.stderr);
    assert.deepEqual(await staging(dir), [], 'Ctrl-C removes the staging directory');
    const now = await describeTree(join(dir, 'data'));
    for (const [p, d] of Object.entries(now)) assert.equal(d, v1[p], `${p} is half-written, foreign or a temp file`);
    await dvOk(dir, ['checkout', '-q']);
    assert.deepEqual(await describeTree(join(dir, 'data')), v1);
  });
});
