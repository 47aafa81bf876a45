/**
 * How bin/dv loads the command line: from dist/dv.cjs, the whole program as one script that
 * scripts/bundle.mjs builds from dist/src, compiled from V8's code cache beside it
 * (dist/dv.cjs.cache); or, where there is no bundle or dist/src changed after it was built, from
 * the ES modules under dist/src. Node 20 keeps no code cache for modules: loading some 400 of them
 * (resolving each, detecting its format, lexing the SDK's CommonJS, compiling) took ~300 ms of
 * every command, the bundle from its cache ~50.
 *
 * Invariants:
 * - The bundle runs only while every file of dist/src has the size and modification time the
 *   build's manifest (dist/dv.cjs.json) records: any tsc run after it, incremental or not, leaves
 *   the ES modules in charge, never stale code (the workers always load dist/src).
 * - A cache is offered to V8 only when its header holds the SHA-256 of the bundle it was made from
 *   and of its own data (V8 checks the source's length, its version and flags, not the text, and
 *   a release build does not check the data: one flipped byte crashed the process). V8 may still
 *   reject it (another node, other flags): the source is compiled then, the same program slower.
 * - A bundle that does not compile (cut short, damaged) falls back to the modules: nothing of it ran.
 * - Both ways run the same code: the bundle is dist/src's files, each `import.meta.url` replaced
 *   by that file's own URL, with the packages' CommonJS builds, as Node's loader picks them.
 * - Only `writeCodeCache` (the build's last step) writes, by temp file and rename.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import Module, { createRequire } from 'node:module';
import { join, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Script } from 'node:vm';
import type { Io } from './main.js';

export const BUNDLE = 'dv.cjs';
export const CODE_CACHE = 'dv.cjs.cache';
/** [relative path under dist/src, size, mtimeMs] of every .js file there, as the build left them. */
export const MANIFEST = 'dv.cjs.json';
const HASH_BYTES = 32;

/** What bin/dv needs of the CLI, wherever it came from. */
export interface Cli {
  main(args: string[], io: Io): Promise<number>;
  exitOnInterrupt(): Io['onCommand'];
  restoreCallerEnv(env: NodeJS.ProcessEnv): void;
  /** Where the code came from, and what V8 made of the cache (for DV_LOAD_TRACE and the tests). */
  from: 'bundle' | 'modules';
  cache: 'used' | 'rejected' | 'none';
}

interface BundleExports extends Pick<Cli, 'main' | 'exitOnInterrupt' | 'restoreCallerEnv'> {
  /** Runs every module's top level, so the code cache holds all of them (scripts/bundle.mjs). */
  warm(): Promise<unknown>;
}

type ManifestEntry = [string, number, number];

/** Every .js file under dist/src with its size and modification time, in name order. */
export function distFiles(dist: string): ManifestEntry[] {
  const src = join(dist, 'src');
  const out: ManifestEntry[] = [];
  for (const f of readdirSync(src, { recursive: true, encoding: 'utf8' }).sort()) {
    if (!f.endsWith('.js')) continue;
    const st = statSync(join(src, f), { throwIfNoEntry: false });
    if (st?.isFile()) out.push([f.split(sep).join('/'), st.size, st.mtimeMs]);
  }
  return out;
}

/** Whether dist/src is, file for file, what the bundle was built from. */
function unchangedSince(dist: string): boolean {
  let recorded: unknown;
  try {
    recorded = JSON.parse(readFileSync(join(dist, MANIFEST), 'utf8'));
  } catch {
    return false;
  }
  if (!Array.isArray(recorded)) return false;
  const now = distFiles(dist);
  return now.length === recorded.length && now.every((e, i) => JSON.stringify(e) === JSON.stringify(recorded[i]));
}

/** The bundle when it is there and dist/src has not changed since it was built, else undefined. */
function freshBundle(dist: string): Buffer | undefined {
  if (!unchangedSince(dist)) return undefined;
  try {
    return readFileSync(join(dist, BUNDLE));
  } catch {
    return undefined;
  }
}

/** The V8 data of the cache made from exactly this bundle, its own digest intact, else undefined. */
function cacheFor(dist: string, digest: Buffer): Buffer | undefined {
  let file: Buffer;
  try {
    file = readFileSync(join(dist, CODE_CACHE));
  } catch {
    return undefined;
  }
  if (file.length <= 2 * HASH_BYTES || !file.subarray(0, HASH_BYTES).equals(digest)) return undefined;
  const data = file.subarray(2 * HASH_BYTES);
  return file.subarray(HASH_BYTES, 2 * HASH_BYTES).equals(sha256(data)) ? data : undefined;
}

function runBundle(dist: string, source: Buffer, cachedData?: Buffer): { exports: BundleExports; script: Script } {
  const file = join(dist, BUNDLE);
  // The bundle holds no import() (scripts/bundle.mjs): a script vm.Script compiles has no import()
  // callback ("A dynamic import callback was not specified"; Node 20 also drops the one it is given
  // when the code comes from a cache).
  const script = new Script(Module.wrap(source.toString('utf8')), { filename: file, cachedData });
  const mod = { exports: {} as BundleExports };
  const run = script.runInThisContext() as (...a: unknown[]) => void;
  run.call(mod.exports, mod.exports, createRequire(file), mod, file, dist);
  return { exports: mod.exports, script };
}

const sha256 = (b: Buffer): Buffer => createHash('sha256').update(b).digest();

/** The CLI of the build in `dist` (the directory tsc writes). */
export async function loadCli(dist: string): Promise<Cli> {
  const source = process.env.DV_BUNDLE === '0' ? undefined : freshBundle(dist);
  if (source) {
    const cachedData = cacheFor(dist, sha256(source));
    const loaded = compiled(dist, source, cachedData);
    if (loaded) {
      const { exports, script } = loaded;
      const cache = cachedData === undefined ? 'none' : script.cachedDataRejected ? 'rejected' : 'used';
      return { ...pick(exports), from: 'bundle', cache };
    }
  }
  const url = (p: string): string => pathToFileURL(join(dist, 'src', 'cli', p)).href;
  const [{ main }, { exitOnInterrupt }, { restoreCallerEnv }] = await Promise.all([
    import(url('main.js')),
    import(url('interrupt.js')),
    import(url('launch-flags.js')),
  ]);
  return { main, exitOnInterrupt, restoreCallerEnv, from: 'modules', cache: 'none' };
}

/** The bundle run, or undefined when it does not compile (then none of it ran). */
function compiled(dist: string, source: Buffer, cachedData?: Buffer): ReturnType<typeof runBundle> | undefined {
  try {
    return runBundle(dist, source, cachedData);
  } catch (e) {
    if (e instanceof SyntaxError) return undefined;
    throw e;
  }
}

const pick = (e: BundleExports): Pick<Cli, 'main' | 'exitOnInterrupt' | 'restoreCallerEnv'> => ({
  main: e.main,
  exitOnInterrupt: e.exitOnInterrupt,
  restoreCallerEnv: e.restoreCallerEnv,
});

/**
 * Compiles the bundle, runs every module's top level and writes V8's code cache beside it. Run
 * through bin/dv (DV_CODE_CACHE=write), so the cache is made under the flags every command runs with.
 */
export async function writeCodeCache(dist: string): Promise<number> {
  const source = freshBundle(dist);
  if (!source) throw new Error(`no fresh ${BUNDLE} in ${dist}: run scripts/bundle.mjs after tsc`);
  const { exports, script } = runBundle(dist, source);
  await exports.warm();
  const v8 = script.createCachedData();
  const data = Buffer.concat([sha256(source), sha256(v8), v8]);
  const tmp = join(dist, `${CODE_CACHE}.${process.pid}.tmp`);
  writeFileSync(tmp, data);
  renameSync(tmp, join(dist, CODE_CACHE));
  return data.length;
}
