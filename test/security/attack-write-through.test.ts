/**
 * Attack: the write-through of `dv pull` (src/workspace/write-through.ts), where fetch workers
 * write each verified chunk of a large chunked file at its offsets into a staged file under
 * `.dv/tmp/co-<pid>-…` and checkout renames it into the workspace. A hostile directory remote
 * serves hand-built manifests (holes, overlaps, one chunk at two lengths, a chunk whose bytes
 * spell a manifest, a file that is also another file's subtree); a hostile clone plants a link at
 * `.dv/tmp`; a pull is killed mid-fetch or its remote fails.
 *
 * Secure outcome: every byte that reaches the workspace is the file's (or the pull is refused in
 * one line with a stable code and nothing reaches the workspace), exec bits are the tree's,
 * nothing is written outside the repository, and no staging directory is left behind.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp, statSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { WriteThrough } from '../../src/workspace/write-through.js';
import { assertOutsideUnchanged, assertRefused, dirScene, type DirScene, fingerprintBox, show, victimDv } from './attack-helpers.js';
import { gitDirObjects, manifestObj, obj, pointerText, publish, snapObj, stored, treeObj, type Obj } from './attack-helpers-objects.js';
import { encodeManifest } from '../../src/core/manifest.js';
import { DV_BIN, prng } from '../helpers/cli.js';
import { spawn } from 'node:child_process';

const T = { timeout: 180_000 };
const MB = 1024 * 1024;
const BOUNDS = { timeoutMs: 60_000, maxRssBytes: 400 * MB, maxDiskBytes: 64 * MB };

type Scene = DirScene;

/** The victim's repository with the attacker's directory as its trusted remote and a pointer to `data` in snapshot `snap`. */
async function scene(objs: Obj[], rows: unknown[][], size: number): Promise<Scene> {
  const { box, remote, victim } = await dirScene('dv-attack-wt-');
  const tree = await treeObj(rows);
  const snap = await snapObj(tree.id, 'data', 'dir', size, rows.length);
  await publish(remote, await Promise.all([...objs, tree, snap].map(stored)));
  await fsp.writeFile(join(victim, 'data.dv'), pointerText(snap.id, tree.id, 'data', 'dir'));
  return { box, remote, victim };
}

/** The staging directories left in the victim's `.dv/tmp`. */
async function staging(victim: string): Promise<string[]> {
  return (await fsp.readdir(join(victim, '.dv', 'tmp')).catch(() => [] as string[])).filter((n) => n.startsWith('co-'));
}

const pull = (sc: Scene, args: string[] = []): ReturnType<typeof victimDv> =>
  victimDv(sc.box, sc.victim, ['pull', ...args], { ...BOUNDS, diskDirs: [sc.victim] });

/** An unsaved edit of data/notes.txt, then a pull: refused within the disk bound, the edit kept, no staging left. */
async function refusedBesideEdit(sc: Scene): Promise<void> {
  await fsp.mkdir(join(sc.victim, 'data'));
  await fsp.writeFile(join(sc.victim, 'data', 'notes.txt'), 'my unsaved work\n');
  const r = await pull(sc);
  assert.ok(r.peakDiskBytes <= BOUNDS.maxDiskBytes, `disk: ${Math.round(r.peakDiskBytes / MB)} MB: ${show(r)}`);
  assertRefused(r, [], 'dv pull');
  assert.equal(await fsp.readFile(join(sc.victim, 'data', 'notes.txt'), 'utf8'), 'my unsaved work\n');
  assert.deepEqual(await staging(sc.victim), []);
}

/** Random chunks of the given sizes, as objects. */
const chunks = (seed: number, sizes: number[]): Promise<Obj[]> => Promise.all(sizes.map((n, k) => obj(prng(seed + k, n))));

const kids = (cs: Obj[]): { id: string; size: number }[] => cs.map((c) => ({ id: c.id, size: c.bytes.length }));

/** A refusal that left the workspace without the file and no staging behind. */
async function refusedClean(sc: Scene, r: Awaited<ReturnType<typeof victimDv>>, file: string): Promise<void> {
  assertRefused(r, ['BAD_OBJECT', 'OBJECT_CORRUPT'], 'dv pull');
  await assert.rejects(fsp.lstat(join(sc.victim, 'data', file)), /ENOENT/, `${file} must not reach the workspace`);
  assert.deepEqual(await staging(sc.victim), [], 'no staging left behind');
}

describe('attack: write-through, manifests that do not tile their file', () => {
  test('a subtree whose children leave a hole (declared 1 MiB + 10, holding 1 MiB): refused, nothing written', T, async () => {
    const [a, b, c] = await chunks(1, [MB, 512 * 1024, 512 * 1024]);
    const m0 = await manifestObj(0, kids([a]));
    const m0b = await manifestObj(0, kids([b, c]));
    // The parent says m0 covers 10 bytes more than its chunks do: b and c would land 10 bytes late.
    const root = await manifestObj(1, [
      { id: m0.id, size: MB + 10 },
      { id: m0b.id, size: MB },
    ]);
    const size = 2 * MB + 10;
    const sc = await scene([a, b, c, m0, m0b, root], [['m', 'holey.bin', size, root.id, 0]], size);
    const before = await fingerprintBox(sc.box, sc.victim);
    await refusedClean(sc, await pull(sc), 'holey.bin');
    await assertOutsideUnchanged(sc.box, sc.victim, before, 'after dv pull');
  });

  test('overlapping places (a subtree declared shorter than its chunks): refused, nothing written', T, async () => {
    const [a, b] = await chunks(10, [MB, MB]);
    const m0 = await manifestObj(0, kids([a, b]));
    const root = await manifestObj(1, [
      { id: m0.id, size: MB },
      { id: m0.id, size: MB },
    ]);
    const sc = await scene([a, b, m0, root], [['m', 'overlap.bin', 2 * MB, root.id, 0]], 2 * MB);
    await refusedClean(sc, await pull(sc), 'overlap.bin');
  });

  test('one chunk named at two places with two lengths: refused, nothing written', T, async () => {
    const [a, b] = await chunks(20, [MB, MB]);
    const root = await manifestObj(0, [
      { id: a.id, size: MB },
      { id: b.id, size: MB },
      { id: a.id, size: MB - 100 },
    ]);
    const size = 3 * MB - 100;
    const sc = await scene([a, b, root], [['m', 'twice.bin', size, root.id, 0]], size);
    await refusedClean(sc, await pull(sc), 'twice.bin');
  });

  test('a file whose declared size is far beyond its chunks: refused, disk stays small, nothing written', T, async () => {
    const [a] = await chunks(30, [MB]);
    const root = await manifestObj(0, kids([a, a]));
    const size = 1 << 40;
    const sc = await scene([a, root], [['m', 'liar.bin', size, root.id, 0]], size);
    const r = await pull(sc);
    assert.ok(r.peakDiskBytes <= BOUNDS.maxDiskBytes, `disk: ${r.peakDiskBytes}`);
    await refusedClean(sc, r, 'liar.bin');
  });

  test('a chunk whose length is not what its manifest declares (a lying size at a leaf): refused, nothing written', T, async () => {
    const [a, b] = await chunks(40, [MB, MB]);
    const root = await manifestObj(0, [
      { id: a.id, size: MB },
      { id: b.id, size: MB + 4096 },
    ]);
    const size = 2 * MB + 4096;
    const sc = await scene([a, b, root], [['m', 'lie.bin', size, root.id, 0]], size);
    await refusedClean(sc, await pull(sc), 'lie.bin');
  });
});

describe('attack: write-through, one id in two roles', () => {
  test('a chunk whose bytes spell the manifest another file names as its subtree: refused, nothing written', T, async () => {
    const [a, b] = await chunks(60, [600 * 1024, 700 * 1024]);
    const tail = await manifestObj(0, kids([a, b, a]));
    const big = await manifestObj(1, [{ id: tail.id, size: 2 * a.bytes.length + b.bytes.length }]);
    // spell.bin's last chunk is tail's encoding: as data it is 100-odd bytes, as a manifest 1.9 MiB.
    const spell = await manifestObj(0, [...kids([b, a]), { id: tail.id, size: tail.bytes.length }]);
    const sizeBig = 2 * a.bytes.length + b.bytes.length;
    const sizeSpell = a.bytes.length + b.bytes.length + tail.bytes.length;
    const rows = [
      ['m', 'big.bin', sizeBig, big.id, 0],
      ['m', 'spell.bin', sizeSpell, spell.id, 0],
    ];
    const sc = await scene([a, b, tail, big, spell], rows, sizeBig + sizeSpell);
    const r = await pull(sc);
    await refusedClean(sc, r, 'spell.bin');
    await assert.rejects(fsp.lstat(join(sc.victim, 'data', 'big.bin')), /ENOENT/);
  });

  test(
    'a large file whose manifest is also a plain (unchunked) file of another name: the pull ends clean, each gets its own bytes',
    T,
    async () => {
      const [a, b] = await chunks(70, [700 * 1024, 700 * 1024]);
      const m = await manifestObj(0, kids([a, b]));
      const rows = [
        ['m', 'big.bin', 2 * 700 * 1024, m.id, 0],
        ['f', 'raw.bin', m.bytes.length, m.id, 0],
      ];
      const sc = await scene([a, b, m], rows, 2 * 700 * 1024 + m.bytes.length);
      const r = await pull(sc);
      if (r.code !== 0) {
        await refusedClean(sc, r, 'big.bin');
        return;
      }
      assert.ok((await fsp.readFile(join(sc.victim, 'data', 'big.bin'))).equals(Buffer.concat([a.bytes, b.bytes])));
      assert.ok((await fsp.readFile(join(sc.victim, 'data', 'raw.bin'))).equals(m.bytes));
      assert.deepEqual(await staging(sc.victim), []);
    },
  );
});

describe('attack: write-through, honest but tricky files get exactly their bytes', () => {
  test("one chunk at many offsets, a chunk whose bytes spell a manifest, a file that is another file's subtree, exec bits", T, async () => {
    const [a, b, c] = await chunks(50, [256 * 1024, 700 * 1024, 600 * 1024]);
    // shared.bin (a file of its own, 1 MiB + 300 KiB) is also the first subtree of big.bin.
    const shared = await manifestObj(0, kids([c, b]));
    // rep.bin names chunk a eight times (2 MiB).
    const rep = await manifestObj(0, kids(Array(8).fill(a)));
    // A chunk whose bytes are the encoding of a manifest over a and b (named by nobody as one), used as data in spell.bin.
    const spelled = await obj(encodeManifest({ level: 0, children: kids([a, a, b]) }));
    const tail = await manifestObj(0, kids([a, b, a]));
    const big = await manifestObj(1, [
      { id: shared.id, size: c.bytes.length + b.bytes.length },
      { id: tail.id, size: 2 * a.bytes.length + b.bytes.length },
    ]);
    const spell = await manifestObj(0, [...kids([b, c]), { id: spelled.id, size: spelled.bytes.length }]);
    const bytes = {
      'shared.bin': Buffer.concat([c.bytes, b.bytes]),
      'rep.bin': Buffer.concat(Array(8).fill(a.bytes)),
      'big.bin': Buffer.concat([c.bytes, b.bytes, a.bytes, b.bytes, a.bytes]),
      'spell.bin': Buffer.concat([b.bytes, c.bytes, spelled.bytes]),
    };
    const rows: unknown[][] = [
      ['m', 'big.bin', bytes['big.bin'].length, big.id, 1],
      ['m', 'rep.bin', bytes['rep.bin'].length, rep.id, 0],
      ['m', 'shared.bin', bytes['shared.bin'].length, shared.id, 0],
      ['m', 'spell.bin', bytes['spell.bin'].length, spell.id, 1],
    ];
    const total = Object.values(bytes).reduce((n, x) => n + x.length, 0);
    const sc = await scene([a, b, c, spelled, shared, rep, tail, big, spell], rows, total);
    const before = await fingerprintBox(sc.box, sc.victim);
    const r = await pull(sc);
    assert.equal(r.code, 0, show(r));
    for (const [name, want] of Object.entries(bytes)) {
      const got = await fsp.readFile(join(sc.victim, 'data', name));
      assert.ok(got.equals(want), `${name}: the workspace holds exactly its bytes`);
    }
    const mode = (n: string): number => statSync(join(sc.victim, 'data', n)).mode & 0o111;
    assert.notEqual(mode('big.bin'), 0, 'big.bin is executable');
    assert.notEqual(mode('spell.bin'), 0, 'spell.bin is executable');
    assert.equal(mode('rep.bin'), 0, 'rep.bin is not');
    assert.equal(mode('shared.bin'), 0, 'shared.bin is not');
    assert.deepEqual(await staging(sc.victim), [], 'no staging left behind');
    await assertOutsideUnchanged(sc.box, sc.victim, before, 'after dv pull');
    const st = await victimDv(sc.box, sc.victim, ['status', '--json'], BOUNDS);
    assert.equal(JSON.parse(st.stdout).clean, true, show(st));
  });
});

/** An honest scene: one large file of random chunks (`n` chunks of 1 MiB), executable. */
async function honest(n: number, seed: number): Promise<{ sc: Scene; bytes: Buffer }> {
  const cs = await chunks(seed, Array(n).fill(MB));
  const root = await manifestObj(0, kids(cs));
  const sc = await scene([...cs, root], [['m', 'big.bin', n * MB, root.id, 1]], n * MB);
  return { sc, bytes: Buffer.concat(cs.map((c) => c.bytes)) };
}

describe('attack: write-through, links a hostile clone plants', () => {
  test('.dv/tmp is a symlink to a directory outside: nothing is staged or written there, the pull still gets the bytes', T, async () => {
    const { sc, bytes } = await honest(3, 80);
    await fsp.rm(join(sc.victim, '.dv', 'tmp'), { recursive: true, force: true });
    await fsp.symlink(sc.box.outside, join(sc.victim, '.dv', 'tmp'));
    const before = await fingerprintBox(sc.box, sc.victim);
    const r = await pull(sc);
    await assertOutsideUnchanged(sc.box, sc.victim, before, 'after dv pull');
    assert.deepEqual(await staging(sc.box.outside), [], 'no staging directory in the link target');
    if (r.code !== 0) return assertRefused(r, [], 'dv pull');
    assert.ok((await fsp.readFile(join(sc.victim, 'data', 'big.bin'))).equals(bytes));
  });

  test('the tracked directory is a symlink to a directory outside: the staged file is not renamed through it', T, async () => {
    const { sc } = await honest(2, 90);
    await fsp.symlink(sc.box.outside, join(sc.victim, 'data'));
    const before = await fingerprintBox(sc.box, sc.victim);
    const r = await pull(sc);
    await assertOutsideUnchanged(sc.box, sc.victim, before, 'after dv pull');
    await assert.rejects(fsp.lstat(join(sc.box.outside, 'big.bin')), /ENOENT/);
    assert.deepEqual(await staging(sc.victim), []);
    if (r.code !== 0) assertRefused(r, [], 'dv pull');
  });

  test('the tracked file is a symlink to a file outside (no --force): the outside file keeps its bytes', T, async () => {
    const { sc } = await honest(2, 100);
    const target = join(sc.box.outside, 'precious.txt');
    await fsp.writeFile(target, 'precious\n');
    await fsp.mkdir(join(sc.victim, 'data'));
    await fsp.symlink(target, join(sc.victim, 'data', 'big.bin'));
    const r = await pull(sc);
    assert.equal(await fsp.readFile(target, 'utf8'), 'precious\n');
    assert.deepEqual(await staging(sc.victim), []);
    if (r.code !== 0) assertRefused(r, [], 'dv pull');
  });
});

describe('attack: write-through, interrupted and failing pulls', () => {
  test('a pull killed (SIGKILL) mid-fetch leaves staging that the next command removes; a second pull gets the bytes', T, async () => {
    const { sc, bytes } = await honest(96, 110);
    const tmp = join(sc.victim, '.dv', 'tmp');
    let killedWith = false;
    for (let attempt = 0; attempt < 5 && !killedWith; attempt++) {
      await fsp.rm(join(sc.victim, 'data'), { recursive: true, force: true });
      const child = spawn(process.execPath, [DV_BIN, 'pull', '-q'], { cwd: sc.victim, env: sc.box.env, detached: true, stdio: 'ignore' });
      const ended = new Promise<void>((res) => child.once('exit', () => res()));
      let done = false;
      void ended.then(() => (done = true));
      // Kill the whole group the moment a staged file has bytes in it.
      while (!done) {
        const co = await staging(sc.victim);
        const names = co.length > 0 ? await fsp.readdir(join(tmp, co[0])).catch(() => [] as string[]) : [];
        if (names.length > 0) {
          process.kill(-child.pid!, 'SIGKILL');
          killedWith = true;
          break;
        }
        await new Promise((res) => setTimeout(res, 2));
      }
      await ended;
    }
    assert.ok(killedWith, 'the pull was killed while a staged file existed');
    assert.notDeepEqual(await staging(sc.victim), [], 'the kill left staging behind (what the next command must clean)');
    const st = await victimDv(sc.box, sc.victim, ['status'], BOUNDS);
    assert.ok(st.code !== null, show(st));
    assert.deepEqual(await staging(sc.victim), [], "the next command removed the dead pull's staging");
    const r = await victimDv(sc.box, sc.victim, ['pull', '-q'], { ...BOUNDS, maxDiskBytes: 400 * MB, diskDirs: [sc.victim] });
    assert.equal(r.code, 0, show(r));
    assert.ok((await fsp.readFile(join(sc.victim, 'data', 'big.bin'))).equals(bytes));
    assert.deepEqual(await staging(sc.victim), []);
  });

  test(
    'a remote that loses a pack mid-way (its chunks unreadable): refused in one line, nothing in the workspace, no staging',
    T,
    async () => {
      const cs = await chunks(120, Array(4).fill(MB));
      const root = await manifestObj(0, kids(cs));
      const sc = await scene([root], [['m', 'big.bin', 4 * MB, root.id, 0]], 4 * MB);
      // The chunks in a second pack, which is then truncated (a failing remote: short reads).
      const packId = await publish(sc.remote, await Promise.all(cs.map(stored)));
      const pack = join(sc.remote, 'packs', packId.slice(0, 2), `${packId}.pack`);
      await fsp.truncate(pack, 2 * MB + 100);
      const r = await pull(sc);
      assertRefused(r, [], 'dv pull');
      await assert.rejects(fsp.lstat(join(sc.victim, 'data', 'big.bin')), /ENOENT/);
      assert.deepEqual(await staging(sc.victim), []);
    },
  );
});

describe('attack: write-through, disk spent before a refusal', () => {
  /** One 1 MiB chunk named 2048 times: an honest 2 GiB file from 1 MiB on the remote. */
  async function repeated(): Promise<{ objs: Obj[]; row: unknown[]; size: number }> {
    const [a] = await chunks(130, [MB]);
    const m0 = await manifestObj(0, kids(Array(32).fill(a)));
    const m = await manifestObj(1, Array(64).fill({ id: m0.id, size: 32 * MB }));
    return { objs: [a, m0, m], row: ['m', 'zzz-huge.bin', 2048 * MB, m.id, 0], size: 2048 * MB };
  }

  test('a nested .git beside a 2 GiB file of one chunk (refused as the tree is decoded): disk stays small, no staging', T, async () => {
    const h = await repeated();
    const g = await gitDirObjects('true');
    const rows = [['d', '.git', 0, g.tree.id, 2], h.row];
    const sc = await scene([...h.objs, ...g.objects], rows, h.size);
    const r = await pull(sc);
    assert.ok(r.peakDiskBytes <= BOUNDS.maxDiskBytes, `disk: ${Math.round(r.peakDiskBytes / MB)} MB: ${show(r)}`);
    assertRefused(r, [], 'dv pull');
    assert.deepEqual(await staging(sc.victim), []);
  });

  test('a pull refused for an unsaved change beside a 2 GiB file of one chunk: disk stays small, the edit stays', T, async () => {
    const h = await repeated();
    const small = await obj('v2\n');
    const rows = [['f', 'notes.txt', 3, small.id, 0], h.row];
    const sc = await scene([...h.objs, small], rows, h.size + 3);
    await refusedBesideEdit(sc);
  });
});

/** Starts `dv pull -q` in its own process group; `staged()` resolves once a staged file has bytes (or the pull ended). */
function startPull(sc: Scene): { pid: number; ended: Promise<number | null>; staged: () => Promise<boolean> } {
  const child = spawn(process.execPath, [DV_BIN, 'pull', '-q'], { cwd: sc.victim, env: sc.box.env, detached: true, stdio: 'ignore' });
  let done = false;
  const ended = new Promise<number | null>((res) =>
    child.once('exit', (code) => {
      done = true;
      res(code);
    }),
  );
  const staged = async (): Promise<boolean> => {
    while (!done) {
      const co = await staging(sc.victim);
      const names = co.length > 0 ? await fsp.readdir(join(sc.victim, '.dv', 'tmp', co[0])).catch(() => [] as string[]) : [];
      if (names.length > 0) return true;
      await new Promise((res) => setTimeout(res, 2));
    }
    return false;
  };
  return { pid: child.pid!, ended, staged };
}

describe('attack: write-through, a second dv process and Ctrl-C', () => {
  test("dv status and a second dv pull while a pull stages: the staging stays the first pull's, both end with the bytes", T, async () => {
    const { sc, bytes } = await honest(64, 140);
    for (let attempt = 0; attempt < 5; attempt++) {
      await fsp.rm(join(sc.victim, 'data'), { recursive: true, force: true });
      await fsp.rm(join(sc.victim, '.dv', 'cache'), { recursive: true, force: true }).catch(() => undefined);
      const p = startPull(sc);
      const caught = await p.staged();
      const [st, second] = await Promise.all([
        victimDv(sc.box, sc.victim, ['status'], { timeoutMs: 60_000 }),
        victimDv(sc.box, sc.victim, ['pull', '-q'], { timeoutMs: 60_000 }),
      ]);
      const code = await p.ended;
      assert.equal(code, 0, 'the first pull succeeds: another process did not take its staging');
      assert.ok(st.code !== null && st.signal === null, show(st));
      if (second.code !== 0) assertRefused(second, [], 'the second dv pull');
      assert.ok((await fsp.readFile(join(sc.victim, 'data', 'big.bin'))).equals(bytes));
      assert.notEqual(statSync(join(sc.victim, 'data', 'big.bin')).mode & 0o111, 0, 'exec bit kept');
      assert.deepEqual(await staging(sc.victim), []);
      if (caught) return;
    }
    assert.fail('never caught the pull while it staged');
  });

  test('Ctrl-C (SIGINT) mid-fetch: the pull removes its own staging as it exits', T, async () => {
    const { sc } = await honest(96, 150);
    for (let attempt = 0; attempt < 5; attempt++) {
      await fsp.rm(join(sc.victim, 'data'), { recursive: true, force: true });
      await fsp.rm(join(sc.victim, '.dv', 'cache'), { recursive: true, force: true }).catch(() => undefined);
      const p = startPull(sc);
      const caught = await p.staged();
      if (caught) process.kill(-p.pid, 'SIGINT');
      await p.ended;
      assert.deepEqual(await staging(sc.victim), [], 'no staging left after Ctrl-C');
      if (caught) return;
    }
    assert.fail('never caught the pull while it staged');
  });
});

describe('attack: write-through, places beyond MAX_PLACES', () => {
  test(
    'a file naming one 1 KiB chunk a million times (1000 x 1000), refused for an unsaved change: memory and disk stay small',
    T,
    async () => {
      const [a] = await chunks(160, [1024]);
      const m0 = await manifestObj(0, kids(Array(1000).fill(a)));
      const m1 = await manifestObj(1, Array(1000).fill({ id: m0.id, size: 1000 * 1024 }));
      const size = 1000 * 1000 * 1024;
      const small = await obj('v2\n');
      const rows = [
        ['m', 'million.bin', size, m1.id, 0],
        ['f', 'notes.txt', 3, small.id, 0],
      ];
      const sc = await scene([a, m0, m1, small], rows, size + 3);
      await refusedBesideEdit(sc);
      await assert.rejects(fsp.lstat(join(sc.victim, 'data', 'million.bin')), /ENOENT/);
    },
  );
});

describe('attack: write-through, one chunk at many places (the planner itself)', () => {
  test('a chunk named at more than 8 places is staged nowhere and its files are never handed out; at 8 it is', async () => {
    for (const [n, staged] of [
      [8, true],
      [9, false],
    ] as const) {
      const dir = await fsp.mkdtemp(join(tmpdir(), 'dv-wt-copies-'));
      const stage = WriteThrough.create(join(dir, 'tmp'), { minSize: 1 })!;
      try {
        const [a] = await chunks(170, [1000]);
        const m = await manifestObj(0, kids(Array(n).fill(a)));
        stage.file(m.id, n * 1000, true);
        stage.manifest(m.id, { level: 0, children: kids(Array(n).fill(a)) });
        const to = stage.route(a.id);
        assert.equal(to?.length, staged ? n : undefined, `${n} places`);
        // As a fetch worker would: the chunk's bytes at each place.
        for (const p of to ?? []) await fsp.writeFile(p.path, Buffer.alloc(n * 1000));
        stage.settle(a.id, 'ok');
        const dev = statSync(stage.dir).dev;
        assert.equal(stage.claim(m.id, n * 1000, dev) !== undefined, staged, `${n} places: handed out only when staged`);
      } finally {
        await stage.dispose();
        await fsp.rm(dir, { recursive: true, force: true });
      }
    }
  });
});

describe('attack: write-through, a tracked single file', () => {
  test(
    'a large tracked file (pointer of kind file), executable, once a symlink to outside: the link is replaced, outside untouched',
    T,
    async () => {
      const cs = await chunks(180, [MB, MB, 300 * 1024]);
      const root = await manifestObj(0, kids(cs));
      const size = 2 * MB + 300 * 1024;
      const { box, remote, victim } = await dirScene('dv-attack-wt-');
      const tree = await treeObj([['m', 'big.bin', size, root.id, 1]]);
      const snap = await snapObj(tree.id, 'big.bin', 'file', size, 1);
      await publish(remote, await Promise.all([...cs, root, tree, snap].map(stored)));
      await fsp.writeFile(join(victim, 'big.bin.dv'), pointerText(snap.id, tree.id, 'big.bin', 'file'));
      const target = join(box.outside, 'precious.txt');
      await fsp.writeFile(target, 'precious\n');
      await fsp.symlink(target, join(victim, 'big.bin'));
      const r = await victimDv(box, victim, ['pull', '--force'], { ...BOUNDS, diskDirs: [victim] });
      assert.equal(await fsp.readFile(target, 'utf8'), 'precious\n', 'the link target keeps its bytes');
      assert.deepEqual(await staging(victim), []);
      if (r.code !== 0) return assertRefused(r, [], 'dv pull --force');
      const st = await fsp.lstat(join(victim, 'big.bin'));
      assert.ok(st.isFile(), 'a regular file replaced the link');
      assert.notEqual(st.mode & 0o111, 0, 'executable as the tree says');
      assert.ok((await fsp.readFile(join(victim, 'big.bin'))).equals(Buffer.concat(cs.map((c) => c.bytes))));
    },
  );
});
