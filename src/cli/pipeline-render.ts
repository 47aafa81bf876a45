/** Human-readable rendering of the pipeline commands: repro, verify, lineage, dag, status. */
import type { DagResult } from '../ops/dag.js';
import type { LineageArtifact, LineageResult } from '../ops/lineage.js';
import { describeChange, type OutOfDateStage } from '../pipeline/state.js';
import type { ReproResult, ReproStage } from '../ops/repro.js';
import type { StageInfo } from '../ops/stage.js';
import type { VerifyResult } from '../ops/verify.js';
import { green, red, yellow } from './render.js';
import { formatMetrics, type MetricValues } from '../pipeline/metrics.js';
import { envSummaryLine } from '../provenance/env-summary.js';

const short = (id: string): string => id.slice(0, 12);

export function stagesStatus(
  stages: OutOfDateStage[],
  metrics: { stage: string; path: string; values: MetricValues | null }[] = [],
): string {
  const lines: string[] = [];
  if (stages.length > 0) lines.push('\nStages out of date (run `dv repro`):');
  for (const st of stages) lines.push(`\t${yellow(st.name)}: ${st.changes.map(describeChange).join(', ')}`);
  if (metrics.length > 0) lines.push('\nMetrics:');
  for (const m of metrics)
    lines.push(`\t${m.path} (${m.stage}): ${m.values === null ? 'missing, or not JSON, YAML, TOML or CSV' : formatMetrics(m.values)}`);
  return lines.join('\n');
}

function restoredFrom(st: ReproStage): string {
  return st.from === 'lock' ? 'dv.lock' : st.from === 'remote' ? `the remote run cache (${st.remote})` : 'the run cache';
}

export function repro(r: ReproResult, gitAdd: (paths: string[]) => string): string {
  const lines: string[] = [];
  for (const st of r.stages) {
    if (st.action === 'up-to-date') lines.push(`${st.name}: up to date`);
    else if (st.refused) lines.push(`${st.name}: would stop: ${st.refused.replace(`stage ${st.name}: `, '')}`);
    else if (st.action === 'would-run') lines.push(`${st.name}: would run (${st.changes.map(describeChange).join(', ')})`);
    else if (st.action === 'would-restore')
      lines.push(
        `${st.name}: would restore from ${st.from === 'lock' ? 'dv.lock' : 'the run cache'}, ` +
          `not run (${st.changes.map(describeChange).join(', ')})`,
      );
    else if (st.action === 'restored')
      lines.push(`${st.name}: ${green('restored')} from ${restoredFrom(st)} (${st.outs.map((o) => o.path).join(', ')})`);
    else
      lines.push(
        `${st.name}: ${green('ran')} in ${st.seconds?.toFixed(1)}s, ` +
          (st.outs.map((o) => `${o.path} ${short(o.id)}`).join(', ') || 'no outs'),
      );
  }
  if (r.gitAdd.length > 0) lines.push(`\nTo record it with git, run:\n\n\t${gitAdd(r.gitAdd)}\n`);
  return lines.join('\n');
}

export function verify(r: VerifyResult): string {
  const lines: string[] = [];
  for (const st of r.stages) {
    if (st.ok) {
      lines.push(`${st.name}: ${green('reproducible')} (${st.outs.length} out${st.outs.length === 1 ? '' : 's'} identical to dv.lock)`);
      continue;
    }
    if (st.exitCode !== undefined) {
      lines.push(`${st.name}: ${red(`the rerun failed with exit code ${st.exitCode}`)}`);
      continue;
    }
    for (const o of st.outs.filter((x) => !x.ok)) {
      lines.push(
        `${st.name}: ${red('NOT reproducible')}: ${o.path} ` +
          (o.actual ? `is ${short(o.actual)}, dv.lock says ${short(o.expected)}` : 'was not written'),
      );
      for (const c of o.changes)
        lines.push(
          `\t${c.type === 'modified' ? yellow('modified: ') : c.type === 'added' ? green('new:      ') : red('deleted:  ')}${c.path}`,
        );
    }
  }
  if (r.workspace) lines.push(`\ntemporary workspace kept at ${r.workspace}`);
  return lines.join('\n');
}

function envLine(env: LineageResult['stages'][number]['env']): string {
  const g = env.git?.commit ? `code ${env.git.commit.slice(0, 10)}${env.git.dirty ? ' (dirty)' : ''}` : 'code: no git commit';
  const tools = Object.entries(env.tools ?? {})
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  return `${g}; dv ${env.dv}, ${env.os} ${env.arch}${tools ? `, ${tools}` : ''}`;
}

function rawLine(a: LineageArtifact): string {
  if (a.uncommitted && a.committedSince)
    return `  ${a.path}  id ${short(a.id)}  UNCOMMITTED when read; committed since as snapshot ${short(a.committedSince)}`;
  if (a.uncommitted) return `  ${a.path}  id ${short(a.id)}  UNCOMMITTED: read as it was in the workspace, in no snapshot`;
  const code = a.git?.commit ? `  code ${a.git.commit.slice(0, 10)}` : '';
  const where = a.inStore ? `  ${a.time}  "${a.message}"${code}` : '  (not in the local store: dv fetch)';
  return `  ${a.path}  snapshot ${a.snapshot ? short(a.snapshot) : '?'}${where}`;
}

export function lineage(r: LineageResult): string {
  const lines = [
    `${yellow(r.target.inside ?? r.target.path)}${r.target.inside ? ` (inside ${r.target.path})` : ''}` +
      `: snapshot ${short(r.target.snapshot)}, tree ${short(r.target.tree)}`,
  ];
  if (r.stages.length === 0) lines.push('not written by a pipeline stage (added with dv add or dv commit)');
  const art = (path: string, id: string): LineageResult['artifacts'][number] | undefined =>
    r.artifacts.find((a) => a.path === path && a.id === id);
  for (const st of r.stages) {
    lines.push(
      '',
      `stage ${yellow(st.name)}, ran ${st.ranAt}`,
      `  cmd:    ${st.cmd}${st.wdir ? `  (in ${st.wdir})` : ''}`,
      `  env:    ${envLine(st.env)}`,
    );
    if (envSummaryLine(st.environment)) lines.push(`  host:   ${envSummaryLine(st.environment)}`);
    const params = Object.entries(st.params).flatMap(([f, kv]) => Object.entries(kv).map(([k, v]) => `${f}:${k}=${JSON.stringify(v)}`));
    if (params.length) lines.push(`  params: ${params.join(', ')}`);
    for (const d of st.inputs) {
      const a = art(d.path, d.id);
      const what = d.uncommitted
        ? a?.committedSince
          ? `UNCOMMITTED when read; committed since as snapshot ${short(a.committedSince)}`
          : 'UNCOMMITTED changes to tracked data: in no snapshot'
        : a?.kind === 'output'
          ? `output of stage ${a.stage}`
          : a?.kind === 'raw'
            ? 'raw data'
            : 'file';
      lines.push(`  in:     ${d.path}  ${d.snapshot ? `snapshot ${short(d.snapshot)}` : `id ${short(d.id)}`}  (${what})`);
    }
    for (const o of st.outputs) {
      const m = st.metrics?.find((x) => x.path === o.path);
      lines.push(m ? `  metric: ${o.path}  id ${short(o.id)}  ${formatMetrics(m.values)}` : `  out:    ${o.path}  id ${short(o.id)}`);
    }
  }
  const raw = r.artifacts.filter((a) => a.kind === 'raw');
  if (raw.length) {
    lines.push('', 'raw data:');
    for (const a of raw) lines.push(rawLine(a));
  }
  return lines.join('\n');
}

export function dag(r: DagResult): string {
  if (r.stages.length === 0) return 'no stages: add one with `dv stage add`';
  return r.stages
    .map((st) => {
      const next = r.edges.filter((e) => e.from === st.name);
      return [st.name, ...next.map((e) => `  -> ${e.to}  (${e.path})`)].join('\n');
    })
    .join('\n');
}

export function stageList(stages: StageInfo[]): string {
  if (stages.length === 0) return 'no stages: add one with `dv stage add`';
  return stages
    .map((st) =>
      [
        `${yellow(st.name)}: ${st.cmd}`,
        st.deps.length ? `  deps:   ${st.deps.join(', ')}` : '',
        st.params.length ? `  params: ${st.params.join(', ')}` : '',
        st.outs.length ? `  outs:   ${st.outs.join(', ')}` : '',
        st.kept?.length ? `  in git: ${st.kept.join(', ')}` : '',
      ]
        .filter(Boolean)
        .join('\n'),
    )
    .join('\n');
}
