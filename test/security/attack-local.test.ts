/**
 * Attack: integrity and local races. A pointer file whose `tree:` (or `kind:`) was edited while
 * `snapshot:` was kept, so that checkout writes other data than the snapshot (and its history)
 * says; a local attacker who can write the data directory and swaps a directory for a symlink
 * while `dv checkout` runs, or replaces a tracked file with a hard link to a file outside before
 * a checkout that only changes the executable bit.
 *
 * Secure outcome: the lying pointer is refused with BAD_POINTER by pull and checkout, and dv fsck
 * names it; the racing checkout writes no file outside the workspace; the chmod never reaches
 * the outside file (its mode stays as it was).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import {
  assertHarmlessEnd,
  assertRefused,
  fingerprintBox,
  assertOutsideUnchanged,
  Findings,
  gitIn,
  makeBox,
  show,
  victimDv,
  victimRepo,
  type Box,
} from './attack-helpers.js';
import { makeDataset } from '../helpers/data.js';
import { describeTree } from '../helpers/cli.js';

const T = { timeout: 180_000 };

async function must(box: Box, cwd: string, args: string[]): Promise<string> {
  const r = await victimDv(box, cwd, args, { timeoutMs: 90_000 });
  if (r.code !== 0) throw new Error(`setup: dv ${args.join(' ')}: ${show(r)}`);
  return r.stdout;
}

const field = (text: string, key: string): string => new RegExp(`^${key}: (.*)$`, 'm').exec(text)![1];

describe('attack: a pointer file that lies', () => {
  /** Alice records two versions of data and pushes both; returns the pointer text of each. */
  async function twoVersions(): Promise<{ box: Box; alice: string; v1: string; v2: string }> {
    const box = await makeBox();
    const alice = await victimRepo(box, 'alice');
    await makeDataset(join(alice, 'data'), { files: 12, dirs: 2, seed: 1 });
    await must(box, alice, ['add', '-q', 'data']);
    await must(box, alice, ['remote', 'add', 'origin', join(box.root, 'team')]);
    await must(box, alice, ['push', '-q']);
    const v1 = await fsp.readFile(join(alice, 'data.dv'), 'utf8');
    await fsp.writeFile(join(alice, 'data', 'd0', 'planted.bin'), "the attacker wants this file in the victim's data\n");
    await fsp.rm(join(alice, 'data', 'd1'), { recursive: true });
    await must(box, alice, ['commit', '-q', '-m', 'v2']);
    await must(box, alice, ['push', '-q']);
    const v2 = await fsp.readFile(join(alice, 'data.dv'), 'utf8');
    return { box, alice, v1, v2 };
  }

  // Each lie: the pointer text, and the codes pull/checkout may refuse with.
  const lies: [string, (v1: string, v2: string) => string, string[]][] = [
    [
      "tree of version 2 (the attacker's) under the snapshot of reviewed version 1",
      (v1, v2) => v1.replace(/^tree: .*$/m, `tree: ${field(v2, 'tree')}`),
      ['BAD_POINTER'],
    ],
    ['variant: kind file under a directory snapshot', (v1) => v1.replace(/^kind: dir$/m, 'kind: file'), ['BAD_POINTER', 'BAD_OBJECT']],
  ];
  for (const [what, lie, codes] of lies) {
    test(`${what}: pull and checkout refuse, fsck and status name the pointer`, T, async () => {
      const { box, alice, v1, v2 } = await twoVersions();
      // Version 2 stays reachable through another pointer, so its tree is in every clone's store.
      await fsp.writeFile(join(alice, 'other.dv'), v2.replace('path: "data"', 'path: "other"'));
      await fsp.writeFile(join(alice, 'data.dv'), lie(v1, v2));
      gitIn(box, alice, ['add', '-A']);
      gitIn(box, alice, ['commit', '-qm', 'data (v1, reviewed)']);
      const victim = join(box.root, 'victim');
      gitIn(box, box.root, ['clone', '-q', alice, victim]);
      const f = new Findings(what);
      for (const args of [['pull'], ['checkout', '--force']]) {
        const r = await victimDv(box, victim, args, { timeoutMs: 60_000 });
        await f.expect(() => assertRefused(r, codes, `dv ${args.join(' ')}`));
      }
      const got = await describeTree(join(victim, 'data')).catch(() => ({}) as Record<string, string>);
      f.check(
        got['d0/planted.bin'] === undefined,
        `the victim's data/ holds version 2's planted file while data.dv names the reviewed snapshot (${Object.keys(got).length} entries)`,
      );
      const fsck = await victimDv(box, victim, ['fsck'], { timeoutMs: 60_000 });
      const fsckOut = fsck.stdout + fsck.stderr;
      f.check(fsck.code !== 0 && /BAD_POINTER/.test(fsckOut) && /data\.dv/.test(fsckOut), `dv fsck sees nothing wrong: ${show(fsck)}`);
      const status = await victimDv(box, victim, ['status'], { timeoutMs: 60_000 });
      const named = /BAD_POINTER|does not match|mismatch|not its snapshot|is not the tree|disagree/i.test(status.stdout + status.stderr);
      f.check(status.code !== 0 || named, `dv status sees nothing wrong: ${show(status)}`);
      f.done();
    });
  }
});

describe('attack: a local attacker racing dv checkout', () => {
  test('a directory swapped for a symlink to outside while dv checkout writes into it: nothing is written outside', T, async () => {
    const box = await makeBox();
    const victim = await victimRepo(box);
    await fsp.mkdir(join(victim, 'data', 'sub'), { recursive: true });
    for (let i = 0; i < 3000; i++) await fsp.writeFile(join(victim, 'data', 'sub', `f${i}.txt`), `file ${i}\n`.repeat(20));
    await fsp.writeFile(join(victim, 'data', 'top.txt'), 'top\n');
    await must(box, victim, ['add', '-q', 'data']);
    const drop = join(box.outside, 'drop');
    await fsp.mkdir(drop);
    const before = await fingerprintBox(box, victim, ['outside/drop']);
    const f = new Findings('directory swapped for a symlink');
    for (let round = 0; round < 3; round++) {
      await fsp.rm(join(victim, 'data'), { recursive: true, force: true });
      // The attacker: the moment data/sub exists as a directory, it becomes a symlink to `drop`.
      let swapped = false;
      let stop = false;
      const attacker = (async () => {
        while (!stop && !swapped) {
          const st = await fsp.lstat(join(victim, 'data', 'sub')).catch(() => undefined);
          if (st?.isDirectory()) {
            await fsp.rename(join(victim, 'data', 'sub'), join(victim, 'data', `sub.moved${round}`)).catch(() => undefined);
            await fsp.symlink(drop, join(victim, 'data', 'sub')).then(
              () => {
                swapped = true;
              },
              () => undefined,
            );
          } else {
            await new Promise((r) => setImmediate(r));
          }
        }
      })();
      const r = await victimDv(box, victim, ['checkout', '--force'], { timeoutMs: 60_000 });
      stop = true;
      await attacker;
      await f.expect(() => assertHarmlessEnd(r, `dv checkout --force (round ${round}, swapped: ${swapped})`));
      const dropped = await fsp.readdir(drop);
      f.check(
        dropped.length === 0,
        `round ${round}: dv wrote ${dropped.length} files into the directory outside (${dropped.slice(0, 3).join(', ')})`,
      );
      if (dropped.length > 0) break;
      await fsp.rm(join(victim, 'data'), { recursive: true, force: true });
    }
    await f.expect(() => assertOutsideUnchanged(box, victim, before, 'outside', ['outside/drop']));
    f.done();
  });

  test(
    'a tracked file replaced by a hard link to an outside file before a checkout that only sets the x bit: the outside file keeps its mode',
    T,
    async () => {
      const box = await makeBox();
      const victim = await victimRepo(box);
      const content = 'same bytes in both files\n';
      await fsp.mkdir(join(victim, 'data'));
      await fsp.writeFile(join(victim, 'data', 'run.sh'), content, { mode: 0o644 });
      await fsp.writeFile(join(victim, 'data', 'other.txt'), 'x\n');
      await must(box, victim, ['add', '-q', 'data']);
      const plain = field(await fsp.readFile(join(victim, 'data.dv'), 'utf8'), 'snapshot');
      await fsp.chmod(join(victim, 'data', 'run.sh'), 0o755);
      await must(box, victim, ['commit', '-q', '-m', 'executable']);
      const exec = field(await fsp.readFile(join(victim, 'data.dv'), 'utf8'), 'snapshot');
      await must(box, victim, ['checkout', plain.slice(0, 12)]);
      assert.equal((await fsp.stat(join(victim, 'data', 'run.sh'))).mode & 0o777, 0o644);
      // The local attacker: the victim's file becomes a hard link to a file outside with the same bytes.
      const target = join(box.outside, 'config.sh');
      await fsp.writeFile(target, content, { mode: 0o600 });
      await fsp.chmod(target, 0o600);
      await fsp.rm(join(victim, 'data', 'run.sh'));
      await fsp.link(target, join(victim, 'data', 'run.sh'));
      const f = new Findings('chmod through a hard link');
      const r = await victimDv(box, victim, ['checkout', exec.slice(0, 12)], { timeoutMs: 60_000 });
      await f.expect(() => assertHarmlessEnd(r, 'dv checkout <exec snapshot>'));
      const mode = (await fsp.stat(target)).mode & 0o777;
      f.check(mode === 0o600, `dv chmod-ed the file outside the workspace through the hard link: mode ${mode.toString(8)} (was 600)`);
      f.done();
    },
  );
});
