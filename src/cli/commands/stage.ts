/** `dv stage add|list|remove`: the pipeline stages of dv.yaml. */
import type { Command } from 'commander';
import type { StageAddResult, StageRemoveResult } from '../../ops/stage.js';
import type { CliContext } from '../io.js';
import { collect, EXIT_HELP, example } from '../options.js';

interface AddFlags {
  name: string;
  deps?: string[];
  params?: string[];
  outs?: string[];
  metrics?: string[];
  metricsNoCache?: string[];
  plots?: string[];
  plotsNoCache?: string[];
  wdir?: string;
  force?: boolean;
}

function added(r: StageAddResult): string {
  const after = r.stage.upstream.length ? ` (after ${r.stage.upstream.join(', ')})` : '';
  const git = r.gitAdd.length > 0 ? '; track the definition with git: git add dv.yaml' : '';
  return `${r.replaced ? 'replaced' : 'added'} stage ${r.stage.name} in dv.yaml${after}\n\nRun it with \`dv repro ${r.stage.name}\`${git}`;
}

function removed(r: StageRemoveResult, gitAdd: CliContext['gitAdd']): string {
  const outs = r.untracked.length ? `; no longer tracked (files kept): ${r.untracked.join(', ')}` : '';
  const line = `removed stage ${r.stage} from dv.yaml${r.lockEntry ? ' and dv.lock' : ''}${outs}`;
  return r.gitAdd.length ? `${line}\n\nTo record it with git, run:\n\n\t${gitAdd(r.gitAdd)}\n` : line;
}

function registerAdd(stage: Command, ctx: CliContext): void {
  const add = stage
    .command('add')
    .description('add (or with --force replace) a stage in dv.yaml; the command is one shell string run by sh -c from the repository root')
    .requiredOption('-n, --name <name>', 'stage name')
    .option('-d, --deps <path>', 'a file or directory the command reads (repeatable)', collect)
    .option(
      '-p, --params <[file:]key>',
      'parameters the command reads: key in params.yaml, file:key, or keys separated by commas (repeatable)',
      collect,
    )
    .option('-o, --outs <path>', 'a file or directory the command writes; dv tracks it (repeatable)', collect)
    .option('-m, --metrics <path>', 'an out that is a metrics file (JSON, YAML, TOML or CSV), tracked by dv like -o (repeatable)', collect)
    .option(
      '-M, --metrics-no-cache <path>',
      'a metrics file kept in git: not cached, not tracked by dv, not git-ignored (repeatable)',
      collect,
    )
    .option(
      '--plots <path>',
      'an out that is plot data (CSV, TSV, JSON, YAML) drawn by dv plots, tracked by dv like -o (repeatable)',
      collect,
    )
    .option('--plots-no-cache <path>', 'plot data kept in git: not cached, not tracked by dv, not git-ignored (repeatable)', collect)
    .option('-w, --wdir <dir>', 'run the command in this directory; -d, -o, -m, -M, --plots and -p files are then relative to it')
    .option('-f, --force', 'replace a stage of the same name')
    .argument('<command...>', 'the command, after --');
  const text = 'dv stage add -n prepare -d prepare.py -d data/raw -p prepare.split -o data/prepared -- "python3 prepare.py"';
  example(add, text, '\n  41 dv.yaml is invalid (a cycle, an out claimed twice).').action(async (command: string[], o: AddFlags) => {
    const { name, wdir, deps, params, outs, metrics, metricsNoCache, plots, plotsNoCache, force } = o;
    const cmd = command.join(' ');
    const args = { name, cmd, wdir, deps, params, outs, metrics, metricsNoCache, plots, plotsNoCache, force };
    const r = await ctx.run('stageAdd', { ...args, cwd: ctx.cwd() });
    ctx.show(r, added);
  });
}

export function register(program: Command, ctx: CliContext): void {
  const stage = program
    .command('stage')
    .description('define pipeline stages in dv.yaml: add, list, remove')
    .addHelpText(
      'after',
      '\nExamples:\n  dv stage add -n train -d train.py -d data/prepared -p train.lr -o model.pkl -- "python3 train.py"\n' +
        `  dv stage list\n  dv stage remove train\n${EXIT_HELP}`,
    );
  registerAdd(stage, ctx);
  example(stage.command('list').description('list the stages of dv.yaml, upstream first'), 'dv stage list --json').action(async () => {
    const r = await ctx.run('stageList', {});
    const human = ctx.globals.json || ctx.globals.quiet ? undefined : (await import('../pipeline-render.js')).stageList;
    ctx.show(r, (x) => human?.(x));
  });
  const remove = stage
    .command('remove')
    .alias('rm')
    .description(
      'remove a stage from dv.yaml and dv.lock; its outs stop being tracked (pointer file and .gitignore line go, the files stay)',
    )
    .argument('<name>', 'the stage')
    .option('--keep-outs', 'keep the outs tracked as plain data (their pointer files stay)');
  example(remove, 'dv stage remove train').action(async (name: string, o: { keepOuts?: boolean }) => {
    ctx.show(await ctx.run('stageRemove', { name, keepOuts: o.keepOuts }), (x) => removed(x, ctx.gitAdd));
  });
}
