import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { DV_BIN, dv, dvOk, dvJson, makeRepo, git, tempDir } from '../helpers/cli.js';

const BEGIN = '# >>> dv hook';

/** git with the same isolated dv config as the dv helper, returning instead of throwing. */
function gitRun(cwd: string, args: string[], env: Record<string, string> = {}): { code: number; out: string } {
  const r = spawnSync('git', args, {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1', XDG_CONFIG_HOME: join(cwd, '.xdg-test'), ...env },
  });
  return { code: r.status ?? -1, out: r.stdout + r.stderr };
}

const read = (p: string): Promise<string> => fsp.readFile(p, 'utf8');
const exists = (p: string): Promise<boolean> =>
  fsp.stat(p).then(
    () => true,
    () => false,
  );

/** A repo whose data is "main" on branch main and "other" on branch other; main checked out. */
async function twoBranches(): Promise<string> {
  const repo = await makeRepo();
  await fsp.mkdir(join(repo, 'data'));
  await fsp.writeFile(join(repo, 'data', 'v.txt'), 'main\n');
  await dvOk(repo, ['add', 'data']);
  git(repo, ['add', '-A']);
  git(repo, ['commit', '-qm', 'main data']);
  git(repo, ['checkout', '-qb', 'other']);
  await fsp.writeFile(join(repo, 'data', 'v.txt'), 'other\n');
  await fsp.writeFile(join(repo, 'data', 'only-other.txt'), 'x');
  await dvOk(repo, ['commit', '-m', 'other data']);
  git(repo, ['commit', '-qam', 'other data']);
  git(repo, ['checkout', '-q', 'main']);
  // No hooks yet: the data is still the other branch's.
  assert.equal(await read(join(repo, 'data', 'v.txt')), 'other\n');
  await dvOk(repo, ['checkout']);
  return repo;
}

test('install keeps a custom post-checkout hook, is idempotent, follows branch switches; uninstall restores', async () => {
  const repo = await twoBranches();
  const hooks = join(repo, '.git', 'hooks');
  const custom = '#!/bin/bash\n# my own hook\necho "custom $3" >> "$(git rev-parse --git-dir)/custom.log"\nexit 0\n';
  await fsp.writeFile(join(hooks, 'post-checkout'), custom, { mode: 0o755 });

  const r1 = await dvJson(repo, ['install']);
  assert.deepEqual(
    r1.hooks.map((h: any) => [h.hook, h.action]),
    [
      ['post-checkout', 'added'],
      ['post-merge', 'created'],
      ['pre-push', 'created'],
      ['pre-commit', 'created'],
      ['post-rewrite', 'created'],
    ],
  );
  const after1 = await Promise.all(
    ['post-checkout', 'post-merge', 'pre-push', 'pre-commit', 'post-rewrite'].map((h) => read(join(hooks, h))),
  );
  const r2 = await dvJson(repo, ['install']);
  assert.deepEqual(
    r2.hooks.map((h: any) => h.action),
    ['unchanged', 'unchanged', 'unchanged', 'unchanged', 'unchanged'],
  );
  const after2 = await Promise.all(
    ['post-checkout', 'post-merge', 'pre-push', 'pre-commit', 'post-rewrite'].map((h) => read(join(hooks, h))),
  );
  assert.deepEqual(after2, after1);
  assert.equal(after2[0].split(BEGIN).length, 2, 'one dv block');
  assert.ok(after2[0].includes('echo "custom $3"'), 'custom hook kept');
  for (const h of ['post-merge', 'pre-push', 'pre-commit', 'post-rewrite'])
    assert.ok(((await fsp.stat(join(hooks, h))).mode & 0o111) !== 0, `${h} is executable`);

  const sw = gitRun(repo, ['checkout', 'other']);
  assert.equal(sw.code, 0, sw.out);
  assert.equal(await read(join(repo, 'data', 'v.txt')), 'other\n');
  assert.equal(await read(join(repo, 'data', 'only-other.txt')), 'x');
  assert.equal((await dvJson(repo, ['status'])).clean, true);
  assert.equal(gitRun(repo, ['checkout', 'main']).code, 0);
  assert.equal(await read(join(repo, 'data', 'v.txt')), 'main\n');
  assert.equal(await exists(join(repo, 'data', 'only-other.txt')), false);
  assert.equal(await read(join(repo, '.git', 'custom.log')), 'custom 1\ncustom 1\n');

  // A file checkout ($3 = 0) is not a branch switch: the data stays.
  assert.equal(gitRun(repo, ['checkout', 'other', '--', 'data.dv']).code, 0);
  assert.equal(await read(join(repo, 'data', 'v.txt')), 'main\n');
  git(repo, ['checkout', '-q', 'main', '--', 'data.dv']);

  const un = await dvJson(repo, ['install', '--uninstall']);
  assert.deepEqual(
    un.hooks.map((h: any) => h.action),
    ['removed', 'deleted', 'deleted', 'deleted', 'deleted'],
  );
  assert.equal(await read(join(hooks, 'post-checkout')), custom);
  assert.equal(await exists(join(hooks, 'pre-push')), false);
  assert.equal(await exists(join(hooks, 'pre-commit')), false);
  assert.equal(await exists(join(hooks, 'post-rewrite')), false);
  assert.deepEqual(
    (await dvJson(repo, ['install', '--uninstall'])).hooks.map((h: any) => h.action),
    ['absent', 'absent', 'absent', 'absent', 'absent'],
  );
  assert.equal(gitRun(repo, ['checkout', 'other']).code, 0);
  assert.equal(await read(join(repo, 'data', 'v.txt')), 'main\n', 'no hook after uninstall');
});

test('post-checkout never fails the git checkout: dv says why and the edit survives', async () => {
  const repo = await twoBranches();
  await dvOk(repo, ['install']);
  await fsp.writeFile(join(repo, 'data', 'v.txt'), 'my unsaved edit\n');
  const sw = gitRun(repo, ['checkout', 'other']);
  assert.equal(sw.code, 0, sw.out);
  assert.match(sw.out, /UNSAVED_CHANGES/);
  assert.match(
    sw.out,
    /dv hook: updating the data after the checkout failed \(see above\); git's checkout itself succeeded: fix the problem, then run `dv checkout`/,
  );
  assert.equal(await read(join(repo, 'data', 'v.txt')), 'my unsaved edit\n');
  assert.equal(git(repo, ['branch', '--show-current']).trim(), 'other');
});

test('post-merge: after git pull the data follows, fetched from the remote when this clone lacks it', async () => {
  const a = await makeRepo();
  await fsp.mkdir(join(a, 'data'));
  await fsp.writeFile(join(a, 'data', 'v.txt'), 'one\n');
  await dvOk(a, ['add', 'data']);
  await dvOk(a, ['remote', 'add', 'origin', join(tempDir(), 'store'), '--default']);
  git(a, ['add', '-A']);
  git(a, ['commit', '-qm', 'one']);
  await dvOk(a, ['push']);
  const b = join(tempDir(), 'clone');
  git(tempDir(), ['clone', '-q', a, b]);
  await dvOk(b, ['pull']);
  await dvOk(b, ['install']);

  await fsp.writeFile(join(a, 'data', 'v.txt'), 'two\n');
  await fsp.writeFile(join(a, 'data', 'new.txt'), 'new\n');
  await dvOk(a, ['commit', '-m', 'two']);
  git(a, ['commit', '-qam', 'two']);
  await dvOk(a, ['push']);

  const pulled = gitRun(b, ['pull', '-q', '--no-rebase']);
  assert.equal(pulled.code, 0, pulled.out);
  // The missing objects are fetched: one line says so, and no error is shown.
  assert.match(pulled.out, /^dv: fetching the data this merge needs \(dv pull\)$/m);
  assert.doesNotMatch(pulled.out, /error|OBJECT_MISSING/);
  assert.equal(await read(join(b, 'data', 'v.txt')), 'two\n', pulled.out);
  assert.equal(await read(join(b, 'data', 'new.txt')), 'new\n');
  assert.equal((await dvJson(b, ['status'])).clean, true);

  // A forgot to push: B's pull cannot find the data; dv says so and the merge still succeeds.
  await fsp.writeFile(join(a, 'data', 'v.txt'), 'three\n');
  await dvOk(a, ['commit', '-m', 'three']);
  git(a, ['commit', '-qam', 'three']);
  const failed = gitRun(b, ['pull', '-q', '--no-rebase']);
  assert.equal(failed.code, 0, failed.out);
  assert.match(failed.out, /OBJECT_MISSING/);
  assert.match(failed.out, /dv hook: updating the data after the merge failed/);
  assert.equal(await read(join(b, 'data', 'v.txt')), 'two\n');
});

test('post-checkout: a branch whose data this clone never fetched comes from the remote, without an error', async () => {
  const a = await twoBranches();
  const store = join(tempDir(), 'store');
  await dvOk(a, ['remote', 'add', 'origin', store, '--local', '--default']);
  await dvOk(a, ['push', '--rev', '--branches']);
  const b = join(tempDir(), 'clone');
  git(tempDir(), ['clone', '-q', a, b]);
  await dvOk(b, ['remote', 'add', 'origin', store, '--local', '--default']);
  await dvOk(b, ['pull']);
  await dvOk(b, ['install']);

  const sw = gitRun(b, ['checkout', 'other']);
  assert.equal(sw.code, 0, sw.out);
  assert.match(sw.out, /^dv: fetching the data this checkout needs \(dv pull\)$/m);
  assert.doesNotMatch(sw.out, /error|OBJECT_MISSING/);
  assert.equal(await read(join(b, 'data', 'v.txt')), 'other\n');
  assert.equal(await read(join(b, 'data', 'only-other.txt')), 'x');
  assert.equal((await dvJson(b, ['status'])).clean, true);
  const back = gitRun(b, ['checkout', 'main']);
  assert.equal(back.code, 0, back.out);
  assert.doesNotMatch(back.out, /fetching/, 'the data is here: no pull');
  assert.equal(await read(join(b, 'data', 'v.txt')), 'main\n');

  // Data no remote has: git's checkout succeeds, dv says why, the workspace keeps the old data.
  git(a, ['checkout', '-qb', 'third']);
  await fsp.writeFile(join(a, 'data', 'v.txt'), 'third\n');
  await dvOk(a, ['commit', '-m', 'third']);
  git(a, ['commit', '-qam', 'third']);
  git(b, ['fetch', '-q']);
  const failed = gitRun(b, ['checkout', 'third']);
  assert.equal(failed.code, 0, failed.out);
  assert.match(
    failed.out,
    /dv hook: updating the data after the checkout failed \(see above\); git's checkout itself succeeded: fix the problem, then run `dv pull`/,
  );
  assert.equal(await read(join(b, 'data', 'v.txt')), 'main\n');
  assert.equal(git(b, ['branch', '--show-current']).trim(), 'third');
});

/** dv's blocks as an older dv (before pre-push read git's lines and post-checkout pulled) wrote them. */
function oldBlock(hook: 'pre-push' | 'post-checkout'): string {
  const q = (s: string): string => `'${s}'`;
  const run = `dv_hook_run() {
  if [ -x ${q(process.execPath)} ] && [ -f ${q(DV_BIN)} ]; then ${q(process.execPath)} ${q(DV_BIN)} "$@"
  elif command -v dv >/dev/null 2>&1; then dv "$@"
  else echo "dv hook: dv is not installed at ${DV_BIN} nor on PATH: run \\\`dv install\\\` again" >&2; return 127
  fi
}`;
  const body =
    hook === 'pre-push'
      ? `dv_hook_run push </dev/null && dv_hook_status=0 || dv_hook_status=$?
# 10: no dv repository in this checkout, so nothing to push.
if [ "$dv_hook_status" -ne 0 ] && [ "$dv_hook_status" -ne 10 ]; then
  echo "dv hook: \\\`dv push\\\` failed (see above), so the git push stops here: fix it and push again (\\\`git push --no-verify\\\` skips the data)" >&2
  exit 1
fi
unset dv_hook_status`
      : `# Only a branch switch ($3 = 1) moves pointer files; a failure must not fail the checkout.
if [ "$3" = 1 ]; then
  dv_hook_run checkout </dev/null || echo "dv hook: \\\`dv checkout\\\` failed (see above); git's checkout itself succeeded: fix the problem, then run \\\`dv checkout\\\`" >&2
fi`;
  return `# >>> dv hook: added by \`dv install\`; \`dv install --uninstall\` removes it >>>\n${run}\n${body}\nunset -f dv_hook_run\n# <<< dv hook <<<\n`;
}

test('hooks of an older dv keep working, and dv install upgrades them in place', async () => {
  const repo = await twoBranches();
  const hooks = join(repo, '.git', 'hooks');
  const bare = join(tempDir(), 'code.git');
  git(tempDir(), ['init', '-q', '-b', 'main', '--bare', bare]);
  git(repo, ['remote', 'add', 'origin', bare]);
  await dvOk(repo, ['remote', 'add', 'origin', join(tempDir(), 'store'), '--local', '--default']);
  const mine = (block: string): string => `#!/bin/sh\n# my hook, first\n${block}echo "my hook, last" >&2\n`;
  await fsp.writeFile(join(hooks, 'pre-push'), mine(oldBlock('pre-push')), { mode: 0o755 });
  await fsp.writeFile(join(hooks, 'post-checkout'), mine(oldBlock('post-checkout')), { mode: 0o755 });

  // The old hooks with this dv: a push sends the work tree's data, a switch checks it out.
  const pushed = gitRun(repo, ['push', '-q', 'origin', 'main']);
  assert.equal(pushed.code, 0, pushed.out);
  assert.equal((await dvJson(repo, ['status', '--remote'])).upToDate, true);
  assert.equal(gitRun(repo, ['checkout', 'other']).code, 0);
  assert.equal(await read(join(repo, 'data', 'v.txt')), 'other\n');

  const r = await dvJson(repo, ['install']);
  assert.deepEqual(
    r.hooks.map((h: any) => [h.hook, h.action]),
    [
      ['post-checkout', 'updated'],
      ['post-merge', 'created'],
      ['pre-push', 'updated'],
      ['pre-commit', 'created'],
      ['post-rewrite', 'created'],
    ],
  );
  for (const h of ['pre-push', 'post-checkout']) {
    const text = await read(join(hooks, h));
    assert.ok(text.startsWith(`#!/bin/sh\n# my hook, first\n${BEGIN}`), `${h}: the block is where the old one was`);
    assert.ok(text.endsWith('# <<< dv hook <<<\necho "my hook, last" >&2\n'), h);
    assert.equal(text.split(BEGIN).length, 2, `${h}: one dv block`);
  }
  assert.match(await read(join(hooks, 'pre-push')), /push --pre-push "\$1"/);
  assert.deepEqual(
    (await dvJson(repo, ['install'])).hooks.map((h: any) => h.action),
    ['unchanged', 'unchanged', 'unchanged', 'unchanged', 'unchanged'],
  );
  const sw = gitRun(repo, ['checkout', 'main']);
  assert.equal(sw.code, 0, sw.out);
  assert.equal(await read(join(repo, 'data', 'v.txt')), 'main\n');
  const again = gitRun(repo, ['push', '-q', 'origin', 'other']);
  assert.equal(again.code, 0, again.out);
  assert.match(again.out, /my hook, last/);
});

test('pre-commit warns about unrecorded data changes but lets the commit through', async () => {
  const repo = await twoBranches();
  await dvOk(repo, ['install']);
  await fsp.writeFile(join(repo, 'code.py'), 'print(1)\n');
  git(repo, ['add', 'code.py']);
  const clean = gitRun(repo, ['commit', '-qm', 'code']);
  assert.equal(clean.code, 0, clean.out);
  assert.doesNotMatch(clean.out, /warning/);

  await fsp.writeFile(join(repo, 'data', 'v.txt'), 'edited\n');
  await fsp.writeFile(join(repo, 'code.py'), 'print(2)\n');
  const dirty = gitRun(repo, ['commit', '-qam', 'more code']);
  assert.equal(dirty.code, 0, dirty.out);
  assert.match(dirty.out, /dv hook: warning: tracked data has changes/);
  assert.match(dirty.out, /modified: data\/v\.txt/);
  assert.match(git(repo, ['log', '-1', '--format=%s']), /more code/);
});

test('a hook that is not a shell script is refused with what to add, and nothing is written', async () => {
  const repo = await makeRepo();
  const hooks = join(repo, '.git', 'hooks');
  const py = '#!/usr/bin/env python3\nprint("hi")\n';
  await fsp.writeFile(join(hooks, 'pre-push'), py, { mode: 0o755 });
  const r = await dv(repo, ['install']);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /pre-push is a python3 program, not a shell script/);
  assert.match(
    r.stderr,
    /push --pre-push REMOTE \(the hook's first argument\) with the hook's stdin \(the lines git gives it\), and exit 1 when it fails/,
  );
  assert.equal(await read(join(hooks, 'pre-push')), py);
  assert.equal(await exists(join(hooks, 'post-checkout')), false);

  // Once it calls dv itself, install accepts it as it is and installs the others.
  const handled = `${py}import subprocess, sys\nsys.exit(subprocess.call(['dv', 'push']))\n`;
  await fsp.writeFile(join(hooks, 'pre-push'), handled);
  const again = await dvJson(repo, ['install']);
  assert.deepEqual(
    again.hooks.map((h: any) => h.action),
    ['created', 'created', 'kept', 'created', 'created'],
  );
  assert.equal(await read(join(hooks, 'pre-push')), handled);
});

test('core.hooksPath is respected; hooks fall back to dv on PATH when the recorded dv is gone', async () => {
  const repo = await twoBranches();
  git(repo, ['config', 'core.hooksPath', '.githooks']);
  const r = await dvJson(repo, ['install']);
  assert.equal(r.hooksDir, join(repo, '.githooks'));
  assert.equal(await exists(join(repo, '.githooks', 'post-checkout')), true);
  assert.equal(await exists(join(repo, '.git', 'hooks', 'post-checkout')), false);
  assert.equal(gitRun(repo, ['checkout', 'other']).code, 0);
  assert.equal(await read(join(repo, 'data', 'v.txt')), 'other\n');

  const hook = join(repo, '.githooks', 'post-checkout');
  const text = await read(hook);
  const moved = join(repo, '.githooks', 'post-checkout-moved');
  await fsp.writeFile(moved, text.replaceAll("/bin/dv'", "/bin/dv-gone'"), { mode: 0o755 });
  const bin = tempDir();
  await fsp.writeFile(join(bin, 'dv'), `#!/bin/sh\necho "path-dv $*" > "${join(bin, 'called')}"\n`, { mode: 0o755 });
  const run = spawnSync('sh', [moved, 'a', 'b', '1'], {
    cwd: repo,
    encoding: 'utf8',
    env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
  });
  assert.equal(run.status, 0, run.stderr);
  assert.equal(await read(join(bin, 'called')), 'path-dv checkout\n');
});

test('a branch switch or merge checks out only the paths whose pointer files changed: data edits elsewhere survive', async () => {
  const repo = await makeRepo();
  await fsp.mkdir(join(repo, 'data'));
  for (const f of ['a', 'b', 'c']) await fsp.writeFile(join(repo, 'data', f), `${f}\n`);
  await fsp.mkdir(join(repo, 'other'));
  await fsp.writeFile(join(repo, 'other', 'v.txt'), 'one\n');
  await dvOk(repo, ['add', 'data']);
  await dvOk(repo, ['add', 'other']);
  git(repo, ['add', '-A']);
  git(repo, ['commit', '-qm', 'data']);
  await dvOk(repo, ['install']);

  // A switch that changes no pointer file keeps the edits, as git keeps its own local changes.
  await fsp.rm(join(repo, 'data', 'c'));
  await fsp.copyFile(join(repo, 'data', 'b'), join(repo, 'data', 'a'));
  const sw = gitRun(repo, ['checkout', '-b', 'prune']);
  assert.equal(sw.code, 0, sw.out);
  assert.equal(await read(join(repo, 'data', 'a')), 'b\n');
  assert.equal(await exists(join(repo, 'data', 'c')), false);

  // A branch changing only other/: other/ follows, data/ keeps its edits (both ways).
  git(repo, ['checkout', '-qb', 'two', 'main']);
  await fsp.writeFile(join(repo, 'other', 'v.txt'), 'two\n');
  await dvOk(repo, ['commit', 'other']);
  git(repo, ['commit', '-qam', 'two']);
  const back = gitRun(repo, ['checkout', 'main']);
  assert.equal(back.code, 0, back.out);
  assert.equal(await read(join(repo, 'other', 'v.txt')), 'one\n');
  assert.equal(await read(join(repo, 'data', 'a')), 'b\n');
  assert.equal(await exists(join(repo, 'data', 'c')), false);
  const merged = gitRun(repo, ['merge', '-q', 'two']);
  assert.equal(merged.code, 0, merged.out);
  assert.equal(await read(join(repo, 'other', 'v.txt')), 'two\n');
  assert.equal(await read(join(repo, 'data', 'a')), 'b\n');
  assert.equal(await exists(join(repo, 'data', 'c')), false);
});

test('git pull --rebase replaying a local data commit leaves the local data (post-rewrite), and a fast-forward rebase brings upstream data', async () => {
  const a = await makeRepo();
  await fsp.mkdir(join(a, 'data'));
  await fsp.writeFile(join(a, 'data', 'v.txt'), 'one\n');
  await fsp.mkdir(join(a, 'up'));
  await fsp.writeFile(join(a, 'up', 'v.txt'), 'one\n');
  await dvOk(a, ['add', 'data']);
  await dvOk(a, ['add', 'up']);
  const store = join(tempDir(), 'store');
  await dvOk(a, ['remote', 'add', 'origin', store, '--local', '--default']);
  git(a, ['add', '-A']);
  git(a, ['commit', '-qm', 'one']);
  await dvOk(a, ['push']);
  const b = join(tempDir(), 'clone');
  git(tempDir(), ['clone', '-q', a, b]);
  await dvOk(b, ['remote', 'add', 'origin', store, '--local', '--default']);
  await dvOk(b, ['pull']);
  await dvOk(b, ['install']);

  // Upstream changes up/; B changes data/ in a local commit; then B pulls with rebase.
  await fsp.writeFile(join(a, 'up', 'v.txt'), 'upstream\n');
  await dvOk(a, ['commit', 'up']);
  git(a, ['commit', '-qam', 'upstream']);
  await dvOk(a, ['push']);
  await fsp.writeFile(join(b, 'data', 'v.txt'), 'local\n');
  await dvOk(b, ['commit', 'data']);
  git(b, ['commit', '-qam', 'local']);
  const pulled = gitRun(b, ['pull', '-q', '--rebase']);
  assert.equal(pulled.code, 0, pulled.out);
  assert.equal(git(b, ['log', '-1', '--format=%s']).trim(), 'local');
  assert.equal(await read(join(b, 'data', 'v.txt')), 'local\n', pulled.out);
  assert.equal(await read(join(b, 'up', 'v.txt')), 'upstream\n', pulled.out);
  assert.equal((await dvJson(b, ['status'])).clean, true);

  // A rebase that only fast-forwards has no post-rewrite: post-checkout brings the data.
  await fsp.writeFile(join(a, 'up', 'v.txt'), 'later\n');
  await dvOk(a, ['commit', 'up']);
  git(a, ['commit', '-qam', 'later']);
  await dvOk(a, ['push']);
  git(b, ['reset', '-q', '--hard', 'origin/main']);
  await dvOk(b, ['checkout', '--force']);
  git(b, ['fetch', '-q']);
  const ff = gitRun(b, ['rebase', 'origin/main']);
  assert.equal(ff.code, 0, ff.out);
  assert.equal(await read(join(b, 'up', 'v.txt')), 'later\n', ff.out);
});

test('a hook the user switched off (no x bit) stays off: dv install leaves it as it is and says so', async () => {
  const repo = await twoBranches();
  const file = join(repo, '.git', 'hooks', 'pre-commit');
  const text = '#!/bin/sh\necho "disabled check ran" >&2\nexit 1\n';
  await fsp.writeFile(file, text, { mode: 0o644 });
  await fsp.chmod(file, 0o644);
  const r = await dvJson(repo, ['install']);
  assert.equal(r.hooks.find((h: any) => h.hook === 'pre-commit').action, 'disabled');
  assert.equal(await fsp.readFile(file, 'utf8'), text);
  assert.equal((await fsp.stat(file)).mode & 0o777, 0o644, 'still not executable');
  assert.match(await dvOk(repo, ['install']), /pre-commit: not executable, so git skips it and dv leaves it as it is/);
  await fsp.writeFile(join(repo, 'code.py'), 'print(1)\n');
  git(repo, ['add', 'code.py']);
  const c = gitRun(repo, ['commit', '-qm', 'code']);
  assert.equal(c.code, 0, c.out);
  assert.doesNotMatch(c.out, /disabled check ran/);
  // The other hooks were installed.
  assert.equal(r.hooks.find((h: any) => h.hook === 'post-checkout').action, 'created');
});
