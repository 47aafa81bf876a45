/**
 * The command line: declares commands, parses options, calls one operation each, renders the
 * result (human or --json). The only place that writes to stdout/stderr or exits.
 */
import { Command, CommanderError, Option } from 'commander';
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { DvError, ERROR_CODES } from '../errors.js';
import { COUNT, numberHint, parseNumber, type NumberRule } from '../core/number.js';
import { RepoSession, VERSION, findRoot, repoPaths } from '../repo/repo.js';
import { Config, flatten, getKey, globalConfigPath, type ConfigLevel } from '../repo/config.js';
import { releaseHeldLocksSync } from '../repo/lock.js';
import { stopWritesSync } from '../workspace/write-temp.js';
import type { RemoteOption } from '../repo/remotes.js';
import type { FsckRemoteOptions } from '../ops/fsck-remote.js';
import { progress, human, count } from './progress.js';
import * as render from './render.js';
import { renderFsckRemote } from './render-fsck-remote.js';

// Operations load on first use (changesets style): `dv status` never loads the AWS SDK.
type Fn = (...args: any[]) => Promise<unknown>;
function lazy<M, K extends keyof M>(load: () => Promise<M>, name: K): M[K] {
  return (async (...args: unknown[]) => ((await load())[name] as unknown as Fn)(...args)) as M[K];
}
const init = lazy(() => import('../ops/init.js'), 'init');
const add = lazy(() => import('../ops/add.js'), 'add');
const commit = lazy(() => import('../ops/commit.js'), 'commit');
const remove = lazy(() => import('../ops/untrack.js'), 'remove');
const move = lazy(() => import('../ops/untrack.js'), 'move');
const status = lazy(() => import('../ops/status.js'), 'status');
const checkout = lazy(() => import('../ops/checkout.js'), 'checkout');
const checkoutAt = lazy(() => import('../ops/checkout-rev.js'), 'checkoutAt');
const fsckRemote = lazy(() => import('../ops/fsck-remote.js'), 'fsckRemote');
const gitLog = lazy(() => import('../ops/log.js'), 'gitLog');
const log = lazy(() => import('../ops/log.js'), 'log');
const diff = lazy(() => import('../ops/diff.js'), 'diff');
const ls = lazy(() => import('../ops/ls.js'), 'ls');
const gc = lazy(() => import('../ops/gc.js'), 'gc');
const fsck = lazy(() => import('../ops/fsck.js'), 'fsck');
const push = lazy(() => import('../ops/push.js'), 'push');
const fetch = lazy(() => import('../ops/fetch.js'), 'fetch');
const pull = lazy(() => import('../ops/pull.js'), 'pull');
const remoteStatus = lazy(() => import('../ops/remote-status.js'), 'remoteStatus');
const install = lazy(() => import('../ops/install.js'), 'install');
const remotes = (): Promise<typeof import('../repo/remotes.js')> => import('../repo/remotes.js');
const stageAdd = lazy(() => import('../ops/stage.js'), 'stageAdd');
const stageList = lazy(() => import('../ops/stage.js'), 'stageList');
const stageRemove = lazy(() => import('../ops/stage.js'), 'stageRemove');
const repro = lazy(() => import('../ops/repro.js'), 'repro');
const verify = lazy(() => import('../ops/verify.js'), 'verify');
const lineage = lazy(() => import('../ops/lineage.js'), 'lineage');
const dag = lazy(() => import('../ops/dag.js'), 'dag');
const pipelineRender = (): Promise<typeof import('./pipeline-render.js')> => import('./pipeline-render.js');
const graphs = async (): Promise<
  typeof import('../pipeline/graph.js') & {
    lineageGraph: typeof import('../ops/lineage.js')['lineageGraph'];
    dagGraph: typeof import('../ops/dag.js')['dagGraph'];
  }
> => ({
  ...(await import('../pipeline/graph.js')),
  lineageGraph: (await import('../ops/lineage.js')).lineageGraph,
  dagGraph: (await import('../ops/dag.js')).dagGraph,
});

interface Globals {
  quiet?: boolean;
  json?: boolean;
  wait?: number;
  C?: string;
}

const EXIT_HELP = `
Exit codes:
  0 success; 1 unexpected error; 2 bad usage; 10 not a dv repository; 11 repository locked;
  16 would overwrite uncommitted changes; 20/21 unknown/ambiguous id; 22 object missing;
  23 object corrupt; 26 fsck found problems. \`dv help codes\` lists them all.`;

function out(text: string): void {
  text = render.printable(text);
  process.stdout.write(text.endsWith('\n') ? text : text + '\n');
}

function printJson(v: unknown): void {
  out(JSON.stringify(v, null, 2));
}

function parseMeta(pairs: string[] | undefined): Record<string, string> {
  const meta: Record<string, string> = {};
  for (const p of pairs ?? []) {
    const i = p.indexOf('=');
    if (i <= 0) throw new DvError('USAGE', `--meta ${JSON.stringify(p)} must be key=value`);
    meta[p.slice(0, i)] = p.slice(i + 1);
  }
  return meta;
}

const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

/**
 * An option taking a number, checked as it is parsed (before anything runs): every numeric
 * option goes through here, so `-j abc`, `-j 0` and `-n -1` all say the same thing.
 */
function numberOption(flags: string, description: string, rule: NumberRule, def?: number): Option {
  const flag = flags.split(/[\s,]+/)[0];
  const o = new Option(flags, description).argParser((v: string) => {
    const n = parseNumber(v, rule);
    if (n === undefined) throw new DvError('USAGE', `${flag} ${v}: give ${numberHint(rule)}`, { option: flag, value: v });
    return n;
  });
  return def === undefined ? o : o.default(def);
}
const SECONDS: NumberRule = { min: 0, whole: false };

/** The command being run (`push`, `stage add`), for the Ctrl-C message. */
let running = '';
/** Commands that write workspace files, and may stop before reaching some. */
const WORKSPACE_WRITERS = new Set(['add', 'commit', 'checkout', 'pull', 'repro']);

/**
 * Ctrl-C: every write dv makes is atomic (temp file + rename, data before the index that names
 * it), so stopping at once is safe; release the lock and say how to finish.
 */
function onInterrupt(): void {
  const workspace = WORKSPACE_WRITERS.has(running) ? ', and the workspace files it had not reached are untouched' : '';
  // On a terminal, end the line a progress bar (or the echoed ^C) was on; a pipe gets one line.
  const nl = process.stderr.isTTY ? '\n' : '';
  process.stderr.write(
    `${nl}dv: error INTERRUPTED: \`dv${running ? ` ${running}` : ''}\` stopped; what it wrote so far is complete and kept (nothing half-written)${workspace}: run the same command again to finish\n`,
  );
  stopWritesSync();
  releaseHeldLocksSync();
  process.exit(ERROR_CODES.INTERRUPTED.exit);
}

const HELP_CODES = new Set(['commander.helpDisplayed', 'commander.help', 'commander.version']);

/**
 * Commander's parse errors (unknown option or command, missing argument or option value) as one
 * dv line: `dv: error USAGE: unknown option '--bogus'; run \`dv push --help\``, exit 2. Each
 * command gets its own override so the hint names the command that refused the arguments.
 */
function exitThroughUsage(c: Command): void {
  c.exitOverride((e) => {
    if (HELP_CODES.has(e.code)) throw e;
    const [what, ...hints] = e.message
      .replace(/^error: /, '')
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean);
    const names: string[] = [];
    for (let x: Command | null = c; x; x = x.parent) names.unshift(x.name());
    throw new DvError('USAGE', `${[what, ...hints].join(' ').replace(/\.$/, '')}; run \`${names.join(' ')} --help\``, {
      commander: e.code,
    });
  });
  for (const sub of c.commands) exitThroughUsage(sub);
}

export async function main(argv: string[]): Promise<void> {
  process.once('SIGINT', onInterrupt);
  process.once('SIGTERM', onInterrupt);
  const program = new Command();
  let globals: Globals = {};
  const cwd = (): string => resolve(globals.C ?? process.cwd());
  const waitMs = (): number => (globals.wait ?? 10) * 1000;
  const tty = (): boolean => !globals.quiet && !globals.json;
  const session = async <T>(write: boolean, command: string, fn: (s: RepoSession) => Promise<T>): Promise<T> => {
    const s = await RepoSession.open({
      cwd: cwd(),
      write,
      waitMs: waitMs(),
      command,
      onWait: (h) => {
        if (!globals.quiet) process.stderr.write(`dv: waiting for \`dv ${h.command}\` (pid ${h.pid}) to finish...\n`);
      },
    });
    try {
      return await fn(s);
    } finally {
      await s.close();
    }
  };

  program
    .name('dv')
    .description('dv: content-addressed data versioning beside git (chunked, deduplicated, packed)')
    .version(VERSION, '-V, --version')
    .option('-q, --quiet', 'print only errors')
    .option('--json', 'print machine-readable JSON (commands whose output is data)')
    .addOption(numberOption('--wait <seconds>', 'how long to wait for another dv process holding the repository', SECONDS, 10))
    .option('-C <dir>', 'run as if started in <dir>')
    .showSuggestionAfterError(true)
    // Commander's own error lines are not printed: usageError() turns them into one dv line.
    .configureOutput({ writeErr: (s) => process.stderr.write(s), outputError: () => undefined })
    .hook('preAction', (_this, action) => {
      globals = { ...program.opts<Globals>(), ...action.opts<Globals>() };
      const names: string[] = [];
      for (let c: Command | null = action; c && c.parent; c = c.parent) names.unshift(c.name());
      running = names.join(' ');
      if (globals.C !== undefined && !statSync(resolve(globals.C), { throwIfNoEntry: false })?.isDirectory()) {
        throw new DvError('USAGE', `-C ${globals.C}: no such directory`, { path: globals.C });
      }
    })
    .addHelpText(
      'after',
      `
Examples:
  dv init && dv add data/ && git add data.dv .gitignore && git commit -m "track data"
  dv status                     what changed in tracked data
  dv commit -m "new labels"     snapshot the changes
  dv checkout                   make data match the pointer files (after git checkout)
${EXIT_HELP}`,
    );

  const cmd = (name: string, summary: string, example: string): Command =>
    program
      .command(name)
      .description(summary)
      .addHelpText('after', `\nExample:\n  ${example}\n${EXIT_HELP}`)
      .option('--json', 'print machine-readable JSON')
      .option('-q, --quiet', 'print only errors');

  cmd('init', 'create a dv repository (.dv/) at the top of this git work tree', 'dv init')
    .option('--no-git', 'allow a plain directory that is not a git work tree')
    .action(async (o: { git: boolean }) => {
      const r = await init({ cwd: cwd(), noGit: o.git === false });
      if (globals.json) printJson(r);
      else if (!globals.quiet)
        out(
          `Initialized dv repository in ${r.root}/.dv\n${r.git ? 'Commit .dv/config, .dv/.gitignore and .gitattributes with git.' : ''}`.trim(),
        );
    });

  cmd(
    'add',
    'track files or directories: store their content and write <path>.dv pointer files',
    'dv add data/ models/model.bin -m "first import"',
  )
    .argument('<paths...>')
    .option('-m, --message <msg>', 'snapshot message')
    .option('--meta <key=value>', 'metadata recorded in the snapshot (repeatable)', collect)
    .action(async (paths: string[], o: { message?: string; meta?: string[] }) => {
      const meta = parseMeta(o.meta);
      const bar = progress('hashing', tty());
      const r = await session(true, 'add', (s) =>
        add(s, { paths, cwd: cwd(), message: o.message, meta, onProgress: (p) => bar.update(p.filesHashed, { bytes: p.bytesHashed }) }),
      ).finally(() => bar.stop());
      if (globals.json) return printJson(r);
      if (globals.quiet) return;
      for (const a of r.added)
        out(
          `${a.changed ? 'added' : 'unchanged'} ${a.path}: ${count(a.files, 'file')}, ${human(a.size)}, snapshot ${a.snapshot.slice(0, 12)}`,
        );
      out(`stored ${human(r.bytesStored)} in ${count(r.objectsStored, 'new object')}`);
      if (r.gitAdd.length > 0) out(`\nTo track the changes with git, run:\n\n\tgit add ${r.gitAdd.map(render.shellQuote).join(' ')}\n`);
    });

  cmd('remove', 'stop tracking paths: delete their pointer files and .gitignore lines (the data stays unless --data)', 'dv remove old-data')
    .alias('rm')
    .argument('<paths...>')
    .option('--data', 'also delete the workspace copy (refused if it has changes not committed)')
    .option('-f, --force', 'with --data: delete it even with changes not committed')
    .action(async (paths: string[], o: { data?: boolean; force?: boolean }) => {
      const r = await session(true, 'remove', (s) => remove(s, { paths, cwd: cwd(), data: o.data, force: o.force }));
      if (globals.json) return printJson(r);
      if (globals.quiet) return;
      for (const x of r.removed)
        out(`removed ${x.pointer}${x.dataRemoved ? ` and ${x.path}` : ''}${o.data ? '' : ` (${x.path} is kept, no longer tracked)`}`);
      out(
        `\nThe snapshots stay in the store until \`dv gc\` no longer finds them. To record it with git, run:\n\n\tgit add ${r.gitAdd.map(render.shellQuote).join(' ')}\n`,
      );
    });

  cmd('move', 'rename a tracked path: its data, pointer file and .gitignore line (history kept)', 'dv move data/raw data/raw-2024')
    .alias('mv')
    .argument('<from>')
    .argument('<to>')
    .option('-m, --message <msg>', 'snapshot message')
    .action(async (from: string, to: string, o: { message?: string }) => {
      const r = await session(true, 'move', (s) => move(s, { from, to, cwd: cwd(), message: o.message }));
      if (globals.json) return printJson(r);
      if (globals.quiet) return;
      out(
        `moved ${r.from} to ${r.to}${r.dataMoved ? '' : ' (pointer only: the data was not checked out)'}: snapshot ${r.snapshot.slice(0, 12)}`,
      );
      out(`\nTo record it with git, run:\n\n\tgit add ${r.gitAdd.map(render.shellQuote).join(' ')}\n`);
    });

  cmd(
    'commit',
    'snapshot the changes of tracked paths and update their pointer files',
    'dv commit -m "add March data" --meta source=s3://raw/2024-03',
  )
    .argument('[paths...]')
    .option('-m, --message <msg>', 'snapshot message')
    .option('--meta <key=value>', 'metadata recorded in the snapshot (repeatable)', collect)
    .action(async (paths: string[], o: { message?: string; meta?: string[] }) => {
      const meta = parseMeta(o.meta);
      const bar = progress('hashing', tty());
      const r = await session(true, 'commit', (s) =>
        commit(s, { paths, cwd: cwd(), message: o.message, meta, onProgress: (p) => bar.update(p.filesHashed, { bytes: p.bytesHashed }) }),
      ).finally(() => bar.stop());
      if (globals.json) return printJson(r);
      if (globals.quiet) return;
      if (r.committed.length === 0) return out('nothing tracked: run `dv add <path>` first');
      for (const c of r.committed)
        out(
          c.changed
            ? `committed ${c.path}: snapshot ${c.snapshot.slice(0, 12)} (${count(c.files, 'file')}, ${human(c.size)})`
            : `unchanged ${c.path}`,
        );
      if (r.committed.some((c) => c.changed))
        out(
          `stored ${human(r.bytesStored)} in ${count(r.objectsStored, 'new object')}${r.gitAdd.length > 0 ? `\n\nRecord it with git: git add ${r.gitAdd.map(render.shellQuote).join(' ')}` : ''}`,
        );
    });

  cmd('status', 'list new, modified and deleted files in tracked paths; --remote: what is not pushed or fetched', 'dv status --json data')
    .argument('[paths...]')
    .option('-r, --remote [name]', 'compare with a remote instead of the workspace (default remote if no name)')
    .action(async (paths: string[], o: { remote?: string | boolean }) => {
      if (o.remote !== undefined) {
        const name = typeof o.remote === 'string' ? o.remote : undefined;
        const r = await session(false, 'status', (s) => remoteStatus(s, { remote: name, paths, cwd: cwd() }));
        if (globals.json) printJson(r);
        else if (!globals.quiet) out(render.remoteStatus(r));
        return;
      }
      const r = await session(false, 'status', (s) => status(s, { paths, cwd: cwd() }));
      if (globals.json) printJson(r);
      else if (!globals.quiet) out(render.status(r) + (await pipelineRender()).stagesStatus(r.stages, r.metrics));
    });

  cmd(
    'checkout',
    'make tracked paths match their pointer files, or restore a snapshot/tree by id or the data of a git revision',
    'dv checkout 3fa9c2 data   # restore an old snapshot of data/ (fetched from the remote if need be)\n  dv checkout HEAD~2 data   # the data data.dv named two commits ago',
  )
    .argument('[target]', 'snapshot or tree id (prefix), git revision, or a tracked path')
    .argument('[paths...]')
    .option('-f, --force', 'overwrite or delete uncommitted changes')
    .option('--new', 'with an id: restore it into a path that is not tracked yet, and track that path')
    .addOption(numberOption('-j, --jobs <n>', 'files written in parallel', COUNT, 8))
    .action(async (target: string | undefined, paths: string[], o: { force?: boolean; new?: boolean; jobs: number }) => {
      let id: string | undefined;
      let ps = paths;
      if (target !== undefined) {
        // A path that exists (or whose pointer does) is a path; anything else names a version:
        // a snapshot/tree id (even too short a one: resolving it says "give at least 4 hex
        // characters" rather than "run dv add 9f0") or a git revision.
        const isPath = existsSync(resolve(cwd(), target)) || existsSync(resolve(cwd(), target + '.dv'));
        const looksLikePath = target.includes('/') && !/[~^@:]/.test(target);
        if (!isPath && !looksLikePath) id = target;
        else ps = [target, ...paths];
      }
      const bar = progress('checkout', tty());
      const onProgress = (f: number, b: number): void => bar.update(f, { bytes: b });
      const opts = { paths: ps, cwd: cwd(), force: o.force, new: o.new, jobs: o.jobs, onProgress };
      const r = await session(true, 'checkout', (s) =>
        id === undefined || /^[0-9a-f]{1,3}$/i.test(id) ? checkout(s, { ...opts, target: id }) : checkoutAt(s, { ...opts, target: id }),
      ).finally(() => bar.stop());
      if (globals.json) return printJson(r);
      if (globals.quiet) return;
      for (const p of r.paths)
        out(
          p.written + p.removed === 0
            ? `${p.path}: up to date, snapshot ${p.snapshot.slice(0, 12)}`
            : `${p.path}: ${p.written} written, ${p.removed} removed (${human(p.bytes)}), snapshot ${p.snapshot.slice(0, 12)}`,
        );
    });

  cmd(
    'log',
    'list snapshots of tracked paths, newest first (--git: the commits that changed pointer files)',
    'dv log data -n 5\n  dv log --git main data   # works in a clone that fetched nothing',
  )
    .argument('[paths...]')
    .addOption(numberOption('-n, --max-count <n>', 'show at most n snapshots (commits with --git)', COUNT))
    .option('--git [rev]', 'follow the pointer files through git history from rev (default HEAD) instead of snapshot parents')
    .action(async (paths: string[], o: { maxCount?: number; git?: string | true }) => {
      if (o.git !== undefined) {
        const rev = o.git === true ? undefined : o.git;
        const g = await session(false, 'log', (s) => gitLog(s, { paths, cwd: cwd(), limit: o.maxCount, rev }));
        if (globals.json) printJson(g);
        else if (!globals.quiet) out(render.gitLog(g));
        return;
      }
      const r = await session(false, 'log', (s) => log(s, { paths, cwd: cwd(), limit: o.maxCount }));
      if (globals.json) return printJson(r);
      if (globals.quiet) return;
      out(render.log(r));
      // History cut short: the parents of the oldest snapshots shown are not in this clone.
      const shown = new Set(r.map((e) => e.id));
      if (!o.maxCount && r.some((e) => e.parents.some((p) => !shown.has(p)))) {
        out('\nOlder snapshots are not in this clone: `dv fetch --all-history` brings them; `dv log --git` shows the history git holds.');
      }
    });

  cmd(
    'diff',
    'files added, modified and deleted between two snapshots or git revisions, or one and the workspace',
    'dv diff HEAD~1            # every tracked path: the data at HEAD~1 vs the workspace\n  dv diff v1 v2 data/images\n  dv diff 3fa9c2 81d0e7',
  )
    .argument('<a>', 'snapshot or tree id (prefix), or a git revision (HEAD~1, main, v1)')
    .argument('[b]', 'the same; omitted: the workspace (with a git revision, a path here is taken as a path)')
    .argument('[paths...]', 'with git revisions: only these tracked paths, or paths inside them')
    .option('--path <path>', 'workspace path to compare a bare tree with')
    .action(async (a: string, b: string | undefined, paths: string[], o: { path?: string }) => {
      const r = await session(false, 'diff', (s) => diff(s, { a, b, paths, path: o.path, cwd: cwd() }));
      if (globals.json) printJson(r);
      else if (!globals.quiet) out(render.diff(r.changes));
    });

  cmd('ls', 'list the entries of a tracked path, snapshot or tree', 'dv ls data/images -R')
    .argument('<target>', 'tracked path (or a directory inside one), or snapshot/tree id')
    .option('-R, --recursive', 'list subdirectories too')
    .action(async (target: string, o: { recursive?: boolean }) => {
      const r = await session(false, 'ls', (s) => ls(s, { target, recursive: o.recursive, cwd: cwd() }));
      if (globals.json) printJson(r);
      else if (!globals.quiet) out(render.ls(r));
    });

  cmd('gc', 'delete objects that no pointer file, snapshot history or git ref reaches', 'dv gc --dry-run')
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
      "keep only what the work tree's pointer files name: no older versions, no other branches or tags (they stay on remotes they were pushed to)",
    )
    .action(async (o: { dryRun?: boolean; keepDays: number; workspace?: boolean }) => {
      const r = await session(true, 'gc', (s) =>
        gc(s, { dryRun: o.dryRun, keepDays: o.keepDays, workspace: o.workspace, waitMs: waitMs() }),
      );
      if (globals.json) printJson(r);
      else if (!globals.quiet) out(render.gc(r));
    });

  cmd(
    'fsck',
    'verify every object and reference; exit non-zero naming each problem',
    'dv fsck --rebuild-index\n  dv fsck --remote origin --read-data --sample 10   # indexes, roots, and a tenth of the data\n  dv fsck --remote --repair  # replace damaged packs from this clone',
  )
    .option('--rebuild-index', 'rebuild the LevelDB index from the pack indexes first')
    .option('--remote [name]', 'check a remote instead: every pack index against its pack, every object the roots need listed')
    .option('--read-data', 'with --remote: also download and re-hash every object of every pack')
    .addOption(numberOption('--sample <pct>', 'with --read-data: read this percentage of the packs', { min: 0.01, max: 100, whole: false }))
    .option('--seed <text>', 'with --sample: the seed choosing the packs (default: drawn at random, and printed)')
    .option('--repair', "with --remote: replace damaged packs and lying indexes from this clone's verified copies")
    .action(async (o: { rebuildIndex?: boolean; remote?: string | true } & Omit<FsckRemoteOptions, 'remote'>) => {
      if (o.remote === undefined && (o.readData || o.sample !== undefined || o.repair || o.seed !== undefined))
        throw new DvError('USAGE', '--read-data, --sample, --seed and --repair check a remote: add --remote [NAME]');
      if (o.remote !== undefined) {
        const name = o.remote === true ? undefined : o.remote;
        const rr = await session(false, 'fsck', (s) => fsckRemote(s, { ...o, remote: name }));
        if (globals.json) printJson(rr);
        else if (!globals.quiet || !rr.ok) {
          for (const p of rr.problems) process.stderr.write(`${p.code}: ${render.printable(p.message)}\n`);
          for (const w of rr.warnings) process.stderr.write(`dv: warning: ${render.printable(w)}\n`);
          out(renderFsckRemote(rr));
        }
        if (!rr.ok) process.exitCode = ERROR_CODES.FSCK_FAILED.exit;
        return;
      }
      const bar = progress('verifying', tty());
      const r = await session(true, 'fsck', (s) =>
        fsck(s, { rebuildIndex: o.rebuildIndex, onProgress: (n, b) => bar.update(n, { bytes: b }) }),
      ).finally(() => bar.stop());
      if (globals.json) printJson(r);
      else if (!globals.quiet || !r.ok) {
        for (const p of r.problems) process.stderr.write(`${p.code}: ${render.printable(p.message)}\n`);
        out(
          `${r.ok ? 'ok' : count(r.problems.length, 'problem')}: ${count(r.objects, 'object')} (${human(r.bytes)}) in ${count(r.packs, 'pack')} verified, ${count(r.roots, 'root')} checked${r.shallow ? `, ${count(r.shallow, 'older snapshot')} not fetched` : ''}${r.notFetched ? `, ${count(r.notFetched, 'snapshot')} of other git refs not fetched` : ''}${r.stale.length ? `, ${count(r.stale.length, 'stale copy')} for \`dv gc\`` : ''}${r.indexRebuilt ? ', index rebuilt' : ''}`,
        );
      }
      if (!r.ok) process.exitCode = ERROR_CODES.FSCK_FAILED.exit;
    });

  const remote = program
    .command('remote')
    .description('manage remotes: add, list, remove, default, trust')
    .addHelpText(
      'after',
      `\nExamples:\n  dv remote add origin /mnt/shared/dv-store --default\n  dv remote add s3 s3://my-bucket/datasets --region eu-west-1\n  dv remote add minio s3://data/dv --endpoint http://127.0.0.1:9000\n${EXIT_HELP}`,
    );
  remote
    .command('add')
    .description('add a remote: a directory path, file:// URL, or s3://bucket[/prefix]')
    .argument('<name>')
    .argument('<url>')
    .option('--endpoint <url>', 'S3-compatible endpoint (MinIO, Ceph, R2, ...)')
    .option('--region <region>', 'S3 region')
    .option('--profile <profile>', 'AWS profile for credentials')
    .option('--path-style', 'force path-style S3 addressing (default with --endpoint)')
    .option('--checksum <mode>', 'S3 checksums: when_required (default, safest with S3-compatible stores) or when_supported')
    .option('--sse <mode>', 'S3 server-side encryption on every upload: AES256 or aws:kms')
    .option('--sse-kms-key-id <key>', 'with --sse aws:kms: the KMS key id, alias or ARN (default: the account key)')
    .option('--sse-bucket-key', 'with --sse aws:kms: use an S3 Bucket Key')
    .addOption(numberOption('-j, --jobs <n>', 'parallel transfers for this remote', COUNT))
    .option('-d, --default', 'make it the default remote')
    .option('--local', 'store it in .dv/config.local (not committed)')
    .option('--json', 'print machine-readable JSON')
    .option('-q, --quiet', 'print only errors')
    .addHelpText('after', `\nExample:\n  dv remote add origin s3://my-bucket/project --default\n${EXIT_HELP}`)
    .action(
      async (
        name: string,
        url: string,
        o: {
          endpoint?: string;
          region?: string;
          profile?: string;
          pathStyle?: boolean;
          checksum?: string;
          sse?: string;
          sseKmsKeyId?: string;
          sseBucketKey?: boolean;
          jobs?: number;
          default?: boolean;
          local?: boolean;
        },
      ) => {
        if (o.checksum && o.checksum !== 'when_required' && o.checksum !== 'when_supported')
          throw new DvError('USAGE', '--checksum must be when_required or when_supported');
        const p = repoPaths(await findRoot(cwd()));
        const config = await Config.load({ global: globalConfigPath(), repo: p.config, local: p.localConfig });
        const options: Partial<Record<RemoteOption, string>> = {
          endpoint: o.endpoint,
          region: o.region,
          profile: o.profile,
          pathStyle: o.pathStyle ? 'true' : undefined,
          checksum: o.checksum,
          sse: o.sse,
          sseKmsKeyId: o.sseKmsKeyId,
          sseBucketKey: o.sseBucketKey ? 'true' : undefined,
          jobs: o.jobs === undefined ? undefined : String(o.jobs),
        };
        await (await remotes()).addRemote(config, o.local ? 'local' : 'repo', name, url, options, Boolean(o.default));
        const added = (await remotes()).listRemotes(config).find((r) => r.name === name);
        if (globals.json) printJson(added);
        else if (!globals.quiet) out(`added remote ${name} -> ${url}${added?.isDefault ? ' (default)' : ''}`);
      },
    );
  remote
    .command('list')
    .description('list remotes')
    .option('--json', 'print machine-readable JSON')
    .option('-q, --quiet', 'print only errors')
    .addHelpText('after', `\nExample:\n  dv remote list --json\n${EXIT_HELP}`)
    .action(async () => {
      const p = repoPaths(await findRoot(cwd()));
      const rs = (await remotes()).listRemotes(await Config.load({ global: globalConfigPath(), repo: p.config, local: p.localConfig }));
      if (globals.json) printJson(rs);
      else if (!globals.quiet)
        out(
          rs.length === 0
            ? 'no remotes: add one with `dv remote add NAME URL`'
            : rs.map((r) => `${r.isDefault ? '*' : ' '} ${r.name}\t${r.url}${r.endpoint ? ` (endpoint ${r.endpoint})` : ''}`).join('\n'),
        );
    });
  remote
    .command('remove')
    .description('remove a remote (its data stays where it is)')
    .argument('<name>')
    .option('--json', 'print machine-readable JSON')
    .option('-q, --quiet', 'print only errors')
    .addHelpText('after', `\nExample:\n  dv remote remove old-store\n${EXIT_HELP}`)
    .action(async (name: string) => {
      const p = repoPaths(await findRoot(cwd()));
      await (await remotes()).removeRemote(await Config.load({ global: globalConfigPath(), repo: p.config, local: p.localConfig }), name);
    });
  remote
    .command('default')
    .description('show or set the default remote')
    .argument('[name]')
    .option('--json', 'print machine-readable JSON')
    .option('-q, --quiet', 'print only errors')
    .addHelpText('after', `\nExample:\n  dv remote default origin\n${EXIT_HELP}`)
    .action(async (name?: string) => {
      const p = repoPaths(await findRoot(cwd()));
      const config = await Config.load({ global: globalConfigPath(), repo: p.config, local: p.localConfig });
      if (!name) {
        const d = config.get('core.remote');
        if (globals.json) printJson({ default: d ?? null });
        else if (d) out(d);
        else throw new DvError('NO_REMOTE', 'no default remote: set one with `dv remote default NAME`');
        return;
      }
      const { checkRemoteName, listRemotes } = await remotes();
      checkRemoteName(name);
      if (!listRemotes(config).some((r) => r.name === name))
        throw new DvError('NO_REMOTE', `no remote named ${JSON.stringify(name)}: see \`dv remote list\``);
      await config.set('repo', 'core.remote', name);
    });

  remote
    .command('trust')
    .description('confirm where a remote of the committed .dv/config now goes, after its URL or endpoint changed (REMOTE_UNTRUSTED)')
    .argument('[name]')
    .option('--json', 'print machine-readable JSON')
    .option('-q, --quiet', 'print only errors')
    .addHelpText('after', `\nExample:\n  git log -p .dv/config   # check who changed it, and why\n  dv remote trust origin\n${EXIT_HELP}`)
    .action(async (name?: string) => {
      const p = repoPaths(await findRoot(cwd()));
      const r = await (await remotes()).trustRemote(
        await Config.load({ global: globalConfigPath(), repo: p.config, local: p.localConfig }),
        p.dvDir,
        name,
      );
      if (globals.json) printJson(r);
      else if (!globals.quiet) out(`trusted remote ${r.name} -> ${r.identity}`);
    });

  const transferOpts = (c: Command): Command =>
    c
      .argument('[paths...]', 'tracked paths (default: all)')
      .option('-r, --remote <name>', 'remote to use (default: core.remote)')
      .addOption(numberOption('-j, --jobs <n>', 'parallel transfers (default: remote.NAME.jobs, else 8)', COUNT))
      .option('-a, --all-history', 'every snapshot in the history, not only those the pointer files name');

  type TransferFlags = { remote?: string; jobs?: number; allHistory?: boolean };
  /** What push, fetch and pull take from their common arguments. */
  const transfer = (paths: string[], o: TransferFlags) => ({ paths, cwd: cwd(), remote: o.remote, jobs: o.jobs, allHistory: o.allHistory });
  const fetched = (r: { remote: string; objectsFetched: number; bytesFetched: number; requests: number; warnings?: string[] }): string =>
    `${(r.warnings ?? []).map((w) => `warning: ${w}\n`).join('')}${r.remote}: fetched ${count(r.objectsFetched, 'object')} (${human(r.bytesFetched)}) in ${count(r.requests, 'request')}`;

  transferOpts(
    cmd(
      'push',
      'send what the remote lacks of the tracked data, and the run records dv.lock names (the remote run cache)',
      'dv push -r origin -j 16',
    ),
  )
    .option('--run-cache', "send every run of this clone's run cache with its outs, not only the runs dv.lock names")
    .option('--no-run-cache', 'send no run records')
    .option(
      '--rev <rev>',
      "send the data the pointer files of these git commits name, not the work tree's (rev-list syntax: main, ^origin/main, v1..v2, --branches, --all; repeatable)",
      collect,
    )
    .option(
      '--pre-push <git-remote>',
      "what the pre-push hook runs: send the data of the commits `git push` sends (the hook's lines on stdin); no dv remote configured: only a warning",
    )
    .option(
      '--repair',
      "read and verify the remote's copies first: send again objects whose copies are damaged (a bad pack index), remove indexes that list only damage",
    )
    .action(async (paths: string[], o: TransferFlags & { runCache?: boolean; rev?: string[]; prePush?: string; repair?: boolean }) => {
      const bar = progress('push', tty());
      const runs = o.runCache === true ? 'all' : o.runCache === false ? 'none' : 'locked';
      const prePush =
        o.prePush === undefined
          ? undefined
          : { gitRemote: o.prePush, lines: await (await import('node:stream/consumers')).text(process.stdin) };
      const r = await session(false, 'push', (s) =>
        push(s, {
          ...transfer(paths, o),
          runs,
          revs: o.rev,
          prePush,
          repair: o.repair,
          onProgress: (p) => bar.update(p.objects, { bytes: p.bytes }),
        }),
      ).finally(() => bar.stop());
      const runsText = r.runsSent > 0 ? `; ${count(r.runsSent, 'run record')} to the run cache` : '';
      if (globals.json) printJson(r);
      else if (r.skipped === 'no-remote')
        process.stderr.write(
          'dv: no dv remote configured, data not pushed: run `dv remote add NAME URL --default`, then `dv push --rev --branches`\n',
        );
      else if (!globals.quiet && !r.skipped)
        out(
          r.objectsSent === 0 && r.runsSent === 0
            ? `${r.remote}: everything up to date`
            : `${r.remote}: sent ${count(r.objectsSent, 'object')} (${human(r.bytesSent)}) in ${count(r.packsSent, 'pack')}; ${r.alreadyThere} already there${runsText}`,
        );
    });

  transferOpts(
    cmd(
      'fetch',
      "bring the data the pointer files (or a git revision's, or snapshot ids) name from a remote into the local store",
      'dv fetch -r origin\n  dv fetch --rev v1.0        # the data the pointer files of tag v1.0 name\n  dv fetch 3fa9c2e1d0b7      # one snapshot, by id or prefix',
    ),
  )
    .option('--rev <rev>', 'fetch what the pointer files of this git revision name (of the paths given, if any)')
    .action(async (paths: string[], o: TransferFlags & { rev?: string }) => {
      const bar = progress('fetch', tty());
      const r = await session(true, 'fetch', (s) =>
        fetch(s, { ...transfer(paths, o), rev: o.rev, onProgress: (p) => bar.update(p.objects, { bytes: p.bytes }) }),
      ).finally(() => bar.stop());
      if (globals.json) printJson(r);
      else if (!globals.quiet) out(fetched(r));
    });

  transferOpts(cmd('pull', 'fetch from a remote, then check out the tracked paths', 'dv pull'))
    .option('-f, --force', 'overwrite or delete uncommitted changes')
    .action(async (paths: string[], o: TransferFlags & { force?: boolean }) => {
      const bar = progress('pull', tty());
      const r = await session(true, 'pull', (s) =>
        pull(s, {
          ...transfer(paths, o),
          force: o.force,
          onProgress: (p) => bar.update(p.objects, { bytes: p.bytes }),
          onCheckoutProgress: (f, b) => bar.update(f, { bytes: b }),
        }),
      ).finally(() => bar.stop());
      if (globals.json) printJson(r);
      else if (!globals.quiet) {
        out(fetched(r.fetch));
        for (const p of r.checkout.paths)
          out(
            p.written + p.removed === 0
              ? `${p.path}: up to date`
              : `${p.path}: ${p.written} written, ${p.removed} removed (${human(p.bytes)})`,
          );
      }
    });

  cmd(
    'install',
    'add git hooks: git checkout runs dv checkout, git pull brings the data, git push runs dv push, git commit warns about unrecorded data',
    'dv install            # existing hooks are kept; dv adds one marked block',
  )
    .option('--uninstall', "remove dv's blocks from the hooks (the rest of each hook stays)")
    .action(async (o: { uninstall?: boolean }) => {
      const r = await install({ cwd: cwd(), uninstall: o.uninstall });
      if (globals.json) return printJson(r);
      if (globals.quiet) return;
      const say = {
        created: 'created',
        added: 'added a dv block to',
        updated: 'updated the dv block in',
        unchanged: 'already installed in',
        kept: 'calls dv itself (left as it is):',
        disabled:
          "not executable, so git skips it and dv leaves it as it is (make it executable and rerun `dv install` to add dv's block):",
        removed: 'removed the dv block from',
        deleted: 'deleted',
        absent: 'no dv hook in',
      };
      for (const h of r.hooks) out(`${h.hook}: ${say[h.action]} ${h.file}`);
      if (!r.uninstall)
        out(
          'git checkout <branch> now runs `dv checkout`, git pull brings the data (`dv checkout`, or `dv pull` when it is missing), git push runs `dv push` first, git commit warns about data changes not recorded with `dv commit`.',
        );
    });

  const stage = program
    .command('stage')
    .description('define pipeline stages in dv.yaml: add, list, remove')
    .addHelpText(
      'after',
      `\nExamples:\n  dv stage add -n train -d train.py -d data/prepared -p train.lr -o model.pkl -- "python3 train.py"\n  dv stage list\n  dv stage remove train\n${EXIT_HELP}`,
    );
  stage
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
    .option('-M, --metrics <path>', 'an out that is a metrics file (JSON or YAML) shown by dv status and dv lineage (repeatable)', collect)
    .option('-w, --wdir <dir>', 'run the command in this directory; -d, -o, -M and -p files are then relative to it')
    .option('-f, --force', 'replace a stage of the same name')
    .argument('<command...>', 'the command, after --')
    .option('--json', 'print machine-readable JSON')
    .option('-q, --quiet', 'print only errors')
    .addHelpText(
      'after',
      `\nExample:\n  dv stage add -n prepare -d prepare.py -d data/raw -p prepare.split -o data/prepared -- "python3 prepare.py"\n${EXIT_HELP}\n  41 dv.yaml is invalid (a cycle, an out claimed twice).`,
    )
    .action(
      async (
        command: string[],
        o: { name: string; deps?: string[]; params?: string[]; outs?: string[]; metrics?: string[]; wdir?: string; force?: boolean },
      ) => {
        const r = await session(true, 'stage add', (s) =>
          stageAdd(s, {
            name: o.name,
            cmd: command.join(' '),
            wdir: o.wdir,
            deps: o.deps,
            params: o.params,
            outs: o.outs,
            metrics: o.metrics,
            force: o.force,
            cwd: cwd(),
          }),
        );
        if (globals.json) return printJson(r);
        if (globals.quiet) return;
        out(
          `${r.replaced ? 'replaced' : 'added'} stage ${r.stage.name} in dv.yaml${r.stage.upstream.length ? ` (after ${r.stage.upstream.join(', ')})` : ''}\n\nRun it with \`dv repro ${r.stage.name}\`${r.gitAdd.length > 0 ? '; track the definition with git: git add dv.yaml' : ''}`,
        );
      },
    );
  stage
    .command('list')
    .description('list the stages of dv.yaml, upstream first')
    .option('--json', 'print machine-readable JSON')
    .option('-q, --quiet', 'print only errors')
    .addHelpText('after', `\nExample:\n  dv stage list --json\n${EXIT_HELP}`)
    .action(async () => {
      const r = await session(false, 'stage list', (s) => stageList(s));
      if (globals.json) printJson(r);
      else if (!globals.quiet) out((await pipelineRender()).stageList(r));
    });

  stage
    .command('remove')
    .alias('rm')
    .description(
      'remove a stage from dv.yaml and dv.lock; its outs stop being tracked (pointer file and .gitignore line go, the files stay)',
    )
    .argument('<name>', 'the stage')
    .option('--keep-outs', 'keep the outs tracked as plain data (their pointer files stay)')
    .option('--json', 'print machine-readable JSON')
    .option('-q, --quiet', 'print only errors')
    .addHelpText('after', `\nExample:\n  dv stage remove train\n${EXIT_HELP}`)
    .action(async (name: string, o: { keepOuts?: boolean }) => {
      const r = await session(true, 'stage remove', (s) => stageRemove(s, { name, keepOuts: o.keepOuts }));
      if (globals.json) return printJson(r);
      if (globals.quiet) return;
      const outs = r.untracked.length ? `; no longer tracked (files kept): ${r.untracked.join(', ')}` : '';
      out(`removed stage ${r.stage} from dv.yaml${r.lockEntry ? ' and dv.lock' : ''}${outs}`);
      if (r.gitAdd.length) out(`\nTo record it with git, run:\n\n\tgit add ${r.gitAdd.map(render.shellQuote).join(' ')}\n`);
    });

  cmd(
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
    .addHelpText(
      'after',
      '  40 a stage failed (its own exit code when it has one); 41 dv.yaml or dv.lock is invalid;\n  42 --verify found outputs that differ from dv.lock.',
    )
    .action(
      async (
        stages: string[],
        o: {
          force?: boolean;
          runCache: boolean;
          remote?: string;
          offline?: boolean;
          dryRun?: boolean;
          verify?: boolean;
          keepTemp?: boolean;
        },
      ) => {
        // Stage output is shown as it runs; with --json it goes to stderr so stdout stays JSON.
        const stdio: ['ignore', 'inherit' | 'ignore' | number, 'inherit' | number] = globals.json
          ? ['ignore', 2, 2]
          : globals.quiet
            ? ['ignore', 'ignore', 'inherit']
            : ['ignore', 'inherit', 'inherit'];
        const say = (text: string): void => {
          if (!globals.json && !globals.quiet) out(text);
        };
        const pr = await pipelineRender();
        if (o.verify) {
          const r = await session(false, 'repro --verify', (s) =>
            verify(s, { stages, stdio, keep: o.keepTemp, onStage: (e) => say(`Verifying stage ${e.stage}:\n> ${e.cmd}`) }),
          );
          if (globals.json) printJson(r);
          else if (!globals.quiet || !r.ok) out(pr.verify(r));
          if (!r.ok) process.exitCode = ERROR_CODES.NOT_REPRODUCIBLE.exit;
          return;
        }
        const r = await session(true, 'repro', (s) =>
          repro(s, {
            stages,
            force: o.force,
            runCache: o.runCache,
            remote: o.offline ? false : o.remote,
            dryRun: o.dryRun,
            stdio,
            onNotice: (text) => {
              if (!globals.quiet) process.stderr.write(`dv: ${render.printable(text)}\n`);
            },
            onStage: (e) =>
              say(
                e.action === 'run'
                  ? `Running stage ${e.stage}:\n> ${e.cmd}`
                  : `Restoring stage ${e.stage} from ${e.from === 'remote' ? 'the remote run cache' : 'a recorded run'}`,
              ),
          }),
        );
        if (globals.json) printJson(r);
        else if (!globals.quiet) out(pr.repro(r));
      },
    );

  cmd(
    'lineage',
    'how an artifact was made: the stages, inputs (snapshot ids), params, code commit and environment, back to raw data',
    'dv lineage metrics.json --format mermaid',
  )
    .argument('<target>', 'a stage output or tracked path (or a file inside one), or a snapshot id')
    .option('--format <format>', 'text, mermaid or dot', 'text')
    .action(async (target: string, o: { format: string }) => {
      if (!['text', 'mermaid', 'dot'].includes(o.format)) throw new DvError('USAGE', `--format ${o.format}: use text, mermaid or dot`);
      const r = await session(false, 'lineage', (s) => lineage(s, { target, cwd: cwd() }));
      if (globals.json) return printJson(r);
      if (o.format === 'mermaid' || o.format === 'dot') {
        const g = await graphs();
        return out((o.format === 'mermaid' ? g.toMermaid : g.toDot)(g.lineageGraph(r)));
      }
      if (!globals.quiet) out((await pipelineRender()).lineage(r));
    });

  cmd('dag', 'print the pipeline graph of dv.yaml', 'dv dag --format mermaid >> README.md')
    .option('--format <format>', 'text, mermaid or dot', 'text')
    .action(async (o: { format: string }) => {
      if (!['text', 'mermaid', 'dot'].includes(o.format)) throw new DvError('USAGE', `--format ${o.format}: use text, mermaid or dot`);
      const r = await session(false, 'dag', (s) => dag(s));
      if (globals.json) return printJson(r);
      if (o.format === 'mermaid' || o.format === 'dot') {
        const g = await graphs();
        return out((o.format === 'mermaid' ? g.toMermaid : g.toDot)(g.dagGraph(r)));
      }
      if (!globals.quiet) out((await pipelineRender()).dag(r));
    });

  cmd('config', 'get, set or list configuration (repo: .dv/config, --local, --global)', 'dv config core.remote origin')
    .argument('[key]')
    .argument('[value]')
    .option('--global', 'use the global config ($XDG_CONFIG_HOME/dv/config)')
    .option('--local', 'use .dv/config.local (not committed)')
    .option('--unset', 'remove the key')
    .option('-l, --list', 'list every key with its value')
    .action(
      async (
        key: string | undefined,
        value: string | undefined,
        o: { global?: boolean; local?: boolean; unset?: boolean; list?: boolean },
      ) => {
        if (o.global && o.local) throw new DvError('USAGE', '--global and --local: give one of them');
        const level: ConfigLevel = o.global ? 'global' : o.local ? 'local' : 'repo';
        let files: Record<ConfigLevel, string>;
        if (level === 'global' && (o.list || key)) {
          const root = await findRoot(cwd()).catch(() => undefined);
          const p = root ? repoPaths(root) : undefined;
          files = {
            global: globalConfigPath(),
            repo: p?.config ?? '/nonexistent/.dv/config',
            local: p?.localConfig ?? '/nonexistent/.dv/config.local',
          };
        } else {
          const p = repoPaths(await findRoot(cwd()));
          files = { global: globalConfigPath(), repo: p.config, local: p.localConfig };
        }
        // Unchecked: a value dv cannot use must not stop `dv config` from showing or fixing it.
        const config = await Config.load(files, { check: false });
        // --global and --local read that file alone, as in git; without them, the merged view.
        const only = o.global || o.local ? level : undefined;
        if (o.list || !key) {
          const entries = only ? flatten(config.levels[only]).sort((a, b) => (a[0] < b[0] ? -1 : 1)) : config.entries();
          if (globals.json) printJson(Object.fromEntries(entries));
          else if (entries.length) out(entries.map(([k, v]) => `${k}=${v}`).join('\n'));
          return;
        }
        if (o.unset) {
          if (!(await config.set(level, key, undefined))) throw new DvError('USAGE', `${key} is not set in the ${level} config`);
          return;
        }
        if (value === undefined) {
          const v = only ? getKey(config.levels[only], key) : config.get(key);
          if (v === undefined) {
            process.exitCode = 1;
            return;
          }
          if (globals.json) printJson({ [key]: v });
          else out(v);
          return;
        }
        await config.set(level, key, value);
      },
    );

  exitThroughUsage(program);

  try {
    const [first, second] = argv.slice(2);
    if (first === 'help' && second === 'codes') {
      out(render.codes());
      return;
    }
    if (first === 'help' && second !== undefined && !program.commands.some((c) => c.name() === second)) {
      throw new DvError('USAGE', `unknown command '${second}'; run \`dv --help\``);
    }
    await program.parseAsync(argv);
  } catch (e) {
    // Only help and version get here as CommanderErrors (see exitThroughUsage).
    if (e instanceof CommanderError) {
      process.exitCode = 0;
      return;
    }
    if (e instanceof DvError) {
      process.stderr.write(`dv: error ${e.code}: ${render.printable(e.message)}\n`);
      process.exitCode = e.exitCode;
      return;
    }
    const ne = e as NodeJS.ErrnoException;
    process.stderr.write(`dv: error ERROR: ${ne?.message ?? e}\n`);
    if (process.env.DV_DEBUG) process.stderr.write(`${ne?.stack}\n`);
    process.exitCode = 1;
  }
}
