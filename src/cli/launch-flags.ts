/**
 * How the dv process starts: the Node flags and the environment that bin/dv's first line
 * (`#!/usr/bin/env -S ...`, built by `shebang()`) carries, and test/cli/launch-flags.test.ts holds
 * equal. They set the heap's layout, the C allocator's and libuv's pool, which V8, glibc and Node
 * read once when the process starts: bin/dv cannot set them at run time as it does the heap's
 * growing factor.
 * Launchers that start bin/dv through `process.execPath` (the tests' `dv()`, the benchmarks) pass
 * the same flags and environment (`launchEnv`), so they measure what a user runs.
 *
 * `--max-semi-space-size=2`: the main thread's young generation stays at 2 × 2 MiB (Node 20 lets it
 * grow to 32 MiB). A command over many files passes small objects through by the million (names,
 * stat rows, tree entries); a small nursery frees them sooner for about the same CPU. Measured on
 * 300,000 files: `dv add` peaked at 245 MB instead of 271, `dv status` at 91–108 instead of 108–117.
 *
 * `--interrupt-budget=1081344` (16 × V8's 67584): a function goes to the optimizing compiler
 * later, after more of its bytecode has run. dv's hot loops run long enough to be optimized
 * either way; by default V8 also optimizes hundreds of functions that run only a short while: a
 * 1 GiB pull from s3rver made 258 optimized compiles, ~1.5 s of CPU over its three threads.
 * With this budget, in three pairs each: that pull 3.60-3.75 s instead of 3.86-4.22 (user CPU
 * 2.35-2.45 s instead of 2.57-3.05), an incremental commit 2.39-2.41 s instead of 2.45-3.00, a
 * 3 GiB add 3.31-3.47 s instead of 3.37-3.66; status at 1 M files unchanged (2.83-2.94 s), and
 * ten status runs of a small repository unchanged.
 *
 * `MALLOC_ARENA_MAX=2`: glibc gives each thread that allocates its own arena, and dv has a dozen
 * (hash or fetch workers, libuv's pool, LevelDB's compaction, V8's helpers). Freed Buffers stay in
 * the arena that held them, so at a million files `dv add` kept some 90 MB in ten arenas; with two,
 * its peak fell from 265–290 MB to 231–235 for the same CPU seconds.
 *
 * `MALLOC_MMAP_THRESHOLD_=1048576`: glibc serves a block of at least the threshold with its own
 * mapping, returned to the system when freed, but by default each such free raises the threshold to
 * the block's size (up to 32 MiB), after which blocks that large come from the arenas and their holes
 * stay resident. A push's pack indexes, copy buffers and ranges are such blocks: at 1,000,000 files
 * a first push's anonymous memory grew to 189 MB with the sliding threshold (peak 280 MB); fixed at
 * 1 MiB the peak was 237-271 MB, at 128 KiB 231 MB, at 4 MiB 320 MB and at 8 MiB 327 MB (blocks
 * of 1-4 MiB then come from the arenas too). Below the threshold a block that comes and goes is
 * mapped and zeroed by the kernel each time: 128 KiB cost the incremental push ~25 % more CPU
 * (chunk-sized blocks), and at 1 MiB each call of the zstd binding maps a new context (3.5 MiB at
 * level 3, 4.7 MiB at level 4), so the hash workers keep their calls few (hash-worker.ts, `settleTries`).
 *
 * `UV_THREADPOOL_SIZE=12`: libuv's pool (4 threads by default, shared by every thread of the
 * process) runs the hash and fetch workers' pack writes, LevelDB's reads and writes, zstd's calls
 * and the asynchronous file calls. A worker keeps 4 direct writes of its pack in flight (ext4 runs
 * one at a time per file, store/direct-append.ts), so two workers filled the pool and the main
 * thread's index lookups queued behind the disk: 6 ms from a part's ids to its verdict while its
 * buffer waited. With 12 threads an 8 GiB `dv add` took 8.9-10.3 s instead of 10.1-11.1. Node
 * sizes the pool before any script runs, so it too can only be set here.
 *
 * These settings are dv's own: the first line saves the caller's values (`${NAME}`, empty when
 * unset) in DV_CALLER, comma-separated in LAUNCH_ENV's order, and `restoreCallerEnv` puts them back
 * before any work, so git and pipeline stages get the caller's. (One variable, not one per
 * setting: the line must stay under the 256 bytes Linux reads of it.)
 */

export const NODE_FLAGS: readonly string[] = ['--max-semi-space-size=2', '--interrupt-budget=1081344'];

/** The environment dv starts with (the allocator's settings and libuv's pool size). */
export const LAUNCH_ENV: Readonly<Record<string, string>> = {
  MALLOC_ARENA_MAX: '2',
  MALLOC_MMAP_THRESHOLD_: '1048576',
  UV_THREADPOOL_SIZE: '12',
};
/** Where the first line keeps the caller's values of LAUNCH_ENV's settings (each empty where it had none). */
export const CALLER_KEY = 'DV_CALLER';

/** bin/dv's first line (under the 256 bytes Linux reads of it). */
export function shebang(): string {
  const names = Object.keys(LAUNCH_ENV);
  const saved = `${CALLER_KEY}=${names.map((n) => `\${${n}}`).join(',')}`;
  const set = names.map((n) => `${n}=${LAUNCH_ENV[n]}`);
  return `#!/usr/bin/env -S ${[saved, ...set].join(' ')} node ${NODE_FLAGS.join(' ')}`;
}

/** What the first line adds to `caller`'s environment, for launchers that start bin/dv through `node`. */
export function launchEnv(caller: NodeJS.ProcessEnv): Record<string, string> {
  const names = Object.keys(LAUNCH_ENV);
  return { [CALLER_KEY]: names.map((n) => caller[n] ?? '').join(','), ...LAUNCH_ENV };
}

/**
 * Gives `env` (this process's, once it has started) the caller's settings back. A caller's value
 * with a comma in it cannot be told apart: then dv's own values are passed on.
 */
export function restoreCallerEnv(env: NodeJS.ProcessEnv): void {
  const saved = env[CALLER_KEY];
  if (saved === undefined) return; // (not started by the first line: nothing was changed)
  delete env[CALLER_KEY];
  const names = Object.keys(LAUNCH_ENV);
  const values = saved.split(',');
  if (values.length !== names.length) return;
  names.forEach((n, k) => {
    if (values[k]) env[n] = values[k];
    else delete env[n];
  });
}
