/**
 * `dv args...` run in this process through the CLI's `main(args, io)`: the exit code and what it
 * wrote, without starting a process (test/helpers/cli.ts runs the real bin/dv). For tests of
 * command-line parsing, help and refusals, which must not start anything anyway.
 */
import { main } from '../../src/cli/main.js';
import type { RunResult } from './cli.js';

export async function dvInProcess(cwd: string, args: string[]): Promise<RunResult> {
  let stdout = '';
  let stderr = '';
  const io = { cwd, stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) } };
  const code = await main(args, io);
  return { code, stdout, stderr };
}
