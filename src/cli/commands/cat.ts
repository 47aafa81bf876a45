/**
 * `dv cat <rev>:<path>`: one file of any version to stdout, byte for byte, without checking it
 * out. Reads the local store, and the remote for what it lacks (only that file's chunks). Every
 * chunk is verified before it is written, so on failure stdout holds a verified prefix only, and
 * the one error line goes to stderr. Takes no lock (ops/commands.ts `openFile`).
 */
import type { Command } from 'commander';
import { pipeline } from 'node:stream/promises';
import type { CliContext } from '../io.js';

const HELP = `
Examples:
  dv cat v1:data/labels.csv > labels-v1.csv     the file as tag v1 committed it
  dv cat HEAD~3:models/model.bin | sha256sum     from a clone that fetched nothing
  dv cat 3fa9c2:train/000123.png                 a path inside snapshot 3fa9c2
  dv cat :data/labels.csv                        what the pointer files name now
Paths after the colon are from the repository root (./x and ../x: from here).

Exit codes:
  0 success; 2 bad usage (a directory, a link, no path); 13 not inside a tracked path at that
  revision; 15 no such path in that version; 20/21 unknown/ambiguous revision or id; 22 object
  missing (here and on the remote); 23 a remote copy is corrupt; 24 an object lies about its size.`;

export function register(program: Command, ctx: CliContext): void {
  program
    .command('cat')
    .description('write one file of any version to stdout, without checking it out (local store, else the remote)')
    .argument(
      '<rev:path>',
      'a git revision (HEAD~1, v1, main), snapshot or tree id, or nothing (the pointer files now), a colon, then a path',
    )
    .option('-r, --remote <name>', 'read what the local store lacks from this remote (default: the default remote)')
    .addHelpText('after', HELP)
    .action(async (spec: string, o: { remote?: string }) => {
      const { openFile } = await import('../../ops/commands.js');
      const cwd = ctx.cwd();
      const r = await openFile({ cwd, waitMs: ctx.waitMs() }, { spec, remote: o.remote, cwd });
      const out = ctx.io.stdout as unknown as NodeJS.WritableStream;
      if (typeof out.on !== 'function') {
        // A test's collector: no back-pressure to honour.
        for await (const b of r.stream) ctx.io.stdout.write(b as never);
        return;
      }
      try {
        await pipeline(r.stream, out, { end: false });
      } catch (e) {
        // A reader that went away (`dv cat x | head`) is no failure of dv's.
        if ((e as NodeJS.ErrnoException).code !== 'EPIPE') throw e;
      }
    });
}
