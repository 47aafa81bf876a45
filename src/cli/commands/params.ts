/** `dv params diff`: parameters that differ between two versions (text, --json, --md). */
import type { Command } from 'commander';
import type { CliContext } from '../io.js';
import { EXIT_HELP, example } from '../options.js';
import { renderDiff } from './metrics.js';

export function register(program: Command, ctx: CliContext): void {
  const params = program
    .command('params')
    .description('parameters (params.yaml and what stages declare with -p FILE:KEY), and how they changed')
    .addHelpText('after', `\nExample:\n  dv params diff HEAD~1 HEAD\n${EXIT_HELP}`);
  example(
    params
      .command('diff')
      .description('parameters whose value differs between two versions')
      .argument('[a]', 'git revision (default HEAD)')
      .argument('[b]', 'git revision (default: the workspace)')
      .option('-a, --all', 'also parameters whose value did not change')
      .option('--deps', 'only the parameters stages declare (not every key of params.yaml)')
      .option('--md', 'a Markdown table (for a pull-request comment)'),
    'dv params diff main --md',
  ).action(async (a: string | undefined, b: string | undefined, o: { all?: boolean; deps?: boolean; md?: boolean }) => {
    const r = await ctx.run('paramsDiff', { a, b, all: o.all, deps: o.deps });
    ctx.show(r, () => renderDiff(r, !!o.md, 'Param'));
  });
}
