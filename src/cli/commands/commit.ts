/** `dv commit`: snapshot the changes of tracked paths and update their pointer files. */
import type { Command } from 'commander';
import type { CommitResult } from '../../ops/commit.js';
import type { CliContext } from '../io.js';
import { command, snapshotMeta, snapshotOptions } from '../options.js';
import type { ScanProgress } from '../../workspace/scan.js';
import { count, human } from '../progress.js';

function render(r: CommitResult, gitAdd: CliContext['gitAdd']): string {
  if (r.committed.length === 0) return 'nothing tracked: run `dv add <path>` first';
  const lines = r.committed.map((c) =>
    c.changed
      ? `committed ${c.path}: snapshot ${c.snapshot.slice(0, 12)} (${count(c.files, 'file')}, ${human(c.size)})`
      : `unchanged ${c.path}`,
  );
  if (r.committed.some((c) => c.changed)) {
    const git = r.gitAdd.length > 0 ? `\n\nRecord it with git: ${gitAdd(r.gitAdd)}` : '';
    lines.push(`stored ${human(r.bytesStored)} in ${count(r.objectsStored, 'new object')}${git}`);
  }
  for (const a of r.attestations ?? []) lines.push(`signed an attestation of ${a.path} by ${a.keyid}: ${a.file}`);
  return lines.join('\n');
}

export function register(program: Command, ctx: CliContext): void {
  snapshotOptions(
    command(
      program,
      'commit',
      'snapshot the changes of tracked paths and update their pointer files',
      'dv commit -m "add March data" --meta source=s3://raw/2024-03',
    ),
  )
    .argument('[paths...]')
    .option(
      '--sign',
      'sign an attestation of each snapshot recorded with attest.key (default: when attest.key is set, unless attest.signCommits is false)',
    )
    .action(async (paths: string[], o: { message?: string; meta?: string[]; sign?: boolean }) => {
      const bar = ctx.progress('hashing');
      const onProgress = (p: ScanProgress): void => bar.update(p.filesHashed, { bytes: p.bytesHashed });
      const r = await ctx
        .run('commit', { paths, cwd: ctx.cwd(), ...snapshotMeta(o), onProgress, ...(o.sign ? { sign: true } : {}) })
        .finally(() => bar.stop());
      ctx.show(r, (x) => render(x, ctx.gitAdd));
    });
}
