/** `dv push`: send what the remote lacks, and the run records dv.lock names. */
import type { Command } from 'commander';
import { text } from 'node:stream/consumers';
import type { PushResult } from '../../ops/push.js';
import type { CliContext } from '../io.js';
import { collect, command } from '../options.js';
import { count, human } from '../progress.js';
import { type TransferFlags, transferArgs, transferOptions } from '../transfer.js';

interface PushFlags extends TransferFlags {
  runCache?: boolean;
  rev?: string[];
  prePush?: string;
  repair?: boolean;
}

function render(r: PushResult): string | undefined {
  if (r.skipped) return undefined;
  const warnings = (r.warnings ?? []).map((w) => `warning: ${w}\n`).join('');
  if (r.objectsSent === 0 && r.runsSent === 0) return `${warnings}${r.remote}: everything up to date`;
  const runs = r.runsSent > 0 ? `; ${count(r.runsSent, 'run record')} to the run cache` : '';
  const sent = `${count(r.objectsSent, 'object')} (${human(r.bytesSent)}) in ${count(r.packsSent, 'pack')}`;
  return `${warnings}${r.remote}: sent ${sent}; ${r.alreadyThere} already there${runs}`;
}

export function register(program: Command, ctx: CliContext): void {
  transferOptions(
    command(
      program,
      'push',
      'send what the remote lacks of the tracked data, and the run records dv.lock names (the remote run cache)',
      'dv push -r origin -j 16',
    ),
  )
    .option('--run-cache', "send every run of this clone's run cache with its outs, not only the runs dv.lock names")
    .option('--no-run-cache', 'send no run records')
    .option(
      '--rev <rev>',
      "send the data the pointer files of these git commits name, not the work tree's " +
        '(rev-list syntax: main, ^origin/main, v1..v2, --branches, --all; repeatable)',
      collect,
    )
    .option(
      '--pre-push <git-remote>',
      "what the pre-push hook runs: send the data of the commits `git push` sends (the hook's lines on stdin); " +
        'no dv remote configured: only a warning',
    )
    .option(
      '--repair',
      "read and verify the remote's copies first: send again objects whose copies are damaged (a bad pack index), " +
        'remove indexes that list only damage',
    )
    .action(async (paths: string[], o: PushFlags) => {
      const bar = ctx.progress('push', 'objects');
      const runs = o.runCache === true ? 'all' : o.runCache === false ? 'none' : 'locked';
      const stdin = ctx.io.stdin;
      const prePush = o.prePush === undefined ? undefined : { gitRemote: o.prePush, lines: stdin ? await text(stdin()) : '' };
      const r = await ctx
        .run('push', {
          ...transferArgs(paths, ctx.cwd(), o),
          runs,
          revs: o.rev,
          prePush,
          repair: o.repair,
          onProgress: (p) => bar.update(p.objects, { bytes: p.bytes, total: p.totalObjects, totalBytes: p.totalBytes }),
        })
        .finally(() => bar.stop());
      if (r.skipped === 'no-remote' && !ctx.globals.json)
        ctx.err('dv: no dv remote configured, data not pushed: run `dv remote add NAME URL --default`, then `dv push --rev --branches`');
      else ctx.show(r, render);
    });
}
