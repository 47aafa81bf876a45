#!/usr/bin/env node
/**
 * The build's last step (`npm run build`, `prepare`): bundles what tsc wrote under dist/src into
 * dist/dv.cjs and has bin/dv write V8's code cache for it (src/cli/bundle.ts says how bin/dv
 * uses the two and when it falls back to the modules). Run after tsc; a later tsc makes the bundle
 * stale and bin/dv then loads the modules again until this runs.
 *
 * Invariants: every file of dist/src is in the bundle but the worker entries (they start from
 * their own files, *-worker.js) and the loader itself; each `import.meta.url` in them becomes that
 * file's own URL; packages with native code or files beside their code stay outside, required from
 * node_modules at run time as the modules do.
 */
import { spawnSync } from 'node:child_process';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = join(root, 'dist');
const src = join(dist, 'src');
const EXTERNAL = ['classic-level', '@mongodb-js/zstd', '@napi-rs/blake-hash', 'elkjs'];
/** import() of a node: module, as esbuild leaves it; it becomes a require (see below). */
const NODE_IMPORT = /\bimport\("(node:[a-z_/]+)"\)/g;

async function modules() {
  const out = [];
  for (const e of await readdir(src, { recursive: true, withFileTypes: true })) {
    const p = join(e.parentPath ?? e.path, e.name);
    if (e.isFile() && p.endsWith('.js') && !p.endsWith('-worker.js') && p !== join(src, 'cli', 'bundle.js')) out.push(p);
  }
  return out.sort();
}

/** Each module's `import.meta.url` as the URL of its own file under dist/ (__dvUrl is the banner's). */
const ownUrls = {
  name: 'own-import-meta-url',
  setup(b) {
    b.onLoad({ filter: /\.js$/ }, async (args) => {
      if (!args.path.startsWith(src + sep)) return undefined;
      const text = await readFile(args.path, 'utf8');
      const rel = relative(dist, args.path).split(sep).join('/');
      return { contents: text.replaceAll('import.meta.url', `__dvUrl(${JSON.stringify(rel)})`), loader: 'js' };
    });
  },
};

const all = await modules();
const imports = all.map((p) => `import(${JSON.stringify(`./${relative(dist, p).split(sep).join('/')}`)})`);
const entry = [
  "export { main } from './src/cli/main.js';",
  "export { exitOnInterrupt } from './src/cli/interrupt.js';",
  "export { restoreCallerEnv } from './src/cli/launch-flags.js';",
  `export const warm = () => Promise.all([\n  ${imports.join(',\n  ')},\n]);`,
].join('\n');

const result = await build({
  stdin: { contents: entry, resolveDir: dist, loader: 'js', sourcefile: 'dv-entry.js' },
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  outfile: join(dist, 'dv.cjs'),
  external: EXTERNAL,
  banner: {
    js: [
      "'use strict';",
      'const __dvUrl = (rel) => require("node:url").pathToFileURL(require("node:path").join(__dirname, rel)).href;',
      'const __dvNs = (m) => ({ ...m, default: m });',
    ].join('\n'),
  },
  plugins: [ownUrls],
  logLevel: 'warning',
  write: false,
});
// Node 20 runs a script compiled from a code cache without its import() callback: every import()
// left would fail at run time ("A dynamic import callback was not specified"). esbuild keeps
// import() only for what it does not bundle; a node: module's namespace is its exports object
// with itself as default, which is what these become. Any other import() fails the build.
const text = result.outputFiles[0].text.replace(NODE_IMPORT, (_, m) => `Promise.resolve().then(() => __dvNs(require("${m}")))`);
const left = /\bimport\(/.exec(text.replace(/\/\/.*$|"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'/gm, ''));
if (left) {
  process.stderr.write(`bundle: an import() esbuild left in dist/dv.cjs cannot run from the code cache: bundle its module\n`);
  process.exit(1);
}
await writeFile(join(dist, 'dv.cjs'), text);
const bytes = Buffer.byteLength(text);

// The cache is made by bin/dv itself: V8 accepts it only under the flags it was made with.
const made = spawnSync(join(root, 'bin', 'dv'), [], {
  env: { ...process.env, DV_CODE_CACHE: 'write' },
  encoding: 'utf8',
});
if (made.status !== 0) {
  process.stderr.write(`bundle: writing the code cache failed: ${made.stderr || made.error}\n`);
  process.exit(1);
}
process.stdout.write(`bundle: dist/dv.cjs ${(bytes / 1e6).toFixed(1)} MB of ${all.length} modules; ${made.stdout}`);
