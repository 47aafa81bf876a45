/**
 * The page `dv plots diff` writes, opened from disk in Debian's chromium with the network cut off
 * (test/helpers/browser.ts): every chart renders as SVG with one mark per point and one colour per
 * revision, nothing is fetched, and data or titles holding markup stay text. A screenshot is left
 * in test-output/screenshots/plots-diff.png.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { dvJson, dvOk, git, makeRepo } from '../helpers/cli.js';
import { offlinePage, screenshot } from '../helpers/browser.js';

async function commitAll(repo: string, msg: string): Promise<void> {
  git(repo, ['add', '-A']);
  git(repo, ['commit', '-qm', msg]);
}

/** Draws the page at `dir` and returns, per plot name, the points its view holds and the SVG marks drawn. */
async function drawn(html: string, markOf: Record<string, string>) {
  const o = await offlinePage();
  try {
    const errors: string[] = [];
    o.page.on('pageerror', (e) => errors.push(e.message));
    await o.page.goto(pathToFileURL(html).href);
    await o.page.waitForFunction(() => (window as any).dvReady === true, null, { timeout: 30_000 });
    const r = await o.page.evaluate((marks: Record<string, string>) => {
      const w = window as any;
      const names = Object.keys(w.dvViews);
      return {
        errors: w.dvErrors as string[],
        pwned: w.pwned,
        imgs: document.querySelectorAll('img').length,
        svgs: document.querySelectorAll('.plot svg').length,
        plots: names.map((name, i) => {
          const el = document.getElementById(`dv-plot-${i}`)!;
          return {
            name,
            points: (w.dvViews[name].data('points') as { rev: string }[]).map((d) => d.rev),
            marks: el.querySelectorAll(`g.${marks[name]}.role-mark path`).length,
            text: el.querySelector('svg')?.textContent ?? '',
          };
        }),
      };
    }, markOf);
    const shot = await screenshot(o.page, 'plots-diff');
    return { ...r, pageErrors: errors, external: o.external, shot };
  } finally {
    await o.close();
  }
}

test('plots diff page: opens with no network, every chart drawn as SVG with one mark per point and a series per revision', async () => {
  const repo = await makeRepo();
  const write = (f: string, t: string): Promise<void> => fsp.writeFile(join(repo, f), t);
  await write(
    'dv.yaml',
    `plots:
  - loss.csv: { x: epoch, y: [loss, acc], title: Training }
  - roc.json: { x: fpr, y: tpr, template: scatter }
  - sizes.tsv: { x: split, y: rows, template: bar }
`,
  );
  const loss = (k: number, n: number): string =>
    `epoch,loss,acc\n${Array.from({ length: n }, (_, e) => `${e + 1},${(1 / (e + k)).toFixed(3)},${(e / (n + k)).toFixed(3)}`).join('\n')}\n`;
  const roc = (k: number): string => JSON.stringify([0, 0.2, 0.5, 1].map((f) => ({ fpr: f, tpr: Math.min(1, f * k) })));
  await write('loss.csv', loss(1, 4));
  await write('roc.json', roc(1.5));
  await write('sizes.tsv', 'split\trows\ntrain\t800\ntest\t200\n');
  await commitAll(repo, 'run 1');
  await write('loss.csv', loss(2, 5));
  await write('roc.json', roc(2));
  await write('sizes.tsv', 'split\trows\ntrain\t900\ntest\t250\n');
  await commitAll(repo, 'run 2');
  await write('loss.csv', loss(3, 6));
  await write('sizes.tsv', 'split\trows\ntrain\t950\ntest\t300\nval\t50\n');

  const revs = ['HEAD~1', 'HEAD', 'workspace'];
  const j = await dvJson(repo, ['plots', 'diff', ...revs]);
  // Per revision: loss.csv has 4, 5, 6 rows of two y fields; roc.json 4 points (unchanged in the workspace); sizes.tsv 2, 2, 3 bars.
  const expected: Record<string, number> = { 'loss.csv': 2 * (4 + 5 + 6), 'roc.json': 3 * 4, 'sizes.tsv': 2 + 2 + 3 };
  assert.deepEqual(Object.fromEntries(j.plots.map((p: any) => [p.file, p.points])), expected);
  await dvOk(repo, ['plots', 'diff', ...revs, '-o', 'page']);

  const r = await drawn(join(repo, 'page', 'index.html'), {
    'loss.csv': 'mark-symbol',
    'roc.json': 'mark-symbol',
    'sizes.tsv': 'mark-rect',
  });
  assert.deepEqual(r.external, [], 'the page asked for nothing off this machine');
  assert.deepEqual([r.errors, r.pageErrors], [[], []]);
  assert.equal(r.svgs, 3);
  for (const p of r.plots) {
    assert.equal(p.points.length, expected[p.name], `${p.name}: points in the view`);
    assert.equal(p.marks, expected[p.name], `${p.name}: one SVG mark per point`);
    assert.deepEqual([...new Set(p.points)], revs, `${p.name}: one series per revision, in order`);
    for (const rev of revs) assert.ok(p.text.includes(rev), `${p.name}: the legend names ${rev}`);
  }
  assert.match(r.shot, /plots-diff\.png$/);
  await fsp.access(r.shot);
});

test('plots page: markup in data, titles and file names stays text; the page still draws', async () => {
  const repo = await makeRepo();
  const evil = '</script><script>window.pwned=1</script><img src=x onerror="window.pwned=2">';
  await fsp.writeFile(join(repo, 'x<b>.csv'), `name,v\n"${evil.replace(/"/g, '""')}",1\nok,2\n`);
  await fsp.writeFile(join(repo, 'dv.yaml'), `plots:\n  - "x<b>.csv": { x: name, y: v, template: bar, title: ${JSON.stringify(evil)} }\n`);
  await dvOk(repo, ['plots', 'show', '-o', 'page']);
  const o = await offlinePage();
  try {
    await o.page.goto(pathToFileURL(join(repo, 'page', 'index.html')).href);
    await o.page.waitForFunction(() => (window as any).dvReady === true, null, { timeout: 30_000 });
    const r = await o.page.evaluate(() => ({
      pwned: (window as any).pwned,
      imgs: document.querySelectorAll('img').length,
      heading: document.querySelector('h2')?.textContent,
      points: (window as any).dvViews['x_b_.csv'].data('points').length,
      title: document.querySelector('.plot svg .role-title-text')?.textContent,
    }));
    assert.deepEqual(r, { pwned: undefined, imgs: 0, heading: 'x<b>.csv', points: 2, title: evil });
    assert.deepEqual(o.external, []);
  } finally {
    await o.close();
  }
});
