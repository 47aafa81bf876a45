// The environment every benchmarked command runs in: a HOME of its own (a git identity, no gpg
// signing, no automatic gc or maintenance, which would write .git while the next command is
// timed), no AWS/restic/rclone/git/dv variables of the caller's, colour off. Suites add what
// their servers need (credentials, endpoints).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const GITCONFIG =
  '[user]\n\tname = Bench\n\temail = bench@example.com\n[commit]\n\tgpgsign = false\n[init]\n\tdefaultBranch = main\n' +
  '[advice]\n\tdetachedHead = false\n[gc]\n\tauto = 0\n[maintenance]\n\tauto = false\n';

export function benchEnv(home: string): NodeJS.ProcessEnv {
  mkdirSync(home, { recursive: true });
  writeFileSync(join(home, '.gitconfig'), GITCONFIG);
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of Object.keys(env)) if (/^(AWS_|RESTIC_|RCLONE_|BORG_|GIT_|DV_|NODE_OPTIONS)/.test(k)) delete env[k];
  return {
    ...env,
    HOME: home,
    XDG_CONFIG_HOME: join(home, '.config'),
    XDG_CACHE_HOME: join(home, '.cache'),
    GIT_CONFIG_NOSYSTEM: '1',
    AWS_CONFIG_FILE: join(home, '.aws', 'config'),
    AWS_SHARED_CREDENTIALS_FILE: join(home, '.aws', 'credentials'),
    AWS_PAGER: '',
    NO_COLOR: '1',
  };
}
