/**
 * `dv plots show|diff`: the plots dv.yaml declares, drawn into a self-contained HTML page (no
 * network needed to open it) and one Vega-Lite spec per plot, in `dv_plots/` unless `-o` says
 * where; `--json` prints the specs instead (and writes only with `-o`), as `dvc plots --json`.
 */
import type { Command } from 'commander';
import type { PlotsResult } from '../../ops/plots.js';
import type { CliContext } from '../io.js';
import { EXIT_HELP, example } from '../options.js';
import { table } from './metrics.js';
import { relative } from 'node:path';

/** The default output directory, relative to where dv runs (as DVC's `dvc_plots/`). */
export const DEFAULT_DIR = 'dv_plots';

function render(r: PlotsResult, cwd: string): string {
  const warnings = r.warnings.map((w) => `warning: ${w}`);
  if (r.plots.length === 0)
    return ['no plots: declare data files under `plots:` in dv.yaml (or name one: dv plots show FILE)', ...warnings].join('\n');
  const rel = (p: string): string => relative(cwd, p) || '.';
  const rows = r.plots.map((p, i) => [p.file, p.template, String(p.points), r.output ? rel(r.output.specs[i]) : '']);
  const lines = [table(['Plot', 'Template', 'Points', 'Spec'], rows)];
  if (r.output) lines.push(`wrote ${rel(r.output.html)}: open it in a browser (it needs no network)`);
  return [...lines, ...warnings].join('\n');
}

export function register(program: Command, ctx: CliContext): void {
  const plots = program
    .command('plots')
    .description('the plots dv.yaml declares (plots: CSV, TSV, JSON or YAML data), drawn as an HTML page and Vega-Lite specs')
    .addHelpText('after', `\nExamples:\n  dv plots show\n  dv plots diff main -o compare/\n${EXIT_HELP}`);
  const output = (o: { output?: string }): string | undefined => o.output ?? (ctx.globals.json ? undefined : DEFAULT_DIR);
  example(
    plots
      .command('show')
      .description('draw the plots from the workspace data into DIR/index.html and DIR/<plot>.json')
      .argument('[targets...]', 'data files or directories: only these plots (a file dv.yaml does not declare is drawn with defaults)')
      .option('-o, --output <dir>', `where to write index.html and the specs (default ${DEFAULT_DIR}/; with --json: nowhere)`),
    'dv plots show logs/loss.csv -o plots/',
  ).action(async (targets: string[], o: { output?: string }) => {
    const r = await ctx.run('plotsShow', { targets, output: output(o), cwd: ctx.cwd() });
    ctx.show(r, () => render(r, ctx.cwd()));
  });
  example(
    plots
      .command('diff')
      .description('the plots at several git revisions, one series (colour) per revision')
      .argument('[revs...]', 'git revisions (`workspace`: the work tree); none: HEAD and the workspace; one: it and the workspace')
      .option(
        '--targets <files...>',
        'only the plots of these data files or directories (after the revisions: it takes every word after it)',
      )
      .option('-o, --output <dir>', `where to write index.html and the specs (default ${DEFAULT_DIR}/; with --json: nowhere)`),
    'dv plots diff main        # main vs the workspace',
  ).action(async (revs: string[], o: { output?: string; targets?: string[] }) => {
    const r = await ctx.run('plotsDiff', { revs, targets: o.targets, output: output(o), cwd: ctx.cwd() });
    ctx.show(r, () => render(r, ctx.cwd()));
  });
}
