/**
 * Hostile trees and snapshots against the real CLI, acting as the attacker: entries that some file
 * system takes for `.git` or `.dv` at any depth (git's own aliases: case, NTFS trailing dots and
 * spaces, data streams, short names, HFS+ ignorable code points), and committed symlinks that lead
 * a snapshot's path into `.git`. Each must be refused with its code before anything is written,
 * and `.git` (config, hooks), the work tree and a sentinel outside it must stay byte-identical.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { dv, dvOk, dvJson, makeRepo, describeTree, git, tempDir, type Manifest, type RunResult } from '../helpers/cli.js';
import { exists } from '../helpers/kill.js';
import { obj, pointerText, rawTree, snapshotBytes, writeRemotePack, type Obj } from '../helpers/evil-remote.js';
import { ERROR_CODES, type ErrorCode } from '../../src/errors.js';
import { reservedName } from '../../src/core/tree.js';

const cleanup: string[] = [];
after(async () => {
  for (const d of cleanup) await fsp.rm(d, { recursive: true, force: true });
});

const TIMEOUT = { timeout: 120_000 };

/** Exit code and exactly one stderr line `dv: error CODE: ...` for one of `codes`. */
function assertRefused(r: RunResult, codes: ErrorCode[], what: string): void {
  const code = /^dv: error ([A-Z_]+): \S.*\n$/.exec(r.stderr)?.[1] as ErrorCode | undefined;
  assert.ok(code && codes.includes(code), `${what}: one clear line with ${codes.join('/')}: exit ${r.code}, ${JSON.stringify(r.stderr)}`);
  assert.equal(r.code, ERROR_CODES[code].exit, `${what}: exit code of ${code}`);
}

/** What an attack would change: git's config and hooks, the work tree, a sentinel box outside. */
interface Victim {
  box: string;
  ws: string;
  snap: () => Promise<Manifest>;
}

async function victim(remoteDir?: string): Promise<Victim> {
  const box = tempDir('dv-sec-box-');
  cleanup.push(box);
  const ws = join(box, 'ws');
  await fsp.rename(await makeRepo(), ws);
  if (remoteDir) await dvOk(ws, ['remote', 'add', 'origin', remoteDir]);
  await fsp.writeFile(join(box, 'sentinel.txt'), 'keep me\n');
  await fsp.mkdir(join(box, 'outside'));
  await fsp.writeFile(join(box, 'outside', 'secret'), 'secret\n');
  const snap = async (): Promise<Manifest> => {
    const all = await describeTree(box);
    // .git's own bookkeeping (index, logs) may change with any git call; config and hooks may not.
    return Object.fromEntries(
      Object.entries(all).filter(
        ([p]) => !/^ws\/\.git\/(?!config$|hooks(\/|$))/.test(p) && !/^ws\/\.dv\/(index|remotes|tmp|cache|locks?)(\/|$)/.test(p),
      ),
    );
  };
  return { box, ws, snap };
}

// Every name git refuses as `.git` (read-cache.c verify_path, path.c is_ntfs_dotgit, utf8.c
// is_hfs_dotgit), and the same spellings of `.dv`.
const GIT_ALIASES = [
  '.git',
  '.GIT',
  '.Git',
  '.git.',
  '.git ',
  '.git. .',
  '.git::$INDEX_ALLOCATION',
  '.git:evil',
  'git~1',
  'GIT~1',
  'Git~1.',
  '.g\u200cit',
  '\u200e.git',
  '.gi\u202et',
  '.git\ufeff',
  '.G\u206aIT',
];
const DV_ALIASES = ['.dv', '.DV', '.Dv.', '.dv ', '.dv::$DATA', 'dv~1', '.d\u200dv'];

describe('tree entries named .git or .dv at any depth', () => {
  test('reservedName: every alias git refuses, and names that merely look alike stay allowed', () => {
    for (const n of GIT_ALIASES) assert.equal(reservedName(n), '.git', JSON.stringify(n));
    for (const n of DV_ALIASES) assert.equal(reservedName(n), '.dv', JSON.stringify(n));
    for (const n of [
      '.gitignore',
      '.github',
      '.gitattributes',
      '.git~1',
      '.gitx',
      'git',
      'git~2',
      'xgit~1',
      '.g it',
      '.dvc',
      '.dvignore',
      'dv',
      'data.dv',
      '.dv~1',
      'dv~2',
      '..git',
      ' .git',
      '.g\u200bit',
      '.gi\u0307t',
      '.GİT',
    ]) {
      assert.equal(reservedName(n), undefined, `${JSON.stringify(n)} is an ordinary name`);
    }
  });

  test(
    'dv pull and dv checkout --force refuse every alias, as a directory or a file, two levels down: UNSAFE_PATH, nothing written',
    TIMEOUT,
    async () => {
      const remoteDir = tempDir('dv-sec-remote-');
      cleanup.push(remoteDir);
      const config = await obj('[core]\n\tfsmonitor = "touch /tmp/dv-sec-pwned"\n');
      const snaps: { name: string; snap: Obj; tree: Obj }[] = [];
      const objects: Obj[] = [config];
      for (const [k, name] of [...GIT_ALIASES, ...DV_ALIASES].entries()) {
        // As a directory holding a config (k even) or as a plain file (k odd), under a/b/.
        const bad = k % 2 === 0 ? await obj(rawTree([['f', 'config', config.bytes.length, config.id, 0]])) : undefined;
        const b = await obj(
          rawTree([
            bad ? ['d', name, config.bytes.length, bad.id, 1] : ['f', name, config.bytes.length, config.id, 0],
            ['f', 'ok.txt', config.bytes.length, config.id, 0],
          ]),
        );
        const a = await obj(rawTree([['d', 'b', config.bytes.length * 2, b.id, 2]]));
        const top = await obj(
          rawTree([
            ['d', 'a', config.bytes.length * 2, a.id, 2],
            ['f', 'readme', config.bytes.length, config.id, 0],
          ]),
        );
        const snap = await obj(snapshotBytes(top.id, 'data', 'dir', config.bytes.length * 3, 3));
        objects.push(...(bad ? [bad] : []), b, a, top, snap);
        snaps.push({ name, snap, tree: top });
      }
      await writeRemotePack(remoteDir, objects);
      const v = await victim(remoteDir);
      const before = await v.snap();
      for (const s of snaps) {
        await fsp.writeFile(join(v.ws, 'data.dv'), pointerText(s.snap.id, s.tree.id));
        const what = `entry ${JSON.stringify(s.name)}`;
        const r = await dv(v.ws, ['pull']);
        assertRefused(r, ['UNSAFE_PATH'], `${what}: dv pull`);
        assert.match(r.stderr, /\.git|\.dv/, `${what}: says which name it takes it for`);
        assertRefused(await dv(v.ws, ['checkout', '--force']), ['UNSAFE_PATH', 'OBJECT_MISSING'], `${what}: dv checkout --force`);
        assert.equal(await exists(join(v.ws, 'data')), false, `${what}: nothing written in the workspace`);
        await fsp.rm(join(v.ws, 'data.dv'));
        assert.deepEqual(await v.snap(), before, `${what}: .git, the work tree and the files outside are as they were`);
      }
      assert.equal(await exists('/tmp/dv-sec-pwned'), false);
    },
  );

  test('dv checkout <id> refuses a snapshot whose path has a .git alias below the top: UNSAFE_PATH', TIMEOUT, async () => {
    const remoteDir = tempDir('dv-sec-remote-');
    cleanup.push(remoteDir);
    const hook = await obj('#!/bin/sh\ntouch /tmp/dv-sec-hook-ran\n');
    const tree = await obj(rawTree([['f', 'pre-commit', hook.bytes.length, hook.id, 1]]));
    const paths = ['sub/.git/hooks', 'sub/.GIT/hooks', 'x/git~1/hooks', 'x/.git./hooks', 'y/.dv/cache', 'y/.DV ', 'z/.g\u200cit/hooks'];
    const snaps = [];
    for (const p of paths) snaps.push({ p, s: await obj(snapshotBytes(tree.id, p, 'dir', hook.bytes.length, 1)) });
    await writeRemotePack(remoteDir, [hook, tree, ...snaps.map((x) => x.s)]);
    const v = await victim(remoteDir);
    for (const { s } of snaps) {
      await fsp.writeFile(join(v.ws, 'data.dv'), pointerText(s.id, tree.id));
      await dvOk(v.ws, ['fetch', '-q']);
    }
    await fsp.rm(join(v.ws, 'data.dv'));
    const before = await v.snap();
    for (const { p, s } of snaps) {
      for (const args of [
        ['checkout', s.id.slice(0, 16)],
        ['checkout', s.id.slice(0, 16), '--force'],
        ['checkout', tree.id.slice(0, 16), p, '--new'],
      ]) {
        const r = await dv(v.ws, args);
        assertRefused(r, ['UNSAFE_PATH', 'USAGE'], `path ${JSON.stringify(p)}: dv ${args.join(' ')}`);
      }
      assert.deepEqual(await v.snap(), before, `path ${JSON.stringify(p)}: nothing written`);
    }
    assert.equal(await exists('/tmp/dv-sec-hook-ran'), false);
  });

  test('dv add skips a repository nested in the data (its .git or .dv is not stored), and checkout leaves it alone', TIMEOUT, async () => {
    const v = await victim();
    const data = join(v.ws, 'data');
    await fsp.mkdir(join(data, 'vendor', 'lib'), { recursive: true });
    await fsp.writeFile(join(data, 'a.txt'), 'a');
    await fsp.writeFile(join(data, 'vendor', 'lib', 'code.c'), 'int x;');
    git(join(data, 'vendor'), ['init', '-q', '-b', 'main']);
    await fsp.mkdir(join(data, 'other', '.dv'), { recursive: true });
    await fsp.writeFile(join(data, 'other', '.dv', 'config'), '{}');
    const nested = await describeTree(join(data, 'vendor', '.git'));
    const first = (await dvJson(v.ws, ['add', 'data'])).added[0].snapshot as string;
    const listed = await dvOk(v.ws, ['ls', '-R', 'data']);
    assert.doesNotMatch(listed, /\.git|\.dv\b/, `nothing of the nested repositories is stored:\n${listed}`);
    assert.match(listed, /code\.c/);
    assert.equal((await dvJson(v.ws, ['status'])).paths[0].state, 'clean');
    // A change and a checkout back: the nested repository's files stay as they were.
    await fsp.writeFile(join(data, 'vendor', 'lib', 'code.c'), 'int y;');
    await dvOk(v.ws, ['commit', '-q', '-m', 'change']);
    await dvOk(v.ws, ['checkout', first.slice(0, 16)]);
    assert.equal(await fsp.readFile(join(data, 'vendor', 'lib', 'code.c'), 'utf8'), 'int x;');
    assert.deepEqual(await describeTree(join(data, 'vendor', '.git')), nested, 'the nested .git is untouched');
    assert.equal(await fsp.readFile(join(data, 'other', '.dv', 'config'), 'utf8'), '{}');
  });

  test(
    'dv add refuses a name that only some file system takes for .git (.GIT, git~1, .g\\u200cit): UNSAFE_PATH, nothing stored',
    TIMEOUT,
    async () => {
      const v = await victim();
      for (const name of ['.GIT', 'git~1', '.g\u200cit', '.dv.']) {
        const data = join(v.ws, 'data');
        await fsp.rm(data, { recursive: true, force: true });
        await fsp.mkdir(join(data, 'sub', name), { recursive: true });
        await fsp.writeFile(join(data, 'sub', name, 'config'), 'x');
        const r = await dv(v.ws, ['add', 'data']);
        assertRefused(r, ['UNSAFE_PATH'], `add of data/sub/${name}`);
        assert.equal(await exists(join(v.ws, 'data.dv')), false);
      }
    },
  );
});

describe('committed symlinks leading a snapshot into .git', () => {
  test('a git-tracked symlink legacy -> .git/hooks and a snapshot under it: checkout refuses, no hook is written', TIMEOUT, async () => {
    const remoteDir = tempDir('dv-sec-remote-');
    cleanup.push(remoteDir);
    const hook = await obj('#!/bin/sh\ntouch /tmp/dv-sec-hook-ran\n');
    const fileTree = await obj(rawTree([['f', 'pre-commit', hook.bytes.length, hook.id, 1]]));
    const dirTree = await obj(
      rawTree([
        ['f', 'post-checkout', hook.bytes.length, hook.id, 1],
        ['f', 'pre-commit', hook.bytes.length, hook.id, 1],
      ]),
    );
    const cases: [string, 'dir' | 'file', Obj][] = [
      ['legacy/pre-commit', 'file', fileTree],
      ['legacy/sub', 'dir', dirTree],
      ['up/hooks', 'dir', dirTree],
      ['deep/x/pre-commit', 'file', fileTree],
      ['inner/hooks', 'dir', dirTree],
    ];
    const snaps: { path: string; s: Obj; tree: Obj }[] = [];
    // Each snapshot declares its tree's true totals (sizes that lie are refused earlier, for another reason).
    const files = (tree: Obj): number => (tree === dirTree ? 2 : 1);
    for (const [path, kind, tree] of cases)
      snaps.push({ path, tree, s: await obj(snapshotBytes(tree.id, path, kind, hook.bytes.length * files(tree), files(tree))) });
    await writeRemotePack(remoteDir, [hook, fileTree, dirTree, ...snaps.map((x) => x.s)]);
    const v = await victim(remoteDir);
    // What the hostile repository commits: symlinks into .git, directly, by way of each other, relative from below.
    await fsp.symlink('.git/hooks', join(v.ws, 'legacy'));
    await fsp.symlink('.git', join(v.ws, 'up'));
    await fsp.mkdir(join(v.ws, 'deep'));
    await fsp.symlink('../legacy', join(v.ws, 'deep', 'x'));
    await fsp.mkdir(join(v.ws, 'inner'));
    await fsp.symlink('../.git/hooks', join(v.ws, 'inner', 'hooks'));
    git(v.ws, ['add', 'legacy', 'up', 'deep', 'inner']);
    git(v.ws, ['commit', '-qm', 'links']);
    for (const { s, tree } of snaps) {
      await fsp.writeFile(join(v.ws, 'data.dv'), pointerText(s.id, tree.id));
      await dvOk(v.ws, ['fetch', '-q']);
    }
    await fsp.rm(join(v.ws, 'data.dv'));
    const before = await v.snap();
    for (const { path, s } of snaps) {
      const r = await dv(v.ws, ['checkout', s.id.slice(0, 16)]);
      // (inner/hooks is a file git tracks: refused as such, USAGE.)
      assertRefused(r, ['UNSAFE_PATH', 'PATH_OUTSIDE_REPO', 'UNSAVED_CHANGES', 'USAGE'], `snapshot at ${path}`);
      assert.deepEqual(await v.snap(), before, `snapshot at ${path}: .git/hooks, the work tree and the outside are as they were`);
    }
    const outsideGit = (m: Manifest): Manifest =>
      Object.fromEntries(Object.entries(m).filter(([p]) => !p.startsWith('ws/') || p.startsWith('ws/.git')));
    for (const { path, s } of snaps) {
      const r = await dv(v.ws, ['checkout', s.id.slice(0, 16), '--force']);
      if (path === 'inner/hooks') {
        // The tracked path itself is the link, and git tracks it: refused, or with --force replaced, never followed.
        if (r.code !== 0) assertRefused(r, ['USAGE'], 'inner/hooks --force');
        else assert.equal((await fsp.lstat(join(v.ws, 'inner', 'hooks'))).isDirectory(), true, 'the link was replaced, not followed');
      } else {
        assertRefused(r, ['UNSAFE_PATH', 'PATH_OUTSIDE_REPO'], `snapshot at ${path} --force`);
      }
      assert.deepEqual(
        outsideGit(await v.snap()),
        outsideGit(before),
        `snapshot at ${path} --force: .git/hooks and the outside are as they were`,
      );
    }
    assert.deepEqual(
      (await fsp.readdir(join(v.ws, '.git', 'hooks'))).filter((f) => !f.endsWith('.sample')),
      [],
    );
    assert.equal(await exists('/tmp/dv-sec-hook-ran'), false);
  });
});
