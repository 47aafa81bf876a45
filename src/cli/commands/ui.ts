/**
 * `dv ui`: the local read-only web page (commits, pipeline and lineage, metrics, dataset diff),
 * until Ctrl-C. Prints one line with the URL on stdout (a script reads it to find a `--port 0`
 * port); `--open` also hands the URL to the desktop's browser opener, whose failure is a warning.
 */
import { spawn } from 'node:child_process';
import type { Command } from 'commander';
import type { CliContext } from '../io.js';
import { command, numberOption } from '../options.js';

const HELP = `
The page shows the commits and the snapshots their pointer files name, the pipeline DAG (click a
stage: its command, params, environment, inputs and outputs with snapshot ids, verification
status), metrics across commits and experiments as charts, and a dataset diff between two
revisions. Read only; no account, no network: every file comes from this server.
Bound to 127.0.0.1 unless --host says otherwise (then anyone who reaches it reads the repository).`;

/** The desktop's way to open a URL in the default browser. */
function opener(): string[] {
  if (process.platform === 'darwin') return ['open'];
  if (process.platform === 'win32') return ['cmd', '/c', 'start', '""'];
  return ['xdg-open'];
}

function openBrowser(url: string, warn: (line: string) => void): void {
  const [program, ...args] = opener();
  const child = spawn(program, [...args, url], { stdio: 'ignore', detached: true });
  child.on('error', (e) => warn(`warning: --open: could not start ${program} (${e.message}): open ${url} yourself`));
  child.unref();
}

export function register(program: Command, ctx: CliContext): void {
  command(program, 'ui', 'a local web page: commits, pipeline DAG and lineage, metrics charts, dataset diff (read only)', 'dv ui --open')
    .addOption(numberOption('-p, --port <n>', 'TCP port (0: a free one)', { min: 0, whole: true, max: 65535 }, 8090))
    .option('--host <address>', 'address to listen on', '127.0.0.1')
    .option('--open', 'open the page in the default browser')
    .addHelpText('after', HELP)
    .action(async (o: { port: number; host: string; open?: boolean }) => {
      if (!['127.0.0.1', 'localhost', '::1'].includes(o.host) && !ctx.globals.quiet)
        ctx.err(`warning: listening on ${o.host}: anyone who can reach it can read the repository's history and data listings`);
      await ctx.run('ui', {
        port: o.port,
        host: o.host,
        onListening: (url) => {
          if (ctx.globals.json) ctx.json({ url });
          else ctx.out(`dv ui: ${url} (Ctrl-C stops)`);
          if (o.open) openBrowser(url, (line) => ctx.err(line));
        },
      });
    });
}
