// What the numbers were measured on: CPU, memory, kernel, Node, the tools' versions, dv's commit.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as os from 'node:os';

export interface Machine {
  nproc: number;
  memoryGiB: number;
  cpu: string;
  kernel: string;
  node: string;
  dvCommit: string;
  tools: Record<string, string>;
}

function firstLine(cmd: string, args: string[]): string | null {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0 || r.error) return null;
  return `${r.stdout}${r.stderr}`.trim().split('\n')[0] ?? null;
}

export function describeMachine(repoRoot: string, tools: Record<string, [string, string[]]>): Machine {
  let cpu = os.cpus()[0]?.model ?? 'unknown';
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) cpu = m[1]!.trim();
  } catch {
    // not Linux: os.cpus() is good enough
  }
  const head = firstLine('git', ['-C', repoRoot, 'rev-parse', '--short', 'HEAD']) ?? 'unknown';
  const dirty =
    (
      spawnSync('git', ['-C', repoRoot, 'status', '--porcelain', '--untracked-files=no', '--', 'src'], { encoding: 'utf8' }).stdout ?? ''
    ).trim() !== '';
  const versions: Record<string, string> = {};
  for (const [name, [cmd, args]] of Object.entries(tools)) versions[name] = firstLine(cmd, args) ?? 'not installed';
  return {
    nproc: os.availableParallelism(),
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    cpu,
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    dvCommit: `${head}${dirty ? ' + uncommitted changes in src/' : ''}`,
    tools: versions,
  };
}
