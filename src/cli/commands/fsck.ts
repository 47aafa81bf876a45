/** `dv fsck`: verify every object and reference (or a remote's); exit 26 naming each problem. */
import type { Command } from 'commander';
import { ERROR_CODES } from '../../errors.js';
import type { FsckResult } from '../../ops/fsck.js';
import type { FsckRemoteResult } from '../../ops/fsck-remote.js';
import type { CliContext } from '../io.js';
import { command } from '../options.js';
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
    'dv fsck --rebuild-index\n  dv fsck --remote origin    # read back and verify everything the remote lists',
  )
    .option('--rebuild-index', 'rebuild the LevelDB index from the pack indexes first')
    .option('--remote [name]', 'check a remote instead: every pack index, and every object it lists read back and re-hashed')
    .action(async (o: { rebuildIndex?: boolean; remote?: string | true }) => {
      if (o.remote !== undefined) {
        const rr = await ctx.run('fsckRemote', { remote: o.remote === true ? undefined : o.remote });
        const state = rr.ok ? 'ok' : count(rr.problems.length, 'problem');
        return report(ctx, rr, `${rr.remote}: ${state}: ${count(rr.objects, 'object')} read back and verified`);
      }
      const bar = ctx.progress('verifying');
      const r = await ctx
        .run('fsck', { rebuildIndex: o.rebuildIndex, onProgress: (n, b) => bar.update(n, { bytes: b }) })
        .finally(() => bar.stop());
      report(ctx, r, summary(r));
    });
}
