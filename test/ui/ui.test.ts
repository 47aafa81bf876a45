/**
 * `dv ui` as a real process over the four-stage fixture (test/ui/fixture.ts), driven in Debian's
 * chromium with the network cut (test/helpers/browser.ts): the DAG has one node per stage,
 * clicking one shows its lineage, the metrics chart has one point per commit, the dataset diff
 * lists the changed files; no request leaves the machine; and the server refuses a foreign Host,
 * writes, a bad revision and asset names outside its map. Screenshots go to test-output/.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { offlinePage, screenshot } from '../helpers/browser.js';
import { STAGES, TRAIN_CMD, uiRepo } from './fixture.js';
import { rawRequest, startUi } from './server.js';

test('dv ui in a browser without network: DAG, lineage on click, one metrics point per commit, dataset diff; refusals', async () => {
  const { repo, commits, scores } = await uiRepo();
  const { url, child, stderr } = await startUi(repo);
  const b = await offlinePage();
  try {
    const { page } = b;
    page.setDefaultTimeout(30_000);

    // Pipeline: one node per stage, laid out (distinct x positions, left to right in DAG order).
    await page.goto(`${url}#pipeline`);
    await page.waitForSelector('#dag .node');
    const nodes = await page.$$eval('#dag .node', (ns) =>
      ns.map((n) => ({
        stage: n.getAttribute('data-stage'),
        x: (n as SVGGElement).getBBox().x + (n as SVGGElement).transform.baseVal[0].matrix.e,
      })),
    );
    assert.equal(nodes.length, STAGES.length, 'one node per stage');
    assert.deepEqual(
      [...nodes].sort((p, q) => p.x - q.x).map((n) => n.stage),
      STAGES,
      'elkjs lays the chain out left to right',
    );
    assert.equal(await page.locator('#dag path.edge').count(), 3, 'one edge per link of the chain');
    await page.click('#dag .node[data-stage="train"]');
    await page.waitForSelector('#stage-detail pre.cmd');
    assert.equal(await page.textContent('#stage-detail pre.cmd'), TRAIN_CMD, "the stage's command as the run recorded it");
    const detail = (await page.textContent('#stage-detail')) ?? '';
    assert.match(detail, /params\.yaml:train\.lr\s*0\.2/, 'the params of the recorded run');
    assert.match(detail, /data\/features/, 'its input');
    assert.match(detail, /up to date/, 'verification status');
    assert.match(detail, /made from \(lineage\)[\s\S]*featurize[\s\S]*prepare/, 'the stages upstream');
    await screenshot(page, 'ui-pipeline');

    // Metrics: one chart per numeric metric; the score chart has one point per commit.
    await page.goto(`${url}#metrics`);
    await page.waitForFunction(() => (window as any).dvMetricsReady === true);
    const charts = await page.$$eval('#charts .chart', (cs) => cs.map((c) => c.getAttribute('data-metric')));
    assert.deepEqual(charts.sort(), ['metrics.json: loss', 'metrics.json: score']);
    const points = await page.locator('.chart[data-metric="metrics.json: score"] svg .mark-symbol path').count();
    assert.equal(points, commits.length, 'one point per commit');
    const values = await page.evaluate(() => {
      const v = (window as any).dvViews.metrics.find((m: any) => m.name === 'metrics.json: score').view;
      return v.data('source_0').map((d: any) => d.value);
    });
    assert.deepEqual(values, scores, 'the points are the scores, oldest first');
    await screenshot(page, 'ui-metrics');

    // Dataset diff between the first and the third commit.
    await page.goto(`${url}#diff`);
    await page.waitForSelector('#diff-table tr.change');
    await page.selectOption('#diff-a', commits[0]);
    await page.selectOption('#diff-b', commits[2]);
    await page.click('#diff-go');
    await page.waitForFunction((c) => document.getElementById('diff-summary')!.textContent!.startsWith(c), commits[0].slice(0, 10));
    const changes = await page.$$eval('#diff-table tr.change', (rs) =>
      rs.map((r) => `${r.querySelector('.badge')!.textContent} ${r.getAttribute('data-path')}`),
    );
    assert.ok(changes.includes('modified data/raw/b.csv'), changes.join(', '));
    assert.ok(changes.includes('added data/raw/c.csv'), changes.join(', '));
    assert.ok(changes.includes('modified model.json'), changes.join(', '));
    assert.ok(!changes.some((c) => c.endsWith('data/raw/a.csv')), 'an unchanged file is not listed');
    await screenshot(page, 'ui-diff');

    // Commits: the three commits, each with its pointer files.
    await page.goto(`${url}#commits`);
    await page.waitForSelector('.commit');
    assert.equal(await page.locator('.commit').count(), 3);
    await page.waitForFunction(() => (window as any).dvCommitsReady === true);
    const newest = (await page.textContent(`.commit[data-commit="${commits[2]}"]`)) ?? '';
    assert.match(newest, /data\/raw\s*modified/, 'the tracked path that changed');
    assert.match(newest, /2 → 3/, 'its file count before and after');
    assert.match(newest, /data\/raw\/c\.csv/, 'and the files that changed');
    await screenshot(page, 'ui-commits');

    assert.deepEqual(b.external, [], 'the page asked for nothing beyond this server');
  } finally {
    await b.close();
  }

  // Refusals, before anything is read.
  assert.equal((await rawRequest(url, '/api/revs', 'GET', { Host: 'attacker.example:80' })).status, 403, 'DNS rebinding');
  assert.equal((await rawRequest(url, '/', 'GET', { Host: `localhost:${new URL(url).port}` })).status, 200, 'its own loopback name');
  assert.equal((await rawRequest(url, '/api/revs', 'POST')).status, 405);
  assert.equal((await rawRequest(url, '/api/revs', 'DELETE')).status, 405);
  assert.equal((await rawRequest(url, '/assets/../package.json')).status, 404);
  assert.equal((await rawRequest(url, '/assets/%2e%2e/%2e%2e/package.json')).status, 404);
  assert.equal((await rawRequest(url, '/assets/vega.min.js')).status, 200);
  const bad = await rawRequest(url, '/api/diff?a=--output%3D/tmp/x&b=HEAD');
  assert.equal(bad.status, 400);
  assert.match(JSON.parse(bad.body).error, /not a git revision dv accepts/);
  assert.equal((await rawRequest(url, '/api/diff?a=no-such-branch&b=HEAD')).status, 400);
  assert.equal((await rawRequest(url, '/api/commits?limit=100000')).status, 400, 'pages are bounded');

  // Ctrl-C stops it: exit 0, one line.
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  child.kill('SIGINT');
  assert.equal(await exited, 0);
  assert.match(stderr(), /dv ui: stopped/);
});
