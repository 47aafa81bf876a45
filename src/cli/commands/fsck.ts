/** `dv fsck`: verify every object and reference (or a remote's); exit 26 naming each problem. */
import type { Command } from 'commander';
import { ERROR_CODES } from '../../errors.js';
import type { FsckResult } from '../../ops/fsck.js';
import type { FsckRemoteOptions, FsckRemoteResult } from '../../ops/fsck-remote.js';
import { DvError } from '../../errors.js';
import type { CliContext } from '../io.js';
import { command, numberOption } from '../options.js';
import { renderFsckRemote } from '../render-fsck-remote.js';
import { count, human } from '../progress.js';
import { printable } from '../render.js';

function summary(r: FsckResult): string {
  const parts = [
    `${r.ok ? 'ok' : count(r.problems.length, 'problem')}: ${count(r.objects, 'object')} (${human(r.bytes)})` +
      ` in ${count(r.packs, 'pack')} verified`,
    `${count(r.roots, 'root')} checked`,
  ];
  if (r.shallow) parts.push(`${count(r.shallow, 'older snapshot')} not fetched`);
  if (r.notFetched) parts.push(`${count(r.notFetched, 'snapshot')} of other git refs not fetched`);
  if (r.stale.length) parts.push(`${count(r.stale.length, 'stale copy')} for \`dv gc\``);
  if (r.indexRebuilt) parts.push('index rebuilt');
  return parts.join(', ');
}

/** Problems (and warnings) on stderr, the summary on stdout: also with -q when something is wrong. */
function report(ctx: CliContext, r: FsckResult | FsckRemoteResult, line: string): void {
  if (ctx.globals.json) ctx.json(r);
  else if (!ctx.globals.quiet || !r.ok) {
    for (const p of r.problems) ctx.err(`${p.code}: ${printable(p.message)}`);
    if ('warnings' in r) for (const w of r.warnings) ctx.err(`dv: warning: ${printable(w)}`);
    ctx.out(line);
  }
  if (!r.ok) ctx.exitCode = ERROR_CODES.FSCK_FAILED.exit;
}

export function register(program: Command, ctx: CliContext): void {
  command(
    program,
    'fsck',
    'verify every object and reference; exit non-zero naming each problem',
    'dv fsck --rebuild-index\n  dv fsck --remote origin --read-data --sample 10   # indexes, roots, and a tenth of the data\n' +
      '  dv fsck --remote --repair  # replace damaged packs from this clone',
  )
    .option('--rebuild-index', 'rebuild the LevelDB index from the pack indexes first')
    .option('--remote [name]', 'check a remote instead: every pack index against its pack, every object the roots need listed')
    .option('--read-data', 'with --remote: also download and re-hash every object of every pack')
    .addOption(numberOption('--sample <pct>', 'with --read-data: read this percentage of the packs', { min: 0.01, max: 100, whole: false }))
    .option('--seed <text>', 'with --sample: the seed choosing the packs (default: drawn at random, and printed)')
    .option('--repair', "with --remote: replace damaged packs and lying indexes from this clone's verified copies")
    .action(async (o: { rebuildIndex?: boolean; remote?: string | true } & Omit<FsckRemoteOptions, 'remote'>) => {
      const { rebuildIndex, remote, ...remoteOpts } = o;
      if (remote === undefined && (o.readData || o.sample !== undefined || o.repair || o.seed !== undefined))
        throw new DvError('USAGE', '--read-data, --sample, --seed and --repair check a remote: add --remote [NAME]');
      if (remote !== undefined) {
        const rr = await ctx.run('fsckRemote', { ...remoteOpts, remote: remote === true ? undefined : remote });
        return report(ctx, rr, renderFsckRemote(rr));
      }
      const bar = ctx.progress('verifying');
      const r = await ctx.run('fsck', { rebuildIndex, onProgress: (n, b) => bar.update(n, { bytes: b }) }).finally(() => bar.stop());
      report(ctx, r, summary(r));
    });
}
