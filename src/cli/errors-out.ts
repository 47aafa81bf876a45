/**
 * How failures leave the CLI. Commander's parse errors become one USAGE `DvError` naming the
 * command to ask for help; every error is then one line on stderr (`dv: error CODE: message`),
 * or with `--json` one JSON object on stdout (`{"error": {code, message, data}}`), and the exit
 * code of its code (src/errors.ts).
 */
import { type Command, CommanderError } from 'commander';
import { DvError } from '../errors.js';
import type { CliContext } from './io.js';
import { printable } from './render.js';

const HELP_CODES = new Set(['commander.helpDisplayed', 'commander.help', 'commander.version']);

/**
 * Commander's parse errors (unknown option or command, missing argument or option value) as one
 * dv line: `dv: error USAGE: unknown option '--bogus'; run \`dv push --help\``, exit 2. Each
 * command gets its own override so the hint names the command that refused the arguments.
 */
export function exitThroughUsage(c: Command): void {
  c.exitOverride((e) => {
    if (HELP_CODES.has(e.code)) throw e;
    const [what, ...hints] = e.message
      .replace(/^error: /, '')
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean);
    const names: string[] = [];
    for (let x: Command | null = c; x; x = x.parent) names.unshift(x.name());
    throw new DvError('USAGE', `${[what, ...hints].join(' ').replace(/\.$/, '')}; run \`${names.join(' ')} --help\``, {
      commander: e.code,
    });
  });
  for (const sub of c.commands) exitThroughUsage(sub);
}

/** `data` as JSON can hold, or nothing: an error report must not fail on its own data. */
function plain(data: Record<string, unknown>): unknown {
  try {
    return JSON.parse(JSON.stringify(data));
  } catch {
    return {};
  }
}

/** Reports `e` and returns the exit code. Help and version (CommanderErrors that get here) exit 0. */
export function reportError(ctx: CliContext, e: unknown, json: boolean): number {
  if (e instanceof CommanderError) return 0;
  const dv = e instanceof DvError ? e : undefined;
  const code = dv?.code ?? 'ERROR';
  const message = dv ? dv.message : String((e as Error | undefined)?.message ?? e);
  if (json) ctx.json({ error: { code, message, data: dv ? plain(dv.data) : {} } });
  else ctx.err(`dv: error ${code}: ${dv ? printable(message) : message}`);
  if (!dv && process.env.DV_DEBUG) ctx.err(`${(e as Error | undefined)?.stack}`);
  return dv ? dv.exitCode : 1;
}
