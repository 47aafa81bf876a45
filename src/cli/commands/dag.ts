/** `dv dag`: the pipeline graph of dv.yaml (text, mermaid, markdown or dot). */
import type { Command } from 'commander';
import type { CliContext } from '../io.js';
import { checkFormat, command, mermaidFence } from '../options.js';

export function register(program: Command, ctx: CliContext): void {
  command(program, 'dag', 'print the pipeline graph of dv.yaml', 'dv dag --format mermaid >> README.md')
    .option('--format <format>', 'text, mermaid, markdown (mermaid in a ```mermaid fence) or dot', 'text')
    .action(async (o: { format: string }) => {
      checkFormat(o.format);
      const r = await ctx.run('dag', {});
      if (ctx.globals.json) return ctx.json(r);
      if (o.format !== 'text') {
        const [g, { dagGraph }] = await Promise.all([import('../../pipeline/graph.js'), import('../../ops/dag.js')]);
        if (o.format === 'dot') return ctx.out(g.toDot(dagGraph(r)));
        const m = g.toMermaid(dagGraph(r));
        return ctx.out(o.format === 'markdown' ? mermaidFence(m) : m);
      }
      if (!ctx.globals.quiet) ctx.out((await import('../pipeline-render.js')).dag(r));
    });
}
