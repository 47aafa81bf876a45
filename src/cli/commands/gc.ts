/** `dv gc`: delete objects nothing reaches. */
import type { Command } from 'commander';
import type { CliContext } from '../io.js';
import { command, numberOption } from '../options.js';
import * as render from '../render.js';

export function register(program: Command, ctx: CliContext): void {
  command(program, 'gc', 'delete objects that no pointer file, snapshot history or git ref reaches', 'dv gc --dry-run')
    .option('-n, --dry-run', 'only say what would be removed')
    .addOption(
      numberOption(
        '--keep-days <n>',
        'keep snapshots this clone recorded in the last n days, even if no pointer names them (0: none)',
        { min: 0, whole: false },
        30,
      ),
    )
    .option(
      '-w, --workspace',
      "keep only what the work tree's pointer files name: no older versions, no other branches or tags " +
        '(they stay on remotes they were pushed to)',
    )
    .action(async (o: { dryRun?: boolean; keepDays: number; workspace?: boolean }) => {
      const r = await ctx.run('gc', { dryRun: o.dryRun, keepDays: o.keepDays, workspace: o.workspace, waitMs: ctx.waitMs() });
      ctx.show(r, render.gc);
    });
}
