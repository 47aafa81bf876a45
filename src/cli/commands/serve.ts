/**
 * `dv serve`: a read-only HTTP (and WebDAV) server over a version of the tracked data, until
 * Ctrl-C. Prints one line with the URL on stdout (a script reads it to find a `--port 0` port).
 */
import type { Command } from 'commander';
import type { CliContext } from '../io.js';
import { numberOption } from '../options.js';

const HELP = `
Examples:
  dv serve                          the pointer files now, on http://127.0.0.1:8080/
  dv serve --rev v1 --port 0        tag v1 on a free port
  dv serve --webdav                 also WebDAV: mount it (Finder, Explorer, davfs2, rclone)
  curl -r 0-99 http://127.0.0.1:8080/data/labels.csv     the first 100 bytes
  curl http://127.0.0.1:8080/@HEAD~1/data/labels.csv     any revision: /@<rev>/<path>
Files come from the local store, else the remote, every chunk verified before it is sent.
Read only; bound to 127.0.0.1 unless --host says otherwise (then anyone who reaches it reads the data).`;

export function register(program: Command, ctx: CliContext): void {
  program
    .command('serve')
    .description('serve a version of the tracked data over HTTP (read only; --webdav to mount it)')
    .option('--rev <rev>', 'the version at / (a git revision or snapshot id; default: the pointer files now)')
    .addOption(numberOption('-p, --port <n>', 'TCP port (0: a free one)', { min: 0, whole: true, max: 65535 }, 8080))
    .option('--host <address>', 'address to listen on', '127.0.0.1')
    .option('--webdav', 'also answer WebDAV (PROPFIND), so a WebDAV client can mount it')
    .option('-r, --remote <name>', 'read what the local store lacks from this remote (default: the default remote)')
    .addHelpText('after', HELP)
    .action(async (o: { rev?: string; port: number; host: string; webdav?: boolean; remote?: string }) => {
      if (!['127.0.0.1', 'localhost', '::1'].includes(o.host) && !ctx.globals.quiet)
        ctx.err(`warning: listening on ${o.host}: anyone who can reach it can read every version of the tracked data`);
      await ctx.run('serve', {
        rev: o.rev,
        port: o.port,
        host: o.host,
        webdav: o.webdav,
        remote: o.remote,
        onListening: (url) => {
          if (ctx.globals.json) ctx.json({ url, rev: o.rev ?? null, webdav: !!o.webdav });
          else ctx.out(`serving ${url}${o.rev ? ` (${o.rev})` : ''}${o.webdav ? ' with WebDAV' : ''}: Ctrl-C stops`);
        },
      });
    });
}
