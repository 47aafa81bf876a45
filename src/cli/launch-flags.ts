/**
 * How the dv process starts: the Node flags and the allocator setting that bin/dv's first line
 * (`#!/usr/bin/env -S ...`, built by `shebang()`) carries, and test/cli/launch-flags.test.ts holds
 * equal. They set the heap's layout and the C allocator's, which V8 and glibc read once when the
 * process starts: bin/dv cannot set them at run time as it does the heap's growing factor.
 * Launchers that start bin/dv through `process.execPath` (the tests' `dv()`, the benchmarks) pass
 * the same flags and environment (`launchEnv`), so they measure what a user runs.
 *
 * `--max-semi-space-size=2`: the main thread's young generation stays at 2 × 2 MiB (Node 20 lets it
 * grow to 32 MiB). A command over many files passes small objects through by the million (names,
 * stat rows, tree entries); a small nursery frees them sooner for about the same CPU. Measured on
 * 300,000 files: `dv add` peaked at 245 MB instead of 271, `dv status` at 91–108 instead of 108–117.
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
 * Both settings are dv's own: the first line saves the caller's values (`${NAME}`, empty when
 * unset) in DV_CALLER_<NAME>, and `restoreCallerEnv` puts them back before any work, so git and
 * pipeline stages get the caller's.
 */

export const NODE_FLAGS: readonly string[] = ['--max-semi-space-size=2'];

/** The allocator's settings dv starts with. */
export const ALLOCATOR: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '1048576' };
/** Where the first line keeps the caller's value of an allocator setting (empty: it had none). */
export const callerKey = (name: string): string => `DV_CALLER_${name}`;

/** bin/dv's first line (under the 256 bytes Linux reads of it). */
export function shebang(): string {
  const names = Object.keys(ALLOCATOR);
  const saved = names.map((n) => `${callerKey(n)}=\${${n}}`);
  const set = names.map((n) => `${n}=${ALLOCATOR[n]}`);
  return `#!/usr/bin/env -S ${[...saved, ...set].join(' ')} node ${NODE_FLAGS.join(' ')}`;
}

/** What the first line adds to `caller`'s environment, for launchers that start bin/dv through `node`. */
export function launchEnv(caller: NodeJS.ProcessEnv): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [n, v] of Object.entries(ALLOCATOR)) {
    env[callerKey(n)] = caller[n] ?? '';
    env[n] = v;
  }
  return env;
}

/** Gives `env` (this process's, once it has started) the caller's allocator settings back. */
export function restoreCallerEnv(env: NodeJS.ProcessEnv): void {
  for (const n of Object.keys(ALLOCATOR)) {
    const caller = env[callerKey(n)];
    if (caller === undefined) continue; // (not started by the first line: nothing was changed)
    if (caller) env[n] = caller;
    else delete env[n];
    delete env[callerKey(n)];
  }
}
