/**
 * The commander program of one run: the global options, the check of `-C`, commander's output
 * sent through the run's Io, and every command of commands/index.ts registered on it.
 */
import { Command } from 'commander';
import { statSync } from 'node:fs';
import { DvError } from '../errors.js';
import { VERSION } from '../repo/repo.js';
import { COMMAND_FILES } from './commands/index.js';
import { exitThroughUsage } from './errors-out.js';
import { type CliContext, type Globals, resolveFrom } from './io.js';
import { EXIT_HELP, numberOption, SECONDS } from './options.js';

const EXAMPLES = `
Examples:
  dv init && dv add data/       start, and track a directory (dv names what to git add)
  git add .dv/config .dv/.gitignore .gitattributes data.dv .gitignore && git commit -m "track data"
  dv status                     what changed in tracked data
  dv commit -m "new labels"     snapshot the changes
  dv checkout                   make data match the pointer files (after git checkout)
${EXIT_HELP}`;

export function buildProgram(ctx: CliContext): Command {
  const program = new Command();
  program
    .name('dv')
    .description('dv: content-addressed data versioning beside git (chunked, deduplicated, packed)')
    .version(VERSION, '-V, --version')
    .option('-q, --quiet', 'print only errors')
    .option('--json', 'print machine-readable JSON (commands whose output is data)')
    .addOption(numberOption('--wait <seconds>', 'how long to wait for another dv process holding the repository', SECONDS, 10))
    .option('-C <dir>', 'run as if started in <dir>')
    .showSuggestionAfterError(true)
    // Commander's own error lines are not printed: exitThroughUsage() turns them into one dv line.
    .configureOutput({
      writeOut: (s) => ctx.io.stdout.write(s),
      writeErr: (s) => ctx.io.stderr.write(s),
      outputError: () => undefined,
    })
    .hook('preAction', (_this, action) => {
      ctx.globals = { ...program.opts<Globals>(), ...action.opts<Globals>() };
      ctx.started = true;
      const names: string[] = [];
      for (let c: Command | null = action; c?.parent; c = c.parent) names.unshift(c.name());
      ctx.io.onCommand?.(names.join(' '));
      const C = ctx.globals.C;
      if (C !== undefined && !statSync(resolveFrom(ctx.io.cwd, C), { throwIfNoEntry: false })?.isDirectory()) {
        throw new DvError('USAGE', `-C ${C}: no such directory`, { path: C });
      }
    })
    .addHelpText('after', EXAMPLES);
  for (const c of COMMAND_FILES) c.register(program, ctx);
  exitThroughUsage(program);
  return program;
}
