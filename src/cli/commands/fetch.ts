/** `dv fetch`: bring the data the pointer files name from a remote into the local store. */
import type { Command } from 'commander';
import type { CliContext } from '../io.js';
import { command } from '../options.js';
import { type TransferFlags, fetched, transferArgs, transferOptions } from '../transfer.js';

export function register(program: Command, ctx: CliContext): void {
  transferOptions(
    command(
      program,
      'fetch',
      "bring the data the pointer files (or a git revision's, or snapshot ids) name from a remote into the local store",
      'dv fetch -r origin\n  dv fetch --rev v1.0        # the data the pointer files of tag v1.0 name\n' +
        '  dv fetch 3fa9c2e1d0b7      # one snapshot, by id or prefix',
    ),
  )
    .option('--rev <rev>', 'fetch what the pointer files of this git revision name (of the paths given, if any)')
    .action(async (paths: string[], o: TransferFlags & { rev?: string }) => {
      const bar = ctx.progress('fetch', 'objects');
      const r = await ctx
        .run('fetch', {
          ...transferArgs(paths, ctx.cwd(), o),
          rev: o.rev,
          onProgress: (p) => bar.update(p.objects, { bytes: p.data, totalBytes: p.total }),
        })
        .finally(() => bar.stop());
      ctx.show(r, fetched);
    });
}
