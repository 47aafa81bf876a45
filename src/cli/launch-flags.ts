/**
 * The Node flags the dv process starts with. bin/dv's first line (`#!/usr/bin/env -S node ...`)
 * carries them, and test/cli/launch-flags.test.ts holds the two equal. They set the heap's layout,
 * which V8 reads once when the process starts: bin/dv cannot set them at run time as it does the
 * heap's growing factor. Launchers that start bin/dv through `process.execPath` (the tests' `dv()`,
 * the benchmarks) pass them too, so they measure what a user runs.
 *
 * `--max-semi-space-size=2`: the main thread's young generation stays at 2 × 2 MiB (Node 20 lets it
 * grow to 32 MiB). A command over many files passes small objects through by the million (names,
 * stat rows, tree entries); a small nursery frees them sooner for about the same CPU. Measured on
 * 300,000 files: `dv add` peaked at 245 MB instead of 271, `dv status` at 91–108 instead of 108–117.
 */
export const NODE_FLAGS: readonly string[] = ['--max-semi-space-size=2'];
