/**
 * The parts of a stage's environment that answer "did the infrastructure change?" beside the
 * tool versions state.ts records: the Python packages of the `python3` a stage would run (names
 * and versions), the CPU model, the container the run is in (from /proc/self/cgroup), the
 * NVIDIA driver when `nvidia-smi` exists, the CUDA toolkit version, and per stage the hashes of the
 * dependency lockfiles in its directory. `dv lineage diff` names each one that differs.
 *
 * The package list comes from one `python3 -c` using importlib.metadata (the same data as
 * `pip list`, without needing pip and in a fraction of its time). Every probe is bounded: a
 * timeout, a capped output, at most MAX_PACKAGES entries of capped length; a probe that fails or
 * times out leaves its field out rather than failing the run.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { readControlBytes } from '../repo/control-file.js';

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
  /** CUDA toolkit version: $CUDA_HOME (or /usr/local/cuda) version.json or version.txt, else `nvcc --version`. */
  cuda?: string;
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

const MAX_VERSION_FILE = 64 * 1024;

/** The CUDA toolkit's version from its version file (cheap), else from nvcc (absent: fails at once). */
async function cuda(): Promise<string | undefined> {
  const home = process.env.CUDA_HOME || process.env.CUDA_PATH || '/usr/local/cuda';
  const read = (f: string): Promise<string> =>
    readControlBytes(join(home, f), { maxBytes: MAX_VERSION_FILE, followLinks: true }).then(
      (b) => b?.toString('utf8') ?? '',
      () => '',
    );
  try {
    const v = (JSON.parse((await read('version.json')) || 'null') as any)?.cuda?.version;
    if (text(v)) return v;
  } catch {
    // not JSON: try the next source
  }
  const txt = /CUDA Version (\S+)/.exec(await read('version.txt'))?.[1];
  if (text(txt)) return txt;
  const nvcc = /release \S+, V(\S+)/.exec((await run('nvcc', ['--version'])) ?? '')?.[1];
  return text(nvcc) ? nvcc : undefined;
}

/** Dependency lockfiles a stage's directory may hold (the repository root's are recorded by state.ts as `lockfiles`). */
const STAGE_LOCKFILES = ['requirements.txt', 'poetry.lock', 'uv.lock', 'Pipfile.lock', 'package-lock.json', 'pnpm-lock.yaml', 'yarn.lock'];
const MAX_LOCKFILE = 64 * 1024 * 1024;

/**
 * The sha256 of each dependency lockfile in a stage's `wdir` (none for a stage at the root: the
 * root's are in `lockfiles`). Read capped, a link or special file is left out.
 */
export async function stageLockfiles(root: string, wdir: string | undefined): Promise<{ stageLockfiles?: Record<string, string> }> {
  if (!wdir) return {};
  const out: Record<string, string> = {};
  for (const f of STAGE_LOCKFILES) {
    const b = await readControlBytes(join(root, wdir, f), { maxBytes: MAX_LOCKFILE, root }).catch(() => undefined);
    if (b) out[f] = createHash('sha256').update(b).digest('hex');
  }
  return Object.keys(out).length ? { stageLockfiles: out } : {};
}

/** The probes, run at once (their wall time is the slowest one's). */
export async function extraEnv(): Promise<ExtraEnv> {
  const [pkgs, ctr, gpu, cu] = await Promise.all([pythonPackages(), container(), gpuDriver(), cuda()]);
  const cpu = cpus()[0]?.model?.trim();
  return {
    ...(pkgs ? { pythonPackages: pkgs } : {}),
    ...(text(cpu) ? { cpu } : {}),
    ...(ctr ? { container: ctr } : {}),
    ...(gpu ? { gpuDriver: gpu } : {}),
    ...(cu ? { cuda: cu } : {}),
  };
}
