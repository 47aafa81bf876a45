/** `dv install`: git hooks that run dv at checkout, pull, push and commit. */
import type { Command } from 'commander';
import type { InstallResult } from '../../ops/install.js';
import type { CliContext } from '../io.js';
import { command } from '../options.js';

const SAY: Record<InstallResult['hooks'][number]['action'], string> = {
  created: 'created',
  added: 'added a dv block to',
  updated: 'updated the dv block in',
  unchanged: 'already installed in',
  kept: 'calls dv itself (left as it is):',
  disabled: "not executable, so git skips it and dv leaves it as it is (make it executable and rerun `dv install` to add dv's block):",
  removed: 'removed the dv block from',
  deleted: 'deleted',
  absent: 'no dv hook in',
};

const DONE =
  'git checkout <branch> now runs `dv checkout`, git pull brings the data (`dv checkout`, or `dv pull` when it is missing), ' +
  'git push runs `dv push` first, git commit warns about data changes not recorded with `dv commit`.';

function render(r: InstallResult): string | undefined {
  const lines = r.hooks.map((h) => `${h.hook}: ${SAY[h.action]} ${h.file}`);
  if (!r.uninstall) lines.push(DONE);
  return lines.length ? lines.join('\n') : undefined;
}

export function register(program: Command, ctx: CliContext): void {
  command(
    program,
    'install',
    'add git hooks: git checkout runs dv checkout, git pull brings the data, git push runs dv push, git commit warns about unrecorded data',
    'dv install            # existing hooks are kept; dv adds one marked block',
  )
    .option('--uninstall', "remove dv's blocks from the hooks (the rest of each hook stays)")
    .action(async (o: { uninstall?: boolean }) => {
      ctx.show(await ctx.run('install', { cwd: ctx.cwd(), uninstall: o.uninstall }), render);
    });
}
