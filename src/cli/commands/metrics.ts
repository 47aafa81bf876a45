/**
 * `dv metrics show|diff`: metric values at revisions and how they changed, as text, `--json` or
 * `--md` (a Markdown table for a pull-request comment). Also the renderers `dv params diff` uses.
 */
import type { Command } from 'commander';
import type { DiffResult, MetricsShowResult } from '../../ops/metrics.js';
import type { MetricValue } from '../../pipeline/metrics.js';
import type { CliContext } from '../io.js';
import { EXIT_HELP, example } from '../options.js';

const fmt = (v: MetricValue | undefined): string => (v === undefined ? '-' : typeof v === 'string' ? v : JSON.stringify(v));
const delta = (d: number | undefined): string => (d === undefined ? '-' : d > 0 ? `+${d}` : String(d));

/** Columns padded to their widest cell, two spaces apart. */
export function table(head: string[], rows: string[][]): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  return [head, ...rows].map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(w[i]))).join('  ')).join('\n');
}

/** A Markdown table; `|` and line breaks in cells escaped so a value cannot break the table. */
export function mdTable(head: string[], rows: string[][]): string {
  const esc = (c: string): string => c.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
  return [head, head.map(() => '---'), ...rows].map((r) => `| ${r.map(esc).join(' | ')} |`).join('\n');
}

function errorLines(r: { errors: DiffResult['errors'] }): string[] {
  return r.errors.map((e) => `${e.rev === 'workspace' ? '' : `${e.rev}:`}${e.path} ${e.error}`);
}

/** `dv metrics diff` / `dv params diff` as text or Markdown. */
export function renderDiff(r: DiffResult, md: boolean, what: 'Metric' | 'Param'): string {
  const head = ['Path', what, r.a.rev, r.b.rev, 'Change'];
  const rows = r.rows.map((x) => [x.path, x.key, fmt(x.old), fmt(x.new), delta(x.change)]);
  const errs = errorLines(r);
  if (md) {
    const body = rows.length ? mdTable(head, rows) : `No ${what.toLowerCase()} changed between ${r.a.rev} and ${r.b.rev}.`;
    return [body, ...errs.map((e) => `\n> ${e}`)].join('\n');
  }
  const body = rows.length ? table(head, rows) : `no ${what.toLowerCase()} changed between ${r.a.rev} and ${r.b.rev}`;
  return [body, ...errs.map((e) => `warning: ${e}`)].join('\n');
}

function renderShow(r: MetricsShowResult, md: boolean): string {
  const rows: string[][] = [];
  const errs: string[] = [];
  for (const v of r.versions) {
    for (const f of v.files) {
      if (f.error) errs.push(`${v.commit ? `${v.rev}:` : ''}${f.path} ${f.error}`);
      for (const [k, x] of Object.entries(f.values ?? {})) rows.push([v.rev, f.path, k, fmt(x)]);
    }
  }
  const head = ['Revision', 'Path', 'Metric', 'Value'];
  if (md) return [rows.length ? mdTable(head, rows) : 'No metrics.', ...errs.map((e) => `\n> ${e}`)].join('\n');
  return [
    rows.length ? table(head, rows) : 'no metrics: declare them with `dv stage add -M FILE`',
    ...errs.map((e) => `warning: ${e}`),
  ].join('\n');
}

export function register(program: Command, ctx: CliContext): void {
  const metrics = program
    .command('metrics')
    .description(
      "the values of the stages' metrics files (JSON, YAML, TOML, CSV) at git revisions or in the workspace, and how they changed",
    )
    .addHelpText('after', `\nExamples:\n  dv metrics show\n  dv metrics diff main --md\n${EXIT_HELP}`);
  example(
    metrics
      .command('show')
      .description('metric values in the workspace, or at the git revisions given')
      .argument('[revs...]', 'git revisions (HEAD, main, v1); none: the workspace')
      .option('-A, --all-commits', 'the workspace and every commit of every branch and tag (newest first, at most 1000)')
      .option('--md', 'a Markdown table'),
    'dv metrics show HEAD~1 HEAD --md',
  ).action(async (revs: string[], o: { allCommits?: boolean; md?: boolean }) => {
    const r = await ctx.run('metricsShow', { revs, allCommits: o.allCommits });
    ctx.show(r, () => renderShow(r, !!o.md));
  });
  example(
    metrics
      .command('diff')
      .description('metric values that differ between two versions: path, metric, old, new and the numeric change')
      .argument('[a]', 'git revision (default HEAD)')
      .argument('[b]', 'git revision (default: the workspace)')
      .option('-a, --all', 'also metrics whose value did not change')
      .option('--md', 'a Markdown table (for a pull-request comment)'),
    'dv metrics diff main --md   # main vs the workspace',
  ).action(async (a: string | undefined, b: string | undefined, o: { all?: boolean; md?: boolean }) => {
    const r = await ctx.run('metricsDiff', { a, b, all: o.all });
    ctx.show(r, () => renderDiff(r, !!o.md, 'Metric'));
  });
}
