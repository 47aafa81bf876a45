/** `dv pull`: fetch from a remote, then check out the tracked paths. */
import type { Command } from 'commander';
import type { FetchResult } from '../../ops/fetch.js';
import type { PullResult } from '../../ops/pull.js';
import type { CliContext } from '../io.js';
import { command } from '../options.js';
import { human } from '../progress.js';
import { type TransferFlags, fetched, transferArgs, transferOptions } from '../transfer.js';

function render(r: PullResult): string {
  const paths = r.checkout.paths.map((p) =>
    p.written + p.removed === 0 ? `${p.path}: up to date` : `${p.path}: ${p.written} written, ${p.removed} removed (${human(p.bytes)})`,
  );
  return [fetched(r.fetch), ...paths].join('\n');
}

export function register(program: Command, ctx: CliContext): void {
  transferOptions(command(program, 'pull', 'fetch from a remote, then check out the tracked paths', 'dv pull'))
    .option('-f, --force', 'overwrite or delete uncommitted changes')
    .action(async (paths: string[], o: TransferFlags & { force?: boolean }) => {
      const bar = ctx.progress('pull');
      let got: FetchResult | undefined;
      const r = await ctx
        .run('pull', {
          ...transferArgs(paths, ctx.cwd(), o),
          force: o.force,
          onProgress: (p) => bar.update(p.objects, { bytes: p.data, totalBytes: p.total, phase: 'fetch', unit: 'objects' }),
          onCheckoutProgress: (f, b, t) =>
            bar.update(f, { bytes: b, total: t.files, totalBytes: t.bytes, phase: `checkout ${t.path}`, unit: 'files' }),
          onFetched: (f) => {
            got = f;
          },
        })
        .catch((e: unknown) => {
          // A checkout that fails (unsaved changes) keeps what was fetched: say so before the error.
          bar.stop();
          if (got && !ctx.globals.json && !ctx.globals.quiet) ctx.out(fetched(got));
          throw e;
        })
        .finally(() => bar.stop());
      ctx.show(r, render);
    });
}
