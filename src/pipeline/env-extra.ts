/**
 * The parts of a stage's environment that answer "did the infrastructure change?" beside the
 * tool versions state.ts records: the Python packages of the `python3` a stage would run (names
 * and versions), the CPU model, the container the run is in (from /proc/self/cgroup), and the
 * NVIDIA driver when `nvidia-smi` exists. `dv lineage diff` names each one that differs.
 *
 * The package list comes from one `python3 -c` using importlib.metadata (the same data as
 * `pip list`, without needing pip and in a fraction of its time). Every probe is bounded: a
 * timeout, a capped output, at most MAX_PACKAGES entries of capped length; a probe that fails or
 * times out leaves its field out rather than failing the run.
 */
import { execFile } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import { cpus } from 'node:os';

const TIMEOUT_MS = 5000;
const MAX_OUTPUT = 4 * 1024 * 1024;
const MAX_PACKAGES = 5000;
const MAX_TEXT = 200;
const LIST_PACKAGES =
  'import json, importlib.metadata as m\n' + 'print(json.dumps({(d.metadata["Name"] or "?"): d.version for d in m.distributions()}))';

export interface ExtraEnv {
  /** Python distributions importable by `python3`, name → version. */
  pythonPackages?: Record<string, string>;
  cpu?: string;
  /** The container id from the cgroup path (docker, containerd, podman, kubepods). */
  container?: string;
  /** NVIDIA driver version, when nvidia-smi runs. */
  gpuDriver?: string;
}

function run(cmd: string, args: string[]): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: TIMEOUT_MS, maxBuffer: MAX_OUTPUT, encoding: 'utf8' }, (err, stdout) =>
      resolve(err ? undefined : stdout),
    );
  });
}

const text = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= MAX_TEXT;

async function pythonPackages(): Promise<Record<string, string> | undefined> {
  const out = await run('python3', ['-c', LIST_PACKAGES]);
  if (out === undefined) return undefined;
  let o: unknown;
  try {
    o = JSON.parse(out);
  } catch {
    return undefined;
  }
  if (!o || typeof o !== 'object' || Array.isArray(o)) return undefined;
  const pkgs: Record<string, string> = {};
  for (const name of Object.keys(o).sort().slice(0, MAX_PACKAGES)) {
    const v = (o as Record<string, unknown>)[name];
    if (text(name) && text(v)) pkgs[name] = v;
  }
  return pkgs;
}

async function container(): Promise<string | undefined> {
  const cg = await fsp.readFile('/proc/self/cgroup', 'utf8').catch(() => '');
  const m = /(?:docker|containerd|libpod|crio|kubepods)[^\n]*?([0-9a-f]{64})/.exec(cg.slice(0, 64 * 1024));
  return m ? m[1] : undefined;
}

async function gpuDriver(): Promise<string | undefined> {
  const out = await run('nvidia-smi', ['--query-gpu=driver_version', '--format=csv,noheader']);
  const v = out?.split('\n')[0]?.trim();
  return text(v) ? v : undefined;
}

/** The probes, run at once (their wall time is the slowest one's). */
export async function extraEnv(): Promise<ExtraEnv> {
  const [pkgs, ctr, gpu] = await Promise.all([pythonPackages(), container(), gpuDriver()]);
  const cpu = cpus()[0]?.model?.trim();
  return {
    ...(pkgs ? { pythonPackages: pkgs } : {}),
    ...(text(cpu) ? { cpu } : {}),
    ...(ctr ? { container: ctr } : {}),
    ...(gpu ? { gpuDriver: gpu } : {}),
  };
}
