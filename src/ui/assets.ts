/**
 * The files `dv ui` serves to the browser: a fixed map from URL name to file, nothing else.
 * The page itself (src/ui/static/, shipped with the package as it is: plain HTML, CSS and one
 * vanilla script, no build step) and the browser builds of vega, vega-lite and vega-embed from
 * node_modules (dependencies of dv). No CDN: the page needs no network beyond this server.
 *
 * Invariants: a URL never becomes a path; only the names of ASSETS are answered, every other
 * name is 404. Each file is read once, on first use, and kept (about 0.9 MB in all).
 */
import { promises as fsp } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface Asset {
  type: string;
  body: Buffer;
}

/** The package's root: this file is dist/src/ui/assets.js when built. */
const PACKAGE = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const STATIC = join(PACKAGE, 'src', 'ui', 'static');
const require = createRequire(import.meta.url);

/** A browser build beside a package's main module (their `exports` hide `build/` from resolution). */
const vendor = (pkg: string, file: string) => (): string => join(dirname(require.resolve(pkg)), file);

const JS = 'text/javascript; charset=utf-8';
const ASSETS: Record<string, { type: string; file: () => string }> = {
  '/': { type: 'text/html; charset=utf-8', file: () => join(STATIC, 'index.html') },
  '/assets/ui.js': { type: JS, file: () => join(STATIC, 'ui.js') },
  '/assets/ui.css': { type: 'text/css; charset=utf-8', file: () => join(STATIC, 'ui.css') },
  '/assets/vega.min.js': { type: JS, file: vendor('vega', 'vega.min.js') },
  '/assets/vega-lite.min.js': { type: JS, file: vendor('vega-lite', 'vega-lite.min.js') },
  '/assets/vega-embed.min.js': { type: JS, file: vendor('vega-embed', 'vega-embed.min.js') },
};

const loaded = new Map<string, Promise<Asset>>();

/** The asset at URL path `path`, or undefined when it is not one of ASSETS. */
export function asset(path: string): Promise<Asset> | undefined {
  const a = Object.hasOwn(ASSETS, path) ? ASSETS[path] : undefined;
  if (!a) return undefined;
  let p = loaded.get(path);
  if (!p) {
    p = fsp.readFile(a.file()).then((body) => ({ type: a.type, body }));
    // A failed read is not kept: the next request tries again.
    p.catch(() => loaded.delete(path));
    loaded.set(path, p);
  }
  return p;
}
