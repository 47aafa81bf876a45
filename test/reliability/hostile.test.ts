/**
 * Hostile input: damaged pointer files and configuration, unknown and ambiguous ids, paths
 * outside the repository, and crafted remotes whose trees try to escape the workspace or whose
 * objects lie about their size or hash. Each gives a one-line error with its code, a non-zero
 * exit, and changes no data.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { dv, dvOk, dvJson, makeRepo, describeTree, git, tempDir, storeBytes, type RunResult, type Manifest } from '../helpers/cli.js';
import { makeDataset } from '../helpers/data.js';
import { exists } from '../helpers/kill.js';
import { obj, pointerText, rawTree, snapshotBytes, writeRemotePack, type Obj } from '../helpers/evil-remote.js';
import { decodePackIndex } from '../../src/store/pack-index.js';
import { ERROR_CODES, type ErrorCode } from '../../src/errors.js';

const cleanup: string[] = [];
after(async () => {
  for (const d of cleanup) await fsp.rm(d, { recursive: true, force: true });
});

/** Exit code and exactly one stderr line `dv: error CODE: ...`. */
function assertError(r: RunResult, code: ErrorCode, what: string): void {
  assert.equal(r.code, ERROR_CODES[code].exit, `${what}: exit ${r.code}, stderr: ${r.stderr}`);
  assert.match(r.stderr, new RegExp(`^dv: error ${code}: \\S.*\\n$`), `${what}: one clear line: ${JSON.stringify(r.stderr)}`);
}

interface Fingerprint {
  data: Manifest;
  pointer: string;
  store: number;
  files: string[];
}

/** What must not change: the tracked data, its pointer file, the store, and the files of the work tree. */
async function fingerprint(dir: string): Promise<Fingerprint> {
  const files = (await fsp.readdir(dir, { recursive: true }))
    .filter((p) => !p.startsWith('.git/') && !p.startsWith('.dv/index') && !p.startsWith('.dv/remotes') && p !== '.git')
    .sort();
  return {
    data: await describeTree(join(dir, 'data')).catch(() => ({})),
    pointer: await fsp.readFile(join(dir, 'data.dv'), 'utf8').catch(() => ''),
    store: await storeBytes(dir),
    files,
  };
}

/** The work tree outside .git and .dv. */
async function workTree(dir: string): Promise<Manifest> {
  return Object.fromEntries(Object.entries(await describeTree(dir)).filter(([p]) => !/^\.(git|dv)(\/|$)/.test(p)));
}

async function packIds(dir: string): Promise<string[]> {
  const out: string[] = [];
  const packs = join(dir, '.dv', 'cache', 'packs');
  for (const fan of await fsp.readdir(packs)) {
    for (const f of await fsp.readdir(join(packs, fan))) {
      if (f.endsWith('.idx')) out.push(...decodePackIndex(await fsp.readFile(join(packs, fan, f))).map((e) => e.id));
    }
  }
  return out;
}

describe('damaged local state', () => {
  let a: string;
  let remote: string;
  let pointer: string;
  let snapshot: string;

  before(async () => {
    a = await makeRepo();
    cleanup.push(a);
    remote = tempDir('dv-hostile-remote-');
    cleanup.push(remote);
    await makeDataset(join(a, 'data'), { files: 800, dirs: 8, large: [1_000_000] });
    snapshot = (await dvJson(a, ['add', 'data'])).added[0].snapshot;
    await dvOk(a, ['remote', 'add', 'origin', remote]);
    await dvOk(a, ['push', '-q']);
    git(a, ['add', '-A']);
    git(a, ['commit', '-qm', 'data']);
    pointer = await fsp.readFile(join(a, 'data.dv'), 'utf8');
  });

  test('malformed and truncated pointer files: BAD_POINTER from every command, nothing changes', async () => {
    const lines = pointer.split('\n');
    const variants: [string, string][] = [
      ['cut inside the snapshot id', pointer.slice(0, pointer.indexOf('snapshot: ') + 30)],
      ['cut after the tree line', lines.slice(0, 6).join('\n') + '\n'],
      ['cut inside "files:"', pointer.slice(0, pointer.indexOf('files:') + 4)],
      ['no "dv: 1"', pointer.replace('dv: 1\n', '')],
      ['kind is neither dir nor file', pointer.replace('kind: dir', 'kind: banana')],
      ['id one character short', pointer.replace(/snapshot: ([0-9a-f]{63})[0-9a-f]/, 'snapshot: $1')],
      ['upper-case id', pointer.replace(/tree: ([0-9a-f]{64})/, (_, id: string) => `tree: ${id.toUpperCase()}`)],
      ['duplicate key', pointer + 'kind: file\n'],
      ['garbage line', pointer + '<<<<<<< HEAD\n'],
      ['path with ..', pointer.replace('path: "data"', 'path: ".."')],
      ['path with a slash', pointer.replace('path: "data"', 'path: "x/data"')],
      ['path of another name', pointer.replace('path: "data"', 'path: "other"')],
      ['binary junk after the header', pointer.slice(0, 90) + '\u0000\u0001\u0002'],
      ['truncated to the first bytes of its header', pointer.slice(0, 12)],
      ['empty (truncated to nothing)', ''],
    ];
    const before = await fingerprint(a);
    const every = [['status'], ['checkout'], ['commit', '-m', 'x'], ['log'], ['gc'], ['push'], ['pull'], ['fsck']];
    const some = [['status'], ['gc'], ['fsck']];
    for (const [k, [what, text]] of variants.entries()) {
      await fsp.writeFile(join(a, 'data.dv'), text);
      for (const cmd of k % 5 === 0 || text.length < 20 ? every : some) {
        const r = await dv(a, cmd);
        if (cmd[0] === 'fsck') {
          assert.equal(r.code, ERROR_CODES.FSCK_FAILED.exit, `${what}: fsck ${r.stderr}`);
          assert.match(r.stderr, /^BAD_POINTER: data\.dv\b/m, `${what}: fsck names the file`);
        } else {
          assertError(r, 'BAD_POINTER', `${what}: dv ${cmd[0]}`);
          assert.match(r.stderr, /data\.dv/, `${what}: names the file`);
        }
      }
      assert.deepEqual({ ...(await fingerprint(a)), pointer }, { ...before, pointer }, `${what}: nothing changed`);
      assert.equal(await fsp.readFile(join(a, 'data.dv'), 'utf8'), text, `${what}: the damaged pointer is left for the user to repair`);
    }
    await fsp.writeFile(join(a, 'data.dv'), pointer);
    assert.equal((await dvJson(a, ['fsck'])).ok, true);
  });

  test('a pointer naming objects nobody has: OBJECT_MISSING, nothing changes', async () => {
    const ghost = pointer
      .replace(/snapshot: [0-9a-f]{64}/, `snapshot: ${'5e'.repeat(32)}`)
      .replace(/tree: [0-9a-f]{64}/, `tree: ${'7a'.repeat(32)}`);
    await fsp.writeFile(join(a, 'data.dv'), ghost);
    const before = await fingerprint(a);
    for (const cmd of [['checkout'], ['checkout', '--force'], ['pull'], ['log'], ['push'], ['ls', 'data']]) {
      const r = await dv(a, cmd);
      assertError(r, 'OBJECT_MISSING', `dv ${cmd.join(' ')}`);
    }
    const st = await dvJson(a, ['status']);
    assert.equal(st.paths[0].state, 'not-in-cache');
    const f = await dv(a, ['fsck']);
    assert.equal(f.code, ERROR_CODES.FSCK_FAILED.exit);
    assert.match(f.stderr, /OBJECT_MISSING: snapshot 5e5e/);
    assert.deepEqual(await fingerprint(a), before);
    await fsp.writeFile(join(a, 'data.dv'), pointer);
  });

  test('malformed configuration (repo, local and global): BAD_CONFIG, nothing changes', async () => {
    const config = await fsp.readFile(join(a, '.dv', 'config'), 'utf8');
    const before = await fingerprint(a);
    const variants: [string, string, string][] = [
      ['.dv/config', 'truncated JSON', config.slice(0, config.length / 2)],
      ['.dv/config', 'empty', ''],
      ['.dv/config', 'an array', '[1, 2]'],
      ['.dv/config', 'a number where a section belongs', '{"core": 5}'],
      ['.dv/config', 'a format from the future', config.replace('"format": "1"', '"format": "7"')],
      ['.dv/config.local', 'not JSON', 'remote.origin.url = /tmp'],
      ['.xdg-test/dv/config', 'global, not JSON', '{{{'],
    ];
    for (const [file, what, text] of variants) {
      await fsp.mkdir(join(a, file, '..'), { recursive: true });
      await fsp.writeFile(join(a, file), text);
      for (const cmd of [['add', 'data'], ['checkout'], ['push']]) {
        assertError(await dv(a, cmd), 'BAD_CONFIG', `${file} ${what}: dv ${cmd[0]}`);
      }
      const r = await dv(a, ['status']);
      assertError(r, 'BAD_CONFIG', `${file} ${what}: dv status`);
      assert.match(r.stderr, new RegExp(file.replace(/[.]/g, '\\.')), `${what}: names the file`);
      if (file === '.dv/config') await fsp.writeFile(join(a, file), config);
      else await fsp.rm(join(a, file));
      assert.deepEqual({ ...(await fingerprint(a)), files: [] }, { ...before, files: [] }, `${what}: nothing changed`);
    }
    await dvOk(a, ['status']);
  });

  test('unknown and ambiguous id prefixes: UNKNOWN_ID and AMBIGUOUS_ID naming the matches', async () => {
    const ids = await packIds(a);
    const byPrefix = new Map<string, string[]>();
    for (const id of ids) byPrefix.set(id.slice(0, 4), [...(byPrefix.get(id.slice(0, 4)) ?? []), id]);
    const shared = [...byPrefix.entries()].find(([, l]) => new Set(l).size > 1);
    assert.ok(shared, `no two of ${ids.length} ids share a 4-hex prefix`);
    const [prefix, matches] = shared;
    let unknown = '0000';
    for (let n = 0; byPrefix.has(unknown); n++) unknown = n.toString(16).padStart(4, '0');
    const before = await fingerprint(a);
    for (const cmd of [
      ['checkout', prefix],
      ['checkout', prefix, 'data'],
      ['ls', prefix],
      ['diff', prefix],
      ['diff', snapshot.slice(0, 8), prefix],
    ]) {
      const r = await dv(a, cmd);
      assertError(r, 'AMBIGUOUS_ID', `dv ${cmd.join(' ')}`);
      for (const m of matches) assert.ok(r.stderr.includes(m.slice(0, 12)), `names ${m.slice(0, 12)}: ${r.stderr}`);
    }
    for (const cmd of [
      ['checkout', unknown],
      ['ls', unknown],
      ['diff', unknown],
      ['checkout', 'f'.repeat(64)],
    ]) {
      assertError(await dv(a, cmd), 'UNKNOWN_ID', `dv ${cmd.join(' ')}`);
    }
    // Too short to be an id, and no such path: a usage error saying how long a prefix must be.
    const short = await dv(a, ['checkout', prefix.slice(0, 3)]);
    assertError(short, 'USAGE', 'a 3-character prefix');
    assert.match(short.stderr, /give at least 4 hex characters/);
    assert.deepEqual(await fingerprint(a), before);
  });

  test('paths outside the repository: PATH_OUTSIDE_REPO, nothing read or written there', async () => {
    const box = tempDir('dv-hostile-outside-');
    cleanup.push(box);
    await fsp.mkdir(join(box, 'secret'));
    await fsp.writeFile(join(box, 'secret', 'key.txt'), 'do not store me');
    const outsideBefore = await describeTree(box);
    const before = await fingerprint(a);
    const rel = join('..', box.split('/').pop()!, 'secret');
    for (const cmd of [
      ['add', rel],
      ['add', join(box, 'secret')],
      ['add', '/etc/hostname'],
      ['commit', rel],
      ['status', rel],
      ['checkout', snapshot.slice(0, 10), join(box, 'restored')],
      ['checkout', snapshot.slice(0, 10), rel + '2'],
    ]) {
      assertError(await dv(a, cmd), 'PATH_OUTSIDE_REPO', `dv ${cmd.join(' ')}`);
    }
    // Through a symbolic link inside the repository that leads out of it.
    await fsp.symlink(box, join(a, 'escape'));
    try {
      assertError(
        await dv(a, ['checkout', snapshot.slice(0, 10), 'escape/restored']),
        'PATH_OUTSIDE_REPO',
        'checkout through a symlinked directory',
      );
    } finally {
      await fsp.rm(join(a, 'escape'));
    }
    assert.deepEqual(await describeTree(box), outsideBefore, 'nothing written outside');
    assert.deepEqual(await fingerprint(a), before, 'nothing stored from outside');
  });

  test('dv add through a symlinked directory leading outside: PATH_OUTSIDE_REPO, nothing read or written there', async () => {
    const box = tempDir('dv-hostile-outside-');
    cleanup.push(box);
    await fsp.mkdir(join(box, 'secret'));
    await fsp.writeFile(join(box, 'secret', 'key.txt'), 'do not store me');
    const outsideBefore = await describeTree(box);
    const before = await fingerprint(a);
    await fsp.symlink(box, join(a, 'escape'));
    let r: RunResult;
    try {
      r = await dv(a, ['add', 'escape/secret']);
    } finally {
      await fsp.rm(join(a, 'escape'));
    }
    const outsideAfter = await describeTree(box);
    const storeAfter = await storeBytes(a);
    // Undo what a successful add did, so the other tests of this repository keep their state.
    await fsp.rm(join(box, 'secret.dv'), { force: true });
    await fsp.rm(join(box, '.gitignore'), { force: true });
    assert.deepEqual(outsideAfter, outsideBefore, 'nothing written outside (no pointer file or .gitignore beside the outside data)');
    assertError(r, 'PATH_OUTSIDE_REPO', 'add through a symlinked directory');
    assert.equal(storeAfter, before.store, 'nothing stored from outside');
  });

  test('dv add refuses symlinks that escape only when followed through other symlinks (z -> ., x -> z/z/../..)', async () => {
    const b = await makeRepo();
    cleanup.push(b);
    await fsp.mkdir(join(b, 'data'));
    await fsp.writeFile(join(b, 'data', 'a.txt'), 'a');
    await fsp.symlink('.', join(b, 'data', 'z'));
    await fsp.symlink('z/z/../..', join(b, 'data', 'x'));
    assert.equal(await fsp.realpath(join(b, 'data', 'x')), await fsp.realpath(join(b, '..')), 'x really leads out of the workspace');
    const r = await dv(b, ['add', 'data']);
    assertError(r, 'UNSAFE_PATH', 'add of a chained escaping symlink');
    assert.equal(await exists(join(b, 'data.dv')), false);
  });

  test('a snapshot whose path climbs out of the repository is refused by checkout <id>', async () => {
    const box = tempDir('dv-hostile-snap-');
    cleanup.push(box);
    const ws = join(box, 'ws');
    await fsp.mkdir(ws);
    const b = await makeRepo();
    cleanup.push(b);
    const crafted = tempDir('dv-hostile-crafted-');
    cleanup.push(crafted);
    const content = await obj('pwned\n');
    const tree = await obj(rawTree([['f', 'evil.txt', 6, content.id, 0]]));
    const escaping: string[] = [];
    for (const path of [
      `../${box.split('/').pop()}/ws/target`,
      '../../../../../../../../../../tmp/dv-hostile-escape',
      '.git/hooks',
      '.dv/cache',
      'a//b',
      '/abs',
    ]) {
      const snap = await obj(snapshotBytes(tree.id, path, 'dir', 6, 1));
      await writeRemotePack(crafted, [content, tree, snap]);
      escaping.push(snap.id);
    }
    await dvOk(b, ['remote', 'add', 'crafted', crafted]);
    // Bring the crafted snapshots into the local store the way a user would: fetch them by pointer.
    for (const id of escaping) {
      await fsp.writeFile(join(b, 'data.dv'), pointerText(id, tree.id));
      await dvOk(b, ['fetch', '-q']);
    }
    await fsp.rm(join(b, 'data.dv'));
    const before = await workTree(b);
    for (const id of escaping) {
      const r = await dv(b, ['checkout', id.slice(0, 12)]);
      assert.ok(
        r.code === ERROR_CODES.UNSAFE_PATH.exit || r.code === ERROR_CODES.PATH_OUTSIDE_REPO.exit,
        `checkout of a snapshot with a hostile path: exit ${r.code} ${r.stderr}`,
      );
      assert.match(r.stderr, /^dv: error (UNSAFE_PATH|PATH_OUTSIDE_REPO): /);
    }
    assert.deepEqual(await describeTree(ws), {}, 'nothing written outside the repository');
    assert.equal(await exists('/tmp/dv-hostile-escape'), false);
    assert.deepEqual(await workTree(b), before, 'nothing written inside either');
  });
});

describe('crafted remotes', () => {
  /** A fresh workspace nested two levels inside a box, so escapes land in the box where we can see them. */
  async function victim(
    remoteDir: string,
    snapshot: string,
    tree: string,
  ): Promise<{ box: string; ws: string; outside: () => Promise<Manifest> }> {
    const box = tempDir('dv-hostile-box-');
    cleanup.push(box);
    await fsp.mkdir(join(box, 'outer'));
    const ws = join(box, 'outer', 'ws');
    const r = await makeRepo();
    await fsp.rename(r, ws);
    await dvOk(ws, ['remote', 'add', 'origin', remoteDir]);
    await fsp.writeFile(join(ws, 'data.dv'), pointerText(snapshot, tree));
    await fsp.writeFile(join(box, 'outer', 'neighbour.txt'), 'keep');
    const outside = async (): Promise<Manifest> => {
      const all = await describeTree(box);
      return Object.fromEntries(Object.entries(all).filter(([p]) => !p.startsWith('outer/ws/') && p !== 'outer/ws'));
    };
    return { box, ws, outside };
  }

  const cases: [string, (leaf: Obj) => Promise<{ rows: unknown[][]; extra?: Obj[] }>][] = [
    ['a file named ../../evil', async (l) => ({ rows: [['f', '../../evil', 17, l.id, 0]] })],
    ['a file named with a slash', async (l) => ({ rows: [['f', 'x/../../../evil', 17, l.id, 0]] })],
    ['a file with an absolute name', async (l) => ({ rows: [['f', '/tmp/dv-hostile-abs-evil', 17, l.id, 0]] })],
    ['a file named with NUL', async (l) => ({ rows: [['f', 'evil\u0000.txt', 17, l.id, 0]] })],
    ['a file named ..', async (l) => ({ rows: [['f', '..', 17, l.id, 0]] })],
    ['a backslash name', async (l) => ({ rows: [['f', '..\\..\\evil', 17, l.id, 0]] })],
    [
      'directories named .. twice, then a file',
      async (l) => {
        const inner = await obj(rawTree([['f', 'evil', 17, l.id, 0]]));
        const mid = await obj(rawTree([['d', '..', 17, inner.id, 1]]));
        return { rows: [['d', '..', 17, mid.id, 1]], extra: [inner, mid] };
      },
    ],
    [
      'an unsafe name two levels down',
      async (l) => {
        const inner = await obj(rawTree([['f', '../../../../evil', 17, l.id, 0]]));
        const mid = await obj(rawTree([['d', 'b', 17, inner.id, 1]]));
        return {
          rows: [
            ['d', 'a', 17, mid.id, 1],
            ['f', 'ok.txt', 17, l.id, 0],
          ],
          extra: [inner, mid],
        };
      },
    ],
    [
      'a symlink to /etc/passwd',
      async (l) => ({
        rows: [
          ['f', 'a.txt', 17, l.id, 0],
          ['l', 'passwd', '/etc/passwd'],
        ],
      }),
    ],
    ['a symlink climbing out of the workspace', async () => ({ rows: [['l', 'up', '../../../outer']] })],
    [
      'a symlink climbing out from a subdirectory',
      async () => {
        const inner = await obj(rawTree([['l', 'up', '../../..']]));
        return { rows: [['d', 'sub', 0, inner.id, 1]], extra: [inner] };
      },
    ],
    [
      'chained symlinks that escape only when followed (z -> ., x -> z/z/../..)',
      async () => ({
        rows: [
          ['l', 'x', 'z/z/../..'],
          ['l', 'z', '.'],
        ],
      }),
    ],
  ];

  for (const [what, make] of cases) {
    test(`dv pull refuses ${what}: UNSAFE_PATH, nothing written in or outside the workspace`, async () => {
      const remoteDir = tempDir('dv-hostile-evil-');
      cleanup.push(remoteDir);
      const leaf = await obj('owned by mallory\n');
      const c = await make(leaf);
      const t = await obj(rawTree(c.rows));
      // The snapshot declares what its tree holds: only the name or link is hostile here.
      const size = c.rows.reduce((n, r) => n + (r[0] === 'l' ? 0 : (r[2] as number)), 0);
      const files = c.rows.reduce((n, r) => n + (r[0] === 'd' ? (r[4] as number) : 1), 0);
      const s = await obj(snapshotBytes(t.id, 'data', 'dir', size, files));
      await writeRemotePack(remoteDir, [leaf, t, s, ...(c.extra ?? [])]);
      const v = await victim(remoteDir, s.id, t.id);
      const outsideBefore = await v.outside();
      const r = await dv(v.ws, ['pull']);
      assertError(r, 'UNSAFE_PATH', what);
      assert.deepEqual(await v.outside(), outsideBefore, 'nothing outside the workspace changed');
      assert.equal(await exists(join(v.ws, 'data')), false, 'nothing written in the workspace either');
      assert.equal(await exists('/tmp/dv-hostile-abs-evil'), false);
      assert.equal(await exists(join(v.box, 'evil')), false);
      assert.equal(await exists(join(v.box, 'outer', 'evil')), false);
      // The same refusal from checkout once the objects are local, and from checkout --force.
      const co = await dv(v.ws, ['checkout', '--force']);
      assert.ok(co.code === ERROR_CODES.UNSAFE_PATH.exit || co.code === ERROR_CODES.OBJECT_MISSING.exit, `checkout --force: ${co.stderr}`);
      assert.equal(await exists(join(v.ws, 'data')), false);
      assert.deepEqual(await v.outside(), outsideBefore);
    });
  }

  test('remote object bytes altered: OBJECT_CORRUPT on pull, nothing written, nothing corrupt stored', async () => {
    const a = await makeRepo();
    cleanup.push(a);
    const remoteDir = tempDir('dv-hostile-flip-');
    cleanup.push(remoteDir);
    await makeDataset(join(a, 'data'), { files: 50, dirs: 2, large: [600_000] });
    await dvOk(a, ['add', '-q', 'data']);
    await dvOk(a, ['remote', 'add', 'origin', remoteDir]);
    await dvOk(a, ['push', '-q']);
    git(a, ['add', '-A']);
    git(a, ['commit', '-qm', 'data']);
    // Flip one byte inside every object of every remote pack larger than 1 KiB.
    let flipped = 0;
    for (const fan of await fsp.readdir(join(remoteDir, 'index'))) {
      for (const f of await fsp.readdir(join(remoteDir, 'index', fan))) {
        const entries = decodePackIndex(await fsp.readFile(join(remoteDir, 'index', fan, f)));
        const pack = join(remoteDir, 'packs', fan, f.replace(/\.idx$/, '.pack'));
        const fh = await fsp.open(pack, 'r+');
        for (const e of entries.filter((x) => x.length > 1024)) {
          const b = Buffer.alloc(1);
          await fh.read(b, 0, 1, e.offset + Math.floor(e.length / 2));
          b[0] ^= 0x01;
          await fh.write(b, 0, 1, e.offset + Math.floor(e.length / 2));
          flipped++;
        }
        await fh.close();
      }
    }
    assert.ok(flipped > 10);
    const b = join(tempDir('dv-hostile-clone-'), 'b');
    cleanup.push(join(b, '..'));
    git(join(b, '..'), ['clone', '-q', a, b]);
    const r = await dv(b, ['pull']);
    assertError(r, 'OBJECT_CORRUPT', 'pull of altered objects');
    assert.match(r.stderr, /does not match its hash|cannot be decompressed/);
    assert.equal(await exists(join(b, 'data')), false, 'nothing written in the workspace');
    const f = await dvJson(b, ['fsck']).catch(() => undefined);
    assert.ok(f === undefined || f.problems.every((p: { code: string }) => p.code !== 'OBJECT_CORRUPT'), 'no corrupt object was stored');
    const stored = await fsp.readdir(join(b, '.dv', 'cache', 'packs'), { recursive: true }).catch(() => [] as string[]);
    for (const p of stored.filter((x) => x.endsWith('.idx'))) {
      for (const e of decodePackIndex(await fsp.readFile(join(b, '.dv', 'cache', 'packs', p))))
        assert.ok(e.length <= 1024, `altered object ${e.id} stored`);
    }
  });

  test('a remote index that lies about sizes: OBJECT_CORRUPT or BAD_OBJECT, nothing written', async () => {
    const leaf = await obj('twelve bytes');
    const tree = await obj(rawTree([['f', 'a.txt', 12, leaf.id, 0]]));
    const snap = await obj(snapshotBytes(tree.id, 'data', 'dir', 12, 1));
    const lies: [string, (e: { id: string; offset: number; length: number; rawSize: number; flags: number }) => object, ErrorCode][] = [
      // A raw size the tree does not declare is refused before the chunk is downloaded.
      ['raw size one more than the bytes', (e) => ({ ...e, rawSize: e.rawSize + 1 }), 'BAD_OBJECT'],
      ['length one less than the bytes', (e) => ({ ...e, length: e.length - 1, rawSize: e.rawSize - 1 }), 'BAD_OBJECT'],
      ['length one less, raw size kept', (e) => ({ ...e, length: e.length - 1 }), 'OBJECT_CORRUPT'],
      ['length past the end of the pack', (e) => ({ ...e, offset: e.offset + 1_000_000 }), 'OBJECT_CORRUPT'],
      ['an object of 3 GB', (e) => ({ ...e, length: 3_000_000_000, rawSize: 3_000_000_000 }), 'BAD_OBJECT'],
    ];
    for (const [what, lie, code] of lies) {
      const remoteDir = tempDir('dv-hostile-lie-');
      cleanup.push(remoteDir);
      await writeRemotePack(remoteDir, [leaf, tree, snap], (entries) => entries.map((e) => (e.id === leaf.id ? (lie(e) as typeof e) : e)));
      const v = await victim(remoteDir, snap.id, tree.id);
      assertError(await dv(v.ws, ['pull']), code, what);
      assert.equal(await exists(join(v.ws, 'data')), false, `${what}: nothing written`);
    }
    // A tree that lies about a file's size: refused by the fetch, before any file is written.
    const remoteDir = tempDir('dv-hostile-lie-');
    cleanup.push(remoteDir);
    const liar = await obj(
      rawTree([
        ['f', 'a.txt', 13, leaf.id, 0],
        ['f', 'b.txt', 12, leaf.id, 0],
      ]),
    );
    const s2 = await obj(snapshotBytes(liar.id, 'data', 'dir', 25, 2));
    await writeRemotePack(remoteDir, [leaf, liar, s2]);
    const v = await victim(remoteDir, s2.id, liar.id);
    assertError(await dv(v.ws, ['pull']), 'BAD_OBJECT', 'a tree entry with the wrong size');
    const left = await describeTree(join(v.ws, 'data')).catch(() => ({}) as Manifest);
    assert.equal(left['a.txt'], undefined, 'the short file is not written');
    assert.deepEqual(
      Object.keys(left).filter((p) => /tmp$/.test(p)),
      [],
      'no temp file left',
    );
  });
});
