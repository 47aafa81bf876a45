/** `dv exp run|show|apply|remove|push|pull`: experiments, as `dvc exp` has them (renderers in ../exp-render.ts). */
import type { Command } from 'commander';
import { DvError, ERROR_CODES } from '../../errors.js';
import type { CliContext } from '../io.js';
import { collect, EXIT_HELP, example, numberOption } from '../options.js';
import { COUNT } from '../../core/number.js';
import { printable } from '../render.js';
import { renderApply, renderRun, renderShow } from '../exp-render.js';

type Stdio = ['ignore', 'inherit' | 'ignore' | number, 'inherit' | number];

interface RunFlags {
  set?: string[];
  name?: string;
  queue?: boolean;
  runAll?: boolean;
  force?: boolean;
  remote?: string;
  offline?: boolean;
}

async function run(ctx: CliContext, o: RunFlags): Promise<void> {
  const { json, quiet } = ctx.globals;
  // Stage output is shown as it runs; with --json it goes to stderr so stdout stays JSON.
  const stdio: Stdio = json ? ['ignore', 2, 2] : quiet ? ['ignore', 'ignore', 'inherit'] : ['ignore', 'inherit', 'inherit'];
  const r = await ctx.run('expRun', {
    set: o.set,
    name: o.name,
    queue: o.queue,
    runAll: o.runAll,
    force: o.force,
    remote: o.offline ? false : o.remote,
    stdio,
    onNotice: (text) => {
      if (!quiet) ctx.err(`dv: ${printable(text)}`);
    },
    onStage: (e) => {
      if (json || quiet) return;
      ctx.out(
        e.action === 'run'
          ? `[${e.experiment}] Running stage ${e.stage}:\n> ${e.cmd}`
          : `[${e.experiment}] Restoring stage ${e.stage} from a recorded run`,
      );
    },
  });
  ctx.show(r, renderRun);
  if (r.failed.length > 0) ctx.exitCode = ERROR_CODES.PARTIAL.exit;
}

function registerShareCommands(exp: Command, ctx: CliContext): void {
  for (const verb of ['push', 'pull'] as const) {
    example(
      exp
        .command(verb)
        .description(
          verb === 'push'
            ? 'share experiments: their refs to a git remote (git push), their data to the dv remote'
            : 'bring experiments a teammate pushed: their refs from a git remote (git fetch), their data from the dv remote',
        )
        .argument('<git-remote>', 'git remote name or URL')
        .argument('[names...]', 'experiments')
        .option('-A, --all', 'every experiment')
        .option('-r, --remote <name>', 'dv remote for the data (default: the default remote)')
        .option('-f, --force', 'replace experiments of the same name')
        .addOption(numberOption('-j, --jobs <n>', 'parallel transfers (default: remote.NAME.jobs, else 8)', COUNT)),
      `dv exp ${verb} origin --all`,
    ).action(async (gitRemote: string, names: string[], o: { all?: boolean; remote?: string; force?: boolean; jobs?: number }) => {
      const opts = { gitRemote, names, all: o.all, remote: o.remote, force: o.force, jobs: o.jobs };
      if (verb === 'push') {
        const r = await ctx.run('expPush', opts);
        ctx.show(r, () => `Pushed ${r.pushed.length} experiment(s) to ${r.gitRemote}: ${r.pushed.map((x) => x.name).join(', ')}`);
      } else {
        const r = await ctx.run('expPull', opts);
        ctx.show(r, () => `Pulled ${r.pulled.length} experiment(s) from ${r.gitRemote}: ${r.pulled.map((x) => x.name).join(', ') || '-'}`);
      }
    });
  }
}

export function register(program: Command, ctx: CliContext): void {
  const exp = program
    .command('exp')
    .description('experiments: run the pipeline with other parameters without touching your branch or files, compare, apply, share')
    .addHelpText('after', `\nExamples:\n  dv exp run -S train.lr=0.1\n  dv exp show --md\n  dv exp apply brisk-lynx\n${EXIT_HELP}`);
  example(
    exp
      .command('run')
      .description('run the pipeline with parameters set (-S), in a worktree under .dv/tmp; the result is kept under refs/exps')
      .option('-S, --set-param <[file:]key=value>', 'a parameter value (repeatable; file: params.yaml by default; +key adds one)', collect)
      .option('-n, --name <name>', 'the experiment name (default: an adjective-noun pair)')
      .option('--queue', 'record the experiment to run later (with --run-all)')
      .option('--run-all', 'run every queued experiment')
      .option('-f, --force', 'replace an experiment of the same name')
      .option('-r, --remote <name>', 'remote whose run cache to ask (default: the default remote)')
      .option('--offline', "ask no remote's run cache"),
    'dv exp run -S train.lr=0.1 -S params.json:seed=7 -n lr-01',
  ).action((o: RunFlags & { setParam?: string[] }) => run(ctx, { ...o, set: o.setParam }));
  example(
    exp
      .command('show')
      .description('the workspace, HEAD and its experiments: parameters and metrics, one row each')
      .option('-A, --all', 'experiments of every baseline, not only HEAD')
      .option('--sort-by <key>', 'sort experiments by a parameter or metric (KEY or FILE:KEY)')
      .option('--sort-order <order>', 'asc or desc', 'asc')
      .option('--md', 'a Markdown table (for a pull-request comment)'),
    'dv exp show --sort-by score --sort-order desc --md',
  ).action(async (o: { all?: boolean; sortBy?: string; sortOrder: string; md?: boolean }) => {
    if (o.sortOrder !== 'asc' && o.sortOrder !== 'desc') throw new DvError('USAGE', `--sort-order ${o.sortOrder}: use asc or desc`);
    const r = await ctx.run('expShow', { all: o.all, sortBy: o.sortBy, sortOrder: o.sortOrder });
    ctx.show(r, () => renderShow(r, !!o.md));
  });
  example(
    exp
      .command('apply')
      .description("the workspace takes an experiment's parameters, dv.lock, metrics and outs")
      .argument('<name>', 'the experiment')
      .option('-f, --force', 'overwrite changes that are in no commit and no experiment'),
    'dv exp apply brisk-lynx',
  ).action(async (name: string, o: { force?: boolean }) => {
    const r = await ctx.run('expApply', { name, force: o.force });
    ctx.show(r, renderApply);
  });
  example(
    exp
      .command('remove')
      .description('remove experiments')
      .argument('[names...]', 'experiments')
      .option('-A, --all', 'every experiment (not the queue)')
      .option('--queue', 'every queued experiment'),
    'dv exp remove brisk-lynx',
  ).action(async (names: string[], o: { all?: boolean; queue?: boolean }) => {
    const r = await ctx.run('expRemove', { names, all: o.all, queue: o.queue });
    ctx.show(r, () => (r.removed.length ? `Removed ${r.removed.map((x) => x.name).join(', ')}` : 'Nothing to remove'));
  });
  registerShareCommands(exp, ctx);
}
