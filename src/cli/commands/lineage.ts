/** `dv lineage`: how an artifact was made, back to raw data (text, mermaid, markdown or dot). */
import type { Command } from 'commander';
import type { CliContext } from '../io.js';
import { checkFormat, command, example, mermaidFence } from '../options.js';

export function register(program: Command, ctx: CliContext): void {
  const lineageCmd = command(
    program,
    'lineage',
    'how an artifact was made: the stages, inputs (snapshot ids), params, code commit and environment, back to raw data',
    'dv lineage metrics.json --format mermaid',
  )
    .argument('<target>', 'a stage output or tracked path (or a file inside one), or a snapshot id')
    .option('--format <format>', 'text, mermaid, markdown (mermaid in a ```mermaid fence) or dot', 'text')
    .action(async (target: string, o: { format: string }) => {
      checkFormat(o.format);
      const r = await ctx.run('lineage', { target, cwd: ctx.cwd() });
      if (ctx.globals.json) return ctx.json(r);
      if (o.format !== 'text') {
        const [g, { lineageGraph }] = await Promise.all([import('../../pipeline/graph.js'), import('../../ops/lineage.js')]);
        if (o.format === 'dot') return ctx.out(g.toDot(lineageGraph(r)));
        const m = g.toMermaid(lineageGraph(r));
        return ctx.out(o.format === 'markdown' ? mermaidFence(m) : m);
      }
      if (!ctx.globals.quiet) ctx.out((await import('../pipeline-render.js')).lineage(r));
    });
  registerDiff(lineageCmd, ctx);
}

/** `dv lineage diff <artifact> <rev-a> <rev-b>`: what changed in the provenance between two versions. */
function registerDiff(lineageCmd: Command, ctx: CliContext): void {
  example(
    lineageCmd
      .command('diff')
      .description(
        'what differs between two versions of an artifact: input data, params, code, command, environment, metrics; and the causes',
      )
      .argument('<artifact>', 'a stage output (or a file inside one)')
      .argument('<rev-a>', 'a git revision (read from dv.lock there) or a snapshot id of the artifact')
      .argument('<rev-b>', 'the other version')
      .option('--md', 'print a Markdown table (for a pull-request comment)'),
    'dv lineage diff model.pkl v11 v12 --md',
  ).action(async (artifact: string, a: string, b: string, o: { md?: boolean }) => {
    const r = await ctx.run('lineageDiff', { artifact, a, b, cwd: ctx.cwd() });
    const render = await import('../lineage-diff-render.js');
    if (o.md && !ctx.globals.json) return ctx.out(render.lineageDiffMarkdown(r));
    ctx.show(r, render.lineageDiffText);
  });
}
