/**
 * Attack: a hostile directory remote (the attacker can write the shared directory, or runs it).
 * Trees with `.git`/`.dv` (and their aliases) at any depth, size lies that turn kilobytes into
 * gigabytes, subtrees shared a million times, chains deeper than any path, a 1.5 GB pack index,
 * a pack replaced by a FIFO, an index directory that is a symlink to `/`, and a rogue index that
 * lists the team's objects at wrong offsets.
 *
 * Secure outcome: the victim's dv ends within seconds, under a few MB of disk and 400 MB of
 * memory (a watchdog kills it otherwise and the test fails), refuses in one line with a stable
 * code (or succeeds with the right data), writes nothing outside the workspace, and no nested
 * git directory is left to run code on the next `git status`.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import {
  assertFsckEnd,
  assertHarmlessEnd,
  assertOutsideUnchanged,
  assertRefused,
  dirScene,
  type DirScene,
  exists,
  fingerprintBox,
  Findings,
  gitIn,
  gitRun,
  makeBox,
  show,
  victimDv,
  victimRepo,
} from './attack-helpers.js';
import {
  gitDirObjects,
  manifestObj,
  obj,
  pointerText,
  publish,
  pwned,
  snapObj,
  stored,
  treeObj,
  writeRemotePack,
  type Obj,
} from './attack-helpers-objects.js';
import { describeTree } from '../helpers/cli.js';
import { makeDataset } from '../helpers/data.js';
import { blake3Hex } from '../../src/core/hash.js';
import { decodePackIndex, encodePackIndex, type PackEntry } from '../../src/store/pack-index.js';

const T = { timeout: 180_000 };
const MB = 1024 * 1024;
/** What any hostile input of a few KB may cost the victim. */
const BOUNDS = { timeoutMs: 30_000, maxRssBytes: 300 * MB, maxDiskBytes: 16 * MB };

type Scene = DirScene;

/** The victim's repository, its (trusted) remote the attacker's directory, and a pointer naming the attacker's snapshot. */
async function scene(snap?: string, tree?: string): Promise<Scene> {
  const sc = await dirScene();
  if (snap && tree) await fsp.writeFile(join(sc.victim, 'data.dv'), pointerText(snap, tree, 'data', 'dir'));
  return sc;
}

/** A scene whose snapshot `data` holds one file `a.txt` of `content`, and the path its pack would have on the remote. */
async function oneFileScene(content: string): Promise<{ sc: Scene; objs: Obj[]; packPath: (packId: string) => string }> {
  const leaf = await obj(content);
  const tree = await treeObj([['f', 'a.txt', leaf.bytes.length, leaf.id, 0]]);
  const snap = await snapObj(tree.id, 'data', 'dir', leaf.bytes.length, 1);
  const sc = await scene(snap.id, tree.id);
  return { sc, objs: [leaf, tree, snap], packPath: (packId) => join(sc.remote, 'packs', packId.slice(0, 2), `${packId}.pack`) };
}

const sortRows = (rows: unknown[][]): unknown[][] => rows.sort((a, b) => ((a[1] as string) < (b[1] as string) ? -1 : 1));

/** Runs dv under the bounds, recording every broken promise. */
async function bounded(f: Findings, sc: Scene, args: string[], expect: 'refuse' | 'harmless'): Promise<void> {
  const r = await victimDv(sc.box, sc.victim, args, { ...BOUNDS, diskDirs: [sc.victim] });
  f.check(r.peakDiskBytes <= BOUNDS.maxDiskBytes, `dv ${args.join(' ')} used ${Math.round(r.peakDiskBytes / MB)} MB of disk`);
  const what = `dv ${args.join(' ')}`;
  if (args[0] === 'fsck') await f.expect(() => assertFsckEnd(r, what));
  else await f.expect(() => (expect === 'refuse' ? assertRefused(r, [], what) : assertHarmlessEnd(r, what)));
}

describe('attack: hostile directory remote, names in trees', () => {
  // Where in the tracked directory the nested git directory (or dv directory) lands.
  const spots = [
    '.git',
    '.GIT',
    '.Git',
    'git~1',
    'GIT~1',
    '.git.',
    '.git ',
    '.g\u200cit',
    '.gi\u200dt',
    '.dv',
    '.DV',
    'a/.git',
    'a/b/.dv',
    'a/.GIT',
  ];
  for (const spot of spots) {
    test(
      `a tree entry ${JSON.stringify(spot)} in the tracked directory: dv pull refuses it, no nested git directory runs code`,
      T,
      async () => {
        const sc = await scene();
        const g = await gitDirObjects(`touch '${join(sc.box.outside, 'pwned-tree')}'`);
        const ok = await obj('fine\n');
        const parts = spot.split('/');
        let inner: Obj = g.tree;
        const extra: Obj[] = [];
        for (let k = parts.length - 1; k >= 1; k--) {
          const t = await treeObj([['d', parts[k], 0, inner.id, 2]]);
          extra.push(t);
          inner = t;
        }
        const top = await treeObj(
          sortRows([
            ['d', parts[0], 0, inner.id, 2],
            ['f', 'ok.txt', ok.bytes.length, ok.id, 0],
          ]),
        );
        const snap = await snapObj(top.id, 'data', 'dir', ok.bytes.length, 3);
        await writeRemotePack(sc.remote, [ok, top, snap, ...extra, ...g.objects]);
        await fsp.writeFile(join(sc.victim, 'data.dv'), pointerText(snap.id, top.id, 'data', 'dir'));
        const before = await fingerprintBox(sc.box, sc.victim);
        const f = new Findings(`tree entry ${JSON.stringify(spot)}`);
        const r = await victimDv(sc.box, sc.victim, ['pull'], BOUNDS);
        await f.expect(() => assertRefused(r, [], 'dv pull'));
        const r2 = await victimDv(sc.box, sc.victim, ['checkout', '--force'], BOUNDS);
        await f.expect(() => assertHarmlessEnd(r2, 'dv checkout --force'));
        f.check(!(await exists(join(sc.victim, 'data', spot))), `data/${spot} was created (${show(r)})`);
        await f.expect(() => assertOutsideUnchanged(sc.box, sc.victim, before, 'after dv pull'));
        const probe = join(sc.victim, 'data', ...parts.slice(0, -1));
        if (await exists(probe)) await gitRun(sc.box, probe, ['status']);
        f.check((await pwned(sc.box.outside)).length === 0, "git status in the pulled directory ran the attacker's command");
        f.done();
      },
    );
  }
});

describe('attack: hostile directory remote, names that collide on disk', () => {
  const title =
    'variant: lone UTF-16 surrogates (\\ud800, \\ud801) are one name on disk: the chained-symlink check is bypassed, no link may lead outside';
  test(title, T, async () => {
    // In the tree: `x -> \ud801/\ud801/../..` names no link of the tree, so it looks inside; on
    // disk both surrogates become U+FFFD, the name of the link `\ud800 -> .`, and x leads up two levels.
    const tree = await treeObj([
      ['l', 'x', '\ud801/\ud801/../..'],
      ['l', '\ud800', '.'],
    ]);
    const snap = await snapObj(tree.id, 'data', 'dir', 0, 2);
    const sc = await scene(snap.id, tree.id);
    await writeRemotePack(sc.remote, [tree, snap]);
    const before = await fingerprintBox(sc.box, sc.victim);
    const f = new Findings('surrogate collision');
    const r = await victimDv(sc.box, sc.victim, ['pull'], BOUNDS);
    await f.expect(() => assertHarmlessEnd(r, 'dv pull'));
    const root = await fsp.realpath(sc.victim);
    for (const name of await fsp.readdir(join(sc.victim, 'data')).catch(() => [] as string[])) {
      const p = join(sc.victim, 'data', name);
      if (!(await fsp.lstat(p)).isSymbolicLink()) continue;
      const real = await fsp.realpath(p).catch(() => undefined);
      const inside = real === undefined || real === root || real.startsWith(root + '/');
      f.check(inside, `data/${JSON.stringify(name)} -> ${await fsp.readlink(p)} leads outside the workspace, to ${real}`);
    }
    await f.expect(() => assertOutsideUnchanged(sc.box, sc.victim, before, 'after dv pull'));
    f.done();
  });
});

describe('attack: hostile directory remote, sizes and counts', () => {
  /** A 4 MiB chunk of zeros (a few hundred bytes on the remote) and a 1024 x 1024 manifest over it: 4 TiB. */
  async function bomb(): Promise<{ objects: Awaited<ReturnType<typeof stored>>[]; file: Obj; fileSize: number }> {
    const chunk = await obj(Buffer.alloc(4 * MB));
    const m0 = await manifestObj(
      0,
      Array.from({ length: 1024 }, () => ({ id: chunk.id, size: 4 * MB })),
    );
    const m1 = await manifestObj(
      1,
      Array.from({ length: 1024 }, () => ({ id: m0.id, size: 1024 * 4 * MB })),
    );
    return { objects: [await stored(chunk), await stored(m0), await stored(m1)], file: m1, fileSize: 1024 * 1024 * 4 * MB };
  }

  test('a file whose manifest expands to 4 TiB while its tree entry says 10 bytes: refused, disk stays small', T, async () => {
    const b = await bomb();
    const tree = await treeObj([['m', 'bomb.bin', 10, b.file.id, 0]]);
    const snap = await snapObj(tree.id, 'data', 'dir', 10, 1);
    const sc = await scene(snap.id, tree.id);
    await publish(sc.remote, [...b.objects, await stored(tree), await stored(snap)]);
    const size = (await fsp.readdir(sc.remote, { recursive: true })).length;
    assert.ok(size > 0);
    const before = await fingerprintBox(sc.box, sc.victim);
    const f = new Findings('manifest bomb, tree says 10 B');
    await bounded(f, sc, ['pull'], 'refuse');
    await bounded(f, sc, ['checkout', '--force'], 'refuse');
    await f.expect(() => assertOutsideUnchanged(sc.box, sc.victim, before, 'after dv pull'));
    f.done();
  });

  test('variant: the tree says 4 TiB honestly but the snapshot and pointer declare 10 bytes: refused, disk stays small', T, async () => {
    const b = await bomb();
    const tree = await treeObj([['m', 'bomb.bin', b.fileSize, b.file.id, 0]]);
    const snap = await snapObj(tree.id, 'data', 'dir', 10, 1);
    const sc = await scene(snap.id, tree.id);
    await publish(sc.remote, [...b.objects, await stored(tree), await stored(snap)]);
    const before = await fingerprintBox(sc.box, sc.victim);
    const f = new Findings('manifest bomb, snapshot says 10 B');
    await bounded(f, sc, ['pull'], 'refuse');
    await f.expect(() => assertOutsideUnchanged(sc.box, sc.victim, before, 'after dv'));
    f.done();
  });

  test(
    'a subtree named a million times (1000 x 1000 x 1000 files from 300 KB of trees): every command ends within seconds',
    T,
    async () => {
      const leaf = await obj('x');
      const pad = (i: number): string => String(i).padStart(3, '0');
      const t0 = await treeObj(Array.from({ length: 1000 }, (_, i) => ['f', `f${pad(i)}`, 1, leaf.id, 0]));
      const t1 = await treeObj(Array.from({ length: 1000 }, (_, i) => ['d', `d${pad(i)}`, 1, t0.id, 1]));
      const t2 = await treeObj(Array.from({ length: 1000 }, (_, i) => ['d', `e${pad(i)}`, 1, t1.id, 1]));
      const snap = await snapObj(t2.id, 'data', 'dir', 3, 3);
      const sc = await scene(snap.id, t2.id);
      await publish(sc.remote, [await stored(leaf), await stored(t0), await stored(t1), await stored(t2), await stored(snap)]);
      const before = await fingerprintBox(sc.box, sc.victim);
      const f = new Findings('shared subtrees');
      await bounded(f, sc, ['pull'], 'refuse');
      const id = snap.id.slice(0, 12);
      for (const args of [['fsck'], ['ls', '-R', id], ['status'], ['diff', id], ['gc'], ['log']]) await bounded(f, sc, args, 'harmless');
      await f.expect(() => assertOutsideUnchanged(sc.box, sc.victim, before, 'after dv'));
      f.done();
    },
  );

  test('variant: a chain of 3000 nested directories (longer than any path): dv pull ends with one clear line', T, async () => {
    const leaf = await obj('deep\n');
    let t = await treeObj([['f', 'leaf.txt', leaf.bytes.length, leaf.id, 0]]);
    const objs: Obj[] = [leaf, t];
    for (let k = 0; k < 3000; k++) {
      t = await treeObj([['d', 'a', leaf.bytes.length, t.id, 1]]);
      objs.push(t);
    }
    const snap = await snapObj(t.id, 'data', 'dir', leaf.bytes.length, 1);
    const sc = await scene(snap.id, t.id);
    await writeRemotePack(sc.remote, [...objs, snap]);
    const before = await fingerprintBox(sc.box, sc.victim);
    const f = new Findings('deep chain');
    await bounded(f, sc, ['pull'], 'harmless');
    await bounded(f, sc, ['fsck'], 'harmless');
    await bounded(f, sc, ['status'], 'harmless');
    await f.expect(() => assertOutsideUnchanged(sc.box, sc.victim, before, 'after dv'));
    f.done();
  });
});

describe('attack: hostile directory remote, files of the remote itself', () => {
  test('a 1.5 GB pack index (sparse: no disk used): dv pull does not read it whole', T, async () => {
    const { sc, objs } = await oneFileScene('x');
    await writeRemotePack(sc.remote, objs);
    const huge = join(sc.remote, 'index', '00', `00${'ab'.repeat(31)}.idx`);
    await fsp.mkdir(join(huge, '..'), { recursive: true });
    const fh = await fsp.open(huge, 'w');
    await fh.truncate(1_500_000_000);
    await fh.close();
    const before = await fingerprintBox(sc.box, sc.victim);
    const f = new Findings('1.5 GB index');
    await bounded(f, sc, ['pull'], 'harmless');
    await f.expect(() => assertOutsideUnchanged(sc.box, sc.victim, before, 'after dv'));
    f.done();
  });

  test('a pack replaced by a FIFO: dv pull does not hang on it', T, async () => {
    const { sc, objs, packPath } = await oneFileScene('fifo\n');
    const pack = packPath((await writeRemotePack(sc.remote, objs)).packId);
    await fsp.rm(pack);
    execFileSync('mkfifo', [pack]);
    const before = await fingerprintBox(sc.box, sc.victim);
    const f = new Findings('FIFO pack');
    await bounded(f, sc, ['pull'], 'refuse');
    await bounded(f, sc, ['status', '--remote'], 'harmless');
    await f.expect(() => assertOutsideUnchanged(sc.box, sc.victim, before, 'after dv'));
    f.done();
  });

  test('variant: the pack index directory is a symlink to /: dv pull does not walk the whole machine', T, async () => {
    const { sc } = await oneFileScene('x');
    await fsp.symlink('/', join(sc.remote, 'index'));
    const before = await fingerprintBox(sc.box, sc.victim);
    const f = new Findings('index -> /');
    await bounded(f, sc, ['pull'], 'refuse');
    await f.expect(() => assertOutsideUnchanged(sc.box, sc.victim, before, 'after dv'));
    f.done();
  });

  test("variant: a pack that is a symlink to the victim's secret: nothing of it is stored or shown", T, async () => {
    const { sc, objs, packPath } = await oneFileScene('y\n');
    const pack = packPath((await writeRemotePack(sc.remote, objs)).packId);
    await fsp.rm(pack);
    await fsp.symlink(join(sc.box.home, '.ssh', 'id_ed25519'), pack);
    const before = await fingerprintBox(sc.box, sc.victim);
    const f = new Findings('pack -> secret');
    const r = await victimDv(sc.box, sc.victim, ['pull'], BOUNDS);
    await f.expect(() => assertRefused(r, [], 'dv pull'));
    f.check(!(r.stdout + r.stderr).includes('TOP-SECRET'), 'the secret was printed');
    await f.expect(() => assertOutsideUnchanged(sc.box, sc.victim, before, 'after dv'));
    f.done();
  });
});

describe('attack: a rogue pack index on the team remote', () => {
  test(
    "a second index listing the team's objects at wrong offsets: pulls still succeed with the right data, fsck --remote names it",
    T,
    async () => {
      const box = await makeBox();
      const team = join(box.root, 'team');
      const alice = await victimRepo(box, 'alice');
      await makeDataset(join(alice, 'data'), { files: 40, dirs: 3, large: [700_000] });
      for (const args of [
        ['add', '-q', 'data'],
        ['remote', 'add', 'origin', team],
        ['push', '-q'],
      ]) {
        const r = await victimDv(box, alice, args, { timeoutMs: 60_000 });
        assert.equal(r.code, 0, show(r));
      }
      gitIn(box, alice, ['add', '-A']);
      gitIn(box, alice, ['commit', '-qm', 'data']);
      // The rogue: every id the team's indexes list, at offsets 512 bytes off, in a pack of junk,
      // its index named to sort (and load) first.
      const entries: PackEntry[] = [];
      for (const fan of await fsp.readdir(join(team, 'index'))) {
        for (const name of await fsp.readdir(join(team, 'index', fan)))
          entries.push(...decodePackIndex(await fsp.readFile(join(team, 'index', fan, name))));
      }
      const rogue = entries.map((e) => ({ ...e, offset: e.offset + 512 }));
      const end = Math.max(...rogue.map((e) => e.offset + e.length)) + 4096;
      // Eight copies under names that sort (and so load) before the team's own indexes.
      const names: string[] = [];
      await fsp.mkdir(join(team, 'packs', '00'), { recursive: true });
      await fsp.mkdir(join(team, 'index', '00'), { recursive: true });
      for (let k = 0; names.length < 8; k++) {
        assert.ok(k < 100_000, 'could not grind index names');
        const idx = encodePackIndex([...rogue, { id: randomBytes(32).toString('hex'), offset: 0, length: 1, rawSize: 1, flags: 0 }]);
        const name = blake3Hex(idx);
        if (!name.startsWith('00')) continue;
        names.push(name);
        await fsp.writeFile(join(team, 'packs', '00', `${name}.pack`), randomBytes(end));
        await fsp.writeFile(join(team, 'index', '00', `${name}.idx`), idx);
      }
      const id = names[0];
      const f = new Findings('rogue index');
      const bob = join(box.root, 'bob');
      gitIn(box, box.root, ['clone', '-q', alice, bob]);
      const r = await victimDv(box, bob, ['pull'], { timeoutMs: 60_000 });
      f.check(r.code === 0 && r.killed === undefined, `dv pull failed because of rogue indexes: ${show(r)}`);
      const same =
        JSON.stringify(await describeTree(join(bob, 'data')).catch(() => ({}))) === JSON.stringify(await describeTree(join(alice, 'data')));
      f.check(same, "bob's data differs from alice's");
      const fsck = await victimDv(box, bob, ['fsck', '--remote'], { timeoutMs: 60_000 });
      const named = (fsck.stdout + fsck.stderr).includes(id.slice(0, 12));
      f.check(fsck.code !== 0 && named, `dv fsck --remote does not name the rogue index ${id.slice(0, 12)}: ${show(fsck)}`);
      // A good clone's push afterwards: a fresh clone pulls fine.
      const push = await victimDv(box, alice, ['push'], { timeoutMs: 60_000 });
      f.check(push.code === 0, `alice's dv push: ${show(push)}`);
      const carol = join(box.root, 'carol');
      gitIn(box, box.root, ['clone', '-q', alice, carol]);
      const r3 = await victimDv(box, carol, ['pull'], { timeoutMs: 60_000 });
      f.check(r3.code === 0, `a fresh clone's dv pull after alice's push still fails: ${show(r3)}`);
      f.done();
    },
  );
});
