/**
 * Attack variants beyond the list: a `.gitignore` that already names the victim's path
 * and then un-ignores it (so dv adds no line and git commits the private data), YAML alias bombs
 * in dv.yaml and dv.lock, a committed S3 timeout of 28 hours in front of a trickling server,
 * entry names carrying terminal escape sequences (OSC 52 writes the clipboard), and git hooks
 * (installed by `dv install`) that inherit a hang or a redirected cache after a plain `git pull`
 * or `git commit`.
 *
 * Secure outcome: the victim's data stays ignored by git; every command ends within seconds in
 * bounded memory; dv prints no raw control characters from untrusted names; hooks run by git
 * end and write nothing outside the workspace.
 */
import { describe, test } from 'node:test';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import {
  assertHarmlessEnd,
  assertOutsideUnchanged,
  attackerRepo,
  commitAll,
  editConfig,
  exists,
  fingerprintBox,
  Findings,
  gitIn,
  gitRun,
  makeBox,
  show,
  trustedRemote,
  victimClone,
  victimDv,
  victimRepo,
} from './attack-helpers.js';
import { gitDirObjects, obj, pointerText, pwned, snapObj, treeObj, writeRemotePack } from './attack-helpers-objects.js';
import { hostileS3, listXml, sendXml, trickle } from './attack-helpers-s3.js';

const T = { timeout: 180_000 };
const MB = 1024 * 1024;

describe('attack: .gitignore tricks', () => {
  test('a committed .gitignore that names /mine and then un-ignores it: after dv add mine, git still ignores the data', T, async () => {
    const box = await makeBox();
    const mallory = await attackerRepo(box);
    await fsp.writeFile(join(mallory, '.gitignore'), '/mine\n!/mine\n');
    commitAll(box, mallory, 'gitignore');
    const victim = victimClone(box, mallory);
    await fsp.mkdir(join(victim, 'mine'));
    await fsp.writeFile(join(victim, 'mine', 'private.csv'), 'name,salary\nvictim,1\n');
    const f = new Findings('gitignore negation');
    const r = await victimDv(box, victim, ['add', 'mine'], { timeoutMs: 30_000 });
    await f.expect(() => assertHarmlessEnd(r, 'dv add mine'));
    const st = gitIn(box, victim, ['status', '--porcelain', '--untracked-files=all']);
    f.check(!/mine\/private\.csv/.test(st), `git would commit the tracked data (git status: ${JSON.stringify(st)})`);
    f.done();
  });
});

describe('attack: YAML alias bombs', () => {
  const bomb = (top: string): string => {
    let y = 'a0: &a0 ["xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"]\n';
    for (let k = 1; k <= 12; k++) y += `a${k}: &a${k} [${Array.from({ length: 10 }, () => `*a${k - 1}`).join(', ')}]\n`;
    return y + top;
  };
  const files: [string, string, string[][]][] = [
    ['dv.yaml', 'stages: *a12\n', [['status'], ['stage', 'list']]],
    ['dv.lock', 'schema: 1\nstages: *a12\n', [['gc'], ['status']]],
  ];
  for (const [file, top, cmds] of files) {
    test(
      `${file} with nested aliases (10^12 strings when expanded): dv ${cmds.map((c) => c[0]).join(', ')} end within bounds`,
      T,
      async () => {
        const box = await makeBox();
        const mallory = await attackerRepo(box);
        await fsp.writeFile(join(mallory, file), bomb(top));
        commitAll(box, mallory, 'pipeline');
        const victim = victimClone(box, mallory);
        const f = new Findings(`${file} alias bomb`);
        for (const args of cmds) {
          const r = await victimDv(box, victim, args, { timeoutMs: 30_000, maxRssBytes: 300 * MB });
          await f.expect(() => assertHarmlessEnd(r, `dv ${args.join(' ')}`));
        }
        f.done();
      },
    );
  }
});

describe('attack: a committed S3 timeout of 28 hours', () => {
  test('remote.origin.timeout 100000 committed, the server trickles: dv pull still ends within 90 s', { timeout: 150_000 }, async () => {
    const srv = await hostileS3((r, res) => {
      if (r.query.get('list-type') === '2') {
        const prefix = r.query.get('prefix') ?? '';
        return sendXml(
          res,
          listXml(r.bucket, prefix, prefix.endsWith('index/') ? [{ key: `p/index/ab/ab${'cd'.repeat(31)}.idx`, size: 100_000 }] : []),
        );
      }
      trickle(res, 100_000, 500);
    });
    try {
      const box = await makeBox();
      const mallory = await attackerRepo(box);
      await editConfig(mallory, (c) => {
        c.remote = { origin: { url: 's3://bkt/p', endpoint: srv.endpoint, timeout: '100000' } };
        c.core.remote = 'origin';
      });
      await fsp.writeFile(join(mallory, 'data.dv'), pointerText('1'.repeat(64), '2'.repeat(64), 'data', 'dir'));
      commitAll(box, mallory, 'remote');
      const victim = victimClone(box, mallory);
      const f = new Findings('committed timeout');
      const aws = { AWS_ACCESS_KEY_ID: 'AKIAVICTIM', AWS_SECRET_ACCESS_KEY: 'x', AWS_REGION: 'us-east-1' };
      const r = await victimDv(box, victim, ['pull'], { timeoutMs: 90_000, env: aws });
      await f.expect(() => assertHarmlessEnd(r, 'dv pull'));
      f.done();
    } finally {
      await srv.close();
    }
  });
});

describe('attack: terminal escape sequences in names', () => {
  test('tree entry names with OSC 52 (clipboard) and screen-clearing sequences: dv prints no raw ESC or BEL', T, async () => {
    const box = await makeBox();
    const remote = join(box.root, 'remote');
    await fsp.mkdir(remote);
    const victim = await victimRepo(box);
    await trustedRemote(victim, 'origin', remote);
    const leaf = await obj('x\n');
    const names = ['\u001b]52;c;cm0gLXJmIH4K\u0007harmless.txt', '\u001b[2J\u001b[Hok.txt', 'bell\u0007.txt', 'cr\rover.txt'].sort();
    const tree = await treeObj(names.map((n) => ['f', n, leaf.bytes.length, leaf.id, 0]));
    const snap = await snapObj(tree.id, 'data', 'dir', leaf.bytes.length * names.length, names.length);
    await writeRemotePack(remote, [leaf, tree, snap]);
    await fsp.writeFile(join(victim, 'data.dv'), pointerText(snap.id, tree.id, 'data', 'dir'));
    const f = new Findings('terminal escapes');
    await victimDv(box, victim, ['pull'], { timeoutMs: 30_000 });
    await fsp.writeFile(join(victim, 'data', 'new.txt'), 'new\n').catch(() => undefined);
    for (const args of [['ls', '-R', snap.id.slice(0, 12)], ['status'], ['diff', snap.id.slice(0, 12)]]) {
      const r = await victimDv(box, victim, args, { timeoutMs: 30_000 });
      // eslint-disable-next-line no-control-regex
      const shown = r.stdout + r.stderr;
      f.check(
        // biome-ignore lint/suspicious/noControlCharactersInRegex: the test looks for raw control characters
        !/[\u001b\u0007\r]/.test(shown),
        `dv ${args.join(' ')} printed raw control characters from the attacker's names: ${JSON.stringify(shown.slice(0, 300))}`,
      );
    }
    f.done();
  });
});

describe('attack: git hooks inherit the hostile clone', () => {
  test('data.dv committed as a symlink to /dev/zero: git commit (pre-commit hook runs dv status) still ends', T, async () => {
    const box = await makeBox();
    const mallory = await attackerRepo(box);
    await fsp.symlink('/dev/zero', join(mallory, 'data.dv'));
    commitAll(box, mallory, 'pointer');
    const victim = victimClone(box, mallory);
    const inst = await victimDv(box, victim, ['install', '-q'], { timeoutMs: 30_000 });
    const f = new Findings('pre-commit hook');
    await f.expect(() => assertHarmlessEnd(inst, 'dv install'));
    await fsp.writeFile(join(victim, 'notes.txt'), 'my notes\n');
    gitIn(box, victim, ['add', 'notes.txt']);
    const r = await gitRun(box, victim, ['commit', '-qm', 'notes'], { timeoutMs: 45_000 });
    f.check(r.killed === undefined, `git commit hung in dv's pre-commit hook (killed after ${Math.round(r.ms / 1000)} s): ${show(r)}`);
    f.done();
  });

  test(
    'git checkout of a branch adding sub/.git.dv: the post-checkout hook creates no nested git directory that runs code',
    T,
    async () => {
      const box = await makeBox();
      const remote = join(box.root, 'remote');
      await fsp.mkdir(remote);
      const bare = join(box.root, 'team.git');
      gitIn(box, box.root, ['init', '-q', '--bare', '-b', 'main', bare]);
      const mallory = join(box.root, 'mallory');
      gitIn(box, box.root, ['clone', '-q', bare, mallory]);
      const init = await victimDv(box, mallory, ['init', '-q'], { timeoutMs: 30_000 });
      if (init.code !== 0) throw new Error(show(init));
      await editConfig(mallory, (c) => {
        c.remote = { origin: { url: '../remote' } };
        c.core.remote = 'origin';
      });
      await fsp.mkdir(join(mallory, 'sub'));
      await fsp.writeFile(join(mallory, 'sub', 'README'), 'docs\n');
      gitIn(box, mallory, ['add', '-A']);
      gitIn(box, mallory, ['commit', '-qm', 'init']);
      gitIn(box, mallory, ['push', '-q', 'origin', 'main']);
      const victim = victimClone(box, bare);
      const inst = await victimDv(box, victim, ['install', '-q'], { timeoutMs: 30_000 });
      if (inst.code !== 0) throw new Error(show(inst));
      // The attacker's branch: a pointer file sub/.git.dv naming a git directory whose config runs a command.
      const g = await gitDirObjects(`touch '${join(box.outside, 'pwned-branch')}'`);
      const snap = await snapObj(g.tree.id, '.git', 'dir', 0, 2);
      await writeRemotePack(remote, [...g.objects, snap]);
      gitIn(box, mallory, ['checkout', '-q', '-b', 'feature']);
      await fsp.writeFile(join(mallory, 'sub', '.git.dv'), pointerText(snap.id, g.tree.id, '.git', 'dir'));
      gitIn(box, mallory, ['add', '-A']);
      gitIn(box, mallory, ['commit', '-qm', 'docs: fix typo']);
      gitIn(box, mallory, ['push', '-q', 'origin', 'feature']);
      gitIn(box, victim, ['fetch', '-q', 'origin']);
      const r = await gitRun(box, victim, ['checkout', '-q', '-b', 'feature', 'origin/feature'], { timeoutMs: 60_000 });
      const f = new Findings('post-checkout hook');
      f.check(r.killed === undefined, `git checkout hung: ${show(r)}`);
      f.check(!(await exists(join(victim, 'sub', '.git'))), `the hook created sub/.git: ${show(r)}`);
      await gitRun(box, join(victim, 'sub'), ['status']);
      f.check((await pwned(box.outside)).length === 0, "git status in sub ran the attacker's command");
      f.done();
    },
  );

  test('a pulled commit sets cache.dir to ../home: git pull alone (post-merge hook) writes nothing into HOME', T, async () => {
    const box = await makeBox();
    const remote = join(box.root, 'remote');
    await fsp.mkdir(remote);
    const bare = join(box.root, 'team.git');
    gitIn(box, box.root, ['init', '-q', '--bare', '-b', 'main', bare]);
    const mallory = join(box.root, 'mallory');
    gitIn(box, box.root, ['clone', '-q', bare, mallory]);
    const init = await victimDv(box, mallory, ['init', '-q'], { timeoutMs: 30_000 });
    if (init.code !== 0) throw new Error(show(init));
    await editConfig(mallory, (c) => {
      c.remote = { origin: { url: '../remote' } };
      c.core.remote = 'origin';
    });
    gitIn(box, mallory, ['add', '-A']);
    gitIn(box, mallory, ['commit', '-qm', 'init']);
    gitIn(box, mallory, ['push', '-q', 'origin', 'main']);
    const victim = victimClone(box, bare);
    const inst = await victimDv(box, victim, ['install', '-q'], { timeoutMs: 30_000 });
    if (inst.code !== 0) throw new Error(show(inst));
    // The attacker's next commit: new data, and the cache moved to the victim's HOME.
    const leaf = await obj('payload\n');
    const tree = await treeObj([['f', 'p.txt', leaf.bytes.length, leaf.id, 0]]);
    const snap = await snapObj(tree.id, 'data', 'dir', leaf.bytes.length, 1);
    await writeRemotePack(remote, [leaf, tree, snap]);
    await fsp.writeFile(join(mallory, 'data.dv'), pointerText(snap.id, tree.id, 'data', 'dir'));
    await editConfig(mallory, (c) => {
      c.cache = { dir: '../home' };
    });
    gitIn(box, mallory, ['add', '-A']);
    gitIn(box, mallory, ['commit', '-qm', 'data']);
    gitIn(box, mallory, ['push', '-q', 'origin', 'main']);
    // The attacker's own repositories and remote change as the attacker works; HOME and the rest may not.
    const theirs = ['mallory', 'remote', 'team.git'];
    const before = await fingerprintBox(box, victim, theirs);
    const r = await gitRun(box, victim, ['pull', '-q', '--no-rebase', 'origin', 'main'], { timeoutMs: 60_000 });
    const f = new Findings('post-merge hook with cache.dir');
    f.check(r.killed === undefined, `git pull hung: ${show(r)}`);
    await f.expect(() => assertOutsideUnchanged(box, victim, before, 'after git pull (hooks)', theirs));
    f.done();
  });
});
