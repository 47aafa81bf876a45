/**
 * The environment fields that answer "did the infrastructure change?" in a few words, for
 * `dv lineage` (text and --json): the Python package set as a count and digest (the list itself
 * is in the record), the CPU model, the container, the GPU driver and CUDA version, and the
 * hashes of the stage's dependency lockfiles. Pure; a field not recorded is left out.
 */
import { packagesDigest, parseDigest } from '../pipeline/packages-digest.js';
import type { RunEnv } from '../pipeline/run.js';

export interface EnvSummary {
  pythonPackages?: { count: number; digest: string };
  cpu?: string;
  container?: string;
  gpuDriver?: string;
  cuda?: string;
  /** Dependency lockfiles the stage's directory holds (requirements.txt, uv.lock, ...): name → sha256. */
  stageLockfiles?: Record<string, string>;
}

const text = (v: unknown): v is string => typeof v === 'string' && v !== '';

export function envSummary(env: RunEnv | undefined): EnvSummary {
  const e = (env ?? {}) as unknown as Record<string, unknown>;
  const out: EnvSummary = {};
  const pkgs = e.pythonPackages;
  if (pkgs && (typeof pkgs === 'string' || typeof pkgs === 'object')) {
    const d = packagesDigest(pkgs as Record<string, string> | string);
    const p = parseDigest(d);
    if (p) out.pythonPackages = { count: p.count, digest: `sha256:${p.hex}` };
  }
  if (text(e.cpu)) out.cpu = e.cpu;
  if (text(e.container)) out.container = e.container;
  if (text(e.gpuDriver)) out.gpuDriver = e.gpuDriver;
  if (text(e.cuda)) out.cuda = e.cuda;
  const lf = e.stageLockfiles;
  if (lf && typeof lf === 'object' && !Array.isArray(lf) && Object.keys(lf).length > 0) out.stageLockfiles = lf as Record<string, string>;
  return out;
}

/** The summary in one line, or undefined when nothing of it was recorded. */
export function envSummaryLine(s: EnvSummary): string | undefined {
  const parts: string[] = [];
  if (s.pythonPackages) parts.push(`python packages ${s.pythonPackages.count} (${s.pythonPackages.digest.slice(0, 19)})`);
  if (s.cpu) parts.push(`cpu ${s.cpu}`);
  if (s.container) parts.push(`container ${s.container.slice(0, 12)}`);
  if (s.gpuDriver) parts.push(`gpu driver ${s.gpuDriver}`);
  if (s.cuda) parts.push(`cuda ${s.cuda}`);
  for (const [f, h] of Object.entries(s.stageLockfiles ?? {})) parts.push(`${f} ${h.slice(0, 12)}`);
  return parts.length ? parts.join(', ') : undefined;
}
