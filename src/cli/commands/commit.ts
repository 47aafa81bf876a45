/** `dv commit`: snapshot the changes of tracked paths and update their pointer files. */
import type { Command } from 'commander';
import type { CommitResult } from '../../ops/commit.js';
import type { CliContext } from '../io.js';
import { collect, command, parseMeta } from '../options.js';
import { count, human } from '../progress.js';
import { shellQuote } from '../render.js';

function render(r: CommitResult): string {
  if (r.committed.length === 0) return 'nothing tracked: run `dv add <path>` first';
  const lines = r.committed.map((c) =>
    c.changed
      ? `committed ${c.path}: snapshot ${c.snapshot.slice(0, 12)} (${count(c.files, 'file')}, ${human(c.size)})`
      : `unchanged ${c.path}`,
  );
  if (r.committed.some((c) => c.changed)) {
    const git = r.gitAdd.length > 0 ? `\n\nRecord it with git: git add ${r.gitAdd.map(shellQuote).join(' ')}` : '';
    lines.push(`stored ${human(r.bytesStored)} in ${count(r.objectsStored, 'new object')}${git}`);
  }
  return lines.join('\n');
}

export function register(program: Command, ctx: CliContext): void {
  command(
    program,
    'commit',
    'snapshot the changes of tracked paths and update their pointer files',
    'dv commit -m "add March data" --meta source=s3://raw/2024-03',
  )
    .argument('[paths...]')
    .option('-m, --message <msg>', 'snapshot message')
    .option('--meta <key=value>', 'metadata recorded in the snapshot (repeatable)', collect)
    .action(async (paths: string[], o: { message?: string; meta?: string[] }) => {
      const meta = parseMeta(o.meta);
      const bar = ctx.progress('hashing');
      const r = await ctx
        .run('commit', {
          paths,
          cwd: ctx.cwd(),
          message: o.message,
          meta,
          onProgress: (p) => bar.update(p.filesHashed, { bytes: p.bytesHashed }),
        })
        .finally(() => bar.stop());
      ctx.show(r, render);
    });
}
