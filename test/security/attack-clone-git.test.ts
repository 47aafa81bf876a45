/**
 * Attack: a hostile repository the victim clones with `git clone`, aiming at the victim's own
 * `.git` (hooks, config) or at a nested git directory whose config runs a command on the next
 * `git status`. The victim only runs what a README would tell them to: `dv pull`, and
 * `dv checkout <id>` of a snapshot the repository names.
 *
 * Secure outcome: dv refuses in one line with a stable code (or does something harmless); no file
 * appears or changes in .git/hooks, .git/config or outside the workspace; a later `git status`,
 * `git checkout` or `git commit` runs no code of the attacker's (no `pwned-*` proof file).
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
  gitRun,
  liveHooks,
  makeBox,
  show,
  victimClone,
  victimDv,
  type Box,
  type Outcome,
} from './attack-helpers.js';
import { gitDirObjects, hookObj, obj, pointerText, pwned, snapObj, treeObj, writeRemotePack, type Obj } from './attack-helpers-objects.js';

const T = { timeout: 90_000 };

interface Scene {
  box: Box;
  mallory: string;
  remote: string;
}

/** The attacker's repository, whose committed .dv/config names the attacker's directory remote. */
async function scene(): Promise<Scene> {
  const box = await makeBox();
  const remote = join(box.root, 'remote');
  await fsp.mkdir(remote);
  const mallory = await attackerRepo(box);
  await editConfig(mallory, (c) => {
    c.remote = { origin: { url: remote } };
    c.core.remote = 'origin';
  });
  return { box, mallory, remote };
}

/** A single-file snapshot recorded under `path`, holding `content` (executable), published on the remote. */
async function fileSnapshot(sc: Scene, path: string, content: Obj): Promise<{ snap: Obj; tree: Obj }> {
  const tree = await treeObj([['f', path.split('/').pop()!, content.bytes.length, content.id, 1]]);
  const snap = await snapObj(tree.id, path, 'file', content.bytes.length, 1);
  await writeRemotePack(sc.remote, [content, tree, snap]);
  return { snap, tree };
}

/** What a victim's git does next; any code of the attacker's leaves a pwned-* file. */
async function probeGit(box: Box, repo: string, sub?: string): Promise<void> {
  await gitRun(box, repo, ['status']);
  if (sub) await gitRun(box, join(repo, sub), ['status']);
  await gitRun(box, repo, ['checkout', '-q', '-b', `probe-${Date.now()}`]);
  await gitRun(box, repo, ['commit', '-q', '--allow-empty', '-m', 'probe']);
  await gitRun(box, repo, ['merge', '-q', '--no-edit', 'main']);
}

/** Every check of one attack, all recorded: what dv did, what changed outside, whether git then ran the attacker's code. */
async function judge(
  sc: Scene,
  victim: string,
  before: Record<string, string>,
  runs: [string, Outcome][],
  extra: (f: Findings) => Promise<void>,
  sub?: string,
): Promise<void> {
  const f = new Findings(runs.map(([w]) => w).join(', '));
  for (const [what, r] of runs) await f.expect(() => assertHarmlessEnd(r, what));
  await extra(f);
  await f.expect(() => assertOutsideUnchanged(sc.box, victim, before, 'after dv'));
  await probeGit(sc.box, victim, sub);
  const proof = await pwned(sc.box.outside);
  f.check(proof.length === 0, `the attacker's code ran on the next git command (proof files: ${proof.join(', ')})`);
  f.done();
}

describe('attack: hostile clone writing into .git', () => {
  /** A committed symlink `link -> target` and a snapshot recorded at `path`: pull and checkout <id> write no hook. */
  async function noHookThroughLink(link: string, target: string, path: string, hook: string): Promise<void> {
    const sc = await scene();
    const { snap, tree } = await fileSnapshot(sc, path, await hookObj(sc.box.outside, hook));
    await fsp.symlink(target, join(sc.mallory, link));
    await fsp.writeFile(join(sc.mallory, 'bait.dv'), pointerText(snap.id, tree.id, 'bait', 'file'));
    commitAll(sc.box, sc.mallory, 'golden data: run `dv pull` then `dv checkout <id>`');
    const victim = victimClone(sc.box, sc.mallory);
    const hooks = await liveHooks(victim);
    const before = await fingerprintBox(sc.box, victim);
    const pull = await victimDv(sc.box, victim, ['pull']);
    const r = await victimDv(sc.box, victim, ['checkout', snap.id.slice(0, 12)]);
    await judge(
      sc,
      victim,
      before,
      [
        ['dv pull', pull],
        ['dv checkout <id>', r],
      ],
      async (f) => {
        f.check(
          JSON.stringify(await liveHooks(victim)) === JSON.stringify(hooks),
          `a git hook appeared in .git/hooks: ${(await liveHooks(victim)).join(', ')}`,
        );
      },
    );
  }

  test(
    'symlink legacy -> .git/hooks, then dv checkout <id> of a snapshot recorded as legacy/post-checkout: no hook written',
    T,
    async () => {
      await noHookThroughLink('legacy', '.git/hooks', 'legacy/post-checkout', 'post-checkout');
    },
  );

  test('variant: symlink up -> . and a snapshot path up/.git/hooks/pre-commit (".git" not first): no hook written', T, async () => {
    await noHookThroughLink('up', '.', 'up/.git/hooks/pre-commit', 'pre-commit');
  });

  test(
    'variant: symlink cfg -> .git, dv checkout <id> --force of a snapshot recorded as cfg/config: .git/config untouched',
    T,
    async () => {
      const sc = await scene();
      const config = await obj(`[core]\n\tfsmonitor = "touch '${join(sc.box.outside, 'pwned-fsmonitor')}'; false"\n`);
      const { snap, tree } = await fileSnapshot(sc, 'cfg/config', config);
      await fsp.symlink('.git', join(sc.mallory, 'cfg'));
      await fsp.writeFile(join(sc.mallory, 'bait.dv'), pointerText(snap.id, tree.id, 'bait', 'file'));
      commitAll(sc.box, sc.mallory, 'bait');
      const victim = victimClone(sc.box, sc.mallory);
      const before = await fingerprintBox(sc.box, victim);
      const pull = await victimDv(sc.box, victim, ['pull']);
      const r = await victimDv(sc.box, victim, ['checkout', snap.id.slice(0, 12), '--force']);
      await judge(
        sc,
        victim,
        before,
        [
          ['dv pull', pull],
          ['dv checkout <id> --force', r],
        ],
        async () => undefined,
      );
    },
  );

  test(
    'variant: the victim names a path through the committed symlink (dv checkout <id> legacy/post-merge --new): no hook written',
    T,
    async () => {
      const sc = await scene();
      const { snap, tree } = await fileSnapshot(sc, 'bait', await hookObj(sc.box.outside, 'post-merge'));
      await fsp.symlink('.git/hooks', join(sc.mallory, 'legacy'));
      await fsp.writeFile(join(sc.mallory, 'bait.dv'), pointerText(snap.id, tree.id, 'bait', 'file'));
      commitAll(sc.box, sc.mallory, 'bait');
      const victim = victimClone(sc.box, sc.mallory);
      const hooks = await liveHooks(victim);
      const before = await fingerprintBox(sc.box, victim);
      const pull = await victimDv(sc.box, victim, ['pull']);
      const r = await victimDv(sc.box, victim, ['checkout', snap.id.slice(0, 12), 'legacy/post-merge', '--new']);
      await judge(
        sc,
        victim,
        before,
        [
          ['dv pull', pull],
          ['dv checkout <id> legacy/post-merge --new', r],
        ],
        async (f) => {
          f.check(
            JSON.stringify(await liveHooks(victim)) === JSON.stringify(hooks),
            `a git hook appeared in .git/hooks: ${(await liveHooks(victim)).join(', ')}`,
          );
        },
      );
    },
  );

  test('pointer file sub/.git.dv: dv pull creates no nested git directory whose config runs code', T, async () => {
    const sc = await scene();
    const g = await gitDirObjects(`touch '${join(sc.box.outside, 'pwned-nested')}'`);
    const snap = await snapObj(g.tree.id, '.git', 'dir', 0, 2);
    await writeRemotePack(sc.remote, [...g.objects, snap]);
    await fsp.mkdir(join(sc.mallory, 'sub'));
    await fsp.writeFile(join(sc.mallory, 'sub', 'README'), 'nothing to see\n');
    await fsp.writeFile(join(sc.mallory, 'sub', '.git.dv'), pointerText(snap.id, g.tree.id, '.git', 'dir'));
    commitAll(sc.box, sc.mallory, 'nested');
    const victim = victimClone(sc.box, sc.mallory);
    const before = await fingerprintBox(sc.box, victim);
    const r = await victimDv(sc.box, victim, ['pull']);
    const made = await exists(join(victim, 'sub', '.git'));
    const f2 = await victimDv(sc.box, victim, ['checkout', '--force']);
    await judge(
      sc,
      victim,
      before,
      [
        ['dv pull', r],
        ['dv checkout --force', f2],
      ],
      async (f) => {
        f.check(!made && !(await exists(join(victim, 'sub', '.git'))), `dv created sub/.git (${show(r)})`);
      },
      'sub',
    );
  });

  // git refuses these names at any depth (case-insensitive .git, its NTFS 8.3 and trailing-dot/space
  // aliases, HFS+ ignorable code points), because the same clone is also checked out on Windows and
  // macOS; dv's own .dv is refused the same way.
  const aliases = ['.GIT', 'sub/.Git', 'sub/git~1', 'sub/.git.', 'sub/.git ', 'sub/.g\u200cit', 'sub/.dv', 'sub/.DV'];
  for (const alias of aliases) {
    test(`variant: pointer file ${JSON.stringify(alias + '.dv')}: dv pull refuses to create ${JSON.stringify(alias)}`, T, async () => {
      const sc = await scene();
      const g = await gitDirObjects(`touch '${join(sc.box.outside, 'pwned-alias')}'`);
      const name = alias.split('/').pop()!;
      const snap = await snapObj(g.tree.id, name, 'dir', 0, 2);
      await writeRemotePack(sc.remote, [...g.objects, snap]);
      await fsp.mkdir(join(sc.mallory, 'sub'), { recursive: true });
      await fsp.writeFile(join(sc.mallory, 'sub', 'README'), 'x\n');
      await fsp.writeFile(join(sc.mallory, `${alias}.dv`), pointerText(snap.id, g.tree.id, name, 'dir'));
      commitAll(sc.box, sc.mallory, 'alias');
      const victim = victimClone(sc.box, sc.mallory);
      const before = await fingerprintBox(sc.box, victim);
      const r = await victimDv(sc.box, victim, ['pull']);
      await judge(
        sc,
        victim,
        before,
        [['dv pull', r]],
        async (f) => {
          f.check(!(await exists(join(victim, alias))), `dv pull created ${JSON.stringify(alias)}: ${show(r)}`);
        },
        'sub',
      );
    });
  }
});
