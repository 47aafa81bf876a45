/**
 * The command line: `main(args, io)` parses the arguments, runs one command and returns the
 * exit code. It writes only through `io` and never exits, so tests run it in-process; bin/dv
 * passes the process streams and handles signals (src/cli/interrupt.ts).
 */
import { DvError } from '../errors.js';
import { buildProgram } from './program.js';
import { type CliContext, createContext, type Io } from './io.js';
import { reportError } from './errors-out.js';
import { codes, useColor } from './render.js';

export type { Io, OutStream } from './io.js';

/** `--json` among the arguments before `--` (the options are not parsed yet when parsing fails). */
function asksJson(args: string[]): boolean {
  const end = args.indexOf('--');
  return (end < 0 ? args : args.slice(0, end)).includes('--json');
}

async function dispatch(ctx: CliContext, args: string[]): Promise<void> {
  const program = buildProgram(ctx);
  const [first, second] = args;
  if (first === 'help' && second === 'codes') return ctx.out(codes());
  if (first === 'help' && second !== undefined && !program.commands.some((c) => c.name() === second)) {
    throw new DvError('USAGE', `unknown command '${second}'; run \`dv --help\``);
  }
  await program.parseAsync(args, { from: 'user' });
}

/** Runs `dv args...` (the arguments after `dv`) and returns its exit code. */
export async function main(args: string[], io: Io): Promise<number> {
  useColor(Boolean(io.stdout.isTTY) && !process.env.NO_COLOR && process.env.TERM !== 'dumb');
  const ctx = createContext(io);
  try {
    await dispatch(ctx, args);
    return ctx.exitCode;
  } catch (e) {
    return reportError(ctx, e, ctx.started ? Boolean(ctx.globals.json) : asksJson(args));
  }
}
