/** `dv remove` (`rm`): stop tracking paths; the data stays unless `--data`. */
import type { Command } from 'commander';
import type { RemoveResult } from '../../ops/untrack.js';
import type { CliContext } from '../io.js';
import { command } from '../options.js';

function render(r: RemoveResult, data: boolean, git: CliContext['gitAdd']): string {
  const lines = r.removed.map(
    (x) => `removed ${x.pointer}${x.dataRemoved ? ` and ${x.path}` : ''}${data ? '' : ` (${x.path} is kept, no longer tracked)`}`,
  );
  lines.push(
    '\nThe snapshots stay in the store until `dv gc` no longer finds them. To record it with git, run:\n\n' + `\t${git(r.gitAdd)}\n`,
  );
  return lines.join('\n');
}

export function register(program: Command, ctx: CliContext): void {
  command(
    program,
    'remove',
    'stop tracking paths: delete their pointer files and .gitignore lines (the data stays unless --data)',
    'dv remove old-data',
  )
    .alias('rm')
    .argument('<paths...>')
    .option('--data', 'also delete the workspace copy (refused if it has changes not committed)')
    .option('-f, --force', 'with --data: delete it even with changes not committed')
    .action(async (paths: string[], o: { data?: boolean; force?: boolean }) => {
      const r = await ctx.run('remove', { paths, cwd: ctx.cwd(), data: o.data, force: o.force });
      ctx.show(r, (x) => render(x, Boolean(o.data), ctx.gitAdd));
    });
}
