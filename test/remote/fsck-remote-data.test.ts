/**
 * `dv fsck --remote` on a directory remote and on s3rver: the cheap check downloads no pack data;
 * `--read-data` finds a flipped byte and a lying index; `--repair` from a good clone mends both so
 * that a fresh clone's pull is byte-identical; `--sample` reads about the share asked.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { blake3Hex, initHash } from '../../src/core/hash.js';
import { encodePackIndex } from '../../src/store/pack-index.js';
import { openBackend } from '../../src/backend/open.js';
import { dv, dvJson, dvOk, git, prng, tempDir } from '../helpers/cli.js';
import { pipelineRepo } from '../pipeline/fixture.js';
import { clonePull, dirFixture, freshClone, indexKey, listed, packKey, packsOf, remoteKinds, team, type RemoteFixture } from './fixture.js';

for (const rk of remoteKinds(['dir', 's3rver'])) {
  const kind = rk.kind;
  describe(`fsck --remote on ${kind}`, () => {
    before(() => rk.start());
    after(() => rk.stop());
    const fixture = rk.fixture;
    const packTotal = async (fx: RemoteFixture): Promise<number> => (await listed(fx.raw, 'packs/')).reduce((n, x) => n + x.size, 0);

    test(`${kind}: the cheap check downloads no pack data; --read-data reads and re-hashes it all`, async () => {
      const fx = await fixture();
      const a = await team(fx);
      const total = await packTotal(fx);
      const here = await dvJson(a, ['fsck', '--remote'], fx.env);
      assert.deepEqual([here.ok, here.readData, here.roots, here.bytesRead, here.problems], [true, false, 1, 0, []]);
      // A clone without the data reads only the small objects it lacks (snapshot, tree), never the chunks.
      const b = freshClone(a);
      fx.resetCounts();
      const cheap = await dvJson(b, ['fsck', '--remote'], fx.env);
      assert.deepEqual([cheap.ok, cheap.roots, cheap.missing], [true, 1, []]);
      assert.ok(cheap.bytesRead < total * 0.02, `cheap check read ${cheap.bytesRead} of ${total} pack bytes`);
      const sent = fx.packBytesSent();
      if (sent !== undefined) assert.ok(sent < total * 0.02, `the server sent ${sent} of ${total} pack bytes`);
      fx.resetCounts();
      const full = await dvJson(b, ['fsck', '--remote', '--read-data'], fx.env);
      assert.equal(full.ok, true, JSON.stringify(full.problems));
      assert.ok(full.objectsRead >= full.objects && full.objects > 30, `${full.objectsRead} copies read of ${full.objects} objects`);
      assert.ok(full.bytesRead > total * 0.9, `--read-data read ${full.bytesRead} of ${total} pack bytes`);
      const sentFull = fx.packBytesSent();
      if (sentFull !== undefined) assert.ok(sentFull > total * 0.9, `the server sent ${sentFull} of ${total}`);
      // A pack whose size disagrees with its index is found by the cheap check.
      const [p] = await packsOf(fx.raw);
      const bytes = await fx.raw.get(packKey(p.id));
      await fx.raw.put(packKey(p.id), Buffer.concat([bytes, Buffer.alloc(512)]));
      const short = await dv(b, ['fsck', '--remote'], fx.env);
      assert.equal(short.code, 26, short.stderr);
      assert.match(short.stderr, new RegExp(`^BAD_OBJECT: ${indexKey(p.id)} does not agree with its pack`, 'm'));
      await fx.raw.put(packKey(p.id), bytes);
      // A commit not pushed yet is not damage: its snapshot is counted, its new data not asked for.
      await fsp.writeFile(join(a, 'data', 'new.bin'), prng(11, 200_000));
      await dvOk(a, ['commit', '-q', '-m', 'not pushed']);
      const later = await dvJson(a, ['fsck', '--remote'], fx.env);
      assert.deepEqual([later.ok, later.notPushed, later.missing], [true, 1, []]);
    });

    for (const [size, how] of [
      [2_000_000, 'removed'],
      [6_000_000, 'rewritten'],
    ] as const)
      test(`${kind}: a flipped byte is found by --read-data; --repair from a good clone makes a fresh pull byte-identical (pack ${how})`, async () => {
        const fx = await fixture();
        // Small local packs travel packed together (a new remote pack); a large one as it is, under its own name.
        const a = await team(fx, { random: size });
        const packs = await packsOf(fx.raw);
        const pack = packs.reduce((x, y) => (x.size >= y.size ? x : y));
        const victim = pack.entries.reduce((x, y) => (x.length >= y.length ? x : y));
        const bytes = await fx.raw.get(packKey(pack.id));
        bytes[victim.offset + Math.floor(victim.length / 2)] ^= 0x40;
        await fx.raw.put(packKey(pack.id), bytes);
        assert.notEqual((await clonePull(a, fx.env)).code, 0, 'a pull meets the damage');

        const r = await dv(a, ['fsck', '--remote', '--read-data'], fx.env);
        assert.equal(r.code, 26, r.stderr);
        assert.match(
          r.stderr,
          new RegExp(`^OBJECT_CORRUPT: .*${indexKey(pack.id)} lists 1 object\\(s\\) at places that do not hold them`, 'm'),
        );
        assert.match(r.stderr, new RegExp(`no copy of object ${victim.id} verifies: run \`dv fsck --remote --repair\``));
        assert.deepEqual(await fx.raw.get(packKey(pack.id)), bytes, 'fsck without --repair changes nothing');

        const fixed = await dvJson(a, ['fsck', '--remote', '--repair'], fx.env);
        assert.equal(fixed.ok, true, JSON.stringify(fixed.problems));
        assert.equal(fixed.repair.objectsSent, pack.entries.length, 'every object of the bad pack sent again');
        if (how === 'removed') {
          assert.deepEqual([fixed.repair.packsRemoved, fixed.repair.packsRewritten], [[pack.id], []]);
          assert.equal(await fx.raw.stat(packKey(pack.id)), undefined, 'the bad pack is gone');
        } else {
          assert.deepEqual([fixed.repair.packsRemoved, fixed.repair.packsRewritten], [[], [pack.id]]);
          assert.notDeepEqual(await fx.raw.get(packKey(pack.id)), bytes, 'the same name holds the good bytes now');
        }
        const pull = await clonePull(a, fx.env);
        assert.deepEqual([pull.code, pull.same], [0, true], pull.stderr);
        const again = await dvJson(freshClone(a), ['fsck', '--remote', '--read-data'], fx.env);
        assert.deepEqual([again.ok, again.bad, again.warnings], [true, [], []]);
      });

    test(`${kind}: a lying index (objects at each other's places) is found and replaced`, async () => {
      const fx = await fixture();
      const a = await team(fx);
      const packs = await packsOf(fx.raw);
      const pack = packs.reduce((x, y) => (x.entries.length >= y.entries.length ? x : y));
      // Two objects of different sizes swap places: the extents (and so the pack size) still agree.
      const entries = pack.entries.map((e) => ({ ...e }));
      const [x, y] = [entries[0], entries.find((e) => e.length !== entries[0].length && e.flags === entries[0].flags)!];
      for (const k of ['offset', 'length', 'rawSize', 'inner'] as const) {
        const t = x[k];
        x[k] = y[k] as number;
        y[k] = t as number;
      }
      await initHash();
      const lie = encodePackIndex(entries);
      const liar = blake3Hex(lie);
      await fx.raw.put(packKey(liar), await fx.raw.get(packKey(pack.id)));
      await fx.raw.put(indexKey(liar), lie);
      await fx.raw.delete(indexKey(pack.id));
      await fx.raw.delete(packKey(pack.id));
      assert.notEqual((await clonePull(a, fx.env)).code, 0, 'a pull meets the lie');

      const r = await dv(a, ['fsck', '--remote', '--read-data', '--json'], fx.env);
      assert.equal(r.code, 26, r.stderr);
      const j = JSON.parse(r.stdout);
      assert.deepEqual(j.badIndexes, [indexKey(liar)]);
      assert.deepEqual([...j.bad].sort(), [x.id, y.id].sort());

      // And an index named rightly but malformed: refused by every reader, named by the cheap check.
      const junk = Buffer.from('dvidx 1\nnot an index at all');
      const junkKey = indexKey(blake3Hex(junk));
      await fx.raw.put(junkKey, junk);
      const cheap = await dv(a, ['fsck', '--remote'], fx.env);
      assert.equal(cheap.code, 26, cheap.stderr);
      assert.match(cheap.stderr, /^BAD_OBJECT: .*pack index [0-9a-f]{12} is malformed/m);

      const fixed = await dvJson(a, ['fsck', '--remote', '--repair'], fx.env);
      assert.equal(fixed.ok, true, JSON.stringify(fixed.problems));
      assert.deepEqual(fixed.repair.packsRemoved, [liar]);
      assert.deepEqual(fixed.repair.indexesRemoved, [junkKey]);
      assert.equal(await fx.raw.stat(junkKey), undefined);
      assert.deepEqual(await fx.raw.stat(indexKey(liar)), undefined);
      const pull = await clonePull(a, fx.env);
      assert.deepEqual([pull.code, pull.same], [0, true], pull.stderr);
    });

    test(`${kind}: --sample reads about the share of packs asked, the same packs for the same seed`, async () => {
      const fx = await fixture();
      const a = await team(fx, { random: 100_000 });
      // Six more pushes, each one pack of about 300 KB.
      for (let k = 0; k < 6; k++) {
        await fsp.writeFile(join(a, 'data', `more${k}.bin`), prng(100 + k, 300_000));
        await dvOk(a, ['commit', '-q', '-m', `more ${k}`]);
        await dvOk(a, ['push', '-q'], fx.env);
      }
      git(a, ['commit', '-qam', 'more']);
      const packs = await packsOf(fx.raw);
      assert.ok(packs.length >= 7, `${packs.length} packs`);
      const total = packs.reduce((n, p) => n + p.size, 0);
      const s1 = await dvJson(a, ['fsck', '--remote', '--read-data', '--sample', '40', '--seed', 'one'], fx.env);
      assert.equal(s1.ok, true);
      assert.equal(s1.sample.packs.length, Math.ceil(packs.length * 0.4));
      assert.equal(s1.sample.seed, 'one');
      assert.ok(s1.bytesRead > total * 0.15 && s1.bytesRead < total * 0.7, `40% sample read ${s1.bytesRead} of ${total} bytes`);
      const listedInSample = packs.filter((p) => s1.sample.packs.includes(p.id)).reduce((n, p) => n + p.entries.length, 0);
      assert.equal(s1.objectsRead, listedInSample, 'every object of the sampled packs, none other');
      const s1again = await dvJson(a, ['fsck', '--remote', '--read-data', '--sample', '40', '--seed', 'one'], fx.env);
      assert.deepEqual(s1again.sample.packs, s1.sample.packs, 'the same seed reads the same packs');
      // A damaged pack is found exactly when the sample holds it.
      const out = packs.find((p) => !s1.sample.packs.includes(p.id))!;
      const inside = packs.find((p) => s1.sample.packs.includes(p.id))!;
      for (const p of [out, inside]) {
        const bytes = await fx.raw.get(packKey(p.id));
        bytes[p.entries[0].offset + 3] ^= 1;
        await fx.raw.put(packKey(p.id), bytes);
      }
      const damaged = await dv(a, ['fsck', '--remote', '--read-data', '--sample', '40', '--seed', 'one', '--json'], fx.env);
      assert.equal(damaged.code, 26);
      assert.deepEqual(JSON.parse(damaged.stdout).badIndexes, [indexKey(inside.id)]);
      const human = await dv(a, ['fsck', '--remote', '--read-data', '--sample', '40', '--seed', 'one'], fx.env);
      assert.match(human.stdout, /\(40% sampled, seed one\)/);
      const bad = await dv(a, ['fsck', '--remote', '--sample', '0'], fx.env);
      assert.equal(bad.code, 2, bad.stderr);
      assert.match(bad.stderr, /USAGE: --sample 0: give /);
      const seedAlone = await dv(a, ['fsck', '--remote', '--seed', 'one'], fx.env);
      assert.equal(seedAlone.code, 2);
      assert.match(seedAlone.stderr, /USAGE: --seed chooses the packs of a sample: add --sample PCT/);
      const noRemote = await dv(a, ['fsck', '--read-data'], fx.env);
      assert.equal(noRemote.code, 2);
      assert.match(noRemote.stderr, /USAGE: --read-data, --sample, --seed and --repair check a remote: add --remote/);
    });
  });
}

test('dir: run records on the remote are roots: their outs must be listed; --repair sends what is missing', async () => {
  const a = await pipelineRepo();
  const remote = join(tempDir(), 'remote');
  await dvOk(a.repo, ['remote', 'add', 'origin', remote, '--default']);
  await dvOk(a.repo, ['repro'], a.env);
  assert.equal((await dvJson(a.repo, ['push'])).runsSent, 3);
  // Another clone with no dv.lock and no data still checks the runs the remote caches.
  const b = await pipelineRepo();
  await dvOk(b.repo, ['remote', 'add', 'origin', remote, '--default']);
  const ok = await dvJson(b.repo, ['fsck', '--remote']);
  assert.deepEqual([ok.ok, ok.runs], [true, 3]);
  // Every index removed: the run records name outs that no index lists.
  const raw = await openBackend(remote, { retry: false });
  const idx = await listed(raw, 'index/');
  for (const { key } of idx) await raw.delete(key);
  const bad = await dv(b.repo, ['fsck', '--remote']);
  assert.equal(bad.code, 26, bad.stderr);
  assert.match(bad.stderr, /^OBJECT_MISSING: run record runs\/[0-9a-f]{2}\/[0-9a-f]{64} needs object [0-9a-f]{64}, which no index/m);
  // The clone without the data cannot mend it, and says so; the clone that ran the stages can.
  const cannot = await dv(b.repo, ['fsck', '--remote', '--repair', '--json']);
  assert.equal(cannot.code, 26);
  assert.ok(JSON.parse(cannot.stdout).repair.unrepairable.length > 0);
  const fixed = await dvJson(a.repo, ['fsck', '--remote', '--repair']);
  assert.equal(fixed.ok, true, JSON.stringify(fixed.problems));
  assert.ok(fixed.repair.objectsSent > 0);
  assert.deepEqual([(await dvJson(b.repo, ['fsck', '--remote'])).ok], [true]);
});

test('dir: `dv push --repair` of a pack zeroed whole, sent again under its own name, leaves it indexed: a fresh pull works', async () => {
  const fx = await dirFixture();
  const a = await team(fx, { random: 6_000_000 });
  const pack = (await packsOf(fx.raw)).reduce((x, y) => (x.size >= y.size ? x : y));
  await fx.raw.put(packKey(pack.id), Buffer.alloc(pack.size));
  assert.notEqual((await clonePull(a, fx.env)).code, 0, 'a pull meets the damage');
  const r = await dvJson(a, ['push', '--repair']);
  assert.equal(r.repaired, pack.entries.length);
  assert.notEqual(await fx.raw.stat(indexKey(pack.id)), undefined, 'the index of the pack written again stays');
  const pull = await clonePull(a, fx.env);
  assert.deepEqual([pull.code, pull.same], [0, true], pull.stderr);
});
