/** `dv add`: track files or directories, recording their first snapshot. */
import type { Command } from 'commander';
import type { CliContext } from '../io.js';
import { command, snapshotMeta, snapshotOptions } from '../options.js';
import type { ScanProgress } from '../../workspace/scan.js';
import { count, human } from '../progress.js';
import type { AddResult } from '../../ops/add.js';

function render(r: AddResult, git: CliContext['gitAdd']): string {
  const lines = r.added.map(
    (a) =>
      `${a.changed ? 'added' : 'unchanged'} ${a.path}: ${count(a.files, 'file')}, ${human(a.size)}, snapshot ${a.snapshot.slice(0, 12)}`,
  );
  lines.push(`stored ${human(r.bytesStored)} in ${count(r.objectsStored, 'new object')}`);
  if (r.gitAdd.length > 0) lines.push(`\nTo track the changes with git, run:\n\n\t${git(r.gitAdd)}\n`);
  return lines.join('\n');
}

export function register(program: Command, ctx: CliContext): void {
  snapshotOptions(
    command(
      program,
      'add',
      'track files or directories: store their content and write <path>.dv pointer files',
      'dv add data/ models/model.bin -m "first import"',
    ),
  )
    .argument('<paths...>')
    .action(async (paths: string[], o: { message?: string; meta?: string[] }) => {
      const bar = ctx.progress('hashing');
      const onProgress = (p: ScanProgress): void => bar.update(p.filesHashed, { bytes: p.bytesHashed });
      const r = await ctx.run('add', { paths, cwd: ctx.cwd(), ...snapshotMeta(o), onProgress }).finally(() => bar.stop());
      ctx.show(r, (x) => render(x, ctx.gitAdd));
    });
}
