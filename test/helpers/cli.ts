/** Helpers for driving the real `dv` binary in temporary git repositories. */
import { spawn, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promises as fsp, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchEnv, NODE_FLAGS } from '../../src/cli/launch-flags.js';

export const REPO_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const DV_BIN = join(REPO_DIR, 'bin', 'dv');

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `dv args...` as a separate process. */
export function dv(cwd: string, args: string[], env: Record<string, string> = {}): Promise<RunResult> {
  const base = { NO_COLOR: '1', XDG_CONFIG_HOME: join(cwd, '.xdg-test'), ...launchEnv({ ...process.env, ...env }) };
  return run(process.execPath, [...NODE_FLAGS, DV_BIN, ...args], cwd, { ...base, ...env });
}

/** Runs a program to its end, collecting its output (stdin closed). */
export function run(program: string, args: string[], cwd: string, env: Record<string, string> = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** Like `dv` but fails the test unless the exit code is 0; returns stdout. */
export async function dvOk(cwd: string, args: string[], env: Record<string, string> = {}): Promise<string> {
  const r = await dv(cwd, args, env);
  if (r.code !== 0) throw new Error(`dv ${args.join(' ')} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r.stdout;
}

export async function dvJson<T = any>(cwd: string, args: string[], env: Record<string, string> = {}): Promise<T> {
  return JSON.parse(await dvOk(cwd, [...args, '--json'], env)) as T;
}

const made: string[] = [];
// Temp dirs go when the test file's process ends (DV_KEEP_TEST_DIRS=1 keeps them to look into).
process.on('exit', () => {
  if (process.env.DV_KEEP_TEST_DIRS) return;
  for (const d of made) {
    try {
      rmSync(d, { recursive: true, force: true, maxRetries: 2 });
    } catch {
      /* read-only leftovers of permission tests */
    }
  }
});

export function tempDir(prefix = 'dv-test-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  made.push(d);
  return d;
}

/** A fresh git repository with an identity, and `dv init` run in it. */
export async function makeRepo(opts: { init?: boolean } = {}): Promise<string> {
  const dir = tempDir();
  execFileSync('git', ['init', '-q', '-b', 'main', dir]);
  execFileSync('git', ['-C', dir, 'config', 'user.email', 'test@example.com']);
  execFileSync('git', ['-C', dir, 'config', 'user.name', 'Test User']);
  execFileSync('git', ['-C', dir, 'config', 'commit.gpgsign', 'false']);
  if (opts.init !== false) await dvOk(dir, ['init']);
  return dir;
}

export function git(cwd: string, args: string[]): string {
  return execFileSync('git', args, { cwd, encoding: 'utf8' });
}

/** Pushes `repo`'s data to its default remote and commits all to git: what a teammate's clone then gets. */
export async function pushAndCommit(repo: string, message: string): Promise<void> {
  await dvOk(repo, ['push']);
  git(repo, ['add', '-A']);
  git(repo, ['commit', '-qm', message]);
}

/** A git clone of `repo` in a temp directory (its data not pulled). */
export function cloneOf(repo: string): string {
  const clone = join(tempDir(), 'clone');
  git(tempDir(), ['clone', '-q', repo, clone]);
  return clone;
}

export interface Manifest {
  [path: string]: string;
}

/**
 * Describes a directory tree exactly: for each path, its kind, exec bit and content hash
 * (files), or its target (symlinks). Two trees are byte-identical iff their manifests are equal.
 */
export async function describeTree(root: string): Promise<Manifest> {
  const out: Manifest = {};
  const walk = async (dir: string, rel: string): Promise<void> => {
    for (const d of await fsp.readdir(dir, { withFileTypes: true })) {
      const p = join(dir, d.name);
      const r = rel ? `${rel}/${d.name}` : d.name;
      const st = await fsp.lstat(p);
      if (st.isSymbolicLink()) out[r] = `link:${await fsp.readlink(p)}`;
      else if (st.isDirectory()) {
        out[r] = 'dir';
        await walk(p, r);
      } else
        out[r] = `file:${st.mode & 0o111 ? 'x' : '-'}:${createHash('sha256')
          .update(await fsp.readFile(p))
          .digest('hex')}`;
    }
  };
  await walk(root, '');
  return out;
}

/** Deterministic pseudo-random bytes (xorshift32), fast enough for tens of MB. */
export function prng(seed: number, size: number): Buffer {
  const b = Buffer.allocUnsafe(size + 3);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < size; i += 4) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    b.writeUInt32LE(s, i);
  }
  return b.subarray(0, size);
}

/** Total bytes of the object store (packs and indexes). */
export async function storeBytes(repo: string): Promise<number> {
  let n = 0;
  const walk = async (dir: string): Promise<void> => {
    for (const d of await fsp.readdir(dir, { withFileTypes: true }).catch(() => [])) {
      const p = join(dir, d.name);
      if (d.isDirectory()) await walk(p);
      else n += (await fsp.stat(p)).size;
    }
  };
  await walk(join(repo, '.dv', 'cache', 'packs'));
  return n;
}
