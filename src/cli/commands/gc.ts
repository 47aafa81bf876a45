/** `dv gc`: delete objects nothing reaches, locally or (`--remote`) on a remote. */
import type { Command } from 'commander';
import { DvError } from '../../errors.js';
import type { GcRemoteResult } from '../../ops/gc-remote.js';
import type { CliContext } from '../io.js';
import { command, numberOption } from '../options.js';
import { count, human } from '../progress.js';
import * as render from '../render.js';

const duration = (ms: number): string =>
  ms >= 86_400_000
    ? `${+(ms / 86_400_000).toFixed(1)} d`
    : ms >= 3_600_000
      ? `${+(ms / 3_600_000).toFixed(1)} h`
      : `${Math.round(ms / 1000)} s`;

/** One line per key kept under S3 Object Lock (at most 10), with the date it may go. */
function renderLocked(r: GcRemoteResult): string[] {
  if (r.locked.length === 0) return [];
  const shown = r.locked.slice(0, 10).map((l) => {
    const until = l.retainUntil ? `until ${l.retainUntil}` : 'no date given';
    return `  locked: ${l.kind} ${l.key} (${l.mode ?? 'refused by the store'}, ${until}): kept, a run after that deletes it`;
  });
  const more = r.locked.length > 10 ? [`  locked: ${r.locked.length - 10} more (--json lists them all)`] : [];
  return [
    `  ${count(r.packsLocked, 'due pack')} under S3 Object Lock retention, ${count(r.locked.length, 'key')} kept:`,
    ...shown,
    ...more,
  ];
}

/** The text summary of `dv gc --remote`. */
function renderRemote(r: GcRemoteResult): string {
  const verb = r.dryRun ? 'would remove' : 'removed';
  const lines = [
    `remote ${r.remote} (${r.url}): ${verb} ${count(r.packsRemoved, 'pack')} (${count(r.objectsRemoved, 'unreachable object')}, ` +
      `${human(r.bytesRemoved)}); kept ${count(r.packsAfter, 'pack')} (${human(r.bytesAfter)}) holding ` +
      `${count(r.liveObjects, 'live object')} from ${count(r.roots, 'root')}`,
  ];
  if (r.packsRepacked || r.objectsCopied)
    lines.push(
      `  repacked: ${count(r.objectsCopied, 'live object')} of ${count(r.packsRepacked, 'mostly dead pack')} into ${count(r.packsWritten, 'new pack')}`,
    );
  if (r.packsMarked || r.runsMarked)
    lines.push(
      `  ${r.dryRun ? 'would mark' : 'marked'} ${count(r.packsMarked, 'pack')} and ${count(r.runsMarked, 'run record')} unreferenced: ` +
        `a later \`dv gc --remote\` deletes what is still unreferenced${r.graceMs === 0 ? '' : ` once the mark is ${duration(r.graceMs)} old`}`,
    );
  if (r.packsWaiting) lines.push(`  ${count(r.packsWaiting, 'marked pack')} within the grace: kept for now`);
  if (r.unmarked) lines.push(`  ${count(r.unmarked, 'mark')} removed: referenced again`);
  if (r.runsRemoved) lines.push(`  ${verb} ${count(r.runsRemoved, 'run record')} no dv.lock names`);
  if (r.leftovers) lines.push(`  ${verb} ${count(r.leftovers, 'temp file')} (${human(r.leftoverBytes)}) left by interrupted pushes`);
  if (r.bundlesRemoved)
    lines.push(`  ${verb} ${count(r.bundlesRemoved, 'index bundle')} that named packs no longer there, or no bundle at all`);
  if (r.bundlesWritten) lines.push(`  wrote ${count(r.bundlesWritten, 'index bundle')} of the new packs' indexes`);
  for (const w of r.warnings) lines.push(`  warning: ${w}`);
  if (r.protectedRefs.length) lines.push(`  protected (gc.protect): ${r.protectedRefs.join(', ')}`);
  lines.push(...renderLocked(r));
  return lines.join('\n');
}

export function register(program: Command, ctx: CliContext): void {
  command(
    program,
    'gc',
    'delete objects that no pointer file, snapshot history or git ref reaches (here, or on a remote)',
    'dv gc --dry-run\n  dv gc --remote origin --grace 14d --dry-run',
  )
    .option('-n, --dry-run', 'only say what would be removed')
    .addOption(
      numberOption(
        '--keep-days <n>',
        'keep snapshots this clone recorded in the last n days, even if no pointer names them (0: none)',
        { min: 0, whole: false },
        30,
      ),
    )
    .option(
      '-w, --workspace',
      "keep only what the work tree's pointer files name: no older versions, no other branches or tags " +
        '(they stay on remotes they were pushed to); what is younger than --keep-days is still kept (--keep-days 0: none)',
    )
    .option(
      '--remote [name]',
      'collect a remote instead: mark what no ref, dv.lock or protected ref reaches; delete what a run marked before',
    )
    .option('--grace <duration>', 'with --remote: a pack goes only once marked this long ago (14d, 12h, 30m, 0)')
    .addOption(numberOption('-j, --jobs <n>', 'with --remote: parallel requests', { min: 1, max: 256, whole: true }))
    .action(
      async (o: { dryRun?: boolean; keepDays: number; workspace?: boolean; remote?: string | true; grace?: string; jobs?: number }) => {
        if (o.remote === undefined) {
          if (o.grace !== undefined || o.jobs !== undefined)
            throw new DvError('USAGE', '--grace and --jobs go with --remote: add --remote [NAME]');
          const r = await ctx.run('gc', { dryRun: o.dryRun, keepDays: o.keepDays, workspace: o.workspace, waitMs: ctx.waitMs() });
          return ctx.show(r, render.gc);
        }
        if (o.workspace) throw new DvError('USAGE', '--workspace is for the local store: a remote keeps every ref and its history');
        const rr = await ctx.run('gcRemote', {
          remote: o.remote === true ? undefined : o.remote,
          dryRun: o.dryRun,
          grace: o.grace,
          jobs: o.jobs,
        });
        ctx.show(rr, renderRemote);
      },
    );
}
