/**
 * How bin/dv loads the command line: from dist/dv.cjs, the whole program as one script that
 * scripts/bundle.mjs builds from dist/src, compiled from V8's code cache beside it
 * (dist/dv.cjs.cache); or, where there is no bundle or tsc wrote dist/src after it was built,
 * from the ES modules under dist/src. Node 20 keeps no code cache for modules: loading some 400
 * of them (resolving each, detecting its format, lexing the SDK's CommonJS, compiling) took
 * ~300 ms of every command, the bundle from its cache ~50.
 *
 * Invariants:
 * - The bundle runs only when it is no older than dist/src/cli/main.js: tsc rewrites every file it
 *   emits, so a build that did not bundle leaves the ES modules in charge, never stale code.
 * - A cache is offered to V8 only when its header is the SHA-256 of the bundle it was made from
 *   (V8 checks the source's length, its own version and its flags, not the text). V8 may still
 *   reject it (another node, other flags): the source is compiled then, the same program slower.
 * - Both ways run the same code: the bundle is dist/src's files, each `import.meta.url` replaced
 *   by that file's own URL (so workers, createRequire and package paths resolve as they do there).
 * - Only `writeCodeCache` (the build's last step) writes, by temp file and rename.
 */
import { createHash } from 'node:crypto';
import { readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import Module, { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Script } from 'node:vm';
import type { Io } from './main.js';

export const BUNDLE = 'dv.cjs';
export const CODE_CACHE = 'dv.cjs.cache';
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

const mtime = (p: string): number | undefined => statSync(p, { throwIfNoEntry: false })?.mtimeMs;

/** The bundle when it is there and not older than what tsc last wrote, else undefined. */
function freshBundle(dist: string): Buffer | undefined {
  const built = mtime(join(dist, BUNDLE));
  const compiled = mtime(join(dist, 'src', 'cli', 'main.js'));
  if (built === undefined || (compiled !== undefined && compiled > built)) return undefined;
  try {
    return readFileSync(join(dist, BUNDLE));
  } catch {
    return undefined;
  }
}

/** The V8 data of the cache made from exactly this bundle, else undefined. */
function cacheFor(dist: string, digest: Buffer): Buffer | undefined {
  let file: Buffer;
  try {
    file = readFileSync(join(dist, CODE_CACHE));
  } catch {
    return undefined;
  }
  if (file.length <= HASH_BYTES || !file.subarray(0, HASH_BYTES).equals(digest)) return undefined;
  return file.subarray(HASH_BYTES);
}

function runBundle(dist: string, source: Buffer, cachedData?: Buffer): { exports: BundleExports; script: Script } {
  const file = join(dist, BUNDLE);
  // The bundle holds no import() (scripts/bundle.mjs): Node 20 loses a script's import() callback
  // when its code comes from a cache ("A dynamic import callback was not specified").
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
    const { exports, script } = runBundle(dist, source, cachedData);
    const cache = cachedData === undefined ? 'none' : script.cachedDataRejected ? 'rejected' : 'used';
    return { ...pick(exports), from: 'bundle', cache };
  }
  const url = (p: string): string => pathToFileURL(join(dist, 'src', 'cli', p)).href;
  const [{ main }, { exitOnInterrupt }, { restoreCallerEnv }] = await Promise.all([
    import(url('main.js')),
    import(url('interrupt.js')),
    import(url('launch-flags.js')),
  ]);
  return { main, exitOnInterrupt, restoreCallerEnv, from: 'modules', cache: 'none' };
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
  const data = Buffer.concat([sha256(source), script.createCachedData()]);
  const tmp = join(dist, `${CODE_CACHE}.${process.pid}.tmp`);
  writeFileSync(tmp, data);
  renameSync(tmp, join(dist, CODE_CACHE));
  return data.length;
}
