/** `dv get`, `dv import`, `dv update`: data tracked in another git repository, downloaded or imported. */
import type { Command } from 'commander';
import type { GetResult } from '../../ops/get.js';
import type { ImportResult } from '../../ops/import.js';
import type { CliContext } from '../io.js';
import { command } from '../options.js';
import { human } from '../progress.js';

const at = (r: { source: { url: string; rev?: string; commit: string } }): string =>
  `${r.source.url} at ${r.source.rev ?? 'its default branch'} (${r.source.commit.slice(0, 10)})`;

function renderGet(r: GetResult): string {
  return `${r.out}: ${r.files} file(s), ${human(r.bytes)} from ${r.url} ${r.path} (${r.commit.slice(0, 10)}, remote ${r.remote})`;
}

function renderImport(r: ImportResult): string {
  if (!r.changed) return `${r.path}: up to date with ${at(r)}`;
  return `${r.path}: ${r.source.path} from ${at(r)}: ${r.written} written, ${r.removed} removed; commit ${r.path}.dv with git`;
}

export function register(program: Command, ctx: CliContext): void {
  command(
    program,
    'get',
    'download a path tracked in another git repository (from its default remote), without tracking it',
    'dv get ../datasets data/labels.csv -o labels-v2.csv --rev v2',
  )
    .argument('<repo-url>', 'any URL git clones: a path, file://, https://, ssh:// or host:path')
    .argument('<path>', 'the tracked file or directory in that repository (from its root)')
    .option('-o, --out <path>', 'where to write it (default: its name, here); must not exist')
    .option('--rev <rev>', 'a branch, tag or commit of that repository (default: its default branch)')
    .action(async (url: string, path: string, o: { out?: string; rev?: string }) => {
      ctx.show(await ctx.run('get', { url, path, out: o.out, rev: o.rev, cwd: ctx.cwd() }), renderGet);
    });
  command(
    program,
    'import',
    'track a path of another git repository here; its pointer file records the source (`dv update` follows it)',
    'dv import https://example.com/team/datasets.git data/labels --rev main',
  )
    .argument('<repo-url>', 'any URL git clones: a path, file://, https://, ssh:// or host:path')
    .argument('<path>', 'the tracked file or directory in that repository (from its root)')
    .option('-o, --out <path>', 'where to track it here (default: its name, here)')
    .option('--rev <rev>', 'a branch, tag or commit of that repository (default: its default branch)')
    .option('-f, --force', 'replace what is at the target path')
    .action(async (url: string, path: string, o: { out?: string; rev?: string; force?: boolean }) => {
      ctx.show(await ctx.run('import', { url, path, out: o.out, rev: o.rev, force: o.force, cwd: ctx.cwd() }), renderImport);
    });
  command(program, 'update', "move an imported path to its source's newer version (or to --rev)", 'dv update labels --rev v3')
    .argument('<path>', 'a path `dv import` made')
    .option('--rev <rev>', 'follow this branch, tag or commit of the source from now on')
    .option('-f, --force', 'discard local changes to the path')
    .action(async (path: string, o: { rev?: string; force?: boolean }) => {
      ctx.show(await ctx.run('update', { path, rev: o.rev, force: o.force, cwd: ctx.cwd() }), renderImport);
    });
}
