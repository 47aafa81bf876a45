/**
 * Attack: a commit that changes where the victim's data goes. The victim works in a team clone
 * with dv's git hooks installed and has pushed data to the team remote before. A later commit
 * (a merged pull request) changes the committed remote URL, adds another remote and makes it the
 * default, or changes only the S3 endpoint of the same bucket. The victim then does what they
 * always do: `git pull`, record new data, `git push` (the pre-push hook runs `dv push`), or
 * `dv push` by hand.
 *
 * Secure outcome: nothing of the victim's reaches the new location (no directory created, no
 * request at all to the attacker's endpoint) until the victim confirms it; the commands that
 * would have used it refuse in one line with a stable code (the git push stops) or skip it.
 */
import { after, before, describe, test } from 'node:test';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import {
  assertRefused,
  editConfig,
  exists,
  Findings,
  gitIn,
  gitRun,
  makeBox,
  show,
  victimDv,
  type Box,
  type Outcome,
} from './attack-helpers.js';
import { hostileS3, listXml, notFound, sendXml } from './attack-helpers-s3.js';
import { credsEnv, startS3rver, type S3TestServer } from '../helpers/s3server.js';
import { makeDataset } from '../helpers/data.js';

const T = { timeout: 180_000 };

interface Team {
  box: Box;
  bare: string;
  victim: string;
  env: Record<string, string>;
}

async function must(box: Box, cwd: string, args: string[], env: Record<string, string>): Promise<void> {
  const r = await victimDv(box, cwd, args, { timeoutMs: 60_000, env });
  if (r.code !== 0) throw new Error(`setup: dv ${args.join(' ')}: ${show(r)}`);
}

async function mustGit(box: Box, cwd: string, args: string[], env: Record<string, string>): Promise<void> {
  const r = await gitRun(box, cwd, args, { env, timeoutMs: 90_000 });
  if (r.code !== 0) throw new Error(`setup: git ${args.join(' ')}: ${show(r)}`);
}

/**
 * A team repository (bare git + a dv remote `remoteArgs`), and the victim's clone with hooks
 * installed that has already pulled, added its own data and pushed it through the pre-push hook.
 */
async function team(remoteArgs: (box: Box) => string[], env: Record<string, string>): Promise<Team> {
  const box = await makeBox();
  const bare = join(box.root, 'team.git');
  gitIn(box, box.root, ['init', '-q', '--bare', '-b', 'main', bare]);
  const alice = join(box.root, 'alice');
  gitIn(box, box.root, ['clone', '-q', bare, alice]);
  await must(box, alice, ['init', '-q'], env);
  await makeDataset(join(alice, 'data'), { files: 20, dirs: 2 });
  await must(box, alice, ['add', '-q', 'data'], env);
  await must(box, alice, ['remote', 'add', 'origin', ...remoteArgs(box)], env);
  await must(box, alice, ['push', '-q'], env);
  gitIn(box, alice, ['add', '-A']);
  gitIn(box, alice, ['commit', '-qm', 'data']);
  gitIn(box, alice, ['push', '-q', 'origin', 'main']);
  const victim = join(box.root, 'victim');
  gitIn(box, box.root, ['clone', '-q', bare, victim]);
  await must(box, victim, ['install', '-q'], env);
  await must(box, victim, ['pull', '-q'], env);
  await makeDataset(join(victim, 'mine'), { files: 10, dirs: 1, seed: 7 });
  await must(box, victim, ['add', '-q', 'mine'], env);
  gitIn(box, victim, ['add', '-A']);
  gitIn(box, victim, ['commit', '-qm', 'my data']);
  // The first push: the pre-push hook sends the data to the team remote (trust on first use).
  await mustGit(box, victim, ['push', '-q', 'origin', 'main'], env);
  return { box, bare, victim, env };
}

/** The attacker's commit on the team repository, changing .dv/config with `edit`. */
async function attackerCommit(t: Team, edit: (c: Record<string, any>) => void): Promise<void> {
  const mallory = join(t.box.root, 'mallory');
  gitIn(t.box, t.box.root, ['clone', '-q', t.bare, mallory]);
  await editConfig(mallory, edit);
  gitIn(t.box, mallory, ['commit', '-qam', 'ci: move data to the new bucket']);
  gitIn(t.box, mallory, ['push', '-q', 'origin', 'main']);
}

/** The victim's next day: git pull (hooks run), new data recorded, git push (pre-push runs dv push), then dv push by hand. */
async function nextDay(t: Team): Promise<{ pull: Outcome; gitPush: Outcome; dvPush: Outcome }> {
  const pull = await gitRun(t.box, t.victim, ['pull', '-q', '--no-rebase', 'origin', 'main'], { env: t.env, timeoutMs: 90_000 });
  await fsp.writeFile(join(t.victim, 'mine', 'new-results.csv'), 'a,b\n1,2\n');
  await must(t.box, t.victim, ['commit', '-q', '-m', 'new results'], t.env);
  gitIn(t.box, t.victim, ['add', '-A']);
  gitIn(t.box, t.victim, ['commit', '-qm', 'new results']);
  const gitPush = await gitRun(t.box, t.victim, ['push', '-q', 'origin', 'main'], { env: t.env, timeoutMs: 90_000 });
  const dvPush = await victimDv(t.box, t.victim, ['push'], { timeoutMs: 60_000, env: t.env });
  return { pull, gitPush, dvPush };
}

/** Everything under `dir` (absent counts as empty). */
async function filesUnder(dir: string): Promise<string[]> {
  return (await fsp.readdir(dir, { recursive: true }).catch(() => [] as string[])).sort();
}

describe("attack: a commit redirecting where the victim's data goes", () => {
  test("the committed remote URL changed to the attacker's directory: neither the pre-push hook nor dv push uploads there", T, async () => {
    const t = await team((box) => [join(box.root, 'teamdata')], {});
    const evil = join(t.box.root, 'evil');
    await attackerCommit(t, (c) => {
      c.remote.origin.url = evil;
    });
    const { gitPush, dvPush } = await nextDay(t);
    const f = new Findings('remote URL changed');
    const got = await filesUnder(evil);
    const packs = got.filter((p) => p.endsWith('.pack')).length;
    f.check(
      got.length === 0 && !(await exists(evil)),
      `the victim's data went to the attacker's directory (${packs} packs: ${got.slice(0, 4).join(', ')}); git push: ${show(gitPush)}`,
    );
    await f.expect(() => assertRefused(dvPush, [], 'dv push after the URL changed'));
    f.done();
  });

  test('variant: a new remote added and made the default (core.remote): dv push does not switch to it silently', T, async () => {
    const t = await team((box) => [join(box.root, 'teamdata')], {});
    const evil = join(t.box.root, 'evil2');
    await attackerCommit(t, (c) => {
      c.remote.backup = { url: evil };
      c.core.remote = 'backup';
    });
    const { gitPush, dvPush } = await nextDay(t);
    const f = new Findings('new default remote');
    const got = await filesUnder(evil);
    f.check(
      got.length === 0,
      `the victim's data went to the attacker's new default remote (${got.length} files); git push: ${show(gitPush)}`,
    );
    await f.expect(() => assertRefused(dvPush, [], 'dv push after core.remote changed'));
    f.done();
  });

  describe('S3', () => {
    let s3: S3TestServer;
    before(async () => {
      s3 = await startS3rver();
    });
    after(async () => {
      await s3?.stop();
    });

    test(
      "variant: only the S3 endpoint of the same bucket changed: no request (signed with the victim's keys) reaches the attacker",
      T,
      async () => {
        await s3.createBucket('trust');
        const env = credsEnv(s3);
        const t = await team(() => ['s3://trust/p', '--endpoint', s3.endpoint], env);
        const evil = await hostileS3((r, res) => {
          if (r.query.get('list-type') === '2') return sendXml(res, listXml(r.bucket, r.query.get('prefix') ?? '', []));
          if (r.method === 'PUT') {
            res.writeHead(200, { ETag: '"0"' });
            res.end();
            return;
          }
          return notFound(res, r.key);
        });
        try {
          await attackerCommit(t, (c) => {
            c.remote.origin.endpoint = evil.endpoint;
          });
          const { dvPush } = await nextDay(t);
          const f = new Findings('endpoint changed');
          const signed = evil.requests.filter((r) => r.signed);
          const puts = evil.requests.filter((r) => r.method === 'PUT');
          const what = `${signed.length} signed with the victim's keys, ${puts.length} uploads: ${puts
            .slice(0, 3)
            .map((r) => r.key)
            .join(', ')}`;
          f.check(evil.requests.length === 0, `the attacker's endpoint got ${evil.requests.length} requests (${what})`);
          await f.expect(() => assertRefused(dvPush, [], 'dv push after the endpoint changed'));
          f.done();
        } finally {
          await evil.close();
        }
      },
    );
  });
});
