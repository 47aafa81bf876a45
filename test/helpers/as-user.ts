/**
 * Runs `dv` as an unprivileged user (uid/gid 65534, "nobody") through `setpriv`, so that file
 * permissions apply: root reads and writes through any mode bits, and would never see EACCES.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { DV_BIN, run, type RunResult } from './cli.js';

export const NOBODY = 65534;

/** Why dv cannot be run as another user here, or undefined when it can. */
export function cannotDropPrivileges(): string | undefined {
  if (process.getuid?.() !== 0) return 'the tests do not run as root';
  const r = spawnSync(
    'setpriv',
    [
      '--reuid',
      String(NOBODY),
      '--regid',
      String(NOBODY),
      '--clear-groups',
      '--',
      process.execPath,
      '-e',
      'process.stdout.write(String(process.getuid()))',
    ],
    { encoding: 'utf8' },
  );
  if (r.error) return `setpriv is not available: ${r.error.message}`;
  if (r.status !== 0 || r.stdout !== String(NOBODY)) return `setpriv failed: ${r.stderr}`;
  return undefined;
}

/** `dv args` in `cwd` as uid/gid 65534, with HOME and XDG_CONFIG_HOME inside `home`. */
export function dvAsNobody(cwd: string, args: string[], home: string): Promise<RunResult> {
  const program = ['--reuid', String(NOBODY), '--regid', String(NOBODY), '--clear-groups', '--', process.execPath, DV_BIN, ...args];
  return run('setpriv', program, cwd, { NO_COLOR: '1', HOME: home, XDG_CONFIG_HOME: join(home, '.config') });
}
