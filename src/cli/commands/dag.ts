/** `dv dag`: the pipeline graph of dv.yaml (text, mermaid or dot). */
import type { Command } from 'commander';
import type { CliContext } from '../io.js';
import { checkFormat, command } from '../options.js';

export function register(program: Command, ctx: CliContext): void {
  command(program, 'dag', 'print the pipeline graph of dv.yaml', 'dv dag --format mermaid >> README.md')
    .option('--format <format>', 'text, mermaid or dot', 'text')
    .action(async (o: { format: string }) => {
      checkFormat(o.format);
      const r = await ctx.run('dag', {});
      if (ctx.globals.json) return ctx.json(r);
      if (o.format === 'mermaid' || o.format === 'dot') {
        const [g, { dagGraph }] = await Promise.all([import('../../pipeline/graph.js'), import('../../ops/dag.js')]);
        return ctx.out((o.format === 'mermaid' ? g.toMermaid : g.toDot)(dagGraph(r)));
      }
      if (!ctx.globals.quiet) ctx.out((await import('../pipeline-render.js')).dag(r));
    });
}
