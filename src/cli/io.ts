/**
 * What a command of the CLI may touch: the streams it writes to (`Io`) and the context every
 * command file receives (`CliContext`). `main` builds one context per run; nothing in src/cli but
 * the process-only interrupt.ts writes to process streams or sets the exit code, so tests can run
 * `main` in-process.
 */
import { type RetryInfo, retryCause } from '../backend/retry.js';
import { join, relative, resolve } from 'node:path';
import type { LockInfo } from '../repo/lock.js';
import { runCommand, type CommandName, type CommandOptions, type CommandResult } from '../ops/commands.js';
import { progress, retryLine, type BarStream, type Progress } from './progress.js';
import { printable, shellQuote } from './render.js';

/** An output stream: `process.stdout` or a test's collector. */
export interface OutStream extends BarStream {
  write(text: string): unknown;
}

export interface Io {
  stdout: OutStream;
  stderr: OutStream;
  /** Read by `dv push --pre-push` (git's lines); a function, so that stdin is opened only then. */
  stdin?: () => NodeJS.ReadableStream;
  /** The directory dv runs in (default: `process.cwd()`). */
  cwd?: string;
  /** Told the command about to run (`push`, `stage add`), for the Ctrl-C message (src/cli/interrupt.ts). */
  onCommand?: (name: string) => void;
}

/** Options every command takes, merged from before and after the command name. */
export interface Globals {
  quiet?: boolean;
  json?: boolean;
  wait?: number;
  C?: string;
}

export interface CliContext {
  readonly io: Io;
  /** The global options of this run; set just before the command's action. */
  globals: Globals;
  /** Whether the arguments were parsed and the command's action reached. */
  started: boolean;
  /** The exit code `main` returns when the action completes (a failing fsck: 26). */
  exitCode: number;
  /** The directory the command works from (`-C`, else the Io's). */
  cwd(): string;
  /** `--wait` in milliseconds. */
  waitMs(): number;
  /** A line (or lines) on stdout, made safe for a terminal. */
  out(text: string): void;
  /** `text` on stderr as it is (a newline added). */
  err(text: string): void;
  /** `v` as indented JSON on stdout (C1 control characters escaped too: valid JSON, safe on a terminal). */
  json(v: unknown): void;
  /** `--json`: prints `r`; else, unless `-q`, prints what `human(r)` returns (if anything). */
  show<T>(r: T, human: (r: T) => string | undefined): void;
  /** A progress bar on stderr (a terminal only, never with -q or --json). */
  progress(label: string, unit?: string): Progress;
  /** Runs a command through the layer the library uses (src/ops/commands.ts). */
  run<K extends CommandName>(name: K, opts: CommandOptions<K>): Promise<CommandResult<K>>;
  /**
   * `git add` of files a command names from the repository's root, each as git takes it where dv
   * runs (relative to `cwd()`), so the line pastes there; repo-relative before any command ran.
   */
  gitAdd(paths: string[]): string;
}

export function createContext(io: Io): CliContext {
  const onWait = (h: LockInfo): void => {
    if (!ctx.globals.quiet) io.stderr.write(`dv: waiting for \`dv ${h.command}\` (pid ${h.pid}) to finish...\n`);
  };
  const onWarning = (text: string): void => {
    if (!ctx.globals.quiet) io.stderr.write(`dv: warning: ${text}\n`);
  };
  // A line per retry of a remote request (on stderr, so never in --json output; onto a bar being drawn); -q silences it.
  const onRetry = (r: RetryInfo): void => {
    if (!ctx.globals.quiet)
      retryLine(io.stderr, `dv: retrying ${r.location}/${r.key} (${r.attempt + 1}/${r.attempts}): ${retryCause(r.error)}`);
  };
  let root: string | undefined;
  const onRoot = (r: string): void => {
    root = r;
  };
  const ctx: CliContext = {
    io,
    globals: {},
    started: false,
    exitCode: 0,
    cwd: () => (ctx.globals.C === undefined ? (io.cwd ?? process.cwd()) : resolveFrom(io.cwd, ctx.globals.C)),
    waitMs: () => (ctx.globals.wait ?? 10) * 1000,
    out(text) {
      text = printable(text);
      io.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
    },
    err(text) {
      io.stderr.write(text.endsWith('\n') ? text : `${text}\n`);
    },
    json: (v) => io.stdout.write(`${JSON.stringify(v, null, 2).replace(/[\x7f-\x9f]/g, (c) => `\\u00${c.charCodeAt(0).toString(16)}`)}\n`),
    show(r, human) {
      if (ctx.globals.json) return ctx.json(r);
      if (ctx.globals.quiet) return;
      const text = human(r);
      if (typeof text === 'string') ctx.out(text);
    },
    progress: (label, unit) => progress(label, !ctx.globals.quiet && !ctx.globals.json, io.stderr, unit),
    run: (name, opts) => runCommand(name, { cwd: ctx.cwd(), waitMs: ctx.waitMs(), onWait, onWarning, onRetry, onRoot }, opts),
    gitAdd: (paths) => {
      const here = (p: string): string => (root === undefined ? p : relative(ctx.cwd(), join(root, p)) || '.');
      return `git add ${paths.map((p) => shellQuote(here(p))).join(' ')}`;
    },
  };
  return ctx;
}

/** `-C dir`, relative to the Io's directory. */
export function resolveFrom(cwd: string | undefined, dir: string): string {
  return resolve(cwd ?? process.cwd(), dir);
}
