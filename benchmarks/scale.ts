// The `scale` suite (`npm run bench -- scale [--quick] [--files N]`): one tree of many small
// files (1–8 KiB, 1,000 per directory, directories grouped 100 to a parent), and the time and
// peak RSS of each dv command on it beside `git add` / `git status` and `restic backup` /
// `restic restore` on the same tree (each peer when it is on PATH). It asks whether memory stays
// flat as the file count grows (issue 19), so each row carries RSS; the ratios to the peers
// follow the table.
//
// The generated tree is kept under --tmp (default the OS temp dir, `dv-scale-<N>/data`) and
// reused by the next run with the same N: writing 300,000 files costs minutes on a busy machine.
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { exec, hasGnuTime, measure, which, type Cmd } from './lib/measure.js';
import { ByteStream, Xorshift } from './lib/prng.js';
import { dvCommand } from './lib/tools.js';

const USAGE = `usage: npm run bench -- scale [options]
  --quick        100,000 files (the default size is 1,000,000)
  --files N      the number of files (overrides --quick)
  --dv PATH      the dv executable to measure (default: this repo's bin/dv)
  --tmp DIR      where the tree and the repository go (default: the OS temp dir); the tree is kept
  --skip-git     leave out the git rows (git add of 1 M files takes minutes)
  --only LIST    only these steps (dv add always runs): status,git,commit,push,pull,checkout,restic
                 (pull pushes first)`;

const STEPS = ['status', 'git', 'commit', 'push', 'pull', 'checkout', 'restic'] as const;

const PER_DIR = 1000;
const DIRS_PER_PARENT = 100;

interface Row {
  files: number;
  command: string;
  seconds: number;
  cpu: number | null;
  rssMB: number | null;
  note?: string;
}

/** Writes `files` random files of 1–8 KiB under `data` (skipped when a finished tree is there). */
function generate(data: string, files: number): void {
  const done = join(dirname(data), `generated-${files}`);
  if (existsSync(done)) return;
  rmSync(data, { recursive: true, force: true });
  const rng = new Xorshift(`scale:${files}`);
  const bytes = new ByteStream(`scale:${files}`);
  for (let i = 0; i < files; i++) {
    const leaf = Math.floor(i / PER_DIR);
    const dir = join(data, `p${String(Math.floor(leaf / DIRS_PER_PARENT)).padStart(3, '0')}`, `d${String(leaf).padStart(4, '0')}`);
    if (i % PER_DIR === 0) mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `f${String(i).padStart(7, '0')}.bin`), bytes.take(rng.int(1024, 8 * 1024)));
  }
  writeFileSync(done, '');
}

function childEnv(tmp: string): NodeJS.ProcessEnv {
  const home = join(tmp, 'home');
  mkdirSync(home, { recursive: true });
  writeFileSync(
    join(home, '.gitconfig'),
    '[user]\n\tname = Bench\n\temail = bench@example.com\n[commit]\n\tgpgsign = false\n[init]\n\tdefaultBranch = main\n[gc]\n\tauto = 0\n[maintenance]\n\tauto = false\n',
  );
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of Object.keys(env)) if (/^(GIT_|DV_|NODE_OPTIONS)/.test(k)) delete env[k];
  return { ...env, HOME: home, XDG_CONFIG_HOME: join(home, '.config'), GIT_CONFIG_NOSYSTEM: '1', NO_COLOR: '1' };
}

export async function scale(argv: string[]): Promise<number> {
  const { values: v } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      files: { type: 'string' },
      dv: { type: 'string' },
      tmp: { type: 'string', default: tmpdir() },
      'skip-git': { type: 'boolean', default: false },
      only: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (v.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const files = v.files ? Number(v.files) : v.quick ? 100_000 : 1_000_000;
  if (!Number.isInteger(files) || files < 1) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const only = new Set(v.only ? v.only.split(',') : STEPS);
  if ([...only].some((x) => !(STEPS as readonly string[]).includes(x))) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  if (v['skip-git']) only.delete('git');
  if (only.has('restic') && !which('restic')) {
    process.stderr.write('bench: restic is not on PATH: its rows are left out\n');
    only.delete('restic');
  }
  if (!hasGnuTime) process.stderr.write('bench: GNU time (/usr/bin/time) is missing: peak RSS will not be measured\n');
  const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const dvBin = v.dv ? resolve(v.dv) : join(repoRoot, 'bin', 'dv');
  const base = join(resolve(v.tmp), `dv-scale-${files}`);
  const ws = join(base, 'ws');
  const data = join(ws, 'data');
  const env = childEnv(base);
  const dvOf = dvCommand(dvBin, !v.dv || dvBin.endsWith('/bin/dv'));
  const dv = (...args: string[]): Cmd => dvOf(ws, env, ...args);
  const gitPeer = join(base, 'git-peer.git');
  const git = (...args: string[]): Cmd => ({ cmd: 'git', args: [`--git-dir=${gitPeer}`, `--work-tree=${data}`, ...args], cwd: data, env });
  const resticEnv = { ...env, RESTIC_PASSWORD: 'bench', RESTIC_CACHE_DIR: join(base, 'restic-cache') };
  const restic = (...args: string[]): Cmd => ({ cmd: 'restic', args: ['-r', join(base, 'restic-repo'), ...args], cwd: ws, env: resticEnv });
  const log = (s: string): void => void process.stderr.write(`scale: ${s}\n`);
  const rows: Row[] = [];
  const timed = async (command: string, c: Cmd, note?: (out: string) => string | undefined): Promise<string> => {
    const m = await measure(c, { timeoutSeconds: 3600, scratch: base });
    const row: Row = { files, command, seconds: m.seconds, cpu: m.cpu, rssMB: m.rss === null ? null : m.rss / 1e6 };
    const n = note?.(m.stdout);
    if (n) row.note = n;
    rows.push(row);
    log(
      `${command}: ${m.seconds.toFixed(2)} s (CPU ${m.cpu?.toFixed(2) ?? '?'} s), ${row.rssMB?.toFixed(0) ?? '?'} MB${n ? ` (${n})` : ''}`,
    );
    return m.stdout;
  };

  mkdirSync(ws, { recursive: true });
  // One run at a time per tree: a second one would delete the first one's repository under it.
  const running = join(base, 'running');
  try {
    mkdirSync(running);
  } catch {
    process.stderr.write(`bench: another scale run uses ${base} (remove ${running} if none does)\n`);
    return 2;
  }
  try {
    return await runOn();
  } finally {
    rmSync(running, { recursive: true, force: true });
  }

  async function runOn(): Promise<number> {
    const t0 = Date.now();
    generate(data, files);
    log(`tree of ${files} files ready in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    // A fresh repository around the kept tree.
    for (const p of ['.git', '.dv', 'data.dv', '.gitignore', 'data.old', 'remote']) rmSync(join(ws, p), { recursive: true, force: true });
    rmSync(gitPeer, { recursive: true, force: true });
    exec({ cmd: 'git', args: ['init', '-q'], cwd: ws, env });
    exec(dv('init'));

    const statusNote = (out: string): string | undefined => {
      const j = JSON.parse(out) as { clean: boolean; paths: { filesHashed: number; modified: string[] }[] };
      const hashed = j.paths.reduce((a, p) => a + p.filesHashed, 0);
      return `${j.clean ? 'clean' : `modified ${j.paths.reduce((a, p) => a + p.modified.length, 0)}`}, hashed ${hashed}`;
    };
    // Every file read once first: dv add runs first and restic backup later, so without this dv
    // alone read a tree that the previous run's deletes had pushed out of the page cache.
    const warm = Date.now();
    exec({ cmd: 'sh', args: ['-c', 'find data -type f -print0 | xargs -0 cat > /dev/null'], cwd: ws, env });
    log(`tree read once (page cache) in ${((Date.now() - warm) / 1000).toFixed(1)} s`);
    await timed('dv add', dv('add', 'data', '-m', 'add'));
    if (only.has('status')) {
      await timed('dv status (nothing changed)', dv('status', '--json'), statusNote);
      await timed('dv status (nothing changed, again)', dv('status', '--json'), statusNote);
    }
    if (only.has('restic')) await resticRows();
    if (only.has('git')) {
      exec({ cmd: 'git', args: ['init', '-q', '--bare', gitPeer], cwd: base, env });
      await timed('git add -A', git('add', '-A'));
      exec(git('commit', '-q', '-m', 'all'));
      await timed('git status (nothing changed)', git('status', '--porcelain'));
    }
    // One file changed: new content, new size.
    // Replaced, not written in place: a tree hard-linked from another run's (`cp -al`) keeps its bytes.
    const changed = join(data, 'p000', 'd0000', 'f0000000.bin');
    rmSync(changed, { force: true });
    writeFileSync(changed, `changed ${Date.now()}\n`);
    if (only.has('status') || only.has('commit')) await timed('dv status (1 file changed)', dv('status', '--json'), statusNote);
    if (only.has('git')) await timed('git status (1 file changed)', git('status', '--porcelain'));
    if (only.has('commit')) await timed('dv commit (1 file changed)', dv('commit', '-m', 'one'));
    if (only.has('push') || only.has('pull')) {
      exec(dv('remote', 'add', 'local', join(ws, 'remote')));
      await timed('dv push (first, everything)', dv('push', '-r', 'local'));
      if (only.has('push')) await timed('dv push (nothing to send)', dv('push', '-r', 'local'));
    }
    if (only.has('pull')) await pullRow();
    if (only.has('checkout')) {
      renameSync(data, join(ws, 'data.old'));
      await timed('dv checkout (empty dir)', dv('checkout'));
      // The checked-out tree replaces the generated one (same content but for the changed file);
      // the old one is deleted at the end, after every timed row, as restic's restored tree is.
      await timed('dv status (after checkout)', dv('status', '--json'), statusNote);
    }
    for (const p of [join(ws, 'data.old'), join(base, 'restic-out'), join(base, 'clone')]) rmSync(p, { recursive: true, force: true });

    const date = new Date().toISOString().replace('T', ' ').slice(0, 16);
    const out = [
      `date ${date} UTC, \`npm run bench -- scale ${argv.join(' ')}\``,
      '',
      '| files | command | seconds | CPU s | peak RSS MB | note |',
      '| ---: | --- | ---: | ---: | ---: | --- |',
      ...rows.map(
        (r) =>
          `| ${r.files.toLocaleString('en-US')} | ${r.command} | ${r.seconds.toFixed(2)} | ${r.cpu === null ? '—' : r.cpu.toFixed(2)} | ${r.rssMB === null ? '—' : r.rssMB.toFixed(0)} | ${r.note ?? ''} |`,
      ),
    ];
    process.stdout.write(`${[...out, '', ...ratios(rows)].join('\n')}\n`);
    return 0;
  }

  /** dv pull into a fresh git clone of the workspace (fetch + checkout), then status there as the check. */
  async function pullRow(): Promise<void> {
    const clone = join(base, 'clone');
    rmSync(clone, { recursive: true, force: true });
    exec({ cmd: 'git', args: ['add', 'data.dv', '.gitignore', '.dv/config', '.dv/.gitignore'], cwd: ws, env });
    exec({ cmd: 'git', args: ['commit', '-q', '-m', 'track data'], cwd: ws, env });
    exec({ cmd: 'git', args: ['clone', '-q', ws, clone], cwd: base, env });
    await timed('dv pull (fresh clone)', dvOf(clone, env, 'pull', '-r', 'local'));
    const out = exec(dvOf(clone, env, 'status', '--json'));
    const j = JSON.parse(out) as { clean: boolean };
    log(`status in the clone after the pull: ${j.clean ? 'clean' : 'NOT CLEAN'}`);
    if (!j.clean) throw new Error('the pulled clone is not clean: the pull is wrong');
    // (The clone is deleted at the end, with the other output trees.)
  }

  /** restic backup of the same tree into a repository beside it, and a restore into an empty directory. */
  async function resticRows(): Promise<void> {
    const out = join(base, 'restic-out');
    for (const p of ['restic-repo', 'restic-cache', 'restic-out']) rmSync(join(base, p), { recursive: true, force: true });
    exec(restic('init'));
    await timed('restic backup', restic('backup', '-q', '--host', 'bench', 'data'));
    mkdirSync(out);
    await timed('restic restore (empty dir)', restic('restore', 'latest', '-q', '--target', out));
    // The restored tree stays until the end (see `outputs`): a mass delete just before dv checkout
    // would slow it alone (ext4 without a journal skips recently freed inodes, one check each).
    for (const p of ['restic-repo', 'restic-cache']) rmSync(join(base, p), { recursive: true, force: true });
  }
}

/** dv beside its peers in the same run: dv's seconds (and CPU seconds) over the peer's, or the commit's excess over status. */
function ratios(rows: Row[]): string[] {
  const at = (c: string): Row | undefined => rows.find((r) => r.command === c);
  const out: string[] = [];
  const pair = (mine: string, peer: string, target: string): void => {
    const a = at(mine);
    const b = at(peer);
    if (!a || !b) return;
    const cpu = a.cpu !== null && b.cpu !== null && b.cpu > 0 ? `, CPU ${(a.cpu / b.cpu).toFixed(2)}×` : '';
    out.push(`- ${mine} / ${peer}: ${(a.seconds / b.seconds).toFixed(2)}×${cpu} (target ${target})`);
  };
  pair('dv add', 'restic backup', '< 1');
  pair('dv checkout (empty dir)', 'restic restore (empty dir)', '< 1');
  pair('dv status (nothing changed)', 'git status (nothing changed)', '≤ 2');
  pair('dv status (1 file changed)', 'git status (1 file changed)', '≤ 2');
  const c = at('dv commit (1 file changed)');
  const st = at('dv status (1 file changed)');
  if (c && st) {
    const cpu = c.cpu !== null && st.cpu !== null ? `, CPU ${(c.cpu - st.cpu).toFixed(2)} s` : '';
    out.push(`- dv commit (1 file changed) − dv status (1 file changed): ${(c.seconds - st.seconds).toFixed(2)} s${cpu} (target ≤ 1 s)`);
  }
  return out;
}
