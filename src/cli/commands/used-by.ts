/** `dv used-by <path|snapshot>`: the artifacts built from some data, now and across git history. */
import type { Command } from 'commander';
import type { NumberRule } from '../../core/number.js';
import type { UsedByResult } from '../../ops/used-by.js';
import type { CliContext } from '../io.js';
import { command, numberOption } from '../options.js';
import { printable } from '../render.js';

const short = (id: string): string => id.slice(0, 12);
const COMMITS: NumberRule = { min: 0, whole: true, max: 1_000_000 };

function render(r: UsedByResult): string {
  const what = `${r.target.path}${r.target.snapshot ? ` (snapshot ${short(r.target.snapshot)})` : ''}`;
  const lines = [`artifacts built from ${what}:`, '', 'in the workspace (dv.lock):'];
  if (r.current.length === 0) lines.push('  none');
  for (const c of r.current)
    lines.push(
      `  ${c.path}  snapshot ${short(c.snapshot)}  via ${c.via.join(' → ')}  (read ${c.input.path} ${short(c.input.snapshot ?? c.input.id)})`,
    );
  lines.push('', `in git history (${r.commitsRead} commit${r.commitsRead === 1 ? '' : 's'} that changed dv.lock):`);
  if (r.history.length === 0) lines.push('  none');
  for (const h of r.history) {
    const span = h.commits === 1 ? `commit ${short(h.newest)}` : `${h.commits} commits, ${short(h.oldest)}..${short(h.newest)}`;
    lines.push(`  ${h.path}  snapshot ${short(h.snapshot)}  via ${h.via.join(' → ')}  (${span})`);
  }
  if (r.truncated) lines.push(`  (older commits not read: raise --max-commits)`);
  for (const w of r.warnings) lines.push(`warning: ${w}`);
  return printable(lines.join('\n'));
}

export function register(program: Command, ctx: CliContext): void {
  command(
    program,
    'used-by',
    'which artifacts (stage outs) were built from this data, directly or through other stages, now and in git history',
    'dv used-by data/raw/customers.csv --all',
  )
    .argument('<target>', 'a tracked path, a file inside one (or a path no longer tracked), or a snapshot id')
    .addOption(
      numberOption('--max-commits <n>', 'read dv.lock in at most N commits that changed it (0: only the workspace)', COMMITS, 1000),
    )
    .option('--all', 'walk every branch and tag, not only the history of HEAD')
    .action(async (target: string, o: { maxCommits: number; all?: boolean }) => {
      const r = await ctx.run('usedBy', { target, maxCommits: o.maxCommits, all: o.all === true, cwd: ctx.cwd() });
      ctx.show(r, render);
    });
}
