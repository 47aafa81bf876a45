// Drives Debian's chromium with playwright-core for the tests of dv's web pages (plots HTML, `dv ui`).
// Invariants: the browser is the system's /usr/bin/chromium (or $DV_CHROMIUM), never a download;
// every page runs with the network cut off except 127.0.0.1/localhost, and every request elsewhere
// is recorded so a test can assert that a page needs no network; screenshots go to test-output/
// (ignored by git), never into the repository.
import { mkdirSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';

export const CHROMIUM = process.env.DV_CHROMIUM ?? '/usr/bin/chromium';

/** Where test runs leave screenshots (at the repository root, ignored by git). */
export const SCREENSHOTS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'test-output', 'screenshots');

export interface OfflinePage {
  browser: Browser;
  context: BrowserContext;
  page: Page;
  /** Every request the page tried to send off this machine (blocked). */
  external: string[];
  close(): Promise<void>;
}

function local(url: string): boolean {
  if (url.startsWith('file:') || url.startsWith('data:') || url.startsWith('blob:') || url.startsWith('about:')) return true;
  const host = new URL(url).hostname;
  return host === '127.0.0.1' || host === 'localhost' || host === '[::1]';
}

/** A fresh headless chromium page that may only reach file:, data: and loopback URLs. */
export async function offlinePage(): Promise<OfflinePage> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    // --no-sandbox: CI runs as root, where chromium's sandbox refuses to start.
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run'],
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const external: string[] = [];
  await context.route('**/*', async (route) => {
    const url = route.request().url();
    if (local(url)) return route.continue();
    external.push(url);
    return route.abort('internetdisconnected');
  });
  const page = await context.newPage();
  return { browser, context, page, external, close: () => browser.close() };
}

/** Saves a screenshot of the page as test-output/screenshots/<name>.png and returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const file = path.join(SCREENSHOTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}
