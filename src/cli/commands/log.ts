/** `dv log`: snapshots of tracked paths, newest first; `--git`: the commits that changed pointer files. */
import type { Command } from 'commander';
import { COUNT } from '../../core/number.js';
import type { LogEntry } from '../../ops/log.js';
import type { CliContext } from '../io.js';
import { command, numberOption } from '../options.js';
import * as render from '../render.js';

function renderLog(r: LogEntry[], limited: boolean): string {
  // History cut short: the parents of the oldest snapshots shown are not in this clone.
  const shown = new Set(r.map((e) => e.id));
  const cut = !limited && r.some((e) => e.parents.some((p) => !shown.has(p)));
  const hint = '\nOlder snapshots are not in this clone: `dv fetch --all-history` brings them; `dv log --git` shows the history git holds.';
  return cut ? render.log(r) + hint : render.log(r);
}

export function register(program: Command, ctx: CliContext): void {
  command(
    program,
    'log',
    'list snapshots of tracked paths, newest first (--git: the commits that changed pointer files)',
    'dv log data -n 5\n  dv log --git main data   # works in a clone that fetched nothing',
  )
    .argument('[paths...]')
    .addOption(numberOption('-n, --max-count <n>', 'show at most n snapshots (commits with --git)', COUNT))
    .option('--git [rev]', 'follow the pointer files through git history from rev (default HEAD) instead of snapshot parents')
    .action(async (paths: string[], o: { maxCount?: number; git?: string | true }) => {
      if (o.git !== undefined) {
        const rev = o.git === true ? undefined : o.git;
        return ctx.show(await ctx.run('gitLog', { paths, cwd: ctx.cwd(), limit: o.maxCount, rev }), render.gitLog);
      }
      const r = await ctx.run('log', { paths, cwd: ctx.cwd(), limit: o.maxCount });
      ctx.show(r, () => renderLog(r, Boolean(o.maxCount)));
    });
}
