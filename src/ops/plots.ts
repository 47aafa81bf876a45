/**
 * `dv plots show` and `dv plots diff`: the plots dv.yaml declares (`plots:`, top level and under
 * stages) as Vega-Lite specs, drawn from their data files in the workspace or at git revisions,
 * one series per revision; optionally written as a self-contained HTML page plus one JSON spec
 * per plot (as `dvc plots show|diff`).
 *
 * Files are read as `dv metrics` reads them (read/at-version.ts): at a revision from git when the
 * commit holds the file, else through its pointer (store, then remote); never past MAX_FILE bytes.
 * The plots are those of every version's dv.yaml (a later version's options win), so a plot added
 * or removed between the two still shows. A data file missing at some versions is a warning (it
 * has no series there); missing at all of them, unreadable, too large, malformed or without a
 * declared field, it is refused naming the revision and file: a page never silently lacks a plot.
 * Writes only the output directory (temp + rename per file); takes no lock.
 */
import { promises as fsp } from 'node:fs';
import { join, resolve, sep } from 'node:path';
import { DvError } from '../errors.js';
import type { Version } from '../pipeline/metrics.js';
import { mergePlots, type PlotDef } from '../pipeline/plots.js';
import { bad, type Datum, parseRows, plotFields, points } from '../pipeline/plots-data.js';
import { plotsHtml } from '../pipeline/plots-html.js';
import { type PlotInput, type PlotSpec, plotSpecs } from '../pipeline/plots-spec.js';
import { normalizeRel } from '../pipeline/spec.js';
import { MAX_FILE, readAt, specAt, versionOf } from '../read/at-version.js';
import type { RepoSession } from '../repo/repo.js';
import { writeFileAtomic } from '../store/atomic.js';
import { toRepoRel } from '../workspace/scan.js';

export type { PlotSpec } from '../pipeline/plots-spec.js';

/** `dv plots diff` compares at most this many revisions. */
export const MAX_REVS = 32;
/** At most this many points in all (a page of more is no longer readable, and each costs memory here and in the browser). */
export const MAX_POINTS = 500_000;

export interface PlotsShowOptions {
  /** Data files or directories (relative to `cwd`): only these plots; a file dv.yaml does not declare is drawn with defaults. */
  targets?: string[];
  /** Write `index.html` and `<name>.json` per plot into this directory (relative to `cwd`); absent: write nothing. */
  output?: string;
  /** The directory targets and output are relative to (default: the repository root). */
  cwd?: string;
}

export interface PlotsDiffOptions extends PlotsShowOptions {
  /** Git revisions (`workspace` names the work tree); none: HEAD and the workspace; one: it and the workspace. */
  revs?: string[];
}

export interface PlotsResult {
  /** The versions drawn, in series order. */
  revs: string[];
  plots: PlotSpec[];
  /** Data files missing at some of the versions (no series there). */
  warnings: string[];
  /** What was written, when `output` was given. */
  output?: { dir: string; html: string; specs: string[] };
}

/** The plots of every version's dv.yaml, one per data file, and those `targets` select or add. */
async function definitions(s: RepoSession, versions: Version[], targets: string[]): Promise<PlotDef[]> {
  let defs: PlotDef[] = [];
  for (const v of versions) defs = mergePlots([...defs, ...((await specAt(s, v)).plots ?? [])], 'dv.yaml');
  if (targets.length === 0) return defs;
  const out: PlotDef[] = [];
  for (const t of targets) {
    const inside = defs.filter((d) => d.file === t || d.file.startsWith(`${t}/`));
    out.push(...(inside.length ? inside : [{ file: t }]));
  }
  return mergePlots(out, 'the targets');
}

const mib = (n: number): string => `${(n / 1024 / 1024).toFixed(1)} MiB`;

/**
 * Why a workspace data file cannot be a plot's, before it is read: a directory, over the cap (the
 * read's own refusal speaks of control files), or a link leaving the repository (dv.yaml comes with
 * a clone: `loss.csv -> ~/.ssh/id_ed25519` must not end up in a page the user shares).
 */
async function unfit(s: RepoSession, file: string): Promise<string | undefined> {
  const full = join(s.root, file);
  const st = await fsp.stat(full).catch(() => undefined);
  if (!st) return undefined;
  const [real, root] = await Promise.all([fsp.realpath(full), fsp.realpath(s.root)]);
  if (!real.startsWith(root + sep)) return 'leads outside the repository (a link): dv plots reads data inside it only';
  if (st.isDirectory()) return 'is a directory, not a data file';
  if (st && st.size > MAX_FILE) return `is ${mib(st.size)}, over the ${mib(MAX_FILE)} dv reads of a plot's data file`;
  return undefined;
}

/**
 * One plot's points at every version (newest first). A version without the file, or without a
 * field the plot draws, has no series and is named in `warnings`; at no version at all, refused.
 */
async function plotInput(
  s: RepoSession,
  def: PlotDef,
  versions: Version[],
  warnings: string[],
  budget: { left: number },
): Promise<PlotInput> {
  const data: Datum[] = [];
  const revs: string[] = [];
  let fields: { x: string; y: string[] } | undefined;
  const missing: string[] = [];
  const lacking: DvError[] = [];
  for (const v of versions) {
    const where = v.commit ? `${v.rev}:${def.file}` : def.file;
    const problem = v.commit ? undefined : await unfit(s, def.file);
    if (problem) throw bad(where, problem);
    const f = await readAt(s, v, def.file);
    if ('missing' in f) {
      missing.push(where);
      continue;
    }
    // at-version's cap message speaks of metrics and params; here the file is a plot's data.
    if ('error' in f) throw bad(where, f.error.replace('of a metrics or params file', "of a plot's data file"));
    const rows = parseRows(f.text, def.file, where);
    try {
      // Every version draws the same fields: a y chosen by default is the newest version's.
      const own = plotFields(fields ? { ...def, y: fields.y } : def, rows, where);
      fields ??= own;
    } catch (e) {
      if (!(e instanceof DvError) || e.code !== 'PLOT_DATA_INVALID') throw e;
      lacking.push(e);
      continue;
    }
    const more = points(rows, fields, v.rev);
    budget.left -= more.length;
    if (budget.left < 0) throw bad(where, `brings the plots over ${MAX_POINTS} points: name fewer plots (targets) or fewer revisions`);
    // A loop, not push(...more): a spread of 10^5 arguments overflows the stack.
    for (const d of more) data.push(d);
    revs.push(v.rev);
  }
  if (!fields) {
    if (lacking.length) throw lacking[0];
    const at = versions.length === 1 && !versions[0].commit ? '' : ` at ${versions.map((v) => v.rev).join(', ')}`;
    const msg = `plot data ${def.file} does not exist${at}: if a stage writes it, run \`dv repro\`; else fix the path`;
    throw new DvError('PATH_NOT_FOUND', msg, { path: def.file });
  }
  warnings.push(...missing.map((w) => `${w} does not exist there: no series for it`));
  warnings.push(...lacking.map((e) => `${e.message}: no series for it`));
  return { def, x: fields.x, y: fields.y, revs, data };
}

async function writeOutput(dir: string, plots: PlotSpec[], revs: string[]): Promise<PlotsResult['output']> {
  await fsp.mkdir(dir, { recursive: true }).catch((e: NodeJS.ErrnoException) => {
    const why = e.code === 'EEXIST' || e.code === 'ENOTDIR' ? 'is a file, or inside one' : (e.code ?? String(e));
    throw new DvError('USAGE', `-o ${dir} ${why}: name a directory to write the plots in`, { output: dir });
  });
  const specs: string[] = [];
  for (const p of plots) {
    const file = join(dir, `${p.name}.json`);
    await writeFileAtomic(file, `${JSON.stringify(p.spec, null, 2)}\n`);
    specs.push(file);
  }
  const page = plots.map((p) => ({
    name: p.name,
    file: p.file,
    meta: `${p.template}, ${p.points} points${revs.length > 1 ? `, revisions: ${revs.join(', ')}` : ''}${p.stage ? `, stage ${p.stage}` : ''}`,
    spec: p.spec,
  }));
  const html = join(dir, 'index.html');
  await writeFileAtomic(html, await plotsHtml(page, revs.length > 1 ? `dv plots diff: ${revs.join(' vs ')}` : 'dv plots'));
  return { dir, html, specs };
}

/** The plots at `versions` (in series order), written to `o.output` when given. */
async function draw(s: RepoSession, versions: Version[], o: PlotsShowOptions): Promise<PlotsResult> {
  const cwd = o.cwd ?? s.root;
  const targets = (o.targets ?? []).map((t) => {
    try {
      return normalizeRel(toRepoRel(s.root, cwd, t).replace(/\/+$/, ''), 'dv plots');
    } catch (e) {
      throw new DvError('USAGE', e instanceof Error ? e.message : String(e), { target: t });
    }
  });
  const defs = await definitions(s, versions, [...new Set(targets)]);
  const warnings: string[] = [];
  // The newest version first, so a default y field is the one the latest data has; series keep the given order.
  const inputs: PlotInput[] = [];
  const budget = { left: MAX_POINTS };
  for (const d of defs) {
    const p = await plotInput(s, d, [...versions].reverse(), warnings, budget);
    const order = versions.map((v) => v.rev);
    p.revs.sort((a, b) => order.indexOf(a) - order.indexOf(b));
    p.data.sort((a, b) => order.indexOf(a.rev) - order.indexOf(b.rev));
    inputs.push(p);
  }
  const plots = plotSpecs(inputs);
  const revs = versions.map((v) => v.rev);
  const r: PlotsResult = { revs, plots, warnings };
  if (o.output !== undefined && plots.length > 0) r.output = await writeOutput(resolve(cwd, o.output), plots, revs);
  return r;
}

/** The plots in the workspace. */
export async function plotsShow(s: RepoSession, o: PlotsShowOptions): Promise<PlotsResult> {
  return draw(s, [await versionOf(s, undefined)], o);
}

/** The plots at several versions, one series per version (default: HEAD and the workspace). */
export async function plotsDiff(s: RepoSession, o: PlotsDiffOptions): Promise<PlotsResult> {
  const given = [...new Set(o.revs ?? [])];
  if (given.length > MAX_REVS) throw new DvError('USAGE', `dv plots diff: ${given.length} revisions: give at most ${MAX_REVS}`);
  const names = given.length === 0 ? ['HEAD', undefined] : given.length === 1 ? [given[0], undefined] : given;
  const versions: Version[] = [];
  for (const n of names) {
    const v = await versionOf(s, n);
    if (!versions.some((x) => x.rev === v.rev)) versions.push(v);
  }
  return draw(s, versions, o);
}
