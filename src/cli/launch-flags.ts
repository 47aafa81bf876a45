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
 * its peak fell from 265–290 MB to 231–235 for the same CPU seconds. The setting is dv's own: the
 * first line saves the caller's value (`${MALLOC_ARENA_MAX}`, empty when unset) in CALLER_ARENA and
 * `restoreCallerEnv` puts it back before any work, so git and pipeline stages get the caller's.
 */

export const NODE_FLAGS: readonly string[] = ['--max-semi-space-size=2'];

/** The allocator's setting dv starts with. */
export const ARENA_MAX = '2';
/** Where the first line keeps the caller's MALLOC_ARENA_MAX (empty: it had none). */
export const CALLER_ARENA = 'DV_CALLER_MALLOC_ARENA_MAX';

/** bin/dv's first line. */
export function shebang(): string {
  return `#!/usr/bin/env -S ${CALLER_ARENA}=\${MALLOC_ARENA_MAX} MALLOC_ARENA_MAX=${ARENA_MAX} node ${NODE_FLAGS.join(' ')}`;
}

/** What the first line adds to `caller`'s environment, for launchers that start bin/dv through `node`. */
export function launchEnv(caller: NodeJS.ProcessEnv): Record<string, string> {
  return { [CALLER_ARENA]: caller.MALLOC_ARENA_MAX ?? '', MALLOC_ARENA_MAX: ARENA_MAX };
}

/** Gives `env` (this process's, once it has started) the caller's MALLOC_ARENA_MAX back. */
export function restoreCallerEnv(env: NodeJS.ProcessEnv): void {
  const caller = env[CALLER_ARENA];
  if (caller === undefined) return; // (not started by the first line: nothing was changed)
  if (caller) env.MALLOC_ARENA_MAX = caller;
  else delete env.MALLOC_ARENA_MAX;
  delete env[CALLER_ARENA];
}
