/** `dv push --rev` and the pre-push hook: the data of the commits git pushes reaches the remote (real git, real dv). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { DV_BIN, dv, dvOk, dvJson, makeRepo, git, tempDir } from '../helpers/cli.js';

function gitRun(cwd: string, args: string[], env: Record<string, string> = {}): { code: number; out: string } {
  const r = spawnSync('git', args, {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1', XDG_CONFIG_HOME: join(cwd, '.xdg-test'), ...env },
  });
  return { code: r.status ?? -1, out: r.stdout + r.stderr };
}

const read = (p: string): Promise<string> => fsp.readFile(p, 'utf8');
const ZERO = '0'.repeat(40);

/** Records data/v.txt = text with dv (add the first time) and git; returns the commit. */
/** A repository with a bare git remote `origin` and, with `store`, a default dv directory remote. */
async function pushable(store: boolean): Promise<{ repo: string; bare: string; store: string }> {
  const repo = await makeRepo();
  const bare = join(tempDir(), 'code.git');
  git(tempDir(), ['init', '-q', '-b', 'main', '--bare', bare]);
  git(repo, ['remote', 'add', 'origin', bare]);
  const dir = join(tempDir(), 'store');
  if (store) await dvOk(repo, ['remote', 'add', 'origin', dir, '--local', '--default']);
  return { repo, bare, store: dir };
}

async function commitData(repo: string, text: string): Promise<string> {
  const first = !(await fsp.stat(join(repo, 'data')).then(
    () => true,
    () => false,
  ));
  await fsp.mkdir(join(repo, 'data'), { recursive: true });
  await fsp.writeFile(join(repo, 'data', 'v.txt'), text);
  await dvOk(repo, first ? ['add', 'data'] : ['commit', '-m', text]);
  git(repo, ['add', '-A']);
  git(repo, ['commit', '-qm', text]);
  return git(repo, ['rev-parse', 'HEAD']).trim();
}

/** A clone of `from` using the dv store `store` (local config, so old commits keep it). */
async function cloneOf(from: string, store: string): Promise<string> {
  const c = join(tempDir(), 'clone');
  git(tempDir(), ['clone', '-q', from, c]);
  await dvOk(c, ['remote', 'add', 'origin', store, '--local', '--default']);
  return c;
}

/** The data a clone gets for a commit: git checkout, then dv pull. */
async function dataAt(clone: string, rev: string): Promise<string> {
  git(clone, ['checkout', '-q', rev]);
  await dvOk(clone, ['pull']);
  return read(join(clone, 'data', 'v.txt'));
}

test('dv push --rev sends what the pointer files of those commits name, with a few git processes for hundreds of commits', async () => {
  const repo = await makeRepo();
  const c1 = await commitData(repo, 'v1\n');
  const c2 = await commitData(repo, 'v2\n');
  git(repo, ['checkout', '-qb', 'side']);
  const c3 = await commitData(repo, 'v3\n');
  git(repo, ['checkout', '-q', 'main']);
  await dvOk(repo, ['checkout']);
  // 300 more commits on main naming the same two snapshots (git only, so the test stays fast).
  await fsp.writeFile(join(repo, '.git', 'p1'), git(repo, ['show', `${c1}:data.dv`]));
  await fsp.writeFile(join(repo, '.git', 'p2'), git(repo, ['show', `${c2}:data.dv`]));
  execFileSync(
    'sh',
    [
      '-c',
      'i=0; while [ $i -lt 150 ]; do cp .git/p1 data.dv; git commit -qam a$i; cp .git/p2 data.dv; git commit -qam b$i; i=$((i+1)); done',
    ],
    { cwd: repo },
  );
  const store = join(tempDir(), 'store');
  await dvOk(repo, ['remote', 'add', 'origin', store, '--local', '--default']);

  // Count the git processes dv starts.
  const bin = tempDir();
  const realGit = execFileSync('sh', ['-c', 'command -v git'], { encoding: 'utf8' }).trim();
  await fsp.writeFile(join(bin, 'git'), `#!/bin/sh\necho "$1" >> '${join(bin, 'log')}'\nexec '${realGit}' "$@"\n`, { mode: 0o755 });
  const r = await dvJson(repo, ['push', '--rev', 'main'], { PATH: `${bin}:${process.env.PATH}` });
  const calls = (await read(join(bin, 'log'))).trim().split('\n');
  assert.ok(calls.length <= 12, `git ran ${calls.length} times: ${calls.join(' ')}`);
  assert.equal(r.snapshots.length, 2);

  const clone = await cloneOf(repo, store);
  assert.equal(await dataAt(clone, c1), 'v1\n');
  assert.equal(await dataAt(clone, c2), 'v2\n');
  git(clone, ['checkout', '-q', c3]);
  const lacking = await dv(clone, ['pull']);
  assert.equal(lacking.code, 22, 'side was not pushed');

  await dvOk(repo, ['push', '--rev', '--branches']);
  assert.equal(await dataAt(clone, c3), 'v3\n');
  assert.equal((await dvJson(repo, ['push', '--rev', 'side', '--rev', '^main'])).objectsSent, 0);

  const bad = await dv(repo, ['push', '--rev', 'no-such-branch']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /bad revision 'no-such-branch'/);
  assert.equal((await dv(repo, ['push', '--rev', '--output=x'])).code, 2);
  assert.equal((await dv(repo, ['push', '--rev', 'main', 'data'])).code, 2);
});

test('git push sends the data of every commit it pushes: older commits, other branches, commits made before the dv remote existed', async () => {
  const { repo, bare } = await pushable(false);
  // The user's own pre-push hook reads git's lines after dv's block.
  await fsp.writeFile(join(repo, '.git', 'hooks', 'pre-push'), '#!/bin/sh\ncat > "$(git rev-parse --git-dir)/pre-push.stdin"\n', {
    mode: 0o755,
  });
  await dvOk(repo, ['install']);

  const c1 = await commitData(repo, 'v1\n');
  const c2 = await commitData(repo, 'v2\n');
  git(repo, ['checkout', '-qb', 'side', c1]);
  await dvOk(repo, ['checkout']);
  const c3 = await commitData(repo, 'v3\n');
  const c4 = await commitData(repo, 'v4\n');
  git(repo, ['checkout', '-q', 'main']);
  await dvOk(repo, ['checkout']);
  const store = join(tempDir(), 'store');
  await dvOk(repo, ['remote', 'add', 'origin', store, '--local', '--default']);

  const pushed = gitRun(repo, ['push', '-q', 'origin', 'main', 'side']);
  assert.equal(pushed.code, 0, pushed.out);
  assert.equal(
    (await read(join(repo, '.git', 'pre-push.stdin'))).split('\n').sort().join('\n'),
    `\nrefs/heads/main ${c2} refs/heads/main ${ZERO}\nrefs/heads/side ${c4} refs/heads/side ${ZERO}`,
  );
  const clone = await cloneOf(bare, store);
  for (const [c, text] of [
    [c1, 'v1\n'],
    [c2, 'v2\n'],
    [c3, 'v3\n'],
    [c4, 'v4\n'],
  ])
    assert.equal(await dataAt(clone, c), text, `data of ${c}`);

  // An update sends every new commit's data, not only the last one's.
  const c5 = await commitData(repo, 'v5\n');
  await commitData(repo, 'v6\n');
  const again = gitRun(repo, ['push', '-q', 'origin', 'main']);
  assert.equal(again.code, 0, again.out);
  git(clone, ['fetch', '-q']);
  assert.equal(await dataAt(clone, c5), 'v5\n');

  // Deleting a branch pushes no data and needs no dv remote.
  const del = gitRun(repo, ['push', '-q', 'origin', '--delete', 'side'], {});
  assert.equal(del.code, 0, del.out);
  assert.doesNotMatch(git(bare, ['for-each-ref']), /side/);
});

test('pre-push: no dv remote is only a warning; a dv remote that fails stops the git push', async () => {
  const { repo, bare } = await pushable(false);
  await dvOk(repo, ['install']);
  await commitData(repo, 'v1\n');

  const warned = gitRun(repo, ['push', '-q', 'origin', 'main']);
  assert.equal(warned.code, 0, warned.out);
  assert.equal(
    warned.out.trim(),
    'dv: no dv remote configured, data not pushed: run `dv remote add NAME URL --default`, then `dv push --rev --branches`',
  );
  assert.match(git(bare, ['for-each-ref']), /refs\/heads\/main/);

  // A remote that cannot be written (its directory would be inside a file) stops the push.
  await fsp.writeFile(join(repo, 'a-file'), '');
  await dvOk(repo, ['remote', 'add', 'broken', join(repo, 'a-file', 'store'), '--local', '--default']);
  const head = await commitData(repo, 'v2\n');
  const refused = gitRun(repo, ['push', '-q', 'origin', 'main']);
  assert.notEqual(refused.code, 0, refused.out);
  assert.match(refused.out, /git push --no-verify/);
  assert.notEqual(git(bare, ['rev-parse', 'main']).trim(), head, 'the code did not reach the git remote');

  await dvOk(repo, ['remote', 'remove', 'broken']);
  await dvOk(repo, ['remote', 'add', 'origin', join(tempDir(), 'store'), '--local', '--default']);
  const ok = gitRun(repo, ['push', '-q', 'origin', 'main']);
  assert.equal(ok.code, 0, ok.out);
  assert.equal(git(bare, ['rev-parse', 'main']).trim(), head);
  assert.equal((await dvJson(repo, ['status', '--remote'])).upToDate, true);
});

test('pre-push: a pushed commit whose data is nowhere stops the push after the rest is sent; data only on the remote is fine', async () => {
  const { repo, bare, store } = await pushable(true);
  await dvOk(repo, ['install']);
  const c1 = await commitData(repo, 'v1\n');
  // A pointer file naming a snapshot no store has (committed from a clone that lost its data).
  const lost = 'ab'.repeat(32);
  await fsp.writeFile(
    join(repo, 'lost.dv'),
    `dv: 1\npath: "lost"\nkind: dir\nsnapshot: ${lost}\ntree: ${'cd'.repeat(32)}\nsize: 1\nfiles: 1\n`,
  );
  git(repo, ['add', 'lost.dv']);
  git(repo, ['commit', '-qm', 'lost data']);
  const c2 = git(repo, ['rev-parse', 'HEAD']).trim();

  const refused = gitRun(repo, ['push', '-q', 'origin', 'main']);
  assert.notEqual(refused.code, 0, refused.out);
  assert.match(
    refused.out,
    new RegExp(
      `OBJECT_MISSING: commit ${c2.slice(0, 12)} names snapshot ${lost.slice(0, 12)} \\(lost\\.dv\\), which is neither in this clone nor on remote origin`,
    ),
  );
  assert.match(refused.out, /Everything else was pushed/);
  assert.equal(git(bare, ['for-each-ref']).trim(), '');
  assert.equal((await dvJson(repo, ['push', '--rev', c1])).objectsSent, 0, 'v1 went before the refusal');
  assert.equal(gitRun(repo, ['push', '-q', '--no-verify', 'origin', 'main']).code, 0);

  // Once published, that commit does not block the next pushes (only the new commits count).
  await fsp.writeFile(join(repo, 'code.py'), 'print(1)\n');
  git(repo, ['add', 'code.py']);
  git(repo, ['commit', '-qm', 'code']);
  const next = gitRun(repo, ['push', '-q', 'origin', 'main']);
  assert.equal(next.code, 0, next.out);

  // A clone that never fetched v1 pushes the whole history to a new git remote: v1 is on the dv remote.
  await fsp.rm(join(repo, 'lost.dv'));
  git(repo, ['commit', '-qam', 'drop lost']);
  assert.equal(gitRun(repo, ['push', '-q', 'origin', 'main']).code, 0);
  const clone = await cloneOf(bare, store);
  await dvOk(clone, ['install']);
  git(clone, ['reset', '-q', '--hard', c1]);
  const mirror = join(tempDir(), 'mirror.git');
  git(tempDir(), ['init', '-q', '-b', 'main', '--bare', mirror]);
  const m = gitRun(clone, ['push', '-q', mirror, 'HEAD:refs/heads/main']);
  assert.equal(m.code, 0, m.out);
  assert.doesNotMatch(m.out, /error|warning|missing/i);
});

test('pre-push: the tips alone name the data (commits pushed before the dv remote existed): every pointer file is sent, the first one too', async () => {
  for (const paths of [['data.txt'], ['data.txt', 'sub dir/ü/f 1.txt']]) {
    const { repo, bare } = await pushable(false);
    for (const p of paths) {
      await fsp.mkdir(join(repo, p, '..'), { recursive: true });
      await fsp.writeFile(join(repo, p), `${p}\n`);
      await dvOk(repo, ['add', p]);
    }
    git(repo, ['add', '-A']);
    git(repo, ['commit', '-qm', 'data']);
    await dvOk(repo, ['install']);
    // No dv remote yet: git main goes out with a warning only.
    assert.equal(gitRun(repo, ['push', '-q', 'origin', 'main']).code, 0);

    const store = join(tempDir(), 'store');
    await dvOk(repo, ['remote', 'add', 'empty', store, '--local']);
    await dvOk(repo, ['config', 'core.remote', 'empty']);
    const pushed = gitRun(repo, ['push', '-q', 'origin', 'main:release']);
    assert.equal(pushed.code, 0, pushed.out);

    const clone = await cloneOf(bare, store);
    git(clone, ['checkout', '-q', 'release']);
    const pulled = await dv(clone, ['pull']);
    assert.equal(pulled.code, 0, `${paths.length} pointer file(s): ${pulled.stderr}`);
    for (const p of paths) assert.equal(await read(join(clone, p)), `${p}\n`, p);
  }
});

test('pre-push: a source expression with spaces (HEAD^{/fix bug}) is a valid line, and its data is sent', async () => {
  const { repo, bare, store } = await pushable(true);
  await dvOk(repo, ['install']);
  const c1 = await commitData(repo, 'fix bug\n');
  await commitData(repo, 'later\n');
  const pushed = gitRun(repo, ['push', '-q', 'origin', 'HEAD^{/fix bug}:refs/heads/x2']);
  assert.equal(pushed.code, 0, pushed.out);
  assert.equal(git(bare, ['rev-parse', 'x2']).trim(), c1);
  const clone = join(tempDir(), 'clone');
  git(tempDir(), ['clone', '-q', '-b', 'x2', bare, clone]);
  await dvOk(clone, ['remote', 'add', 'origin', store, '--local', '--default']);
  await dvOk(clone, ['pull']);
  assert.equal(await read(join(clone, 'data', 'v.txt')), 'fix bug\n');
});

test('pre-push: thousands of pushed refs go to git on stdin, not its command line (no E2BIG)', async () => {
  const { repo, bare, store } = await pushable(true);
  const c1 = await commitData(repo, 'v1\n');
  const c2 = await commitData(repo, 'v2\n');
  // 3000 tags on 3000 distinct commits (with c2's tree, plus c1 itself), made by one fast-import.
  const n = 3000;
  let stream = '';
  for (let k = 0; k < n; k++)
    stream += `commit refs/heads/many\nmark :${k + 1}\ncommitter t <t@t> ${1e9 + k} +0000\ndata 2\nc${k % 10}\n${k === 0 ? `from ${c2}\n` : ''}\nreset refs/tags/t${k}\nfrom :${k + 1}\n\n`;
  execFileSync('git', ['fast-import', '--quiet'], { cwd: repo, input: stream });
  execFileSync('git', ['update-ref', '--stdin'], { cwd: repo, input: `create refs/tags/first ${c1}\n` });
  const tags = execFileSync('git', ['for-each-ref', '--format=%(refname) %(objectname)', 'refs/tags'], { cwd: repo, encoding: 'utf8' })
    .trim()
    .split('\n');
  assert.equal(tags.length, n + 1);
  const lines =
    tags
      .map((t) => {
        const [r, c] = t.split(' ');
        return `${r} ${c} ${r} ${ZERO}`;
      })
      .join('\n') + '\n';

  // Count the arguments of every git process dv starts.
  const bin = tempDir();
  const realGit = execFileSync('sh', ['-c', 'command -v git'], { encoding: 'utf8' }).trim();
  await fsp.writeFile(join(bin, 'git'), `#!/bin/sh\necho "$1 $#" >> '${join(bin, 'log')}'\nexec '${realGit}' "$@"\n`, { mode: 0o755 });
  const r = spawnSync(process.execPath, [DV_BIN, 'push', '--pre-push', 'origin', '--json'], {
    cwd: repo,
    input: lines,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1', XDG_CONFIG_HOME: join(repo, '.xdg-test'), PATH: `${bin}:${process.env.PATH}` },
  });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).snapshots.length, 2);
  const calls = (await read(join(bin, 'log'))).trim().split('\n');
  for (const c of calls) assert.ok(Number(c.split(' ')[1]) < 30, `git ${c} arguments`);

  // And a real git push of all of them, through the hook.
  await dvOk(repo, ['install']);
  const pushed = gitRun(repo, ['push', '-q', 'origin', 'main', '--tags']);
  assert.equal(pushed.code, 0, pushed.out);
  const clone = await cloneOf(bare, store);
  assert.equal(await dataAt(clone, 't2999'), 'v2\n');
});
