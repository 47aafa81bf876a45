/**
 * The attacker's toolbox for test/security/attack-*.test.ts: a box per test (attacker's work
 * repository, attacker's remotes, the victim's clone, a fake HOME, sentinel files outside), the
 * victim's real dv CLI run under a watchdog (hard timeout, disk and memory ceilings: the child is
 * killed, never left hanging), and the checks every attack test makes: the command refused in one
 * clear line with a stable code (or did something harmless), and nothing outside changed.
 *
 * Invariants: every child process is started with a deadline and killed at it; servers listen on
 * 127.0.0.1 only; everything a test writes lives under its box (a temp dir removed at exit).
 */
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promises as fsp, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DV_BIN, tempDir } from '../helpers/cli.js';
import { ERROR_CODES } from '../../src/errors.js';

export interface Box {
  root: string;
  /** Fake HOME of the victim, with sentinel dotfiles. */
  home: string;
  /** A directory beside the repositories holding a secret and a sentinel. */
  outside: string;
  /** The secret's text (must never appear in anything dv writes or prints). */
  secret: string;
  env: Record<string, string>;
}

export const SECRET = 'TOP-SECRET-7f3a9c-do-not-leak';

/** Whether `text` shows any 8 consecutive characters of the secret (error messages quote a file's first bytes). */
export function leaksSecret(text: string): boolean {
  for (let i = 0; i + 8 <= SECRET.length; i++) if (text.includes(SECRET.slice(i, i + 8))) return true;
  return false;
}

/** A box: HOME with dotfiles, an outside dir with a secret, and the victim's git environment. */
export async function makeBox(prefix = 'dv-attack-'): Promise<Box> {
  const root = tempDir(prefix);
  const home = join(root, 'home');
  const outside = join(root, 'outside');
  await fsp.mkdir(join(home, '.ssh'), { recursive: true });
  await fsp.mkdir(join(home, '.config'), { recursive: true });
  await fsp.writeFile(join(home, '.bashrc'), '# victim bashrc\n');
  await fsp.writeFile(join(home, '.ssh', 'id_ed25519'), `-----BEGIN KEY-----\n${SECRET}\n-----END KEY-----\n`, { mode: 0o600 });
  const gitconfig = [
    '[user]',
    '\temail = victim@example.com',
    '\tname = Victim',
    '[commit]',
    '\tgpgsign = false',
    '[init]',
    '\tdefaultBranch = main',
  ];
  await fsp.writeFile(join(home, '.gitconfig'), gitconfig.join('\n') + '\n');
  await fsp.mkdir(outside);
  await fsp.writeFile(join(outside, 'secret.txt'), `${SECRET}\n`, { mode: 0o644 });
  await fsp.writeFile(join(outside, 'sentinel.txt'), 'untouched\n', { mode: 0o644 });
  const env: Record<string, string> = {
    HOME: home,
    XDG_CONFIG_HOME: join(home, '.config'),
    GIT_CONFIG_GLOBAL: join(home, '.gitconfig'),
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_TERMINAL_PROMPT: '0',
    NO_COLOR: '1',
    AWS_CONFIG_FILE: '/nonexistent/aws-config',
    AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/aws-credentials',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
  return { root, home, outside, secret: SECRET, env };
}

/** git with the box's environment (hermetic: the fake HOME's config only). */
export function gitIn(box: Box, cwd: string, args: string[], extraEnv: Record<string, string> = {}): string {
  return execFileSync('git', args, {
    cwd,
    encoding: 'utf8',
    env: cleanEnv({ ...box.env, ...extraEnv }),
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 60_000,
  });
}

/** git, returning its exit code and output instead of throwing. */
export async function gitRun(
  box: Box,
  cwd: string,
  args: string[],
  opts: { timeoutMs?: number; env?: Record<string, string> } = {},
): Promise<Outcome> {
  return watch('git', args, cwd, { ...box.env, ...(opts.env ?? {}) }, { timeoutMs: opts.timeoutMs ?? 60_000 });
}

/** process.env without the variables that would make a test depend on the machine. */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^(GIT_|AWS_|DV_|XDG_)/.test(k) && k !== 'HOME') env[k] = v;
  return { ...env, ...extra };
}

export interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
  /** Why the watchdog killed it, if it did. */
  killed?: 'timeout' | 'disk' | 'memory';
  peakRssBytes: number;
  peakDiskBytes: number;
}

export interface WatchOptions {
  /** Hard deadline; the process group is killed at it. */
  timeoutMs?: number;
  /** Directories whose allocated bytes must stay under `maxDiskBytes`. */
  diskDirs?: string[];
  maxDiskBytes?: number;
  /** Resident memory ceiling of the process. */
  maxRssBytes?: number;
  /** How much of stdout and stderr is kept (default 1 MiB each). */
  maxOutputBytes?: number;
}

/** Allocated bytes under `dir` (sparse files count what they really use); stops counting past `cap`. */
export async function allocatedBytes(dir: string, cap = Number.MAX_SAFE_INTEGER): Promise<number> {
  let n = 0;
  let entries = 0;
  const stack = [dir];
  while (stack.length > 0 && n <= cap && entries < 200_000) {
    const d = stack.pop()!;
    const list = await fsp.readdir(d, { withFileTypes: true }).catch(() => []);
    for (const e of list) {
      entries++;
      const p = join(d, e.name);
      const st = await fsp.lstat(p).catch(() => undefined);
      if (!st) continue;
      n += st.blocks * 512;
      if (st.isDirectory()) stack.push(p);
    }
  }
  // Two hundred thousand entries is itself an exhausted budget: count it as over any cap.
  return entries >= 200_000 ? Number.MAX_SAFE_INTEGER : n;
}

function rssOf(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** Runs a program in its own process group under the watchdog; never leaves it running. */
export function watch(program: string, args: string[], cwd: string, env: Record<string, string>, o: WatchOptions = {}): Promise<Outcome> {
  const timeoutMs = o.timeoutMs ?? 30_000;
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(program, args, { cwd, env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stdout = '';
    let stderr = '';
    let killed: Outcome['killed'];
    let peakRss = 0;
    let peakDisk = 0;
    let done = false;
    const cap = o.maxOutputBytes ?? 1 << 20;
    child.stdout.on('data', (d) => {
      if (stdout.length < cap) stdout += d;
    });
    child.stderr.on('data', (d) => {
      if (stderr.length < cap) stderr += d;
    });
    const kill = (why: NonNullable<Outcome['killed']>): void => {
      if (done || killed) return;
      killed = why;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        try {
          child.kill('SIGKILL');
        } catch {
          /* gone */
        }
      }
    };
    const timer = setTimeout(() => kill('timeout'), timeoutMs);
    const poll = async (): Promise<void> => {
      while (!done && !killed) {
        if (child.pid !== undefined) {
          const rss = rssOf(child.pid);
          peakRss = Math.max(peakRss, rss);
          if (o.maxRssBytes !== undefined && rss > o.maxRssBytes) {
            kill('memory');
            break;
          }
        }
        if (o.diskDirs && o.maxDiskBytes !== undefined) {
          let total = 0;
          for (const d of o.diskDirs) total += await allocatedBytes(d, o.maxDiskBytes + 1);
          peakDisk = Math.max(peakDisk, total);
          if (total > o.maxDiskBytes) {
            kill('disk');
            break;
          }
        }
        await new Promise((r) => setTimeout(r, 40));
      }
    };
    void poll();
    child.on('error', (e) => {
      done = true;
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      done = true;
      clearTimeout(timer);
      // Whatever the child started in its group (git, sh) goes with it.
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        /* group gone */
      }
      resolve({ code, signal, stdout, stderr, ms: performance.now() - started, killed, peakRssBytes: peakRss, peakDiskBytes: peakDisk });
    });
  });
}

/** The victim runs the real dv CLI in `cwd` with the box's environment, under the watchdog. */
export function victimDv(box: Box, cwd: string, args: string[], o: WatchOptions & { env?: Record<string, string> } = {}): Promise<Outcome> {
  return watch(process.execPath, [DV_BIN, ...args], cwd, { ...box.env, ...(o.env ?? {}) }, o);
}

/** Short text of an outcome for assertion messages. */
export function show(r: Outcome): string {
  const how = `exit ${r.code}${r.signal ? ` signal ${r.signal}` : ''}${r.killed ? ` KILLED(${r.killed})` : ''} after ${Math.round(r.ms)} ms`;
  return `${how}; stderr: ${JSON.stringify(r.stderr.slice(0, 600))}; stdout: ${JSON.stringify(r.stdout.slice(0, 200))}`;
}

/** The process ended by itself (not killed by the watchdog, no crash by signal). */
export function assertEnded(r: Outcome, what: string): void {
  assert.equal(r.killed, undefined, `${what}: the watchdog had to kill dv (${r.killed}): ${show(r)}`);
  assert.equal(r.signal, null, `${what}: dv died by a signal: ${show(r)}`);
}

/** A refusal: non-zero exit, exactly one stderr line `dv: error CODE: ...`, CODE among `codes` (any known code when empty). */
export function assertRefused(r: Outcome, codes: string[], what: string): void {
  assertEnded(r, what);
  assert.notEqual(r.code, 0, `${what}: must be refused, but dv succeeded: ${show(r)}`);
  const m = /^dv: error ([A-Z_]+): \S.*\n$/.exec(r.stderr);
  assert.ok(m, `${what}: expected one clear line "dv: error CODE: ..." on stderr: ${show(r)}`);
  assert.ok(Object.hasOwn(ERROR_CODES, m[1]), `${what}: ${m[1]} is not a documented error code`);
  if (codes.length > 0) assert.ok(codes.includes(m[1]), `${what}: expected ${codes.join(' or ')}, got ${m[1]}: ${show(r)}`);
  assert.equal(r.code, ERROR_CODES[m[1] as keyof typeof ERROR_CODES].exit, `${what}: exit code must be the one documented for ${m[1]}`);
}

/**
 * dv fsck's contract: exit 0, or FSCK_FAILED with one `CODE: ...` line per problem on stderr
 * (each a documented code), or a one-line refusal; and an end in any case.
 */
export function assertFsckEnd(r: Outcome, what: string): void {
  assertEnded(r, what);
  if (r.code === 0) return;
  if (r.code === ERROR_CODES.FSCK_FAILED.exit) {
    const lines = r.stderr.split('\n').filter(Boolean);
    assert.ok(lines.length > 0, `${what}: FSCK_FAILED names no problem: ${show(r)}`);
    for (const l of lines) {
      const m = /^([A-Z_]+): \S/.exec(l);
      assert.ok(
        m && Object.hasOwn(ERROR_CODES, m[1]),
        `${what}: problem line without a documented code: ${JSON.stringify(l.slice(0, 200))}`,
      );
    }
    return;
  }
  assertRefused(r, [], what);
}

/** Either success or a one-line refusal, but an end in any case. */
export function assertHarmlessEnd(r: Outcome, what: string): void {
  assertEnded(r, what);
  if (r.code === 0) return;
  assertRefused(r, [], what);
}

export interface Sentinels {
  /** Path → fingerprint for everything watched. */
  state: Record<string, string>;
}

/**
 * Fingerprints the box outside the victim's workspace (plus the workspace's .git/hooks and
 * .git/config): files by sha256 and mode, symlinks by target, directories by presence.
 * `skip` (box-relative prefixes) leaves out what the test lets dv change.
 */
export async function fingerprintBox(box: Box, victim: string | undefined, skip: string[] = []): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const rel = (p: string): string => p.slice(box.root.length + 1);
  const victimRel = victim ? rel(victim) : undefined;
  const stack = [box.root];
  let n = 0;
  while (stack.length > 0 && n < 100_000) {
    const d = stack.pop()!;
    for (const e of await fsp.readdir(d, { withFileTypes: true }).catch(() => [])) {
      n++;
      const p = join(d, e.name);
      const r = rel(p);
      if (skip.some((s) => r === s || r.startsWith(s + '/'))) continue;
      if (victimRel && (r === victimRel || r.startsWith(victimRel + '/'))) {
        const inner = r.slice(victimRel.length + 1);
        if (r === victimRel || inner === '.git') {
          if (e.isDirectory()) stack.push(p);
          continue;
        }
        if (!(inner === '.git/hooks' || inner.startsWith('.git/hooks/') || inner === '.git/config')) continue;
      }
      const st = await fsp.lstat(p).catch(() => undefined);
      if (!st) continue;
      if (st.isSymbolicLink()) out[r] = `link:${await fsp.readlink(p)}`;
      else if (st.isDirectory()) {
        out[r] = 'dir';
        stack.push(p);
      }
      // Huge (sparse) files planted by a test are fingerprinted by size and mtime, not read.
      else if (st.isFile() && st.size > 16 * 1024 * 1024) out[r] = `file:${(st.mode & 0o7777).toString(8)}:${st.size}:${st.mtimeMs}`;
      else if (st.isFile())
        out[r] = `file:${(st.mode & 0o7777).toString(8)}:${st.size}:${createHash('sha256')
          .update(await fsp.readFile(p))
          .digest('hex')}`;
      else out[r] = `special:${st.mode.toString(8)}`;
    }
  }
  return out;
}

/** Asserts nothing outside the victim's workspace changed (and no hook appeared). */
export async function assertOutsideUnchanged(
  box: Box,
  victim: string | undefined,
  before: Record<string, string>,
  what: string,
  skip: string[] = [],
): Promise<void> {
  const after = await fingerprintBox(box, victim, skip);
  const changed: string[] = [];
  for (const k of new Set([...Object.keys(before), ...Object.keys(after)])) {
    if (before[k] !== after[k]) changed.push(`${k}: ${before[k] ?? 'absent'} -> ${after[k] ?? 'absent'}`);
  }
  assert.deepEqual(changed, [], `${what}: files outside the workspace changed:\n  ${changed.slice(0, 12).join('\n  ')}`);
}

export async function exists(p: string): Promise<boolean> {
  return fsp.lstat(p).then(
    () => true,
    () => false,
  );
}

/** The files under .git/hooks that are not git's samples. */
export async function liveHooks(repo: string): Promise<string[]> {
  const names = await fsp.readdir(join(repo, '.git', 'hooks')).catch(() => [] as string[]);
  return names.filter((n) => !n.endsWith('.sample')).sort();
}

/** The attacker's repository: git init, dv init (its committed .dv/config), a first commit. */
export async function attackerRepo(box: Box, name = 'mallory'): Promise<string> {
  const dir = join(box.root, name);
  await fsp.mkdir(dir);
  gitIn(box, dir, ['init', '-q', '-b', 'main']);
  const r = await victimDv(box, dir, ['init', '-q'], { timeoutMs: 30_000 });
  assert.equal(r.code, 0, `dv init in the attacker's repository: ${show(r)}`);
  return dir;
}

/** Rewrites the attacker's committed .dv/config with `edit`. */
export async function editConfig(repo: string, edit: (c: Record<string, any>) => void, file = join('.dv', 'config')): Promise<void> {
  const p = join(repo, file);
  const c = JSON.parse(await fsp.readFile(p, 'utf8').catch(() => '{}')) as Record<string, any>;
  edit(c);
  await fsp.writeFile(p, JSON.stringify(c, null, 2) + '\n');
}

/** Commits everything in the attacker's repository (forced: ignored files too when `force`). */
export function commitAll(box: Box, repo: string, msg: string, force = false): void {
  gitIn(box, repo, ['add', '-A', ...(force ? ['-f'] : []), '.']);
  gitIn(box, repo, ['commit', '-q', '--allow-empty', '-m', msg]);
}

/** The victim clones the attacker's repository with real `git clone`. */
export function victimClone(box: Box, from: string, name = 'victim'): string {
  const dst = join(box.root, name);
  gitIn(box, box.root, ['clone', '-q', from, dst]);
  return dst;
}

/** A remote configured in the victim's own (trusted) .dv/config.local. */
export async function trustedRemote(victim: string, name: string, url: string, extra: Record<string, string> = {}): Promise<void> {
  await editConfig(
    victim,
    (c) => {
      c.remote = { ...(c.remote ?? {}), [name]: { url, ...extra } };
      c.core = { ...(c.core ?? {}), remote: name };
    },
    join('.dv', 'config.local'),
  );
}

/**
 * Collects every broken promise of one attack before failing, so a failing test says all that
 * the attack achieved (hook written AND code ran AND file outside changed), not only the first.
 */
export class Findings {
  private readonly found: string[] = [];
  constructor(private readonly what: string) {}
  /** Records `msg` unless `ok`. */
  check(ok: boolean, msg: string): void {
    if (!ok) this.found.push(msg);
  }
  /** Runs an assertion and records its failure instead of throwing. */
  async expect(fn: () => unknown): Promise<void> {
    try {
      await fn();
    } catch (e) {
      const m = (e as Error).message;
      this.found.push(
        m
          .slice(0, m.indexOf('\n+ actual') >= 0 ? m.indexOf('\n+ actual') : undefined)
          .split('\n')
          .slice(0, 10)
          .join('\n'),
      );
    }
  }
  done(): void {
    assert.equal(this.found.length, 0, `${this.what}: ${this.found.length} hole(s):\n- ${this.found.join('\n- ')}`);
  }
}

/** The victim's own fresh repository (git init, dv init) in the box. */
export async function victimRepo(box: Box, name = 'victim'): Promise<string> {
  const dir = join(box.root, name);
  await fsp.mkdir(dir);
  gitIn(box, dir, ['init', '-q', '-b', 'main']);
  const r = await victimDv(box, dir, ['init', '-q'], { timeoutMs: 30_000 });
  assert.equal(r.code, 0, `dv init in the victim's repository: ${show(r)}`);
  return dir;
}

/** A victim's repository whose trusted remote `origin` is the attacker's directory (`<box>/remote`). */
export interface DirScene {
  box: Box;
  remote: string;
  victim: string;
}

/** A fresh box, an empty remote directory in it, and the victim's repository trusting it as `origin`. */
export async function dirScene(prefix?: string): Promise<DirScene> {
  const box = await makeBox(prefix);
  const remote = join(box.root, 'remote');
  await fsp.mkdir(remote);
  const victim = await victimRepo(box);
  await trustedRemote(victim, 'origin', remote);
  return { box, remote, victim };
}
