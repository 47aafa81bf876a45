/**
 * Running a stage's command: `sh -c CMD` in the stage's wdir, with the caller's stdio, and its
 * exit code as a shell reports it (128+N for signal N). `dv repro` and `dv verify` both run
 * stages through here, so they agree on where and how a command runs.
 */
import { spawn, type StdioOptions } from 'node:child_process';
import { statSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { join } from 'node:path';
import { invalid, type StageSpec } from './spec.js';

function signalCode(signal: NodeJS.Signals | null): number {
  const n = signal ? (osConstants.signals as Record<string, number>)[signal] : undefined;
  return n ? 128 + n : 1;
}

/** Runs `cmd` with `sh -c` in `cwd`; resolves to its exit code (128+N when killed by signal N). */
export function runShell(cmd: string, cwd: string, stdio: StdioOptions, env: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', cmd], { cwd, stdio, env: { ...process.env, ...env } });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve(code ?? signalCode(signal)));
  });
}

/** Where a stage's command runs under `root`: its wdir, which must be a directory. */
export function stageDir(root: string, stage: StageSpec): string {
  if (!stage.wdir) return root;
  const dir = join(root, ...stage.wdir.split('/'));
  if (!statSync(dir, { throwIfNoEntry: false })?.isDirectory())
    throw invalid(`stage ${stage.name}: wdir ${stage.wdir} is not a directory: create it, or fix wdir in dv.yaml`, {
      stage: stage.name,
      path: stage.wdir,
    });
  return dir;
}
