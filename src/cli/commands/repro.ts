/** `dv repro`: run the stages that are out of date; `--verify`: rebuild and compare with dv.lock. */
import type { Command } from 'commander';
import { ERROR_CODES } from '../../errors.js';
import type { CliContext } from '../io.js';
import { command } from '../options.js';
import { printable } from '../render.js';

interface ReproFlags {
  force?: boolean;
  runCache: boolean;
  remote?: string;
  offline?: boolean;
  dryRun?: boolean;
  verify?: boolean;
  keepTemp?: boolean;
  rebuild?: boolean;
}

type Stdio = ['ignore', 'inherit' | 'ignore' | number, 'inherit' | number];

async function run(ctx: CliContext, stages: string[], o: ReproFlags): Promise<void> {
  const { json, quiet } = ctx.globals;
  // Stage output is shown as it runs; with --json it goes to stderr so stdout stays JSON.
  const stdio: Stdio = json ? ['ignore', 2, 2] : quiet ? ['ignore', 'ignore', 'inherit'] : ['ignore', 'inherit', 'inherit'];
  const say = (text: string): void => {
    if (!json && !quiet) ctx.out(text);
  };
  const pr = await import('../pipeline-render.js');
  if (o.verify || o.rebuild) {
    const onStage = (e: { stage: string; cmd: string }): void => say(`Verifying stage ${e.stage}:\n> ${e.cmd}`);
    const r = await ctx.run('verify', { stages, stdio, keep: o.keepTemp, onStage, rebuild: o.rebuild });
    if (json) ctx.json(r);
    else if (!quiet || !r.ok) ctx.out(pr.verify(r));
    for (const x of r.receipts ?? [])
      say(`${x.matched ? 'matched' : 'NOT reproduced'}: signed receipt for ${x.artifacts.join(', ')} (stage ${x.stage}): ${x.files[0]}`);
    if (!r.ok) ctx.exitCode = ERROR_CODES.NOT_REPRODUCIBLE.exit;
    return;
  }
  const r = await ctx.run('repro', {
    stages,
    force: o.force,
    runCache: o.runCache,
    remote: o.offline ? false : o.remote,
    dryRun: o.dryRun,
    stdio,
    onNotice: (text) => {
      if (!quiet) ctx.err(`dv: ${printable(text)}`);
    },
    onStage: (e) =>
      say(
        e.action === 'run'
          ? `Running stage ${e.stage}:\n> ${e.cmd}`
          : `Restoring stage ${e.stage} from ${e.from === 'remote' ? 'the remote run cache' : 'a recorded run'}`,
      ),
  });
  ctx.show(r, (x) => pr.repro(x, ctx.gitAdd));
}

export function register(program: Command, ctx: CliContext): void {
  command(
    program,
    'repro',
    'run the pipeline stages whose command, deps or params changed (or whose outs are missing), and record them in dv.lock',
    'dv repro            # everything; `dv repro train` for train and what it needs',
  )
    .argument('[stages...]', 'stages to bring up to date, with the stages they depend on (default: all)')
    .option('-f, --force', 'run the named stages (all by default) even when up to date')
    .option('--no-run-cache', 'run commands even when a recorded run with the same inputs could be restored (here or on a remote)')
    .option('-r, --remote <name>', 'remote whose run cache to ask for stages not recorded here (default: the default remote)')
    .option('--offline', "ask no remote's run cache")
    .option('-n, --dry-run', 'only say which stages would run, and which would be restored from a recorded run')
    .option('--verify', 'rerun the stages in a temporary workspace from the recorded inputs and compare every output with dv.lock')
    .option('--keep-temp', 'with --verify: keep the temporary workspace')
    .option('--rebuild', 'with --verify: sign a rebuild receipt per stage (attest.key) that `dv attest verify` and audit bundles accept')
    .addHelpText(
      'after',
      '  40 a stage failed (its own exit code when it has one); 41 dv.yaml or dv.lock is invalid;\n' +
        '  42 --verify found outputs that differ from dv.lock (with --rebuild the receipt records it).',
    )
    .action((stages: string[], o: ReproFlags) => run(ctx, stages, o));
}
