/**
 * A self-contained HTML page that draws Vega-Lite specs: the browser builds of vega, vega-lite and
 * vega-embed (from node_modules, as the package ships them) inlined in <script> tags, the specs
 * with their data inlined as JSON. It opens from disk with no network, and its Content Security
 * Policy forbids any request (default-src 'none'), so a page made from a stranger's data cannot
 * call out either.
 *
 * Invariants: every text from data or dv.yaml reaches the page escaped: HTML text through
 * `escapeHtml`, JSON through `scriptJson` (no `</script>`, no `<!--`, no U+2028/9 can end or bend
 * the script); the page exposes `window.dvViews` (plot name → Vega view) and sets
 * `window.dvReady` when every plot is drawn (or failed: `window.dvErrors`), for tests and tools.
 */
import { promises as fsp } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/** The browser builds, in load order (vega-embed finds `vega` and `vegaLite` as globals). */
const VENDOR = [
  ['vega', 'vega.min.js'],
  ['vega-lite', 'vega-lite.min.js'],
  ['vega-embed', 'vega-embed.min.js'],
] as const;

let vendor: Promise<string[]> | undefined;

/** The three builds' text, read once per process. Their packages export no build file, so each is found beside the package's main module (all in build/). */
export function vendorScripts(): Promise<string[]> {
  vendor ??= (async () => {
    const req = createRequire(import.meta.url);
    return Promise.all(VENDOR.map(([pkg, file]) => fsp.readFile(join(dirname(req.resolve(pkg)), file), 'utf8')));
  })();
  return vendor;
}

export const escapeHtml = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');

/** JSON that is safe inside a <script> element: `<` escaped (so no `</script>` or `<!--`), and the two line separators JavaScript once did not allow in strings. */
export function scriptJson(v: unknown): string {
  return JSON.stringify(v)
    .replace(/</g, '\\u003c')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

/** A script's text made unable to close its element early (`<\/` means `</` in a string or regex literal). */
const inline = (js: string): string => js.replace(/<\/(script)/gi, '<\\/$1');

const CSP = "default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; img-src data: blob:; font-src data:";

const STYLE = `body{font-family:system-ui,sans-serif;margin:24px;color:#222}h1{font-size:20px}h2{font-size:15px;margin:24px 0 4px}
.meta{color:#666;font-size:13px}.plot{margin:8px 0 24px}.error{color:#b00}`;

/** Draws every plot; records views and failures for whoever opened the page. */
const DRAW = `(async () => {
  const plots = JSON.parse(document.getElementById('dv-plots').textContent);
  window.dvViews = {};
  window.dvErrors = [];
  for (let i = 0; i < plots.length; i++) {
    const el = document.getElementById('dv-plot-' + i);
    try {
      const r = await vegaEmbed(el, plots[i].spec, { renderer: 'svg', actions: false });
      window.dvViews[plots[i].name] = r.view;
    } catch (e) {
      window.dvErrors.push(plots[i].name + ': ' + e.message);
      el.textContent = 'cannot draw this plot: ' + e.message;
      el.className = 'plot error';
    }
  }
  window.dvReady = true;
})();`;

/** One plot as the page lists it. */
export interface PagePlot {
  name: string;
  /** The heading: the data file. */
  file: string;
  /** A line under it (the revisions, the point count). */
  meta?: string;
  spec: unknown;
}

/** The page's HTML. */
export async function plotsHtml(plots: PagePlot[], title = 'dv plots'): Promise<string> {
  const scripts = await vendorScripts();
  const sections = plots.map(
    (p, i) =>
      `<section><h2>${escapeHtml(p.file)}</h2>${p.meta ? `<div class="meta">${escapeHtml(p.meta)}</div>` : ''}` +
      `<div class="plot" id="dv-plot-${i}"></div></section>`,
  );
  const data = plots.map((p) => ({ name: p.name, spec: p.spec }));
  return [
    '<!doctype html>',
    '<html lang="en"><head><meta charset="utf-8">',
    `<meta http-equiv="Content-Security-Policy" content="${CSP}">`,
    `<title>${escapeHtml(title)}</title><style>${STYLE}</style>`,
    ...scripts.map((js) => `<script>${inline(js)}</script>`),
    '</head><body>',
    `<h1>${escapeHtml(title)}</h1>`,
    ...sections,
    `<script type="application/json" id="dv-plots">${scriptJson(data)}</script>`,
    `<script>${DRAW}</script>`,
    '</body></html>',
    '',
  ].join('\n');
}
