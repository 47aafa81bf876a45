/**
 * Helpers for crash-safety tests: run the real `dv` and kill it after a chosen delay, spread
 * kill points over a measured run, copy repository templates, find leftover temp files.
 */
import { spawn, execFileSync } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { DV_BIN, tempDir } from './cli.js';

export interface KillOutcome {
  /** True when the signal arrived while dv was still running. */
  killed: boolean;
  code: number | null;
  signal: NodeJS.Signals | null;
  elapsedMs: number;
  stdout: string;
  stderr: string;
}

/** The environment the CLI helpers give dv, plus `env`. */
export function dvEnv(cwd: string, env: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { ...process.env, NO_COLOR: '1', XDG_CONFIG_HOME: join(cwd, '.xdg-test'), ...env };
}

/** Runs `dv args` in `cwd` and sends `signal` after `delayMs` unless it has exited by then. */
export function runKilledAfter(
  cwd: string,
  args: string[],
  delayMs: number,
  env: Record<string, string> = {},
  signal: NodeJS.Signals = 'SIGKILL',
): Promise<KillOutcome> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, [DV_BIN, ...args], { cwd, env: dvEnv(cwd, env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let sent = false;
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      if (child.exitCode === null && child.signalCode === null) {
        sent = true;
        child.kill(signal);
      }
    }, delayMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, sig) => {
      clearTimeout(timer);
      resolve({
        killed: sent && (sig === signal || (signal === 'SIGINT' && code === 130)),
        code,
        signal: sig,
        elapsedMs: performance.now() - started,
        stdout,
        stderr,
      });
    });
  });
}

/**
 * Runs `dv args` in `cwd` and sends `signal` as soon as `ready(elapsedMs)` holds (polled every
 * `pollMs`), so the signal lands at a known stage of the run whatever the machine's load.
 */
export function runSignalledWhen(
  cwd: string,
  args: string[],
  ready: (elapsedMs: number) => Promise<boolean>,
  signal: NodeJS.Signals,
  env: Record<string, string> = {},
  pollMs = 10,
): Promise<KillOutcome & { signalledAtMs?: number }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, [DV_BIN, ...args], { cwd, env: dvEnv(cwd, env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let signalledAtMs: number | undefined;
    let done = false;
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const poll = async (): Promise<void> => {
      while (!done && signalledAtMs === undefined) {
        if (await ready(performance.now() - started).catch(() => false)) {
          if (done) break;
          signalledAtMs = performance.now() - started;
          child.kill(signal);
          break;
        }
        await new Promise((r) => setTimeout(r, pollMs));
      }
    };
    void poll();
    child.on('error', (e) => {
      done = true;
      reject(e);
    });
    child.on('close', (code, sig) => {
      done = true;
      const killed = signalledAtMs !== undefined && (sig === signal || (signal === 'SIGINT' && code === 130));
      resolve({ killed, code, signal: sig, elapsedMs: performance.now() - started, stdout, stderr, signalledAtMs });
    });
  });
}

/** Wall time of one uninterrupted `dv args` run, in ms; throws unless it exits 0. */
export async function timeRun(cwd: string, args: string[], env: Record<string, string> = {}): Promise<number> {
  const r = await runKilledAfter(cwd, args, 600_000, env);
  if (r.code !== 0) throw new Error(`dv ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.elapsedMs;
}

/** mulberry32: a small seeded PRNG giving floats in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `n` delays in [fromMs, toMs), one drawn at random (seeded) from each of n equal slices. */
export function spreadDelays(seed: number, n: number, fromMs: number, toMs: number): number[] {
  const rnd = seededRandom(seed);
  const step = (toMs - fromMs) / n;
  return Array.from({ length: n }, (_, i) => Math.round(fromMs + step * (i + rnd())));
}

/** A fresh copy of `src` (cp -a: modes, symlinks and times kept). */
export function copyTree(src: string, prefix = 'dv-kill-'): string {
  const dst = tempDir(prefix);
  execFileSync('cp', ['-a', `${src}/.`, dst]);
  return dst;
}

/** Temp files dv writes beside a target (`.<name>.<pid>.<time>.<n>.tmp`) or in temp dirs. */
export const TEMP_NAME = /(^|\/)\.[^/]+\.\d+\.[0-9a-z]+\.[0-9a-z]+\.tmp$|(^|\/)w?pack-\d+-[^/]*\.tmp$|\.dvtmp$|~\d+-[0-9a-f]+\.tmp$/;

/** Paths (relative to `dir`) of files under `dir` that look like dv temp files. */
export async function tempFilesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const d of await fsp.readdir(dir, { recursive: true, withFileTypes: true }).catch(() => [])) {
    const rel = join(d.parentPath ?? (d as unknown as { path: string }).path, d.name).slice(dir.length + 1);
    if (TEMP_NAME.test(rel)) out.push(rel);
  }
  return out.sort();
}

export async function exists(p: string): Promise<boolean> {
  return fsp.lstat(p).then(
    () => true,
    () => false,
  );
}

/** Median wall time of `dv --version`: how long the CLI takes to start before doing any work. */
export async function startupMs(cwd: string, runs = 3): Promise<number> {
  const t: number[] = [];
  for (let i = 0; i < runs; i++) t.push(await timeRun(cwd, ['--version']));
  return t.sort((a, b) => a - b)[Math.floor(runs / 2)];
}

/** Bytes of the packs (and their indexes) that have an index: what a reader of the store sees. */
export async function indexedStoreBytes(repo: string): Promise<number> {
  const packs = join(repo, '.dv', 'cache', 'packs');
  let n = 0;
  for (const fan of await fsp.readdir(packs).catch(() => [] as string[])) {
    const names = await fsp.readdir(join(packs, fan)).catch(() => [] as string[]);
    for (const f of names) {
      const id = f.replace(/\.(pack|idx)$/, '');
      if (names.includes(`${id}.idx`)) n += (await fsp.stat(join(packs, fan, f))).size;
    }
  }
  return n;
}

export interface KillSeries {
  name: string;
  /** A repository copied afresh for every run. */
  template: string;
  args: string[];
  /** Kill points to spread over the run. */
  count: number;
  seed: number;
  env?: Record<string, string>;
  /** Before each run, on the fresh copy. */
  prepare?: (dir: string) => Promise<void>;
  /** After a kill: had the run got past opening the repository (or the remote)? */
  started: (dir: string) => Promise<boolean>;
  /** After each run (killed or not), on its copy: rerun, verify. */
  check: (dir: string, k: KillOutcome) => Promise<void>;
}

export interface KillSeriesResult {
  tried: number;
  /** Kills that landed while dv was running. */
  midRun: number;
  /** Of those, kills after the run had opened the repository (or reached the remote). */
  afterStart: number;
  fullMs: number;
  bootMs: number;
  delays: number[];
  summary: string;
}

/**
 * Measures the command (the faster of two uninterrupted runs, after a warm-up) and its start-up,
 * then kills `count` runs at seeded delays spread over [start-up, run time]. On a loaded machine
 * runs may end before their delay; then up to `count` more points are tried, spread below the
 * shortest run seen, so that at least half land mid-run.
 */
export async function runKillSeries(o: KillSeries): Promise<KillSeriesResult> {
  const durations: number[] = [];
  for (let i = 0; i < 3; i++) {
    const ref = copyTree(o.template);
    try {
      await o.prepare?.(ref);
      const ms = await timeRun(ref, o.args, o.env);
      if (i > 0) durations.push(ms);
    } finally {
      await fsp.rm(ref, { recursive: true, force: true });
    }
  }
  const fullMs = Math.min(...durations);
  const bootMs = await startupMs(o.template);
  const res: KillSeriesResult = { tried: 0, midRun: 0, afterStart: 0, fullMs, bootMs, delays: [], summary: '' };
  const one = async (delay: number): Promise<void> => {
    const dir = copyTree(o.template);
    try {
      await o.prepare?.(dir);
      const k = await runKilledAfter(dir, o.args, delay, o.env);
      res.tried++;
      res.delays.push(delay);
      if (k.killed) res.midRun++;
      else durations.push(k.elapsedMs);
      if (k.killed && (await o.started(dir))) res.afterStart++;
      if (!k.killed && k.code !== 0) throw new Error(`a run that was not killed failed (exit ${k.code}): ${k.stderr}`);
      await o.check(dir, k).catch((e: Error) => {
        e.message = `${o.name}, killed after ${delay} ms (${k.killed ? 'mid-run' : 'had exited'}): ${e.message}`;
        throw e;
      });
    } finally {
      await fsp.rm(dir, { recursive: true, force: true });
    }
  };
  for (const d of spreadDelays(o.seed, o.count, Math.round(bootMs * 0.8), Math.round(fullMs * 1.05))) await one(d);
  const extra =
    res.midRun < Math.ceil(o.count / 2)
      ? spreadDelays(o.seed + 1, o.count, Math.round(bootMs * 0.8), Math.round(Math.min(...durations) * 0.9))
      : [];
  for (const d of extra) {
    if (res.midRun >= Math.ceil(o.count / 2)) break;
    await one(d);
  }
  res.summary = `${o.name}: uninterrupted run ${Math.round(fullMs)} ms (start-up ${Math.round(bootMs)} ms); ${res.tried} kill points tried at ${Math.min(...res.delays)}..${Math.max(...res.delays)} ms, ${res.midRun} landed mid-run, ${res.afterStart} after the ${o.name === 'push' ? 'transfer had begun' : 'repository was opened'}`;
  return res;
}
