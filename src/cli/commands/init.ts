/** `dv init`: create `.dv/` at the top of the git work tree. */
import type { Command } from 'commander';
import type { CliContext } from '../io.js';
import { command } from '../options.js';

export function register(program: Command, ctx: CliContext): void {
  command(program, 'init', 'create a dv repository (.dv/) at the top of this git work tree', 'dv init')
    .option('--no-git', 'allow a plain directory that is not a git work tree')
    .action(async (o: { git: boolean }) => {
      const r = await ctx.run('init', { cwd: ctx.cwd(), noGit: o.git === false });
      const git = r.git ? 'Commit .dv/config, .dv/.gitignore and .gitattributes with git.' : '';
      ctx.show(r, () => `Initialized dv repository in ${r.root}/.dv\n${git}`.trim());
    });
}
