/** `dv config`: get, set, unset or list configuration at one level or the merged view. */
import type { Command } from 'commander';
import { DvError } from '../../errors.js';
import type { ConfigLevel } from '../../ops/config.js';
import type { CliContext } from '../io.js';
import { command } from '../options.js';

interface ConfigFlags {
  global?: boolean;
  local?: boolean;
  unset?: boolean;
  list?: boolean;
}

async function run(ctx: CliContext, key: string | undefined, value: string | undefined, o: ConfigFlags): Promise<void> {
  if (o.global && o.local) throw new DvError('USAGE', '--global and --local: give one of them');
  // --global and --local read that file alone, as in git; without them, the merged view.
  const level: ConfigLevel | undefined = o.global ? 'global' : o.local ? 'local' : undefined;
  const at = { cwd: ctx.cwd(), level };
  if (o.list || !key) {
    const entries = await ctx.run('configList', at);
    if (ctx.globals.json) ctx.json(entries);
    else if (Object.keys(entries).length)
      ctx.out(
        Object.entries(entries)
          .map(([k, v]) => `${k}=${v}`)
          .join('\n'),
      );
    return;
  }
  if (o.unset) return ctx.run('configUnset', { ...at, key });
  if (value !== undefined) return ctx.run('configSet', { ...at, key, value });
  const v = await ctx.run('configGet', { ...at, key });
  // Not set: nothing printed, exit 1 (as `git config KEY`).
  if (v === undefined) ctx.exitCode = 1;
  else if (ctx.globals.json) ctx.json({ [key]: v });
  else ctx.out(v);
}

export function register(program: Command, ctx: CliContext): void {
  command(program, 'config', 'get, set or list configuration (repo: .dv/config, --local, --global)', 'dv config core.remote origin')
    .argument('[key]')
    .argument('[value]')
    .option('--global', 'use the global config ($XDG_CONFIG_HOME/dv/config)')
    .option('--local', 'use .dv/config.local (not committed)')
    .option('--unset', 'remove the key')
    .option('-l, --list', 'list every key with its value')
    .action((key: string | undefined, value: string | undefined, o: ConfigFlags) => run(ctx, key, value, o));
}
