/**
 * Crash safety of a push to a directory remote that sends whole local packs (copied with O_DIRECT,
 * fsynced, renamed, then indexed): `dv push` killed with SIGKILL at seeded points spread over a
 * run, among the copies. After each kill, before anything else runs, every index on the remote names a pack
 * that is all there and verifies (an index is written only after its pack is durable), and the
 * temp files a kill leaves are never listed as keys; the same push run again completes the remote,
 * and a fresh clone pulls the exact data from it.
 */
import { before, after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { dv, dvOk, makeRepo, describeTree, git, prng, type Manifest } from '../helpers/cli.js';
import { makeDataset } from '../helpers/data.js';
import { copyTree, exists, runSignalledWhen, spreadDelays } from '../helpers/kill.js';
import { inspectRepo } from '../helpers/repo-check.js';
import { LocalBackend } from '../../src/backend/local.js';
import { decodePackIndex } from '../../src/store/pack-index.js';
import { firstBadEntry } from '../../src/transfer/verify-pack.js';
import { initHash } from '../../src/core/hash.js';
import { packIdOfIndexKey, remotePackKey } from '../../src/transfer/layout.js';

/** What a reader of the remote sees: the indexed packs (each checked whole) and the temp files lying about. */
async function checkRemote(remote: string): Promise<{ indexed: number; temps: number }> {
  if (!(await exists(remote))) return { indexed: 0, temps: 0 };
  const be = new LocalBackend(remote);
  let indexed = 0;
  for await (const { key } of be.list('')) {
    assert.ok(!key.includes('~'), `${key}: a temp file is listed as a key`);
    const packId = packIdOfIndexKey(key);
    if (!packId) continue;
    const entries = decodePackIndex(await be.get(key), packId);
    const pack = join(remote, remotePackKey(packId));
    assert.ok(await exists(pack), `${key} names a pack that is not there`);
    assert.equal(await firstBadEntry(pack, entries), undefined, `${key} names a pack whose objects do not all verify`);
    indexed++;
  }
  const all = await fsp.readdir(remote, { recursive: true });
  return { indexed, temps: all.filter((f) => f.includes('~')).length };
}

/** Milliseconds from the first pack directory on the remote to the end of an uninterrupted push (the faster of two). */
async function measureTransfer(template: string): Promise<number> {
  const times: number[] = [];
  for (let k = 0; k < 2; k++) {
    const dir = copyTree(template);
    try {
      const remote = join(dir, 'remote');
      await dvOk(dir, ['config', 'remote.origin.url', remote]);
      let seenAt: number | undefined;
      const ready = async (ms: number): Promise<boolean> => {
        seenAt ??= (await exists(join(remote, 'packs'))) ? ms : undefined;
        return false;
      };
      const r = await runSignalledWhen(dir, ['push', '-q'], ready, 'SIGKILL', {}, 5);
      assert.equal(r.code, 0, r.stderr);
      times.push(r.elapsedMs - (seenAt ?? 0));
    } finally {
      await fsp.rm(dir, { recursive: true, force: true });
    }
  }
  return Math.min(...times);
}

describe('SIGKILL during a push of whole packs to a directory remote', () => {
  let template: string;
  let want: Manifest;
  const cleanup: string[] = [];

  before(async () => {
    await initHash();
    template = await makeRepo();
    cleanup.push(template);
    const data = join(template, 'data');
    await makeDataset(data, { files: 60, dirs: 4, seed: 31 });
    // Four commits of a large file each: four local packs above the size at which packs travel whole.
    for (const [k, size] of [8 << 20, 6 << 20, 9 << 20, 7 << 20].entries()) {
      await fsp.writeFile(join(data, `large-${k}.bin`), prng(40 + k, size));
      await dvOk(template, k === 0 ? ['add', '-q', 'data'] : ['commit', '-q', '-m', `large ${k}`]);
    }
    want = await describeTree(data);
    await dvOk(template, ['remote', 'add', 'origin', join(template, 'remote')]);
    git(template, ['add', '-A']);
    git(template, ['commit', '-qm', 'data']);
  });

  after(async () => {
    for (const d of cleanup) await fsp.rm(d, { recursive: true, force: true });
  });

  test('killed at 12 points during the transfer: no index names a missing or partial pack, temps are not keys; the rerun completes it', async (t) => {
    const outcomes: string[] = [];
    let midTransfer = 0;
    let partlyIndexed = 0;
    let withTemps = 0;
    // Kill points: a seeded delay after the first pack directory appears on the remote, spread over
    // the transfer as an uninterrupted run measured it, so the kills land among the copies.
    const transferMs = await measureTransfer(template);
    for (const [n, delay] of spreadDelays(909, 12, 0, Math.max(20, transferMs * 0.9)).entries()) {
      const dir = copyTree(template);
      try {
        const remote = join(dir, 'remote');
        await dvOk(dir, ['config', 'remote.origin.url', remote]);
        let seenAt: number | undefined;
        const k = await runSignalledWhen(
          dir,
          ['push', '-q'],
          async (ms) => {
            seenAt ??= (await exists(join(remote, 'packs'))) ? ms : undefined;
            return seenAt !== undefined && ms - seenAt >= delay;
          },
          'SIGKILL',
          {},
          5,
        );
        if (!k.killed) assert.equal(k.code, 0, `an uninterrupted push failed: ${k.stderr}`);
        else midTransfer++;
        const seen = await checkRemote(remote);
        if (k.killed && seen.indexed > 0) partlyIndexed++;
        if (seen.temps > 0) withTemps++;
        outcomes.push(`${delay} ms: ${k.killed ? `killed, ${seen.indexed} indexed, ${seen.temps} temps` : 'finished'}`);
        const r = await dv(dir, ['push', '-q']);
        assert.equal(r.code, 0, `point ${n}: rerun: ${r.stderr}`);
        assert.ok((await checkRemote(remote)).indexed >= 4, 'the remote lists every pack after the rerun');
        const rep = await inspectRepo(dir);
        assert.equal(rep.fsck.ok, true, JSON.stringify(rep.fsck.problems.slice(0, 3)));
        const b = join(dir, 'clone');
        git(dir, ['clone', '-q', dir, b]);
        await dvOk(b, ['config', 'remote.origin.url', remote]);
        const p = await dv(b, ['pull', '-q']);
        assert.equal(p.code, 0, `point ${n}: pull from the remote the killed push left, pushed again: ${p.stderr}`);
        assert.deepEqual(await describeTree(join(b, 'data')), want);
      } finally {
        await fsp.rm(dir, { recursive: true, force: true });
      }
    }
    t.diagnostic(
      `transfer ${Math.round(transferMs)} ms; ${midTransfer} of 12 kills landed during the transfer, ${partlyIndexed} left a partly indexed remote, ${withTemps} left temp files`,
    );
    t.diagnostic(outcomes.join('; '));
    assert.ok(midTransfer >= 4, `only ${midTransfer} of 12 kills landed during the transfer`);
  });
});
