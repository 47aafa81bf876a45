/**
 * A hostile repository, received by a real `git clone`: what it commits (`.dv/config`, files under
 * `.dv`, pointer files, `.gitignore`, dv.yaml/dv.lock, symlinks) never redirects destruction or
 * data, and dv never follows a link (or opens a FIFO) for its own files. Each attack asserts the
 * refusal (its code, one line) and that the sentinels outside the clone (another repository's
 * store, a secret file, a FIFO, a directory remote) are byte-identical afterwards. Every dv run is
 * killed after a deadline, so a hang fails the test instead of stalling the suite.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { DV_BIN, dvOk, makeRepo, git, tempDir, type RunResult } from '../helpers/cli.js';
import { ERROR_CODES, type ErrorCode } from '../../src/errors.js';

const DEADLINE_MS = 20_000;
const T = { timeout: 90_000 };

/** Runs dv, killed (code -9) after the deadline: a hang is a failure, not a stuck suite. */
function dvT(cwd: string, args: string[], env: Record<string, string> = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [DV_BIN, ...args], {
      cwd,
      env: { ...process.env, NO_COLOR: '1', XDG_CONFIG_HOME: join(cwd, '.xdg-test'), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), DEADLINE_MS);
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -9, stdout, stderr });
    });
  });
}

/** Exit code of `code` and exactly one stderr line `dv: error CODE: ...` that names `names`. */
function refused(r: RunResult, code: ErrorCode, names: RegExp | string, what: string): void {
  assert.notEqual(r.code, -9, `${what}: dv hung (killed after ${DEADLINE_MS} ms)`);
  assert.equal(r.code, ERROR_CODES[code].exit, `${what}: exit ${r.code}, stderr: ${r.stderr}`);
  assert.match(r.stderr, new RegExp(`^dv: error ${code}: \\S.*\\n$`), `${what}: one clear line: ${JSON.stringify(r.stderr)}`);
  assert.ok(
    typeof names === 'string' ? r.stderr.includes(names) : names.test(r.stderr),
    `${what}: the message names ${names}: ${r.stderr}`,
  );
}

/** Every entry under `dir` (never following links, never opening a FIFO): kind and content hash. */
async function fingerprint(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (d: string, rel: string): Promise<void> => {
    for (const name of (await fsp.readdir(d)).sort()) {
      const p = join(d, name);
      const r = rel ? `${rel}/${name}` : name;
      const st = await fsp.lstat(p);
      if (st.isSymbolicLink()) out[r] = `link:${await fsp.readlink(p)}`;
      else if (st.isDirectory()) {
        out[r] = 'dir';
        await walk(p, r);
      } else if (st.isFIFO()) out[r] = 'fifo';
      else
        out[r] = `file:${st.mode.toString(8)}:${createHash('sha256')
          .update(await fsp.readFile(p))
          .digest('hex')}`;
    }
  };
  await walk(dir, '');
  return out;
}

interface Victim {
  /** Outside every clone: secret.txt, a FIFO, and another repository with its own store. */
  outside: string;
  secret: string;
  fifo: string;
  other: string;
  otherStore: string;
  /** The team's directory remote, with data pushed to it. */
  remote: string;
}

const SECRET = 'AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n';

async function victim(): Promise<Victim> {
  const outside = tempDir('dv-outside-');
  const secret = join(outside, 'secret.txt');
  await fsp.writeFile(secret, SECRET);
  const fifo = join(outside, 'fifo');
  execFileSync('mkfifo', [fifo]);
  const other = join(outside, 'other');
  await fsp.mkdir(other);
  execFileSync('git', ['init', '-q', '-b', 'main', other]);
  await dvOk(other, ['init']);
  await fsp.mkdir(join(other, 'precious'));
  await fsp.writeFile(join(other, 'precious', 'p.bin'), "the other repository's only copy\n".repeat(100));
  await dvOk(other, ['add', 'precious']);
  const remote = join(outside, 'team-remote');
  await dvOk(other, ['remote', 'add', 'team', remote, '--local']);
  await dvOk(other, ['push']);
  return { outside, secret, fifo, other, otherStore: join(other, '.dv', 'cache'), remote };
}

/** The upstream repository (the attacker's, or a colleague's that an attacker changed): data tracked and committed. */
async function upstream(): Promise<string> {
  const up = await makeRepo();
  await fsp.mkdir(join(up, 'data'));
  await fsp.writeFile(join(up, 'data', 'a.txt'), 'upstream data\n');
  await dvOk(up, ['add', 'data']);
  git(up, ['add', '-A']);
  git(up, ['commit', '-qm', 'data']);
  return up;
}

/** `upstream()` with its data pushed to `team`, the default remote `origin` of its committed config. */
async function upstreamWithRemote(team: string): Promise<string> {
  const up = await upstream();
  await dvOk(up, ['remote', 'add', 'origin', team, '--default']);
  await dvOk(up, ['push']);
  git(up, ['add', '-A']);
  git(up, ['commit', '-qm', 'remote']);
  return up;
}

/** Commits `files` (symlinks where the value starts with '->') into `up`, forced past .gitignore. */
async function commitHostile(up: string, files: Record<string, string>): Promise<void> {
  for (const [rel, v] of Object.entries(files)) {
    const p = join(up, rel);
    await fsp.rm(p, { recursive: true, force: true });
    await fsp.mkdir(join(p, '..'), { recursive: true });
    if (v.startsWith('->')) await fsp.symlink(v.slice(2), p);
    else await fsp.writeFile(p, v);
    git(up, ['add', '-f', rel]);
  }
  git(up, ['commit', '-qm', 'hostile']);
}

function cloneOf(up: string): string {
  const c = join(tempDir(), 'clone');
  git(tempDir(), ['clone', '-q', up, c]);
  git(c, ['config', 'user.email', 'victim@example.com']);
  git(c, ['config', 'user.name', 'Victim']);
  return c;
}

/** Asserts the victim's sentinels are as they were, and no file of the clone holds the secret. */
async function untouched(v: Victim, before: Record<string, string>, clone?: string, opts: { allowNew?: boolean } = {}): Promise<void> {
  const after = await fingerprint(v.outside);
  if (opts.allowNew) for (const k of Object.keys(after)) if (!(k in before)) delete after[k];
  assert.deepEqual(after, before, 'nothing outside the clone changed');
  if (!clone) return;
  for (const [rel, kind] of Object.entries(await fingerprint(clone))) {
    if (!kind.startsWith('file:') || rel.startsWith('.git/')) continue;
    assert.ok(!(await fsp.readFile(join(clone, rel), 'utf8')).includes('wJalrXUtnFEMI'), `the secret was copied into ${rel}`);
  }
}

describe('control files committed as links or special files', () => {
  test('.gitignore -> a secret: dv add refuses before reading or writing it; nothing copies the secret', T, async () => {
    const v = await victim();
    const up = await upstream();
    await commitHostile(up, { '.gitignore': `->${v.secret}` });
    const c = cloneOf(up);
    const before = await fingerprint(v.outside);
    await fsp.mkdir(join(c, 'new'));
    await fsp.writeFile(join(c, 'new', 'x.txt'), 'new data\n');
    refused(await dvT(c, ['add', 'new']), 'UNSAFE_PATH', '.gitignore', 'add');
    assert.equal(
      await fsp.stat(join(c, 'new.dv')).then(
        () => true,
        () => false,
      ),
      false,
      'no pointer file was written',
    );
    assert.ok((await fsp.lstat(join(c, '.gitignore'))).isSymbolicLink(), 'the link is left as it was');
    await untouched(v, before, c);
  });

  test('.gitignore -> a FIFO: dv add refuses at once (no hang)', T, async () => {
    const v = await victim();
    const up = await upstream();
    await commitHostile(up, { '.gitignore': `->${v.fifo}` });
    const c = cloneOf(up);
    const before = await fingerprint(v.outside);
    await fsp.mkdir(join(c, 'new'));
    await fsp.writeFile(join(c, 'new', 'x.txt'), 'new data\n');
    refused(await dvT(c, ['add', 'new']), 'UNSAFE_PATH', '.gitignore', 'add');
    await untouched(v, before, c);
  });

  test(
    'pointer file -> a secret, and -> a FIFO: status, checkout and commit refuse with BAD_POINTER naming it, fsck reports it',
    T,
    async () => {
      const v = await victim();
      for (const target of ['secret', 'fifo'] as const) {
        const up = await upstream();
        await commitHostile(up, { 'data.dv': `->${v[target]}` });
        const c = cloneOf(up);
        const before = await fingerprint(v.outside);
        for (const cmd of [['status'], ['checkout'], ['commit']])
          refused(await dvT(c, cmd), 'BAD_POINTER', 'data.dv', `${cmd[0]} (${target})`);
        const fsck = await dvT(c, ['fsck']);
        assert.equal(fsck.code, ERROR_CODES.FSCK_FAILED.exit, fsck.stderr);
        assert.match(fsck.stderr, /BAD_POINTER: data\.dv is a symbolic link/);
        await untouched(v, before, c);
      }
    },
  );

  test(
    ".dv/config and .dv/config.local -> a file outside, .dv itself -> another repository's .dv: every command refuses with BAD_CONFIG",
    T,
    async () => {
      const v = await victim();
      const cfg = join(v.outside, 'evil-config.json');
      await fsp.writeFile(cfg, JSON.stringify({ core: { format: '1' }, cache: { dir: v.otherStore } }));
      const cases: [Record<string, string>, string][] = [
        [{ '.dv/config': `->${cfg}` }, '.dv/config'],
        [{ '.dv/config': `->${v.fifo}` }, '.dv/config'],
        [{ '.dv/config.local': `->${v.fifo}` }, 'config.local'],
        [{ '.dv/config.local': `->${v.secret}` }, 'config.local'],
      ];
      for (const [files, names] of cases) {
        const up = await upstream();
        await commitHostile(up, files);
        const c = cloneOf(up);
        const before = await fingerprint(v.outside);
        for (const cmd of [['status'], ['gc'], ['config', '--list']])
          refused(await dvT(c, cmd), 'BAD_CONFIG', names, `${cmd[0]} with ${names}`);
        await untouched(v, before, c);
      }
      // `.dv` as a whole a link to the other repository's: its store is never collected from here.
      const up = await upstream();
      git(up, ['rm', '-rq', '--cached', '.dv']);
      await fsp.rm(join(up, '.dv'), { recursive: true });
      await commitHostile(up, { '.dv': `->${join(v.other, '.dv')}` });
      const c = cloneOf(up);
      const before = await fingerprint(v.outside);
      for (const cmd of [['gc'], ['status'], ['add', 'data']]) refused(await dvT(c, cmd), 'BAD_CONFIG', '.dv', `${cmd[0]} with .dv a link`);
      await untouched(v, before, c);
    },
  );

  test(
    'files under .dv committed as links (cache, snapshots.log, lock, index, a pack index -> /dev/zero, a run ref): refused before dv uses the repository',
    T,
    async () => {
      const v = await victim();
      const bashrc = join(v.outside, 'bashrc');
      await fsp.writeFile(bashrc, 'export PATH=/usr/bin\n');
      for (const [rel, target] of [
        ['.dv/cache', v.otherStore],
        ['.dv/snapshots.log', bashrc],
        ['.dv/lock', v.fifo],
        ['.dv/index', join(v.other, '.dv', 'index')],
        ['.dv/cache/packs', join(v.otherStore, 'packs')],
        [`.dv/cache/packs/ab/${'ab'.repeat(32)}.idx`, '/dev/zero'],
        ['.dv/index/CURRENT', v.fifo],
        [`.dv/cache/runs/${'cd'.repeat(32)}`, '/dev/zero'],
      ]) {
        const up = await upstream();
        await commitHostile(up, { [rel]: `->${target}` });
        const c = cloneOf(up);
        const before = await fingerprint(v.outside);
        await fsp.writeFile(join(c, 'data', 'a.txt'), 'changed\n').catch(() => undefined);
        for (const cmd of [['gc'], ['commit'], ['status']])
          refused(await dvT(c, cmd), 'BAD_CONFIG', rel.split('/').pop()!, `${cmd[0]} with ${rel} a link`);
        await untouched(v, before);
      }
    },
  );

  test(
    'the remote index cache (.dv/remotes/NAME) as a link, or holding a link to a FIFO: fetch and push refuse, nothing is written there',
    T,
    async () => {
      const v = await victim();
      const team = join(tempDir(), 'team-store');
      const elsewhere = join(v.outside, 'elsewhere');
      await fsp.mkdir(elsewhere);
      await fsp.writeFile(join(elsewhere, 'keep.txt'), 'keep\n');
      for (const [rel, target] of [
        ['.dv/remotes/origin', elsewhere],
        [`.dv/remotes/origin/${'ab'.repeat(32)}.idx`, v.fifo],
      ]) {
        const up = await upstream();
        await dvOk(up, ['remote', 'add', 'origin', team, '--default']);
        await dvOk(up, ['push']);
        await commitHostile(up, { '.dv/config': await fsp.readFile(join(up, '.dv', 'config'), 'utf8'), [rel]: `->${target}` });
        const c = cloneOf(up);
        const before = await fingerprint(v.outside);
        for (const cmd of [['fetch'], ['push'], ['pull']])
          refused(await dvT(c, cmd), 'BAD_CONFIG', rel.split('/').pop()!, `${cmd[0]} with ${rel} a link`);
        await untouched(v, before, c);
      }
    },
  );

  test(
    'a committed hooks directory (core.hooksPath) whose hook links to a file outside: dv install refuses and edits nothing',
    T,
    async () => {
      const v = await victim();
      const up = await upstream();
      await commitHostile(up, { '.githooks/pre-push': `->${v.secret}`, '.githooks/post-merge': `->${v.fifo}` });
      const c = cloneOf(up);
      git(c, ['config', 'core.hooksPath', '.githooks']);
      const before = await fingerprint(v.outside);
      refused(await dvT(c, ['install']), 'UNSAFE_PATH', '.githooks/post-merge', 'install');
      await untouched(v, before, c);
      assert.equal(
        await fsp.stat(join(c, '.githooks', 'pre-commit')).then(
          () => true,
          () => false,
        ),
        false,
        'no hook was written',
      );
    },
  );

  test('a params file and a metrics file that dv.yaml names -> a FIFO or /dev/zero: status never blocks on them', T, async () => {
    const v = await victim();
    const up = await upstream();
    const spec = 'stages:\n  train:\n    cmd: node train.mjs\n    params:\n      - params.yaml:lr\n    metrics:\n      - metrics.json\n';
    await commitHostile(up, { 'dv.yaml': spec, 'params.yaml': `->${v.fifo}`, 'metrics.json': '->/dev/zero' });
    const c = cloneOf(up);
    const before = await fingerprint(v.outside);
    refused(await dvT(c, ['status']), 'PIPELINE_INVALID', 'params.yaml', 'status with params.yaml -> a FIFO');
    await fsp.rm(join(c, 'params.yaml'));
    await fsp.writeFile(join(c, 'params.yaml'), 'lr: 0.1\n');
    const r = await dvT(c, ['status', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(
      JSON.parse(r.stdout).metrics,
      [{ stage: 'train', path: 'metrics.json', values: null }],
      'a metrics file that is a device reads as missing',
    );
    await untouched(v, before, c);
  });

  test('dv.yaml and dv.lock -> a secret or a FIFO: refused with PIPELINE_INVALID naming the file (no hang)', T, async () => {
    const v = await victim();
    for (const [rel, target] of [
      ['dv.yaml', v.fifo],
      ['dv.lock', v.secret],
      ['dv.lock', v.fifo],
    ]) {
      const up = await upstream();
      await commitHostile(up, { [rel]: `->${target}` });
      const c = cloneOf(up);
      const before = await fingerprint(v.outside);
      refused(await dvT(c, ['status']), 'PIPELINE_INVALID', rel, `status with ${rel} -> ${target}`);
      refused(await dvT(c, ['dag']), 'PIPELINE_INVALID', rel, `dag with ${rel} -> ${target}`);
      await untouched(v, before, c);
    }
  });
});

describe('committed config cannot redirect destruction', () => {
  test("cache.dir at another repository's store (absolute, or through an in-repo link): refused, its packs byte-identical", T, async () => {
    const v = await victim();
    for (const [value, link] of [
      [v.otherStore, undefined],
      ['../../../../../../../../..' + v.otherStore, undefined],
      ['vendor/cache', v.otherStore],
    ] as const) {
      const up = await upstream();
      const cfg = JSON.parse(await fsp.readFile(join(up, '.dv', 'config'), 'utf8'));
      cfg.cache = { dir: value };
      await commitHostile(up, { '.dv/config': JSON.stringify(cfg), ...(link ? { 'vendor/cache': `->${link}` } : {}) });
      const c = cloneOf(up);
      const before = await fingerprint(v.outside);
      for (const cmd of [['gc'], ['gc', '-w', '--keep-days', '0'], ['status']])
        refused(await dvT(c, cmd), 'BAD_CONFIG', 'cache.dir', `${cmd.join(' ')} with cache.dir ${value}`);
      await untouched(v, before);
      if (!link) assert.match((await dvT(c, ['gc'])).stderr, /dv config --local cache\.dir/, 'says how to set it for this clone');
    }
    // The other repository still has all its data.
    await fsp.rm(join(v.other, 'precious'), { recursive: true });
    await dvOk(v.other, ['checkout']);
    assert.equal(await fsp.readFile(join(v.other, 'precious', 'p.bin'), 'utf8'), "the other repository's only copy\n".repeat(100));
  });

  test("cache.dir inside the repository is honoured; one from trusted config outside is honoured and gets dv's marker", T, async () => {
    const up = await upstream();
    const cfg = JSON.parse(await fsp.readFile(join(up, '.dv', 'config'), 'utf8'));
    cfg.cache = { dir: 'local-cache' };
    await commitHostile(up, { '.dv/config': JSON.stringify(cfg), '.gitignore': '/data\n/local-cache/\n' });
    const c = cloneOf(up);
    await fsp.mkdir(join(c, 'more'));
    await fsp.writeFile(join(c, 'more', 'm.txt'), 'more\n');
    await dvOk(c, ['add', 'more']);
    assert.ok((await fsp.lstat(join(c, 'local-cache', 'dv-store'))).isFile(), 'the in-repo cache got the marker');
    await dvOk(c, ['gc']);
    const shared = join(tempDir(), 'shared-cache');
    await dvOk(c, ['config', '--local', 'cache.dir', shared]);
    await fsp.mkdir(join(c, 'more2'));
    await fsp.writeFile(join(c, 'more2', 'm.txt'), 'more2\n');
    await dvOk(c, ['add', 'more2']);
    await dvOk(c, ['gc']);
    assert.ok((await fsp.lstat(join(shared, 'dv-store'))).isFile());
    refused(await dvT(c, ['config', 'cache.dir', shared]), 'USAGE', '--local', 'a committed cache.dir outside the repository');
  });

  test('gc never deletes in a directory remote, even when trusted config points cache.dir at it', T, async () => {
    const v = await victim();
    const c = await makeRepo();
    await fsp.mkdir(join(c, 'd'));
    await fsp.writeFile(join(c, 'd', 'f.txt'), 'x\n');
    await dvOk(c, ['add', 'd']);
    const before = await fingerprint(v.outside);
    // Configured as a remote, and not: a directory remote is recognised by its layout too.
    await dvOk(c, ['config', '--local', 'cache.dir', v.remote]);
    await dvOk(c, ['remote', 'add', 'team', v.remote, '--local']);
    refused(await dvT(c, ['gc']), 'BAD_CONFIG', 'remote team', 'gc in a configured remote');
    await dvOk(c, ['remote', 'remove', 'team']);
    refused(await dvT(c, ['gc', '-w', '--keep-days', '0']), 'BAD_CONFIG', 'dv-store', 'gc in an unmarked remote-like directory');
    // Opening the store may add dv's own files (its registration); nothing that was there changed.
    await untouched(v, before, undefined, { allowNew: true });
  });

  test('a store made by an older dv (no marker) keeps working and gets the marker when dv writes to it', T, async () => {
    const c = await makeRepo();
    await fsp.mkdir(join(c, 'd'));
    await fsp.writeFile(join(c, 'd', 'f.txt'), 'x\n');
    await dvOk(c, ['add', 'd']);
    await fsp.rm(join(c, '.dv', 'cache', 'dv-store'));
    await dvOk(c, ['status']);
    await dvOk(c, ['gc']);
    assert.ok((await fsp.lstat(join(c, '.dv', 'cache', 'dv-store'))).isFile());
    await fsp.rm(join(c, 'd'), { recursive: true });
    await dvOk(c, ['checkout']);
    assert.equal(await fsp.readFile(join(c, 'd', 'f.txt'), 'utf8'), 'x\n');
  });
});

describe('a committed remote URL that changes is not used until the user confirms it', () => {
  test(
    "push, pre-push hook and pull refuse a changed URL (REMOTE_UNTRUSTED names both); the attacker's directory gets nothing",
    T,
    async () => {
      const v = await victim();
      const team = join(tempDir(), 'team-store');
      const evil = join(tempDir(), 'attacker-store');
      const up = await upstreamWithRemote(team);
      const bare = join(tempDir(), 'code.git');
      execFileSync('git', ['init', '-q', '--bare', '-b', 'main', bare]);
      git(up, ['push', '-q', bare, 'main']);

      const c = join(tempDir(), 'victim');
      git(tempDir(), ['clone', '-q', bare, c]);
      git(c, ['config', 'user.email', 'victim@example.com']);
      git(c, ['config', 'user.name', 'Victim']);
      await dvOk(c, ['pull']);
      await dvOk(c, ['install']);

      // The attacker's commit: same remote name, their directory.
      const cfg = JSON.parse(await fsp.readFile(join(up, '.dv', 'config'), 'utf8'));
      cfg.remote.origin.url = evil;
      await commitHostile(up, { '.dv/config': JSON.stringify(cfg, null, 2) });
      git(up, ['push', '-q', bare, 'main']);
      execFileSync('git', ['pull', '-q', '--no-rebase'], {
        cwd: c,
        env: { ...process.env, XDG_CONFIG_HOME: join(c, '.xdg-test') },
        stdio: 'pipe',
      });

      await fsp.writeFile(join(c, 'data', 'a.txt'), "the victim's new, private data\n");
      await dvOk(c, ['commit', '-m', 'private']);
      const before = await fingerprint(v.outside);
      for (const cmd of [['push'], ['pull'], ['fetch'], ['status', '--remote']]) {
        const r = await dvT(c, cmd);
        refused(r, 'REMOTE_UNTRUSTED', 'dv remote trust origin', cmd.join(' '));
        assert.ok(r.stderr.includes(team) && r.stderr.includes(evil), `names the old and the new URL: ${r.stderr}`);
      }
      // The pre-push hook stops the git push.
      git(c, ['add', '-A']);
      git(c, ['commit', '-qm', 'private data']);
      const push = await new Promise<{ code: number; out: string }>((resolve) => {
        const child = spawn('git', ['push', '-q', 'origin', 'main'], {
          cwd: c,
          env: { ...process.env, NO_COLOR: '1', XDG_CONFIG_HOME: join(c, '.xdg-test') },
        });
        let out = '';
        const timer = setTimeout(() => child.kill('SIGKILL'), DEADLINE_MS);
        child.stdout.on('data', (d) => (out += d));
        child.stderr.on('data', (d) => (out += d));
        child.on('close', (code) => {
          clearTimeout(timer);
          resolve({ code: code ?? -9, out });
        });
      });
      assert.notEqual(push.code, 0, `git push must stop: ${push.out}`);
      assert.match(push.out, /REMOTE_UNTRUSTED/);
      assert.equal(
        await fsp.stat(evil).then(
          () => true,
          () => false,
        ),
        false,
        "nothing was written to the attacker's directory",
      );
      await untouched(v, before);

      // The user confirms (as after a legitimate move of the team's store): then it is used.
      assert.match(await dvOk(c, ['remote', 'trust', 'origin']), /trusted remote origin -> .*attacker-store/);
      await dvOk(c, ['push']);
      assert.ok(
        await fsp.stat(join(evil, 'packs')).then(
          () => true,
          () => false,
        ),
      );
    },
  );

  test(
    'a commit that adds a remote and makes it the default: pull and push refuse it (by default and by name) until trusted; the remote trusted on first use still works',
    T,
    async () => {
      const team = join(tempDir(), 'team-store');
      const evil = join(tempDir(), 'attacker-store');
      const up = await upstreamWithRemote(team);
      const c = cloneOf(up);
      await dvOk(c, ['pull']);
      const cfg = JSON.parse(await fsp.readFile(join(up, '.dv', 'config'), 'utf8'));
      cfg.remote.evil = { url: evil };
      cfg.core.remote = 'evil';
      await commitHostile(up, { '.dv/config': JSON.stringify(cfg, null, 2) });
      git(c, ['pull', '-q', '--no-rebase']);
      await fsp.writeFile(join(c, 'data', 'a.txt'), 'private\n');
      await dvOk(c, ['commit']);
      for (const cmd of [['pull'], ['push'], ['push', '-r', 'evil']]) {
        const r = await dvT(c, cmd);
        refused(r, 'REMOTE_UNTRUSTED', 'dv remote trust evil', cmd.join(' '));
        assert.ok(r.stderr.includes(evil), r.stderr);
      }
      assert.equal(
        await fsp.stat(evil).then(
          () => true,
          () => false,
        ),
        false,
        "nothing was written to the attacker's directory",
      );
      // The remote this clone trusted still works, by name.
      await dvOk(c, ['push', '-r', 'origin']);
    },
  );

  test('a URL the user sets in this clone is trusted; a local remote needs no record', T, async () => {
    const team = join(tempDir(), 'team-store');
    const moved = join(tempDir(), 'moved-store');
    const up = await upstreamWithRemote(team);
    const c = cloneOf(up);
    await dvOk(c, ['pull']);
    await dvOk(c, ['config', 'remote.origin.url', moved]);
    await dvOk(c, ['push']);
    assert.ok(
      await fsp.stat(join(moved, 'packs')).then(
        () => true,
        () => false,
      ),
    );
    await dvOk(c, ['remote', 'add', 'mine', join(tempDir(), 'mine'), '--local']);
    await dvOk(c, ['push', '-r', 'mine']);
  });
});

describe('pointer files whose tree was edited', () => {
  test(
    'tree: edited while snapshot: kept: pull, checkout and status refuse BAD_POINTER, fsck reports it, nothing is checked out',
    T,
    async () => {
      const team = join(tempDir(), 'team-store');
      const up = await makeRepo();
      for (const d of ['public', 'other']) {
        await fsp.mkdir(join(up, d));
        await fsp.writeFile(join(up, d, 'f.txt'), `${d} content\n`);
        await dvOk(up, ['add', d]);
      }
      await dvOk(up, ['remote', 'add', 'origin', team, '--default']);
      await dvOk(up, ['push']);
      git(up, ['add', '-A']);
      git(up, ['commit', '-qm', 'two datasets']);
      const otherTree = /^tree: (\S+)$/m.exec(await fsp.readFile(join(up, 'other.dv'), 'utf8'))![1];
      const edited = (await fsp.readFile(join(up, 'public.dv'), 'utf8')).replace(/^tree: \S+$/m, `tree: ${otherTree}`);
      await commitHostile(up, { 'public.dv': edited });

      const c = cloneOf(up);
      refused(await dvT(c, ['pull']), 'BAD_POINTER', 'public.dv', 'pull');
      refused(await dvT(c, ['checkout']), 'BAD_POINTER', 'public.dv', 'checkout');
      refused(await dvT(c, ['status']), 'BAD_POINTER', 'public.dv', 'status');
      assert.equal(
        await fsp.stat(join(c, 'public')).then(
          () => true,
          () => false,
        ),
        false,
        'the other data was not checked out as public',
      );
      const fsck = await dvT(c, ['fsck', '--json']);
      assert.equal(fsck.code, ERROR_CODES.FSCK_FAILED.exit, fsck.stderr);
      const problems = JSON.parse(fsck.stdout).problems as { code: string; message: string }[];
      assert.ok(
        problems.some((p) => p.code === 'BAD_POINTER' && p.message.includes('public.dv')),
        JSON.stringify(problems),
      );
      // The untouched pointer still works.
      await dvOk(c, ['checkout', 'other']);
      assert.equal(await fsp.readFile(join(c, 'other', 'f.txt'), 'utf8'), 'other content\n');
    },
  );
});
