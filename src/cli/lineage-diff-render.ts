/** `dv lineage diff` as text (a block per stage) and as a Markdown table for a pull-request comment. */
import type { LineageDiffResult, LineageSide } from '../ops/lineage-diff.js';
import type { InputChange, StageDiff, ValueChange } from '../provenance/lineage-compare.js';
import { showValue } from '../provenance/lineage-compare.js';
import { printable } from './render.js';
import { parseDigest } from '../pipeline/packages-digest.js';

const short = (id: string | null): string => (id ? id.slice(0, 12) : '(none)');
const sideName = (s: LineageSide): string => `${s.rev}${s.commit && s.commit !== s.rev ? ` (${short(s.commit)})` : ''}`;
const val = (c: ValueChange, k: 'a' | 'b'): string => showValue(c[k], k in c);
const LETTER = { added: 'A', modified: 'M', deleted: 'D' } as const;

function counts(i: InputChange): string {
  if (i.unknown) return `${short(i.a)} → ${short(i.b)} (trees not in the local store: dv fetch)`;
  return `${i.added} added, ${i.modified} modified, ${i.deleted} deleted`;
}

/** The package set as dv.lock's digest (the run records that list it are not here): say that it changed, and the digests. */
function envRow(e: ValueChange): [string, string, string, string] {
  const da = parseDigest(e.a);
  const db = parseDigest(e.b);
  if (e.key !== 'pythonPackages' || (!da && !db)) return ['env', e.key, val(e, 'a'), val(e, 'b')];
  const show = (d: ReturnType<typeof parseDigest>, k: 'a' | 'b'): string => (d ? `${d.hex.slice(0, 12)} (${d.count} packages)` : val(e, k));
  return ['env', 'pythonPackages', `package set changed (digest ${show(da, 'a')}`, `${show(db, 'b')})`];
}

/** One row per change of a stage: [kind, what, a, b]. */
function rows(d: StageDiff): [string, string, string, string][] {
  const out: [string, string, string, string][] = [];
  if (d.status === 'added' || d.status === 'removed')
    out.push(['stage', d.name, d.status === 'added' ? '(absent)' : 'ran', d.status === 'added' ? 'ran' : '(absent)']);
  for (const i of d.inputs) {
    const list = i.paths.map((p) => `${LETTER[p.change]} ${p.path}`).join(', ') + (i.more ? `, ${i.more} more` : '');
    out.push([i.kind, i.path, short(i.a), `${counts(i)}${list ? `: ${list}` : ''}`]);
  }
  for (const p of d.params) out.push(['params', p.key, val(p, 'a'), val(p, 'b')]);
  if (d.code) {
    const files = d.code.unknown
      ? d.code.unknown
      : d.code.files.length + d.code.more === 0
        ? `no code files changed${d.code.filtered ? ` (${d.code.filtered} dv/params files left out)` : ''}`
        : `${d.code.files.join(', ')}${d.code.more ? `, ${d.code.more} more` : ''}`;
    const dirty = (x: boolean): string => (x ? ' (dirty)' : '');
    out.push(['code', 'commit', short(d.code.a) + dirty(d.code.dirtyA), `${short(d.code.b)}${dirty(d.code.dirtyB)}: ${files}`]);
  }
  for (const c of d.command) out.push(['command', c.key, val(c, 'a'), val(c, 'b')]);
  for (const e of d.env) out.push(envRow(e));
  for (const m of d.metrics) out.push(['metric', m.key, val(m, 'a'), val(m, 'b')]);
  for (const o of d.outputs) out.push(['out', o.key, short((o.a as string) ?? null), short((o.b as string) ?? null)]);
  if (d.more) out.push(['more', `${d.more} changes not listed`, '', '']);
  return out;
}

function causeLine(r: LineageDiffResult): string {
  if (r.causes.length === 0) return 'causes: none (the records name the same data, params, code, command and environment)';
  return `causes: ${r.causes.map((c) => `${c.kind} (${c.stage}: ${c.what.slice(0, 5).join(', ')}${c.what.length > 5 ? ', ...' : ''})`).join('; ')}`;
}

export function lineageDiffText(r: LineageDiffResult): string {
  const lines = [
    `lineage diff ${r.artifact}: ${sideName(r.a)} snapshot ${short(r.a.snapshot)} → ${sideName(r.b)} snapshot ${short(r.b.snapshot)}`,
    causeLine(r),
  ];
  for (const d of r.stages) {
    const causes = d.causes.length ? ` (causes: ${d.causes.join(', ')})` : '';
    lines.push('', `${d.name}: ${d.status === 'same' ? 'unchanged' : d.status}${causes}`);
    for (const [kind, what, a, b] of rows(d)) lines.push(`  ${kind} ${what}: ${a} → ${b}`);
  }
  return printable(lines.join('\n'));
}

/** A table cell: one line, no pipe that would end the cell early. */
const cell = (s: string): string => printable(s).replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');

export function lineageDiffMarkdown(r: LineageDiffResult): string {
  const a = cell(r.a.rev);
  const b = cell(r.b.rev);
  const title = `### \`dv lineage diff ${cell(r.artifact)}\`: ${cell(sideName(r.a))} → ${cell(sideName(r.b))}`;
  const lines = [title, '', `**${cell(causeLine(r))}**`, ''];
  lines.push(`| stage | cause? | kind | what | ${a} | ${b} |`, '| --- | --- | --- | --- | --- | --- |');
  const CAUSE: Record<string, string> = {
    data: 'data',
    file: 'code',
    params: 'params',
    code: 'code',
    command: 'command',
    env: 'env',
    stage: 'stage',
  };
  for (const d of r.stages) {
    for (const [kind, what, va, vb] of rows(d)) {
      const cause = CAUSE[kind] !== undefined && d.causes.includes(CAUSE[kind] as never) ? 'yes' : '';
      lines.push(`| ${cell(d.name)} | ${cause} | ${kind} | ${cell(what)} | ${cell(va)} | ${cell(vb)} |`);
    }
  }
  if (r.stages.every((d) => rows(d).length === 0)) lines.push('| | | | no differences | | |');
  return lines.join('\n');
}
