/**
 * `dv ls`: the entries of a tracked path, snapshot or tree; or, given `<rev>:<path>`, of a
 * directory of any version, from the local store or the remote, without checking anything out (a
 * path with a colon in its name is written `./a:b`).
 */
import type { Command } from 'commander';
import type { CliContext } from '../io.js';
import { command } from '../options.js';
import * as render from '../render.js';

/** Whether `dv ls` was given `<rev>:<path>` rather than a path or an id. */
export const isRevPath = (target: string): boolean => target.includes(':') && !/^\.{0,2}\//.test(target);

export function register(program: Command, ctx: CliContext): void {
  command(program, 'ls', 'list the entries of a tracked path, snapshot or tree', 'dv ls data/images -R')
    .argument('<target>', 'tracked path (or a directory inside one), snapshot/tree id, or <rev>:<path> (any version, e.g. v1:data)')
    .option('-R, --recursive', 'list subdirectories too')
    .option('-r, --remote <name>', 'with <rev>:<path>: read what the local store lacks from this remote')
    .action(async (target: string, o: { recursive?: boolean; remote?: string }) => {
      const cwd = ctx.cwd();
      const entries = isRevPath(target)
        ? await ctx.run('lsAt', { spec: target, recursive: o.recursive, remote: o.remote, cwd })
        : await ctx.run('ls', { target, recursive: o.recursive, cwd });
      ctx.show(entries, render.ls);
    });
}
