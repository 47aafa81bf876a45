/** `dv move` (`mv`): rename a tracked path, its pointer file and .gitignore line. */
import type { Command } from 'commander';
import type { CliContext } from '../io.js';
import { command } from '../options.js';

export function register(program: Command, ctx: CliContext): void {
  command(
    program,
    'move',
    'rename a tracked path: its data, pointer file and .gitignore line (history kept)',
    'dv move data/raw data/raw-2024',
  )
    .alias('mv')
    .argument('<from>')
    .argument('<to>')
    .option('-m, --message <msg>', 'snapshot message')
    .action(async (from: string, to: string, o: { message?: string }) => {
      const r = await ctx.run('move', { from, to, cwd: ctx.cwd(), message: o.message });
      ctx.show(
        r,
        () =>
          `moved ${r.from} to ${r.to}${r.dataMoved ? '' : ' (pointer only: the data was not checked out)'}` +
          `: snapshot ${r.snapshot.slice(0, 12)}\n` +
          `\nTo record it with git, run:\n\n\t${ctx.gitAdd(r.gitAdd)}\n`,
      );
    });
}
