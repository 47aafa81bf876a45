/**
 * Vega-Lite specs of plots: one spec per data file, its points inline (`data.name` is `points`, so
 * a page can ask a view for them), one series per revision (colour by `rev`) and per y field.
 * `dv plots show|diff` writes them; `dv ui` may draw metrics with them too. Pure.
 *
 * Invariants: the data carries fixed keys (rev, field, x, y: plots-data.ts `Datum`), so a field
 * name from a data file never becomes a Vega-Lite field expression (`a.b`, `c[0]` would); titles
 * are plain strings that Vega draws as text, never markup.
 */
import type { Cell, Datum } from './plots-data.js';
import type { PlotDef, PlotTemplate } from './plots.js';

export const VEGA_LITE_SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';
/** The inline dataset's name: `view.data('points')` in a page returns the points drawn. */
export const DATA_NAME = 'points';

/** What one plot draws: its declaration, its fields and its points (of every revision, in order). */
export interface PlotInput {
  def: PlotDef;
  /** The x field (as the data names it, or `step`) and the y fields. */
  x: string;
  y: string[];
  /** The revisions that had the file, in the order given (the colour order). */
  revs: string[];
  data: Datum[];
}

export type VegaLiteSpec = Record<string, unknown>;

export interface PlotSpec {
  /** Unique among the plots, safe as a file name (`<name>.json`). */
  name: string;
  file: string;
  stage?: string;
  template: PlotTemplate;
  /** The number of points drawn (all series). */
  points: number;
  spec: VegaLiteSpec;
}

/** `logs/loss.csv` → `logs_loss.csv`; a name already taken gets `-2`, `-3`, ... */
export function plotNames(files: string[]): string[] {
  const taken = new Set<string>();
  return files.map((f) => {
    const base = f.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '_') || 'plot';
    let name = base;
    for (let i = 2; taken.has(name.toLowerCase()); i++) name = `${base}-${i}`;
    taken.add(name.toLowerCase());
    return name;
  });
}

const ISO_DATE = /^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/;

/** How the x values read: numbers (quantitative), ISO dates (temporal), else categories. */
function xType(xs: Cell[], template: PlotTemplate): string {
  const nums = xs.every((x) => typeof x === 'number');
  if (template === 'bar') return nums ? 'ordinal' : 'nominal';
  if (nums) return 'quantitative';
  return xs.length > 0 && xs.every((x) => typeof x === 'string' && ISO_DATE.test(x)) ? 'temporal' : 'nominal';
}

/** The mark and the encodings that tell series apart: colour by revision (or by field with one revision). */
function marks(template: PlotTemplate, revs: string[], byField: boolean): { mark: VegaLiteSpec; enc: VegaLiteSpec; calc?: VegaLiteSpec } {
  const nominal = (field: string, title: string): VegaLiteSpec => ({ field, type: 'nominal', title });
  const byRev = revs.length > 1;
  // The revisions' order is the colour order: the first given is the first colour in every plot.
  const color = byRev ? { ...nominal('rev', 'revision'), scale: { domain: revs } } : byField ? nominal('field', 'field') : undefined;
  const enc: VegaLiteSpec = color ? { color } : {};
  if (template === 'bar') {
    if (byRev && byField) {
      // Grouped bars need one offset field: the revision and field together.
      const series = nominal('series', 'series');
      return {
        mark: { type: 'bar' },
        enc: { color: series, xOffset: series },
        calc: { calculate: "datum.rev + ' · ' + datum.field", as: 'series' },
      };
    }
    if (color) enc.xOffset = color;
    return { mark: { type: 'bar' }, enc };
  }
  if (byRev && byField) enc[template === 'scatter' ? 'shape' : 'strokeDash'] = nominal('field', 'field');
  return { mark: template === 'scatter' ? { type: 'point', filled: true } : { type: 'line', point: true }, enc };
}

/** The Vega-Lite spec of one plot. */
export function plotSpec(p: PlotInput): VegaLiteSpec {
  const template = p.def.template ?? 'linear';
  const { mark, enc, calc } = marks(template, p.revs, p.y.length > 1);
  const yTitle = p.def.yLabel ?? (p.y.length === 1 ? p.y[0] : 'value');
  const xTitle = p.def.xLabel ?? p.x;
  // Categories keep the order the data gives them (a file's rows), not the alphabet's.
  const type = xType(
    p.data.map((d) => d.x),
    template,
  );
  return {
    $schema: VEGA_LITE_SCHEMA,
    title: p.def.title ?? p.def.file,
    width: 640,
    height: 320,
    data: { name: DATA_NAME, values: p.data },
    ...(calc ? { transform: [calc] } : {}),
    mark,
    encoding: {
      x: { field: 'x', type, title: xTitle, ...(type === 'nominal' ? { sort: null } : {}) },
      y: { field: 'y', type: 'quantitative', title: yTitle },
      ...enc,
      tooltip: [
        { field: 'rev', type: 'nominal', title: 'revision' },
        { field: 'field', type: 'nominal', title: 'field' },
        { field: 'x', title: xTitle },
        { field: 'y', type: 'quantitative', title: yTitle },
      ],
    },
  };
}

/** The specs of `plots`, each with a unique name. */
export function plotSpecs(plots: PlotInput[]): PlotSpec[] {
  const names = plotNames(plots.map((p) => p.def.file));
  return plots.map((p, i) => ({
    name: names[i],
    file: p.def.file,
    ...(p.def.stage ? { stage: p.def.stage } : {}),
    template: p.def.template ?? 'linear',
    points: p.data.length,
    spec: plotSpec(p),
  }));
}
