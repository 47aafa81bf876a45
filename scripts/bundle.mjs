#!/usr/bin/env node
/**
 * The build's last step (`npm run build`, `prepare`): bundles what tsc wrote under dist/src into
 * dist/dv.cjs, records dist/src's files (dv.cjs.json) and has bin/dv write V8's code cache for it
 * (src/cli/bundle.ts says how bin/dv uses them and when it falls back to the modules). Run after
 * tsc; any later tsc makes the bundle stale and bin/dv loads the modules until this runs again.
 *
 * Invariants: every file of dist/src is in the bundle but the worker entries (they start from
 * their own files, *-worker.js) and the loader itself; each `import.meta.url` in them becomes that
 * file's own URL; packages with native code or files beside their code stay outside, required from
 * node_modules at run time as the modules do; the bundle holds no import(). The bundle appears by
 * rename, complete; until the cache is written, and after any failure, there is none.
 */
import { spawnSync } from 'node:child_process';
import { readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
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

const { BUNDLE, CODE_CACHE, MANIFEST, distFiles } = await import(join(dist, 'src', 'cli', 'bundle.js'));
// While this runs, and if it fails, bin/dv loads the modules: no bundle of another build is left.
for (const f of [BUNDLE, CODE_CACHE, MANIFEST]) await rm(join(dist, f), { force: true });
const fail = async (why) => {
  for (const f of [BUNDLE, CODE_CACHE, MANIFEST]) await rm(join(dist, f), { force: true });
  process.stderr.write(`bundle: ${why}\n`);
  process.exit(1);
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
  // The packages' CommonJS builds, as Node's loader picks them ("require"/"node" conditions and
  // "main"): esbuild's defaults add "module" and would bundle their ES builds, other code.
  conditions: [],
  mainFields: ['main'],
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
  metafile: true,
  write: false,
});
// A script vm.Script compiles has no import() callback (and Node 20 drops one given when the code
// comes from a cache): every import() esbuild leaves, which it does only for what it does not
// bundle, would fail at run time. A node: module's becomes a require wrapped as its namespace
// (its exports, with itself as default); any other fails the build.
const dynamic = Object.values(result.metafile.inputs).flatMap((i) => i.imports.filter((x) => x.kind === 'dynamic-import' && x.external));
const other = dynamic.find((x) => !x.path.startsWith('node:'));
if (other) await fail(`import(${JSON.stringify(other.path)}) stays outside dist/dv.cjs and cannot run there: bundle it`);
let rewritten = 0;
const text = result.outputFiles[0].text.replace(NODE_IMPORT, (_, m) => {
  rewritten++;
  return `Promise.resolve().then(() => __dvNs(require("${m}")))`;
});
if (rewritten !== dynamic.length) await fail(`${dynamic.length} import() of node: modules, ${rewritten} rewritten: see NODE_IMPORT`);
await writeFile(join(dist, `${BUNDLE}.tmp`), text);
await rename(join(dist, `${BUNDLE}.tmp`), join(dist, BUNDLE));
await writeFile(join(dist, MANIFEST), JSON.stringify(distFiles(dist)));

// The cache is made by bin/dv itself: V8 accepts it only under the flags it was made with (the
// launch flags, without the caller's NODE_OPTIONS).
const env = { ...process.env, DV_CODE_CACHE: 'write' };
delete env.NODE_OPTIONS;
const made = spawnSync(join(root, 'bin', 'dv'), [], { env, encoding: 'utf8' });
if (made.status !== 0) await fail(`writing the code cache failed: ${made.stderr || made.error}`);
const bytes = Buffer.byteLength(text);
process.stdout.write(`bundle: dist/dv.cjs ${(bytes / 1e6).toFixed(1)} MB of ${all.length} modules; ${made.stdout}`);
