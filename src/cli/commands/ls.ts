/** `dv ls`: the entries of a tracked path, snapshot or tree. */
import type { Command } from 'commander';
import type { CliContext } from '../io.js';
import { command } from '../options.js';
import * as render from '../render.js';

export function register(program: Command, ctx: CliContext): void {
  command(program, 'ls', 'list the entries of a tracked path, snapshot or tree', 'dv ls data/images -R')
    .argument('<target>', 'tracked path (or a directory inside one), or snapshot/tree id')
    .option('-R, --recursive', 'list subdirectories too')
    .action(async (target: string, o: { recursive?: boolean }) => {
      ctx.show(await ctx.run('ls', { target, recursive: o.recursive, cwd: ctx.cwd() }), render.ls);
    });
}
