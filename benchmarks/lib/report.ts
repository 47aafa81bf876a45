// Turns raw samples into the table (medians, ratios, MB/s, peak RSS, new bytes) and the targets.
import { median } from './measure.js';

export interface Sample {
  dataset: string;
  op: string;
  tool: string;
  /** How the tool's command is called in the table (e.g. "restic backup"). */
  label: string;
  round: number;
  seconds?: number;
  rss?: number | null;
  newBytes?: number | null;
  otherCores?: number | null;
  load1?: number;
  /** Bytes the operation covers, for MB/s. */
  bytes?: number;
  error?: string;
  note?: string;
}

export interface Row {
  dataset: string;
  op: string;
  tool: string;
  label: string;
  runs: number;
  seconds: number | null;
  /** This row's time ÷ dv's time for the same operation (> 1: dv is faster). */
  vsDv: number | null;
  mbps: number | null;
  peakRss: number | null;
  newBytes: number | null;
  otherCores: number | null;
  maxLoad1: number | null;
  /** Set when there is no measurement: "not installed", "failed: ...", "n/a (not implemented)". */
  status?: string;
  notes: string[];
}

/** Operations in table order; the baselines shown under each. */
export const OPS: { op: string; baselines: string[]; mbps: boolean }[] = [
  { op: 'add', baselines: ['cat', 'b3sum', 'cp -r', 'zstd -3'], mbps: true },
  { op: 'status', baselines: [], mbps: false },
  { op: 'checkout', baselines: ['cp -r'], mbps: true },
  { op: 'push local', baselines: ['cp -r'], mbps: true },
  { op: 'push s3', baselines: ['aws s3 sync (up)'], mbps: true },
  { op: 'pull local', baselines: ['cp -r'], mbps: true },
  { op: 'pull s3', baselines: ['aws s3 sync (down)'], mbps: true },
  { op: 'commit: 1 MiB overwrite', baselines: [], mbps: false },
  { op: 'commit: 10 MiB append', baselines: [], mbps: false },
  { op: 'commit: CSV +1% rows', baselines: [], mbps: false },
];

export const BASELINE_OP = 'baseline';

const nums = (xs: (number | null | undefined)[]): number[] => xs.filter((x): x is number => typeof x === 'number');

function aggregate(dataset: string, op: string, tool: string, samples: Sample[], dv: Row | undefined, mbps: boolean): Row {
  const ok = samples.filter((s) => s.error === undefined);
  const failed = samples.find((s) => s.error !== undefined);
  const secs = nums(ok.map((s) => s.seconds));
  const seconds = secs.length ? median(secs) : null;
  const rss = nums(ok.map((s) => s.rss));
  const nb = nums(ok.map((s) => s.newBytes));
  const other = nums(ok.map((s) => s.otherCores));
  const load = nums(ok.map((s) => s.load1));
  const bytes = ok[0]?.bytes;
  const row: Row = {
    dataset,
    op,
    tool,
    label: samples[0]?.label ?? tool,
    runs: secs.length,
    seconds,
    vsDv: seconds !== null && dv?.seconds && tool !== 'dv' ? seconds / dv.seconds : null,
    mbps: mbps && seconds && bytes ? bytes / 1e6 / seconds : null,
    peakRss: rss.length ? Math.max(...rss) : null,
    newBytes: nb.length ? median(nb) : null,
    otherCores: other.length ? median(other) : null,
    maxLoad1: load.length ? Math.max(...load) : null,
    notes: [...new Set(samples.map((s) => s.note).filter((n): n is string => !!n))],
  };
  if (seconds === null) row.status = failed?.error ?? 'no samples';
  else if (failed) row.notes.push(`${samples.length - ok.length} of ${samples.length} runs failed: ${failed.error}`);
  return row;
}

/** One row per (dataset, operation, tool), dv first, then peers, then baselines. */
export function buildRows(samples: Sample[], datasets: string[], peers: string[]): Row[] {
  const rows: Row[] = [];
  for (const dataset of datasets) {
    const mine = samples.filter((s) => s.dataset === dataset);
    for (const { op, baselines, mbps } of OPS) {
      const ofOp = mine.filter((s) => s.op === op);
      if (!ofOp.length) continue;
      let dv: Row | undefined;
      for (const tool of peers) {
        const s = ofOp.filter((x) => x.tool === tool);
        if (!s.length) continue;
        const row = aggregate(dataset, op, tool, s, dv, mbps);
        if (tool === 'dv') dv = row;
        rows.push(row);
      }
      for (const tool of baselines) {
        const s = mine.filter((x) => x.op === BASELINE_OP && x.tool === tool);
        if (s.length) rows.push(aggregate(dataset, op, tool, s, dv, true));
      }
    }
  }
  return rows;
}

// --- targets ---------------------------------------------------------------------------------

export interface Target {
  target: string;
  measured: string;
  verdict: string;
}

const find = (rows: Row[], dataset: string, op: string, tool: string): Row | undefined =>
  rows.find((r) => r.dataset === dataset && r.op === op && r.tool === tool);

export function fmtSeconds(s: number | null): string {
  if (s === null) return '—';
  return s < 10 ? `${s.toFixed(s < 1 ? 3 : 2)} s` : `${s.toFixed(1)} s`;
}

export function fmtBytes(b: number | null): string {
  if (b === null) return '—';
  if (b < 1e6) return `${(b / 1e3).toFixed(1)} kB`;
  return `${(b / 1e6).toFixed(1)} MB`;
}

const verdict = (ok: boolean): string => (ok ? 'met' : 'NOT MET');

/** The issue's targets, evaluated on the medians. `csvBytes` scales the CSV storage target. */
export function evaluateTargets(rows: Row[], o: { csvBytes: number; peers: string[] }): Target[] {
  const out: Target[] = [];
  const dvRow = (ds: string, op: string): Row | undefined => find(rows, ds, op, 'dv');
  const missing = (r: Row | undefined, what = 'dv'): string =>
    r ? `n/a (${what}: ${r.status ?? 'no data'})` : `n/a (${what} not measured)`;
  const has = (r: Row | undefined): r is Row & { seconds: number } => !!r && r.seconds !== null;

  const faster = (name: string, ds: string, op: string, peer: string): void => {
    const a = dvRow(ds, op);
    const b = find(rows, ds, op, peer);
    if (!has(a)) out.push({ target: name, measured: '', verdict: missing(a) });
    else if (!has(b)) out.push({ target: name, measured: `dv ${fmtSeconds(a.seconds)}`, verdict: missing(b, peer) });
    else
      out.push({
        target: name,
        measured: `dv ${fmtSeconds(a.seconds)} vs ${peer} ${fmtSeconds(b.seconds)}`,
        verdict: verdict(a.seconds < b.seconds),
      });
  };
  const atMost = (name: string, ds: string, op: string, limit: number): void => {
    const a = dvRow(ds, op);
    if (!has(a)) out.push({ target: name, measured: '', verdict: missing(a) });
    else out.push({ target: name, measured: fmtSeconds(a.seconds), verdict: verdict(a.seconds <= limit) });
  };
  const bytesAtMost = (name: string, ds: string, op: string, limit: number): void => {
    const a = dvRow(ds, op);
    if (!a || a.newBytes === null) out.push({ target: name, measured: '', verdict: missing(a) });
    else out.push({ target: name, measured: fmtBytes(a.newBytes), verdict: verdict(a.newBytes <= limit) });
  };

  faster('add many-small: faster than restic', 'many-small', 'add', 'restic');
  {
    const name = 'add few-large: faster than every peer, ≤ 3 s';
    const a = dvRow('few-large', 'add');
    if (!has(a)) out.push({ target: name, measured: '', verdict: missing(a) });
    else {
      const peers = o.peers
        .filter((p) => p !== 'dv')
        .map((p) => find(rows, 'few-large', 'add', p))
        .filter(has);
      const best = peers.length ? Math.min(...peers.map((p) => p.seconds)) : null;
      const bestName = peers.find((p) => p.seconds === best)?.tool;
      out.push({
        target: name,
        measured: `dv ${fmtSeconds(a.seconds)}${best !== null ? `; fastest peer ${bestName} ${fmtSeconds(best)}` : '; no peer measured'}`,
        verdict: verdict(a.seconds <= 3 && (best === null || a.seconds < best)) + (best === null ? ' (no peer to compare)' : ''),
      });
    }
  }
  atMost('status many-small, nothing changed: ≤ 0.5 s', 'many-small', 'status', 0.5);
  faster('checkout many-small into an empty dir: faster than restic', 'many-small', 'checkout', 'restic');
  atMost('checkout few-large: ≤ 2 s', 'few-large', 'checkout', 2);
  bytesAtMost('new bytes after a 1 MiB overwrite in a large file: ≤ 2 MB', 'few-large', 'commit: 1 MiB overwrite', 2e6);
  bytesAtMost('new bytes after a 10 MiB append: ≤ 10.8 MB', 'few-large', 'commit: 10 MiB append', 10.8e6);
  const csvLimit = (o.csvBytes * 61) / 200;
  bytesAtMost(
    `bytes stored for the ${(o.csvBytes / 1e6).toFixed(0)} MB CSV: ≤ ${(csvLimit / 1e6).toFixed(1)} MB (61 MB per 200 MB)`,
    'csv',
    'add',
    csvLimit,
  );
  {
    const name = 'push many-small to s3rver: ≥ 10× faster than aws s3 sync';
    const a = dvRow('many-small', 'push s3');
    const b = rows.find((r) => r.dataset === 'many-small' && r.op === 'push s3' && r.tool === 'aws s3 sync (up)');
    if (!has(a)) out.push({ target: name, measured: '', verdict: missing(a) });
    else if (!has(b)) out.push({ target: name, measured: `dv ${fmtSeconds(a.seconds)}`, verdict: missing(b, 'aws s3 sync') });
    else
      out.push({
        target: name,
        measured: `dv ${fmtSeconds(a.seconds)} vs aws ${fmtSeconds(b.seconds)} (${(b.seconds / a.seconds).toFixed(1)}×)`,
        verdict: verdict(b.seconds / a.seconds >= 10),
      });
  }
  atMost('push many-small to a local directory: ≤ 1 s', 'many-small', 'push local', 1);
  {
    const name = 'peak RSS of any dv operation: ≤ 300 MB';
    const dvRows = rows.filter((r) => r.tool === 'dv' && r.peakRss !== null);
    if (!dvRows.length)
      out.push({
        target: name,
        measured: '',
        verdict: rows.some((r) => r.tool === 'dv' && r.seconds !== null)
          ? 'n/a (no RSS measured: install GNU time)'
          : 'n/a (dv not measured)',
      });
    else {
      const worst = dvRows.reduce((a, b) => (b.peakRss! > a.peakRss! ? b : a));
      out.push({
        target: name,
        measured: `${fmtBytes(worst.peakRss)} (${worst.dataset} ${worst.op})`,
        verdict: verdict(worst.peakRss! <= 300e6),
      });
    }
  }
  return out;
}

// --- rendering -------------------------------------------------------------------------------

function table(head: string[], body: string[][], right: boolean[]): string {
  const w = head.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => `| ${cells.map((c, i) => (right[i] ? c.padStart(w[i]!) : c.padEnd(w[i]!))).join(' | ')} |`;
  const rule = `|${w.map((n, i) => (right[i] ? `${'-'.repeat(n + 1)}:` : `${'-'.repeat(n + 2)}`)).join('|')}|`;
  return [line(head), rule, ...body.map(line)].join('\n');
}

/** The results table for one dataset, as a Markdown table that also reads well in a terminal. */
export function renderRows(rows: Row[]): string {
  const head = ['operation', 'tool', 'time (median)', '÷ dv', 'MB/s', 'peak RSS', 'new bytes', 'runs', 'other CPU', 'load'];
  const right = [false, false, true, true, true, true, true, true, true, true];
  const body = rows.map((r) => {
    const notes = r.notes.length ? ` (${r.notes.join('; ')})` : '';
    if (r.seconds === null)
      return [r.op, r.label, r.status ?? '—', '', '', '', '', '0', '', ''].map((c, i) => (i === 2 ? c.replace(/\|/g, '/') : c));
    return [
      r.op,
      r.label + notes.replace(/\|/g, '/'),
      fmtSeconds(r.seconds),
      r.vsDv === null ? (r.tool === 'dv' ? '1' : '—') : r.vsDv.toFixed(2),
      r.mbps === null ? '—' : r.mbps.toFixed(0),
      fmtBytes(r.peakRss),
      r.tool.startsWith('cat') || r.tool === 'b3sum' ? '—' : fmtBytes(r.newBytes),
      String(r.runs),
      r.otherCores === null ? '—' : r.otherCores.toFixed(2),
      r.maxLoad1 === null ? '—' : r.maxLoad1.toFixed(2),
    ];
  });
  return table(head, body, right);
}

export function renderTargets(targets: Target[]): string {
  return table(
    ['target', 'measured (median)', 'verdict'],
    targets.map((t) => [t.target, t.measured, t.verdict]),
    [false, false, false],
  );
}
