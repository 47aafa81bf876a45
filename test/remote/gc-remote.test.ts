/**
 * `dv gc --remote` on a directory remote and on s3rver: what no ref's history reaches is marked by
 * one run and deleted by a later one past the grace (exact packs, objects and bytes); everything
 * reachable (other branches, tags, protected refs, history) stays and pulls byte-identical;
 * `--dry-run` changes nothing; a mostly dead pack is repacked before it goes.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { dv, dvJson, dvOk, git, prng, tempDir } from '../helpers/cli.js';
import { openBackend } from '../../src/backend/open.js';
import { pipelineRepo } from '../pipeline/fixture.js';
import { clonePull, dirFixture, freshClone, listed, packsOf, remoteKinds, team, type RemoteFixture } from './fixture.js';

const snapshotOf = async (fx: RemoteFixture): Promise<string> =>
  JSON.stringify(await Promise.all(['packs/', 'index/', 'runs/', 'gc/'].map((p) => listed(fx.raw, p))));

// moto_server (where installed) runs the first test only: the others add nothing S3-specific.
for (const rk of remoteKinds()) {
  const kind = rk.kind;
  describe(`gc --remote on ${kind}`, () => {
    before(() => rk.start());
    after(() => rk.stop());
    const fixture = rk.fixture;

    test(`${kind}: removes exactly the unreachable packs, on the run after the one that marked them; --dry-run changes nothing`, async () => {
      const fx = await fixture();
      const a = await team(fx);
      const before = new Set((await packsOf(fx.raw)).map((p) => p.id));
      // Data pushed but never committed to git: no ref reaches it.
      await fsp.mkdir(join(a, 'scratch'));
      await fsp.writeFile(join(a, 'scratch', 'r.bin'), prng(11, 1_500_000));
      await fsp.writeFile(join(a, 'scratch', 'n.txt'), 'scratch\n'.repeat(50));
      await dvOk(a, ['add', '-q', 'scratch']);
      await dvOk(a, ['push', '-q'], fx.env);
      const scratch = (await packsOf(fx.raw)).filter((p) => !before.has(p.id));
      assert.ok(scratch.length >= 1);
      const scratchObjects = scratch.reduce((n, p) => n + p.entries.length, 0);
      const scratchBytes = scratch.reduce((n, p) => n + p.size, 0);
      const b = freshClone(a);
      const state0 = await snapshotOf(fx);
      const dry = await dvJson(b, ['gc', '--remote', '--grace', '0', '--dry-run'], fx.env);
      assert.deepEqual([dry.dryRun, dry.packsMarked, dry.packsRemoved], [true, scratch.length, 0]);
      assert.equal(await snapshotOf(fx), state0, '--dry-run changed the remote');
      const first = await dvJson(b, ['gc', '--remote', '--grace', '0'], fx.env);
      assert.deepEqual([first.packsMarked, first.packsRemoved, first.bytesRemoved], [scratch.length, 0, 0]);
      assert.equal((await listed(fx.raw, 'gc/')).length, scratch.length);
      const dry2 = await dvJson(b, ['gc', '--remote', '--grace', '0', '-n'], fx.env);
      assert.deepEqual([dry2.packsRemoved, dry2.objectsRemoved, dry2.bytesRemoved], [scratch.length, scratchObjects, scratchBytes]);
      const second = await dvJson(b, ['gc', '--remote', '--grace', '0'], fx.env);
      assert.deepEqual(
        [second.packsRemoved, second.objectsRemoved, second.bytesRemoved, second.packsMarked],
        [scratch.length, scratchObjects, scratchBytes, 0],
      );
      assert.deepEqual(new Set((await packsOf(fx.raw)).map((p) => p.id)), before);
      assert.deepEqual(await listed(fx.raw, 'gc/'), []);
      assert.equal(second.bytesAfter, second.bytesBefore - scratchBytes);
      const third = await dvJson(b, ['gc', '--remote', '--grace', '0'], fx.env);
      assert.deepEqual([third.packsRemoved, third.packsMarked], [0, 0]);
      const ok = await dvJson(b, ['fsck', '--remote', '--read-data'], fx.env);
      assert.equal(ok.ok, true, JSON.stringify(ok.problems));
      assert.equal((await clonePull(a, fx.env)).same, true);
      const text = await dvOk(b, ['gc', '--remote', '--grace', '0'], fx.env);
      assert.match(text, /removed 0 packs .* kept \d+ packs/);
    });

    // On moto_server only the first test runs (not skipped: not registered); the rest add nothing S3-specific.
    const notOnMoto: (name: string, fn: () => Promise<void>) => void = kind === 'moto' ? () => undefined : (name, fn) => test(name, fn);

    notOnMoto(`${kind}: the grace keeps marked packs; other branches, tags and history stay; protected refs are listed`, async () => {
      const fx = await fixture();
      const a = await team(fx);
      const v1 = await packsOf(fx.raw);
      // A second version: the first stays reachable through the snapshot history.
      await fsp.writeFile(join(a, 'data', 'big.bin'), prng(8, 700_000));
      await dvOk(a, ['commit', '-q', '-m', 'v2']);
      await dvOk(a, ['push', '-q'], fx.env);
      git(a, ['commit', '-qam', 'v2']);
      // A path only a tag and a branch reach.
      git(a, ['checkout', '-qb', 'side']);
      await fsp.mkdir(join(a, 'side'));
      await fsp.writeFile(join(a, 'side', 's.bin'), prng(9, 300_000));
      await dvOk(a, ['add', '-q', 'side']);
      await dvOk(a, ['push', '-q'], fx.env);
      git(a, ['add', '-A']);
      git(a, ['commit', '-qm', 'side']);
      git(a, ['tag', 'release-1']);
      git(a, ['checkout', '-q', 'main']);
      // Unreachable: pushed, never committed.
      const beforeTmp = (await packsOf(fx.raw)).length;
      await fsp.mkdir(join(a, 'tmp1'));
      await fsp.writeFile(join(a, 'tmp1', 't.bin'), prng(10, 200_000));
      await dvOk(a, ['add', '-q', 'tmp1']);
      await dvOk(a, ['push', '-q'], fx.env);
      await dvOk(a, ['untrack', 'tmp1']).catch(() => undefined);
      await fsp.rm(join(a, 'tmp1.dv'), { force: true });
      await dvOk(a, ['config', 'gc.protect', 'refs/tags/release-*']);
      const all = await packsOf(fx.raw);
      const tmpPacks = all.length - beforeTmp;
      assert.ok(tmpPacks >= 1);
      const b = freshClone(a);
      await dvOk(b, ['config', 'gc.protect', 'refs/tags/release-*']);
      const g1 = await dvJson(b, ['gc', '--remote'], fx.env);
      assert.equal(g1.graceMs, 14 * 86_400_000);
      assert.deepEqual(g1.protectedRefs, ['refs/tags/release-1']);
      assert.equal(g1.packsMarked, tmpPacks);
      const g2 = await dvJson(b, ['gc', '--remote'], fx.env);
      assert.deepEqual([g2.packsMarked, g2.packsWaiting, g2.packsRemoved], [0, tmpPacks, 0]);
      assert.equal((await packsOf(fx.raw)).length, all.length);
      // Past the grace (0 now): only the never-committed pack goes.
      const g3 = await dvJson(b, ['gc', '--remote', '--grace', '0'], fx.env);
      assert.equal(g3.packsRemoved, tmpPacks);
      const left = new Set((await packsOf(fx.raw)).map((p) => p.id));
      for (const p of v1) assert.ok(left.has(p.id), 'a pack of the first version was removed');
      assert.equal(left.size, all.length - tmpPacks);
      assert.equal((await clonePull(a, fx.env)).same, true);
      const c = freshClone(a);
      git(c, ['checkout', '-q', 'release-1']);
      await dvOk(c, ['pull', '-q'], fx.env);
      assert.deepEqual(await fsp.readFile(join(c, 'side', 's.bin')), prng(9, 300_000));
      // Once the branch and tag are gone, what only they reached is collected (two runs).
      git(b, ['tag', '-d', 'release-1']);
      git(b, ['branch', '-rd', 'origin/side']);
      const g4 = await dvJson(b, ['gc', '--remote', '--grace', '0'], fx.env);
      assert.ok(g4.packsMarked >= 1, JSON.stringify(g4));
      const g5 = await dvJson(b, ['gc', '--remote', '--grace', '0'], fx.env);
      assert.equal(g5.packsRemoved, g4.packsMarked);
      assert.equal((await clonePull(a, fx.env)).same, true);
    });

    notOnMoto(`${kind}: a mostly dead pack is repacked, then removed; usage errors are one line`, async () => {
      const fx = await fixture();
      const a = await team(fx);
      const small = prng(12, 20_000);
      await fsp.mkdir(join(a, 'mix'));
      await fsp.writeFile(join(a, 'mix', 'r.bin'), prng(13, 2_000_000));
      await fsp.writeFile(join(a, 'mix', 's.bin'), small);
      await dvOk(a, ['add', '-q', 'mix']);
      await dvOk(a, ['push', '-q'], fx.env);
      // Another clone commits only the small file: the rest of that pack is dead.
      const c = freshClone(a);
      await fsp.mkdir(join(c, 'keep'));
      await fsp.writeFile(join(c, 'keep', 's.bin'), small);
      await dvOk(c, ['add', '-q', 'keep']);
      await dvOk(c, ['push', '-q'], fx.env);
      git(c, ['add', '-A']);
      git(c, ['commit', '-qm', 'keep']);
      const r1 = await dvJson(c, ['gc', '--remote', '--grace', '0'], fx.env);
      assert.deepEqual([r1.packsRepacked, r1.objectsCopied, r1.packsWritten], [1, 1, 1]);
      const r2 = await dvJson(c, ['gc', '--remote', '--grace', '0'], fx.env);
      assert.ok(r2.packsRemoved >= 1 && r2.bytesRemoved > 2_000_000, JSON.stringify(r2));
      const d = freshClone(c);
      await dvOk(d, ['pull', '-q'], fx.env);
      assert.deepEqual(await fsp.readFile(join(d, 'keep', 's.bin')), small);
      assert.equal((await dvJson(c, ['fsck', '--remote', '--read-data'], fx.env)).ok, true);
      const bad = await dv(c, ['gc', '--remote', '--grace', '3 weeks'], fx.env);
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /^dv: error USAGE: --grace 3 weeks: give a duration/m);
      const bad2 = await dv(c, ['gc', '--grace', '1d'], fx.env);
      assert.equal(bad2.code, 2);
      assert.match(bad2.stderr, /--grace and --jobs go with --remote/);
    });
  });
}

test('run records under runs/ that no dv.lock names are marked, then removed, then the data only they named', async () => {
  const a = await pipelineRepo();
  const remote = join(tempDir(), 'remote');
  await dvOk(a.repo, ['remote', 'add', 'origin', remote, '--default']);
  await dvOk(a.repo, ['repro'], a.env);
  assert.equal((await dvJson(a.repo, ['push'])).runsSent, 3);
  // This clone's dv.lock names all three: nothing of theirs goes.
  const kept = await dvJson(a.repo, ['gc', '--remote', '--grace', '0']);
  assert.deepEqual([kept.runsKept, kept.runsMarked, kept.packsMarked], [3, 0, 0]);
  // A clone with no dv.lock: the records are unreferenced.
  const b = await pipelineRepo();
  await dvOk(b.repo, ['remote', 'add', 'origin', remote, '--default']);
  const r1 = await dvJson(b.repo, ['gc', '--remote', '--grace', '0']);
  assert.deepEqual([r1.runsMarked, r1.runsRemoved, r1.packsMarked], [3, 0, 0]);
  const r2 = await dvJson(b.repo, ['gc', '--remote', '--grace', '0']);
  assert.equal(r2.runsRemoved, 3);
  assert.ok(r2.packsMarked >= 1, JSON.stringify(r2));
  const raw = await openBackend(remote, { retry: false });
  assert.deepEqual(await listed(raw, 'runs/'), []);
  assert.equal((await dvJson(b.repo, ['fsck', '--remote'])).ok, true);
  const r3 = await dvJson(b.repo, ['gc', '--remote', '--grace', '0']);
  assert.equal(r3.packsRemoved, r2.packsMarked);
  assert.equal((await dvJson(b.repo, ['fsck', '--remote'])).ok, true);
});

test('a push that needs objects only a marked pack holds sends them again, so the sweep of that pack loses nothing', async () => {
  const fx = await dirFixture();
  const a = await team(fx, { random: 200_000 });
  const x = prng(31, 400_000);
  await fsp.mkdir(join(a, 'x'));
  await fsp.writeFile(join(a, 'x', 'x.bin'), x);
  await dvOk(a, ['add', '-q', 'x']);
  await dvOk(a, ['push', '-q']);
  await fsp.rm(join(a, 'x.dv'));
  // b does not see a's next commit: to b, x's pack is unreferenced.
  const b = freshClone(a);
  assert.ok((await dvJson(b, ['gc', '--remote', '--grace', '0'])).packsMarked >= 1);
  // a commits the same data now: the remote lists it, but only in marked packs.
  await dvOk(a, ['add', '-q', 'x']);
  const sent = await dvJson(a, ['push']);
  assert.ok(sent.objectsSent >= 7, `the push re-sent ${sent.objectsSent} objects`);
  git(a, ['add', '-A']);
  git(a, ['commit', '-qm', 'x']);
  const swept = await dvJson(b, ['gc', '--remote', '--grace', '0']);
  assert.ok(swept.packsRemoved >= 1, JSON.stringify(swept));
  const c = freshClone(a);
  await dvOk(c, ['pull', '-q']);
  assert.ok((await fsp.readFile(join(c, 'x', 'x.bin'))).equals(x));
  assert.equal((await dvJson(a, ['fsck', '--remote'])).ok, true);
});

/**
 * A clone with a signing key whose branch `exp` makes a model, pushes it and commits it, then
 * attests it (`dv attest -o`, which also keeps a copy in the clone); back on main.
 */
async function attestedModelOnBranch(seed: number) {
  const fx = await dirFixture();
  const a = await team(fx, { random: 100_000 });
  const keys = tempDir();
  await dvOk(a, ['key', 'gen', join(keys, 'k')]);
  await dvOk(a, ['config', '--local', 'attest.key', join(keys, 'k')]);
  git(a, ['checkout', '-qb', 'exp']);
  const model = prng(seed, 500_000);
  await fsp.mkdir(join(a, 'model'));
  await fsp.writeFile(join(a, 'model', 'm.bin'), model);
  await dvOk(a, ['add', '-q', 'model']);
  await dvOk(a, ['push', '-q']);
  git(a, ['add', '-A']);
  git(a, ['commit', '-qm', 'model']);
  const snapshot = (await fsp.readFile(join(a, 'model.dv'), 'utf8')).match(/snapshot: ([0-9a-f]{64})/)![1];
  const att = join(tempDir(), 'model.intoto.json');
  await dvOk(a, ['attest', 'model', '-o', att]);
  git(a, ['checkout', '-q', 'main']);
  return { fx, a, model, snapshot, att };
}

test('an attestation committed on main keeps the attested snapshot after the branch that made it is deleted', async () => {
  // An experiment branch makes a model, pushes it, and attests it.
  const { fx, a, model, snapshot, att } = await attestedModelOnBranch(41);
  // Without the attestation, main alone does not reach the model: a dry run would mark it.
  const before = join(tempDir(), 'c');
  git(tempDir(), ['clone', '-q', '--single-branch', '-b', 'main', a, before]);
  const control = await dvJson(before, ['gc', '--remote', '--grace', '0', '--dry-run']);
  assert.ok(control.packsMarked >= 1, JSON.stringify(control));
  // The audit trail on main: the attestation file, committed; then the branch goes.
  await fsp.mkdir(join(a, 'audits'));
  await fsp.copyFile(att, join(a, 'audits', 'model.intoto.json'));
  git(a, ['add', 'audits']);
  git(a, ['commit', '-qm', 'audit']);
  git(a, ['branch', '-qD', 'exp']);
  const b = join(tempDir(), 'c');
  git(tempDir(), ['clone', '-q', '--single-branch', '-b', 'main', a, b]);
  const packs = (await packsOf(fx.raw)).map((p) => p.id).sort();
  const g1 = await dvJson(b, ['gc', '--remote', '--grace', '0']);
  assert.deepEqual([g1.attested >= 1, g1.packsMarked], [true, 0], JSON.stringify(g1));
  const g2 = await dvJson(b, ['gc', '--remote', '--grace', '0']);
  assert.equal(g2.packsRemoved, 0);
  assert.deepEqual((await packsOf(fx.raw)).map((p) => p.id).sort(), packs);
  // The attested version is still whole on the remote: a clone without the branch restores it.
  await dvOk(b, ['checkout', snapshot, 'model', '--new']);
  assert.ok((await fsp.readFile(join(b, 'model', 'm.bin'))).equals(model));
});

test('an attestation this clone keeps (dv attest, not committed) keeps the attested snapshot after its branch is deleted', async () => {
  // dv attest keeps a copy under .dv/cache/attestations: a root from now on, nothing committed.
  const { fx, a } = await attestedModelOnBranch(43);
  git(a, ['branch', '-qD', 'exp']);
  // Without the kept attestation this clone's gc would mark the model's pack.
  const kept = join(a, '.dv', 'cache', 'attestations');
  await fsp.rename(kept, `${kept}.off`);
  const control = await dvJson(a, ['gc', '--remote', '--grace', '0', '--dry-run']);
  assert.ok(control.packsMarked >= 1, JSON.stringify(control));
  await fsp.rename(`${kept}.off`, kept);
  const packs = (await packsOf(fx.raw)).map((p) => p.id).sort();
  const g1 = await dvJson(a, ['gc', '--remote', '--grace', '0']);
  assert.deepEqual([g1.attested >= 1, g1.packsMarked], [true, 0], JSON.stringify(g1));
  const g2 = await dvJson(a, ['gc', '--remote', '--grace', '0']);
  assert.equal(g2.packsRemoved, 0);
  assert.deepEqual((await packsOf(fx.raw)).map((p) => p.id).sort(), packs);
});
