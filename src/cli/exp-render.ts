/** How `dv exp` shows its results: the experiments table (text or Markdown), a run, an apply. */
import type { ExpApplyResult } from '../ops/exp-apply.js';
import type { ExpRunResult } from '../ops/exp-run.js';
import { cell, type ExpShowResult } from '../ops/exp-show.js';
import type { MetricValue } from '../pipeline/metrics.js';
import { mdTable, table } from './commands/metrics.js';

const fmt = (v: MetricValue | undefined): string => (v === undefined ? '-' : typeof v === 'string' ? v : JSON.stringify(v));

/** One row per version, one column per parameter and metric; the errors after the table. */
export function renderShow(r: ExpShowResult, md: boolean): string {
  const head = ['Experiment', ...r.columns.map((c) => c.label)];
  const rows = r.rows.map((x) => [x.kind === 'queued' ? `${x.name} (queued)` : x.name, ...r.columns.map((c) => fmt(cell(x, c)))]);
  const errs = r.rows.flatMap((x) => x.errors.map((e) => `${x.name}: ${e.path} ${e.error}`));
  if (md) {
    const body = mdTable(head, rows);
    return [body, ...errs.map((e) => `\n> ${e}`)].join('\n');
  }
  return [table(head, rows), ...errs.map((e) => `warning: ${e}`)].join('\n');
}

export function renderRun(r: ExpRunResult): string {
  const lines: string[] = [];
  for (const e of r.experiments) {
    if (e.queued) {
      lines.push(`Queued experiment ${e.name} (run it with \`dv exp run --run-all\`)`);
      continue;
    }
    const restored = e.stages.filter((x) => x.action === 'restored').length;
    const ran = e.ran.length ? `ran ${e.ran.join(', ')}` : 'ran no command';
    lines.push(
      `Experiment ${e.name} (${e.commit.slice(0, 7)}, baseline ${e.baseline.slice(0, 7)}): ${ran}${restored ? `, ${restored} stage(s) restored from recorded runs` : ''}`,
    );
  }
  for (const f of r.failed) lines.push(`Failed ${f.name}: ${f.code}: ${f.message}`);
  if (r.experiments.some((e) => !e.queued))
    lines.push('Compare them with `dv exp show`; take one into the workspace with `dv exp apply NAME`.');
  return lines.join('\n');
}

export function renderApply(r: ExpApplyResult): string {
  const outs = r.outs.length ? `; checked out ${r.outs.join(', ')}` : '';
  return `Applied experiment ${r.name} (${r.commit.slice(0, 7)}): ${r.files.length} file(s) written${outs}`;
}
