/**
 * Names from a clone are data, never markup: a file name and a commit subject that are HTML with
 * script in them show as text on the page and run nothing (the page builds every node with
 * textContent, and the server's Content-Security-Policy would refuse inline script anyway).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { offlinePage } from '../helpers/browser.js';
import { dvOk, git, makeRepo } from '../helpers/cli.js';
import { startUi } from './server.js';

const NAME = '<img src=x onerror="window.pwned=1">.csv';
const SUBJECT = '<script>window.pwned=2</script><b onmouseover="window.pwned=3">bold</b>';

test('dv ui: a file name and a commit subject made of HTML show as text and run nothing', async () => {
  const repo = await makeRepo();
  await fsp.mkdir(join(repo, 'data'));
  await fsp.writeFile(join(repo, 'data', 'a.csv'), '1\n');
  await dvOk(repo, ['add', 'data']);
  git(repo, ['add', '-A']);
  git(repo, ['commit', '-qm', 'first']);
  await fsp.writeFile(join(repo, 'data', NAME), '2\n');
  await dvOk(repo, ['commit', 'data']);
  git(repo, ['add', '-A']);
  git(repo, ['commit', '-qm', SUBJECT]);
  const { url, child } = await startUi(repo);
  const b = await offlinePage();
  try {
    const { page } = b;
    page.setDefaultTimeout(30_000);
    await page.goto(`${url}#commits`);
    await page.waitForFunction(() => (window as any).dvCommitsReady === true);
    assert.equal(await page.textContent('.commit .subject'), SUBJECT, 'the subject, as text');
    await page.hover('.commit .subject');
    await page.goto(`${url}#diff`);
    await page.waitForSelector('#diff-table tr.change');
    assert.deepEqual(await page.$$eval('#diff-table tr.change', (rs) => rs.map((r) => r.querySelector('code')!.textContent)), [
      `data/${NAME}`,
    ]);
    assert.equal(await page.locator('img').count(), 0, 'no element was made from a name');
    assert.equal(await page.evaluate(() => (window as any).pwned), undefined, 'nothing ran');
    assert.deepEqual(b.external, []);
  } finally {
    await b.close();
    child.kill('SIGINT');
  }
});
