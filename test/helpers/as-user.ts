/**
 * Runs `dv` as an unprivileged user (uid/gid 65534, "nobody") through `setpriv`, so that file
 * permissions apply: root reads and writes through any mode bits, and would never see EACCES.
 */
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { DV_BIN, type RunResult } from './cli.js';

export const NOBODY = 65534;

/** Why dv cannot be run as another user here, or undefined when it can. */
export function cannotDropPrivileges(): string | undefined {
  if (process.getuid?.() !== 0) return 'the tests do not run as root';
  const r = spawnSync('setpriv', ['--reuid', String(NOBODY), '--regid', String(NOBODY), '--clear-groups', '--', process.execPath, '-e', 'process.stdout.write(String(process.getuid()))'], { encoding: 'utf8' });
  if (r.error) return `setpriv is not available: ${r.error.message}`;
  if (r.status !== 0 || r.stdout !== String(NOBODY)) return `setpriv failed: ${r.stderr}`;
  return undefined;
}

/** `dv args` in `cwd` as uid/gid 65534, with HOME and XDG_CONFIG_HOME inside `home`. */
export function dvAsNobody(cwd: string, args: string[], home: string): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('setpriv', ['--reuid', String(NOBODY), '--regid', String(NOBODY), '--clear-groups', '--', process.execPath, DV_BIN, ...args], {
      cwd,
      env: { ...process.env, NO_COLOR: '1', HOME: home, XDG_CONFIG_HOME: join(home, '.config') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}
