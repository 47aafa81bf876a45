/**
 * Attack: a hostile repository whose committed files steer dv: `.dv/config` keys that name paths
 * (cache.dir at another repository's store, at the team's directory remote, at HOME), a committed
 * `.dv/config.local`, and files dv reads or rewrites for itself committed as symlinks (to a secret,
 * to another repository's store, to /dev/zero).
 *
 * Secure outcome: every command ends by itself within seconds and small memory, refuses in one
 * line with a stable code or does something harmless; no byte changes outside the victim's
 * workspace (the other project's store, the team remote, HOME, the secret); the secret never shows
 * up in dv's output or in a file of the workspace dv wrote.
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
  fingerprintBox,
  Findings,
  gitIn,
  leaksSecret,
  makeBox,
  show,
  victimClone,
  victimDv,
  type Box,
  type Outcome,
} from './attack-helpers.js';
import { makeDataset } from '../helpers/data.js';

const T = { timeout: 120_000 };
const LIMITS = { timeoutMs: 20_000, maxRssBytes: 300 * 1024 * 1024 };

interface Scene {
  box: Box;
  mallory: string;
  work?: string;
  team?: string;
}

/** The victim's other project: a repository with data in its own store, pushed to the team's directory remote. */
async function victimProject(box: Box): Promise<{ work: string; team: string }> {
  const work = join(box.root, 'work');
  const team = join(box.root, 'team');
  await fsp.mkdir(work);
  gitIn(box, work, ['init', '-q', '-b', 'main']);
  for (const args of [['init', '-q']]) await mustDv(box, work, args);
  await makeDataset(join(work, 'data'), { files: 40, dirs: 2, large: [300_000] });
  await mustDv(box, work, ['add', '-q', 'data']);
  await mustDv(box, work, ['remote', 'add', 'team', team]);
  await mustDv(box, work, ['push', '-q']);
  gitIn(box, work, ['add', '-A']);
  gitIn(box, work, ['commit', '-qm', 'data']);
  // The team remote's packs are old, as a real remote's are (gc spares young unindexed packs).
  const old = new Date(Date.now() - 3 * 86_400_000);
  for (const p of await fsp.readdir(team, { recursive: true })) await fsp.utimes(join(team, p), old, old);
  return { work, team };
}

async function mustDv(box: Box, cwd: string, args: string[]): Promise<void> {
  const r = await victimDv(box, cwd, args, { timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`setup: dv ${args.join(' ')}: ${show(r)}`);
}

interface Case {
  name: string;
  work?: boolean;
  /** The attacker prepares the repository (committed with `git add -f`). */
  attack(sc: Scene): Promise<void>;
  /** What the victim does in the clone before the commands (their own data). */
  victimPrep?(victim: string): Promise<void>;
  cmds: string[][];
  /** Extra checks on the victim's workspace. */
  extra?(f: Findings, sc: Scene, victim: string, runs: Outcome[]): Promise<void>;
}

/** A file of the victim's workspace must not hold the secret. */
async function noSecretIn(f: Findings, box: Box, file: string): Promise<void> {
  const st = await fsp.lstat(file).catch(() => undefined);
  if (!st || !st.isFile()) return;
  f.check(!leaksSecret(await fsp.readFile(file, 'utf8')), `${file.slice(box.root.length + 1)} now holds the secret (copied in by dv)`);
}

const cases: Case[] = [
  {
    name: "committed cache.dir naming another repository's store: dv status, pull and gc leave that store alone",
    work: true,
    async attack(sc) {
      await editConfig(sc.mallory, (c) => {
        c.cache = { dir: '../work/.dv/cache' };
      });
    },
    cmds: [['status'], ['pull'], ['gc']],
  },
  {
    name: "committed cache.dir naming the team's directory remote: dv gc deletes none of its packs",
    work: true,
    async attack(sc) {
      await editConfig(sc.mallory, (c) => {
        c.cache = { dir: '../team' };
      });
    },
    cmds: [['status'], ['gc']],
  },
  {
    name: "variant: committed cache.dir naming the victim's HOME: dv add and gc write and delete nothing there",
    async attack(sc) {
      await editConfig(sc.mallory, (c) => {
        c.cache = { dir: '../home' };
      });
    },
    async victimPrep(v) {
      await fsp.mkdir(join(v, 'mine'));
      await fsp.writeFile(join(v, 'mine', 'a.txt'), 'my data\n');
    },
    cmds: [['add', 'mine'], ['gc']],
  },
  {
    name: 'variant: a committed (force-added) .dv/config.local with cache.dir at another store: dv gc leaves that store alone',
    work: true,
    async attack(sc) {
      await editConfig(
        sc.mallory,
        (c) => {
          c.cache = { dir: '../work/.dv/cache' };
        },
        join('.dv', 'config.local'),
      );
    },
    cmds: [['status'], ['gc']],
  },
  {
    name: "variant: .dv/cache committed as a symlink to another repository's store: dv gc leaves that store alone",
    work: true,
    async attack(sc) {
      await fsp.rm(join(sc.mallory, '.dv', 'cache'), { recursive: true, force: true });
      await fsp.symlink('../../work/.dv/cache', join(sc.mallory, '.dv', 'cache'));
    },
    cmds: [['status'], ['gc']],
  },
  {
    name: "variant: .dv committed as a symlink to another repository's .dv: dv status and gc touch nothing of it",
    work: true,
    async attack(sc) {
      await fsp.rm(join(sc.mallory, '.dv'), { recursive: true });
      await fsp.symlink('../work/.dv', join(sc.mallory, '.dv'));
    },
    cmds: [['status'], ['gc']],
  },
  {
    name: "variant: .dv/index committed as a symlink to another repository's LevelDB index: dv status writes nothing there",
    work: true,
    async attack(sc) {
      await fsp.rm(join(sc.mallory, '.dv', 'index'), { recursive: true, force: true });
      await fsp.symlink('../../work/.dv/index', join(sc.mallory, '.dv', 'index'));
    },
    async victimPrep(v) {
      await fsp.mkdir(join(v, 'mine'));
      await fsp.writeFile(join(v, 'mine', 'a.txt'), 'my data\n');
    },
    cmds: [['status'], ['add', 'mine']],
  },
  {
    name: 'variant: .dv/remotes committed as a symlink outside: dv pull caches no remote index there',
    work: true,
    async attack(sc) {
      await editConfig(sc.mallory, (c) => {
        c.remote = { team: { url: '../team' } };
        c.core.remote = 'team';
      });
      await fsp.rm(join(sc.mallory, '.dv', 'remotes'), { recursive: true, force: true });
      await fsp.symlink('../../outside', join(sc.mallory, '.dv', 'remotes'));
      await fsp.copyFile(join(sc.work!, 'data.dv'), join(sc.mallory, 'data.dv'));
    },
    cmds: [['pull']],
  },
  {
    name: 'variant: .dv/snapshots.log committed as a symlink to a file outside: dv add appends nothing to it',
    async attack(sc) {
      await fsp.symlink('../../outside/sentinel.txt', join(sc.mallory, '.dv', 'snapshots.log'));
    },
    async victimPrep(v) {
      await fsp.mkdir(join(v, 'mine'));
      await fsp.writeFile(join(v, 'mine', 'a.txt'), 'my data\n');
    },
    cmds: [['add', 'mine']],
  },
  {
    name: '.gitignore committed as a symlink to a secret: dv add copies no secret into the .gitignore it asks you to git add',
    async attack(sc) {
      await fsp.symlink('../outside/secret.txt', join(sc.mallory, '.gitignore'));
    },
    async victimPrep(v) {
      await fsp.mkdir(join(v, 'mine'));
      await fsp.writeFile(join(v, 'mine', 'a.txt'), 'my data\n');
    },
    cmds: [['add', 'mine']],
    async extra(f, sc, v) {
      await noSecretIn(f, sc.box, join(v, '.gitignore'));
    },
  },
  {
    name: 'variant: sub/.gitignore committed as a symlink to a secret: dv add sub/mine copies no secret',
    async attack(sc) {
      await fsp.mkdir(join(sc.mallory, 'sub'));
      await fsp.symlink('../../outside/secret.txt', join(sc.mallory, 'sub', '.gitignore'));
    },
    async victimPrep(v) {
      await fsp.mkdir(join(v, 'sub', 'mine'), { recursive: true });
      await fsp.writeFile(join(v, 'sub', 'mine', 'a.txt'), 'x\n');
    },
    cmds: [['add', 'sub/mine']],
    async extra(f, sc, v) {
      await noSecretIn(f, sc.box, join(v, 'sub', '.gitignore'));
    },
  },
  {
    name: 'pointer file committed as a symlink to a secret: dv status does not read it out',
    async attack(sc) {
      await fsp.symlink('../outside/secret.txt', join(sc.mallory, 'data.dv'));
    },
    cmds: [['status'], ['checkout']],
  },
  {
    name: '.dv/config committed as a symlink to a secret: dv status does not read it out',
    async attack(sc) {
      await fsp.rm(join(sc.mallory, '.dv', 'config'));
      await fsp.symlink('../../outside/secret.txt', join(sc.mallory, '.dv', 'config'));
    },
    cmds: [['status']],
  },
  {
    name: 'variant: dv.lock committed as a symlink to a secret: dv fetch and gc do not read it out',
    async attack(sc) {
      await fsp.symlink('../outside/secret.txt', join(sc.mallory, 'dv.lock'));
    },
    cmds: [['gc'], ['lineage', 'x']],
  },
];

// Files dv reads for itself, committed as a symlink to a device that never ends.
const endless: [string, string, string[][]][] = [
  ['.dv/config', '../../../../../../../../dev/zero', [['status']]],
  ['.dv/config.local', '../../../../../../../../dev/zero', [['status']]],
  ['data.dv', '/dev/zero', [['status'], ['checkout'], ['gc']]],
  ['.gitignore', '/dev/zero', [['add', 'mine']]],
  ['dv.lock', '/dev/zero', [['gc'], ['status']]],
  ['dv.yaml', '/dev/zero', [['status']]],
  ['.dv/lock', '/dev/zero', [['add', 'mine']]],
  ['params.yaml', '/dev/zero', [['status']]],
];
for (const [file, target, cmds] of endless) {
  cases.push({
    name: `${file} committed as a symlink to ${target.replace(/^(\.\.\/)+/, '/')}: dv ${cmds.map((c) => c[0]).join(', ')} end within seconds in small memory`,
    async attack(sc) {
      await fsp.rm(join(sc.mallory, file), { force: true });
      await fsp.symlink(target, join(sc.mallory, file));
      const spec = 'stages:\n  train:\n    cmd: echo hi > out.txt\n    params:\n      - params.yaml:lr\n    outs:\n      - out.txt\n';
      if (file === 'params.yaml') await fsp.writeFile(join(sc.mallory, 'dv.yaml'), spec);
    },
    async victimPrep(v) {
      await fsp.mkdir(join(v, 'mine'));
      await fsp.writeFile(join(v, 'mine', 'a.txt'), 'my data\n');
    },
    cmds,
  });
}

describe('attack: hostile clone steering dv through committed config and symlinked control files', () => {
  for (const c of cases) {
    test(c.name, T, async () => {
      const box = await makeBox();
      const sc: Scene = { box, mallory: await attackerRepo(box) };
      if (c.work) Object.assign(sc, await victimProject(box));
      await c.attack(sc);
      commitAll(box, sc.mallory, 'update', true);
      const victim = victimClone(box, sc.mallory);
      await c.victimPrep?.(victim);
      const before = await fingerprintBox(box, victim);
      const f = new Findings(c.name);
      const runs: Outcome[] = [];
      for (const args of c.cmds) {
        const r = await victimDv(box, victim, args, LIMITS);
        runs.push(r);
        await f.expect(() => assertHarmlessEnd(r, `dv ${args.join(' ')}`));
        f.check(!leaksSecret(r.stdout + r.stderr), `dv ${args.join(' ')} printed the secret: ${show(r)}`);
      }
      await c.extra?.(f, sc, victim, runs);
      await f.expect(() => assertOutsideUnchanged(box, victim, before, 'after dv'));
      f.done();
    });
  }
});
