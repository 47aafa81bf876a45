/** `dv diff`: files added, modified and deleted between two versions, or one and the workspace. */
import type { Command } from 'commander';
import type { CliContext } from '../io.js';
import { command } from '../options.js';
import * as render from '../render.js';

export function register(program: Command, ctx: CliContext): void {
  command(
    program,
    'diff',
    'files added, modified and deleted between two snapshots or git revisions, or one and the workspace',
    'dv diff HEAD~1            # every tracked path: the data at HEAD~1 vs the workspace\n' +
      '  dv diff v1 v2 data/images\n  dv diff 3fa9c2 81d0e7',
  )
    .argument('<a>', 'snapshot or tree id (prefix), or a git revision (HEAD~1, main, v1)')
    .argument('[b]', 'the same; omitted: the workspace (with a git revision, a path here is taken as a path)')
    .argument('[paths...]', 'with git revisions: only these tracked paths, or paths inside them')
    .option('--path <path>', 'workspace path to compare a bare tree with')
    .action(async (a: string, b: string | undefined, paths: string[], o: { path?: string }) => {
      const r = await ctx.run('diff', { a, b, paths, path: o.path, cwd: ctx.cwd() });
      ctx.show(r, () => render.diff(r.changes));
    });
}
