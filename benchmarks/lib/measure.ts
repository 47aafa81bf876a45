// Running one command and measuring it: wall time (performance.now), peak RSS and CPU time of
// the child tree (GNU time), and how busy the machine was with *other* work meanwhile.
import { spawn, spawnSync } from 'node:child_process';
import {
  closeSync,
  existsSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

export interface Cmd {
  cmd: string;
  args: string[];
  cwd: string;
  env?: NodeJS.ProcessEnv;
}

export interface Measured {
  seconds: number;
  /** Peak resident set of the largest process in the child tree, bytes (null without GNU time). */
  rss: number | null;
  /** User + system CPU seconds of the child tree (null without GNU time): steadier than wall time on a busy machine. */
  cpu: number | null;
  /** Average number of cores busy with processes other than the measured one during the run. */
  otherCores: number | null;
  /** 1-minute load average when the run started. */
  load1: number;
  stdout: string;
  stderr: string;
}

/** The first lines of a failing command's output, on one line (where tools put the error). */
const tail = (out: string): string => out.trim().split('\n').slice(0, 3).join(' | ').slice(0, 300);

export class CommandFailed extends Error {
  constructor(
    readonly command: Cmd,
    readonly detail: string,
  ) {
    super(`\`${[command.cmd, ...command.args].join(' ')}\` failed: ${detail}`);
  }
}

export const GNU_TIME_PATH = '/usr/bin/time';
const GNU_TIME = GNU_TIME_PATH;
export const hasGnuTime = existsSync(GNU_TIME) && spawnSync(GNU_TIME, ['-f', '%M', 'true'], { encoding: 'utf8' }).status === 0;

/** True when `name` is an executable on PATH (or an absolute path that exists). */
export function which(name: string): boolean {
  if (name.startsWith('/')) return existsSync(name);
  return spawnSync('sh', ['-c', `command -v "$1" >/dev/null`, 'sh', name]).status === 0;
}

export function loadavg(): [number, number, number] {
  const [a, b, c] = readFileSync('/proc/loadavg', 'utf8').split(/\s+/).map(Number);
  return [a ?? 0, b ?? 0, c ?? 0];
}

const TICK = 100; // USER_HZ: /proc reports CPU time in 1/100 s on Linux

/** Seconds of CPU all cores spent busy (everything but idle and iowait) since boot. */
function busySeconds(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  return (total - (f[3] ?? 0) - (f[4] ?? 0)) / TICK;
}

/** CPU seconds of a process we started and still wait on (s3rver), from /proc/PID/stat. */
export function processSeconds(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / TICK;
  } catch {
    return 0;
  }
}

const selfSeconds = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

export interface RunOptions {
  timeoutSeconds: number;
  /** A helper process (the S3 server) whose CPU counts as part of the measured work. */
  helperPid?: number;
  scratch: string;
}

/** Runs `c` under GNU time and measures it; throws CommandFailed on a non-zero exit or timeout. */
export async function measure(c: Cmd, o: RunOptions): Promise<Measured> {
  const timeFile = join(o.scratch, `time-${process.pid}.txt`);
  rmSync(timeFile, { force: true });
  const [cmd, args] = hasGnuTime ? [GNU_TIME, ['-f', '%M %U %S', '-o', timeFile, c.cmd, ...c.args]] : [c.cmd, c.args];
  const load1 = loadavg()[0];
  const busy0 = busySeconds();
  const self0 = selfSeconds();
  const helper0 = processSeconds(o.helperPid);
  const t0 = performance.now();
  const child = spawn(cmd, args, { cwd: c.cwd, env: c.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    if (stdout.length < 1 << 20) stdout += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    if (stderr.length < 1 << 20) stderr += d.toString();
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, o.timeoutSeconds * 1000);
  const code = await new Promise<number | string>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (status, signal) => resolve(status ?? signal ?? 'unknown'));
  }).finally(() => clearTimeout(timer));
  const seconds = (performance.now() - t0) / 1000;
  const busy = busySeconds() - busy0;
  const mine = selfSeconds() - self0 + processSeconds(o.helperPid) - helper0;
  if (timedOut) throw new CommandFailed(c, `timed out after ${o.timeoutSeconds} s`);
  if (code !== 0) throw new CommandFailed(c, `exit ${code}: ${tail(stderr || stdout)}`);
  let rss: number | null = null;
  let otherCores: number | null = null;
  let cpu: number | null = null;
  if (hasGnuTime && existsSync(timeFile)) {
    // GNU time may prefix a "Command exited with non-zero status" line; the numbers are last.
    const last = readFileSync(timeFile, 'utf8').trim().split('\n').pop()!.split(/\s+/).map(Number);
    rss = (last[0] ?? 0) * 1024;
    const child = (last[1] ?? 0) + (last[2] ?? 0);
    cpu = child;
    otherCores = Math.max(0, (busy - mine - child) / seconds);
  }
  return { seconds, rss, cpu, otherCores, load1, stdout, stderr };
}

/** Runs a set-up command (not measured); throws CommandFailed when it fails. */
export function exec(c: Cmd): string {
  const r = spawnSync(c.cmd, c.args, { cwd: c.cwd, env: c.env ?? process.env, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.error) throw new CommandFailed(c, r.error.message);
  if (r.status !== 0) throw new CommandFailed(c, `exit ${r.status ?? r.signal}: ${tail(r.stderr || r.stdout)}`);
  return r.stdout;
}

/**
 * Visits every regular file under `path` (or `path` itself). Files that vanish meanwhile (a
 * tool's own background work) are skipped, not errors.
 */
function eachFile(path: string, visit: (p: string, size: number) => void): void {
  let st: ReturnType<typeof lstatSync>;
  try {
    st = lstatSync(path);
  } catch {
    return;
  }
  if (st.isDirectory()) {
    let names: string[] = [];
    try {
      names = readdirSync(path);
    } catch {
      return;
    }
    for (const n of names) eachFile(join(path, n), visit);
  } else if (st.isFile()) visit(path, st.size);
}

/** Files and bytes (apparent sizes) under `path`; 0/0 when it does not exist. */
export function tally(path: string): { files: number; bytes: number } {
  let files = 0;
  let bytes = 0;
  eachFile(path, (_, size) => {
    files++;
    bytes += size;
  });
  return { files, bytes };
}

const warmBuf = Buffer.alloc(1 << 20);

/** Reads every file under the paths once, so the page cache holds them (the "warm" state). */
export function warm(paths: string[]): void {
  for (const p of paths) {
    eachFile(p, (file) => {
      let fd: number;
      try {
        fd = openSync(file, 'r');
      } catch {
        return;
      }
      try {
        while (readSync(fd, warmBuf, 0, warmBuf.length, null) > 0);
      } finally {
        closeSync(fd);
      }
    });
  }
}

/**
 * Writes `bytes` into a file under `dir` and removes it: the pages it took are free again, and
 * the next command's new page-cache pages come from them. On a virtual machine whose balloon
 * driver hands free pages back to the host a few seconds after they are freed (free page
 * reporting: this machine's virtio_balloon), a page the guest has not touched since costs a
 * host fault the first time: writing 1 GiB into new files took 1.9-2.9 s of system time there
 * against 0.2 s with pages freed a moment before, so a tool run right after another freed its
 * output (rclone after dv's clone was removed) wrote at several times the speed of the one
 * before it. Every timed run of the transfer rows starts from this same state.
 */
export function warmMemory(dir: string, bytes: number): void {
  const file = join(dir, `warm-memory-${process.pid}.tmp`);
  const block = Buffer.alloc(8 << 20, 1);
  const fd = openSync(file, 'w');
  try {
    for (let done = 0; done < bytes; done += block.length) writeSync(fd, block);
  } finally {
    closeSync(fd);
    rmSync(file, { force: true });
  }
}

/**
 * Milliseconds to create and remove `n` empty files: how fast the file system takes new files
 * right now. On a shared machine this swings by 10× or more and drives every many-small
 * checkout, pull and copy, so the report shows it.
 */
export function createProbe(dir: string, n = 2000): number {
  mkdirSync(dir, { recursive: true });
  const t0 = performance.now();
  for (let i = 0; i < n; i++) closeSync(openSync(join(dir, String(i)), 'w'));
  const ms = performance.now() - t0;
  rmSync(dir, { recursive: true, force: true });
  return ms;
}

/** Writes back dirty pages and drops the page cache (the "cold" state); needs root. */
export function dropCaches(): void {
  spawnSync('sync');
  writeFileSync('/proc/sys/vm/drop_caches', '3\n');
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
