/** `dv lineage`: how an artifact was made, back to raw data (text, mermaid or dot). */
import type { Command } from 'commander';
import type { CliContext } from '../io.js';
import { checkFormat, command } from '../options.js';

export function register(program: Command, ctx: CliContext): void {
  command(
    program,
    'lineage',
    'how an artifact was made: the stages, inputs (snapshot ids), params, code commit and environment, back to raw data',
    'dv lineage metrics.json --format mermaid',
  )
    .argument('<target>', 'a stage output or tracked path (or a file inside one), or a snapshot id')
    .option('--format <format>', 'text, mermaid or dot', 'text')
    .action(async (target: string, o: { format: string }) => {
      checkFormat(o.format);
      const r = await ctx.run('lineage', { target, cwd: ctx.cwd() });
      if (ctx.globals.json) return ctx.json(r);
      if (o.format === 'mermaid' || o.format === 'dot') {
        const [g, { lineageGraph }] = await Promise.all([import('../../pipeline/graph.js'), import('../../ops/lineage.js')]);
        return ctx.out((o.format === 'mermaid' ? g.toMermaid : g.toDot)(lineageGraph(r)));
      }
      if (!ctx.globals.quiet) ctx.out((await import('../pipeline-render.js')).lineage(r));
    });
}
