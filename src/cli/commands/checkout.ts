/** `dv checkout`: make tracked paths match their pointer files, or restore a version. */
import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { COUNT } from '../../core/number.js';
import type { CheckoutResult, CheckoutTotal } from '../../ops/checkout.js';
import type { CliContext } from '../io.js';
import { command, numberOption } from '../options.js';
import { human } from '../progress.js';

// Nothing to say (no tracked path): nothing printed.
const render = (r: CheckoutResult): string | undefined =>
  r.paths.length === 0
    ? undefined
    : r.paths
        .map((p) =>
          p.written + p.removed === 0
            ? `${p.path}: up to date, snapshot ${p.snapshot.slice(0, 12)}`
            : `${p.path}: ${p.written} written, ${p.removed} removed (${human(p.bytes)}), snapshot ${p.snapshot.slice(0, 12)}`,
        )
        .join('\n');

/**
 * A path that exists (or whose pointer does) is a path; anything else names a version: a
 * snapshot/tree id (even too short a one: resolving it says "give at least 4 hex characters"
 * rather than "run dv add 9f0") or a git revision.
 */
function isPath(cwd: string, target: string): boolean {
  if (existsSync(resolve(cwd, target)) || existsSync(resolve(cwd, `${target}.dv`))) return true;
  return target.includes('/') && !/[~^@:]/.test(target);
}

export function register(program: Command, ctx: CliContext): void {
  command(
    program,
    'checkout',
    'make tracked paths match their pointer files, or restore a snapshot/tree by id or the data of a git revision',
    'dv checkout 3fa9c2 data   # restore an old snapshot of data/ (fetched from the remote if need be)\n' +
      '  dv checkout HEAD~2 data   # the data data.dv named two commits ago',
  )
    .argument('[target]', 'snapshot or tree id (prefix), git revision, or a tracked path')
    .argument('[paths...]')
    .option('-f, --force', 'overwrite or delete uncommitted changes')
    .option('--new', 'with an id: restore it into a path that is not tracked yet, and track that path')
    .addOption(numberOption('-j, --jobs <n>', 'files written in parallel', COUNT, 8))
    .action(async (target: string | undefined, paths: string[], o: { force?: boolean; new?: boolean; jobs: number }) => {
      const version = target !== undefined && !isPath(ctx.cwd(), target) ? target : undefined;
      const ps = target === undefined || version !== undefined ? paths : [target, ...paths];
      const bar = ctx.progress('checkout');
      // One phase per tracked path (each has its own totals), named on the line.
      const onProgress = (f: number, b: number, t: CheckoutTotal): void =>
        bar.update(f, { bytes: b, total: t.files, totalBytes: t.bytes, phase: t.path });
      const r = await ctx
        .run('checkout', { paths: ps, cwd: ctx.cwd(), force: o.force, new: o.new, jobs: o.jobs, onProgress, target: version })
        .finally(() => bar.stop());
      ctx.show(r, render);
    });
}
