/** `dv status`: what changed in tracked paths; `--remote`: what is not pushed or fetched. */
import type { Command } from 'commander';
import type { CliContext } from '../io.js';
import { command } from '../options.js';
import * as render from '../render.js';

export function register(program: Command, ctx: CliContext): void {
  command(
    program,
    'status',
    'list new, modified and deleted files in tracked paths; --remote: what is not pushed or fetched',
    'dv status --json data',
  )
    .argument('[paths...]')
    .option('-r, --remote [name]', 'compare with a remote instead of the workspace (default remote if no name)')
    .action(async (paths: string[], o: { remote?: string | boolean }) => {
      if (o.remote !== undefined) {
        const remote = typeof o.remote === 'string' ? o.remote : undefined;
        return ctx.show(await ctx.run('remoteStatus', { remote, paths, cwd: ctx.cwd() }), render.remoteStatus);
      }
      const r = await ctx.run('status', { paths, cwd: ctx.cwd() });
      // The pipeline part loads only when it is printed.
      const stages = ctx.globals.json || ctx.globals.quiet ? '' : (await import('../pipeline-render.js')).stagesStatus(r.stages, r.metrics);
      ctx.show(r, () => render.status(r) + stages);
    });
}
