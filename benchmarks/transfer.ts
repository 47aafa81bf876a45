// The `transfer` suite (`npm run bench -- transfer [--quick]`): large files over the network and
// to a directory remote, dv beside the tools people copy data with (issue 19, "transfers at the
// network's speed"). 4 × 256 MiB random files [--quick: 2 × 16 MiB] pushed to and pulled from
// s3rver and moto_server (dv beside `rclone copy` with default settings and `aws s3 cp
// --recursive`, all pointed at the same server), pushed to a directory remote (beside `rsync -a`
// and `cp -r`), then an incremental push after a 1 MiB overwrite, a 10 MiB append and a 1% CSV
// insert (dv commit + push beside restic backup + `rclone copy` of its repository to a directory).
// One run per row; each row has wall time, CPU seconds and peak RSS of the client (GNU time).
// A peer that is not installed is left out with a line saying so; dv rows always run.
import { cpSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { FULL, QUICK, generate, type Dataset } from './lib/datasets.js';
import { exec, hasGnuTime, measure, median, processSeconds, tally, warm, warmMemory, which, type Cmd } from './lib/measure.js';
import { startMoto, MOTO_ENV, type Moto } from './lib/moto.js';
import { startS3rver, S3_ENV, type S3rver } from './lib/s3rver.js';
import { dvCommand } from './lib/tools.js';
import { benchEnv } from './lib/env.js';

const USAGE = `usage: npm run bench -- transfer [options]
  --quick        2 × 16 MiB and a 10 MB CSV (default 4 × 256 MiB and 200 MB)
  --dv PATH      the dv executable to measure (default: this repo's bin/dv)
  --tmp DIR      where data, stores and remotes go (default: the OS temp dir; full sizes need ~10 GB)
  --skip LIST    peers to leave out: rclone,aws,rsync,cp,restic,moto
  --only LIST    row groups to measure: dir (push to a directory), push (to the servers), pull, incremental
                 (default all; a pull without push still pushes first, unmeasured)
  --large N,MIB  N large files of MIB MiB each (default 4,256; --quick 2,16)
  --compare PATH another dv executable whose pull rows are measured beside --dv's, alternating on the same servers
                 (a before/after pair from one run: "dv pull (compare)")
  --runs N       repeat the pull rows N times (default 1), each tool once per round
  --keep         keep the temporary directory`;

export interface TransferRow {
  op: string;
  tool: string;
  seconds: number;
  cpu: number | null;
  rssMB: number | null;
  mbps: number | null;
  note?: string;
}

interface Server {
  name: 's3rver' | 'moto';
  endpoint: string;
  pid: number | undefined;
  env: Record<string, string>;
  createBucket(b: string): Promise<void>;
  stop(): Promise<void>;
}

function baseEnv(home: string): NodeJS.ProcessEnv {
  return {
    ...benchEnv(home),
    AWS_REGION: 'us-east-1',
    AWS_DEFAULT_REGION: 'us-east-1',
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    RCLONE_CONFIG: join(home, 'rclone.conf'),
  };
}

/** rclone's remote `srv:` for a server, configured through the environment, defaults otherwise. */
function rcloneEnv(srv: Server): Record<string, string> {
  return {
    RCLONE_CONFIG_SRV_TYPE: 's3',
    RCLONE_CONFIG_SRV_PROVIDER: 'Other',
    RCLONE_CONFIG_SRV_ENDPOINT: srv.endpoint,
    RCLONE_CONFIG_SRV_ACCESS_KEY_ID: srv.env.AWS_ACCESS_KEY_ID!,
    RCLONE_CONFIG_SRV_SECRET_ACCESS_KEY: srv.env.AWS_SECRET_ACCESS_KEY!,
    RCLONE_CONFIG_SRV_REGION: 'us-east-1',
  };
}

export async function transfer(argv: string[]): Promise<number> {
  const { values: v } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      dv: { type: 'string' },
      tmp: { type: 'string', default: tmpdir() },
      skip: { type: 'string', default: '' },
      only: { type: 'string', default: 'dir,push,pull,incremental' },
      large: { type: 'string' },
      keep: { type: 'boolean', default: false },
      compare: { type: 'string' },
      runs: { type: 'string', default: '1' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (v.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const skip = new Set(v.skip.split(',').filter(Boolean));
  const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const dvBin = v.dv ? resolve(v.dv) : join(repoRoot, 'bin', 'dv');
  const only = new Set(v.only.split(',').filter(Boolean));
  const large = /^(\d+),(\d+)$/.exec(v.large ?? '');
  if (v.large !== undefined && !large) throw new Error(`--large ${v.large}: expected N,MIB (such as 4,256)`);
  const sizes = { ...(v.quick ? QUICK : FULL), ...(large ? { largeFiles: Number(large[1]), largeBytes: Number(large[2]) << 20 } : {}) };
  const base = join(resolve(v.tmp), `dv-transfer-${process.pid}`);
  const log = (s: string): void => void process.stderr.write(`transfer: ${s}\n`);
  if (!hasGnuTime) log('GNU time (/usr/bin/time) is missing: CPU and peak RSS will not be measured');
  const env = baseEnv(join(base, 'home'));
  const servers: Server[] = [];
  try {
    const s3 = await startS3rver(join(base, 's3rver'));
    servers.push(serverOf('s3rver', s3, S3_ENV));
    const moto = skip.has('moto') ? undefined : await startMoto();
    if (moto) servers.push(serverOf('moto', moto, MOTO_ENV));
    else log(skip.has('moto') ? 'moto_server skipped (--skip moto)' : 'moto_server is not installed: its rows are left out');
    const runs = Number(v.runs);
    if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs ${v.runs}: expected a whole number of at least 1`);
    const compare = v.compare ? resolve(v.compare) : undefined;
    const suite = new Suite(base, env, dvCommand(dvBin, !v.dv || dvBin.endsWith('/bin/dv')), skip, only, log, {
      runs,
      ...(compare ? { compare: dvCommand(compare, compare.endsWith('/bin/dv')) } : {}),
    });
    const rows = await suite.run(sizes, servers);
    process.stdout.write(`${render(rows, suite.notes, v.quick, argv.join(' '))}\n`);
    return 0;
  } finally {
    for (const s of servers) await s.stop().catch(() => undefined);
    if (!v.keep) rmSync(base, { recursive: true, force: true });
    else log(`kept ${base}`);
  }
}

function serverOf(name: Server['name'], s: S3rver | Moto, creds: { AWS_ACCESS_KEY_ID: string; AWS_SECRET_ACCESS_KEY: string }): Server {
  return {
    name,
    endpoint: s.endpoint,
    pid: s.pid,
    env: { AWS_ACCESS_KEY_ID: creds.AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: creds.AWS_SECRET_ACCESS_KEY },
    createBucket: (b) => s.createBucket(b),
    stop: () => s.stop(),
  };
}

class Suite {
  readonly rows: TransferRow[] = [];
  readonly notes: string[] = [];
  private readonly ws: string;
  private dataBytes = 0;

  constructor(
    private readonly base: string,
    private readonly env: NodeJS.ProcessEnv,
    private readonly dvOf: ReturnType<typeof dvCommand>,
    private readonly skip: Set<string>,
    private readonly only: Set<string>,
    private readonly log: (s: string) => void,
    private readonly pulls: { runs: number; compare?: ReturnType<typeof dvCommand> } = { runs: 1 },
  ) {
    this.ws = join(base, 'ws');
  }

  private dv(cwd: string, extra: Record<string, string>, ...args: string[]): Cmd {
    return this.dvOf(cwd, { ...this.env, ...extra }, ...args);
  }

  /** Whether a peer runs; notes once why not. */
  private has(tool: string, bin = tool): boolean {
    if (this.skip.has(tool)) return this.note(`${tool}: skipped (--skip)`);
    if (!which(bin)) return this.note(`${tool}: not installed, its rows are left out`);
    return true;
  }

  private note(s: string): false {
    if (!this.notes.includes(s)) {
      this.notes.push(s);
      this.log(s);
    }
    return false;
  }

  /** `timed` when the row's group is measured in this run; otherwise the command only runs (a later group needs what it makes). */
  private async timedIf(group: string, op: string, tool: string, c: Cmd, o: { warm?: string[]; helperPid?: number; bytes?: number } = {}) {
    if (this.only.has(group)) return this.timed(op, tool, c, o);
    exec(c);
    return Number.NaN;
  }

  private async timed(op: string, tool: string, c: Cmd, o: { warm?: string[]; helperPid?: number; bytes?: number } = {}): Promise<number> {
    if (o.warm) {
      exec({ cmd: 'sync', args: [], cwd: this.base });
      warm(o.warm);
      // The pages a command writes its output into come warm, for every tool alike (measure.ts).
      warmMemory(this.base, Math.max(this.dataBytes, 64 << 20) * 1.5);
    }
    try {
      const m = await measure(c, { timeoutSeconds: 1800, scratch: this.base, helperPid: o.helperPid });
      const bytes = o.bytes ?? this.dataBytes;
      const row: TransferRow = {
        op,
        tool,
        seconds: m.seconds,
        cpu: m.cpu,
        rssMB: m.rss === null ? null : m.rss / 1e6,
        mbps: bytes > 0 ? bytes / 1e6 / m.seconds : null,
      };
      this.rows.push(row);
      this.log(`${op} | ${tool}: ${m.seconds.toFixed(2)} s, CPU ${m.cpu?.toFixed(2) ?? '?'} s, ${row.rssMB?.toFixed(0) ?? '?'} MB`);
      return m.seconds;
    } catch (e) {
      this.rows.push({
        op,
        tool,
        seconds: Number.NaN,
        cpu: null,
        rssMB: null,
        mbps: null,
        note: `failed: ${(e as Error).message.slice(0, 200)}`,
      });
      this.log(`${op} | ${tool}: FAILED ${(e as Error).message}`);
      return Number.NaN;
    }
  }

  /** Checks that `dir` holds the same files as the data, byte for byte. */
  private same(dir: string, data: Dataset): void {
    const r = exec({ cmd: 'sh', args: ['-c', 'diff -r -q "$1" "$2" && echo same', 'sh', data.dataDir, dir], cwd: this.base });
    if (!r.includes('same')) throw new Error(`${dir} differs from the data`);
  }

  async run(sizes: typeof FULL, servers: Server[]): Promise<TransferRow[]> {
    const { ws, env, base } = this;
    const t0 = Date.now();
    const large = generate('few-large', join(base, 'gen-large'), sizes, 'dv-bench-1');
    const csv = generate('csv', join(base, 'gen-csv'), sizes, 'dv-bench-1');
    this.dataBytes = large.bytes;
    this.log(`data ready in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${large.describe}; ${csv.describe}`);
    mkdirSync(ws, { recursive: true });
    cpSync(large.dataDir, join(ws, 'data'), { recursive: true, preserveTimestamps: true });
    exec({ cmd: 'git', args: ['init', '-q'], cwd: ws, env });
    exec(this.dv(ws, {}, 'init'));
    exec(this.dv(ws, {}, 'add', 'data', '-m', 'add'));
    if (this.only.has('dir') || this.only.has('incremental')) await this.pushDirectory(large);
    if (this.only.has('push') || this.only.has('pull')) await this.s3Rows(large, servers);
    if (this.only.has('incremental')) await this.incremental(large, csv);
    return this.rows;
  }

  private async pushDirectory(large: Dataset): Promise<void> {
    const { ws, base } = this;
    const op = 'push to a directory';
    exec(this.dv(ws, {}, 'remote', 'add', 'dir', join(base, 'remote-dir')));
    await this.timedIf('dir', op, 'dv push', this.dv(ws, {}, 'push', '-r', 'dir'), { warm: [join(ws, '.dv')] });
    if (!this.only.has('dir')) return;
    if (this.has('rsync')) {
      await this.timed(
        op,
        'rsync -a',
        { cmd: 'rsync', args: ['-a', `${large.dataDir}/`, join(base, 'rsync-dst')], cwd: base },
        { warm: [large.dataDir] },
      );
      this.same(join(base, 'rsync-dst'), large);
      rmSync(join(base, 'rsync-dst'), { recursive: true, force: true });
    }
    if (this.has('cp')) {
      await this.timed(op, 'cp -r', { cmd: 'cp', args: ['-r', large.dataDir, join(base, 'cp-dst')], cwd: base }, { warm: [large.dataDir] });
      rmSync(join(base, 'cp-dst'), { recursive: true, force: true });
    }
  }

  private async s3Rows(large: Dataset, servers: Server[]): Promise<void> {
    const { ws, env, base } = this;
    for (const s of servers) {
      await s.createBucket(`dv-${s.name}`);
      exec(this.dv(ws, s.env, 'remote', 'add', s.name, `s3://dv-${s.name}/dv`, '--endpoint', s.endpoint));
      await this.timedIf('push', `push to ${s.name}`, 'dv push', this.dv(ws, s.env, 'push', '-r', s.name), {
        warm: [join(ws, '.dv')],
        helperPid: s.pid,
      });
      if (this.has('rclone')) {
        await s.createBucket(`rclone-${s.name}`);
        const c = {
          cmd: 'rclone',
          args: ['copy', large.dataDir, `srv:rclone-${s.name}/data`],
          cwd: base,
          env: { ...env, ...rcloneEnv(s) },
        };
        await this.timedIf('push', `push to ${s.name}`, 'rclone copy', c, { warm: [large.dataDir], helperPid: s.pid });
      }
      if (this.has('aws')) {
        await s.createBucket(`aws-${s.name}`);
        const args = [
          '--endpoint-url',
          s.endpoint,
          's3',
          'cp',
          '--recursive',
          '--only-show-errors',
          large.dataDir,
          `s3://aws-${s.name}/data`,
        ];
        await this.timedIf(
          'push',
          `push to ${s.name}`,
          'aws s3 cp',
          { cmd: 'aws', args, cwd: base, env: { ...env, ...s.env } },
          { warm: [large.dataDir], helperPid: s.pid },
        );
      }
    }
    exec({ cmd: 'git', args: ['add', 'data.dv', '.gitignore', '.dv/config', '.dv/.gitignore'], cwd: ws, env });
    exec({ cmd: 'git', args: ['commit', '-q', '-m', 'track data'], cwd: ws, env });
    const pullers: [string, ReturnType<typeof dvCommand>][] = [['dv pull', this.dvOf]];
    if (this.pulls.compare) pullers.push(['dv pull (compare)', this.pulls.compare]);
    for (let round = 0; round < this.pulls.runs; round++) await this.pullRound(large, servers, pullers);
  }

  /** Notes on the last row the CPU seconds s3rver spent serving it (moto_server runs under a wrapper whose CPU is not its own). */
  private serverNote(s: Server, before: number): void {
    const row = this.rows[this.rows.length - 1];
    if (s.name === 's3rver' && row && row.note === undefined) row.note = `server CPU ${(processSeconds(s.pid) - before).toFixed(2)} s`;
  }

  /** One round of the pull rows: each dv (and each peer) pulls from each server once. */
  private async pullRound(large: Dataset, servers: Server[], pullers: [string, ReturnType<typeof dvCommand>][]): Promise<void> {
    const { env, base } = this;
    for (const s of this.only.has('pull') ? servers : []) {
      for (const [tool, dvOf] of pullers) {
        const clone = join(base, `clone-${s.name}`);
        exec({ cmd: 'git', args: ['clone', '-q', this.ws, clone], cwd: base, env });
        const pull = dvOf(clone, { ...env, ...s.env }, 'pull', '-r', s.name);
        const server0 = processSeconds(s.pid);
        await this.timed(`pull from ${s.name}`, tool, pull, { warm: [], helperPid: s.pid });
        this.serverNote(s, server0);
        this.same(join(clone, 'data'), large);
        rmSync(clone, { recursive: true, force: true });
      }
      if (this.has('rclone')) {
        const out = join(base, `rclone-out-${s.name}`);
        const c = { cmd: 'rclone', args: ['copy', `srv:rclone-${s.name}/data`, out], cwd: base, env: { ...env, ...rcloneEnv(s) } };
        const server0 = processSeconds(s.pid);
        await this.timed(`pull from ${s.name}`, 'rclone copy', c, { warm: [], helperPid: s.pid });
        this.serverNote(s, server0);
        this.same(out, large);
        rmSync(out, { recursive: true, force: true });
      }
      if (this.has('aws')) {
        const out = join(base, `aws-out-${s.name}`);
        const args = ['--endpoint-url', s.endpoint, 's3', 'cp', '--recursive', '--only-show-errors', `s3://aws-${s.name}/data`, out];
        await this.timed(
          `pull from ${s.name}`,
          'aws s3 cp',
          { cmd: 'aws', args, cwd: base, env: { ...env, ...s.env } },
          { warm: [], helperPid: s.pid },
        );
        this.same(out, large);
        rmSync(out, { recursive: true, force: true });
      }
    }
  }

  /** The edits of the main suite, then dv commit + push beside restic backup + rclone copy of its repository. */
  private async incremental(large: Dataset, csv: Dataset): Promise<void> {
    const { ws, env, base } = this;
    cpSync(csv.dataDir, join(ws, 'csv'), { recursive: true, preserveTimestamps: true });
    exec(this.dv(ws, {}, 'add', 'csv', '-m', 'csv'));
    exec(this.dv(ws, {}, 'push', '-r', 'dir'));
    const restic = this.has('restic') && this.has('rclone');
    const repo = join(base, 'restic-repo');
    const resticEnv = { ...env, RESTIC_PASSWORD: 'bench', RESTIC_CACHE_DIR: join(base, 'restic-cache') };
    const backup: Cmd = { cmd: 'restic', args: ['-r', repo, 'backup', '-q', '--host', 'bench', 'data', 'csv'], cwd: ws, env: resticEnv };
    const copy: Cmd = { cmd: 'rclone', args: ['copy', repo, join(base, 'restic-remote')], cwd: base, env };
    if (restic) {
      exec({ cmd: 'restic', args: ['-r', repo, 'init'], cwd: base, env: resticEnv });
      exec(backup);
      exec(copy);
    }
    for (const e of [...large.edits, ...csv.edits]) e.apply(join(ws, e.op.includes('CSV') ? 'csv' : 'data'));
    const op = 'incremental push (1 MiB overwrite, 10 MiB append, CSV +1%)';
    const before = tally(join(base, 'remote-dir')).bytes;
    const warmSet = [join(ws, 'data'), join(ws, 'csv'), join(ws, '.dv')];
    const commit = await this.timed(op, 'dv commit', this.dv(ws, {}, 'commit', '-m', 'edits'), { warm: warmSet, bytes: 0 });
    const push = await this.timed(op, 'dv push', this.dv(ws, {}, 'push', '-r', 'dir'), { warm: [join(ws, '.dv')], bytes: 0 });
    this.sum(op, 'dv commit + push', commit + push, `${((tally(join(base, 'remote-dir')).bytes - before) / 1e6).toFixed(1)} MB sent`);
    if (restic) {
      const before2 = tally(join(base, 'restic-remote')).bytes;
      const b = await this.timed(op, 'restic backup', backup, { warm: [...warmSet, repo], bytes: 0 });
      const c = await this.timed(op, 'rclone copy (restic repo)', copy, { warm: [repo], bytes: 0 });
      this.sum(
        op,
        'restic backup + rclone copy',
        b + c,
        `${((tally(join(base, 'restic-remote')).bytes - before2) / 1e6).toFixed(1)} MB sent`,
      );
    }
  }

  private sum(op: string, tool: string, seconds: number, note: string): void {
    const parts = this.rows.slice(-2);
    const add = (k: 'cpu' | 'rssMB'): number | null =>
      parts.every((p) => p[k] !== null)
        ? k === 'cpu'
          ? parts.reduce((a, p) => a + p.cpu!, 0)
          : Math.max(...parts.map((p) => p.rssMB!))
        : null;
    this.rows.push({ op, tool, seconds, cpu: add('cpu'), rssMB: add('rssMB'), mbps: null, note });
  }
}

const fmt = (x: number | null, d = 2): string => (x === null || Number.isNaN(x) ? '—' : x.toFixed(d));

/** The table and the issue-19 transfer targets, met or not. */
export function render(rows: TransferRow[], notes: string[], quick: boolean | undefined, args = ''): string {
  const date = new Date().toISOString().replace('T', ' ').slice(0, 16);
  const out = [`date ${date} UTC, \`npm run bench -- transfer${args ? ` ${args}` : ''}\``, ''];
  for (const n of notes) out.push(`- ${n}`);
  if (notes.length) out.push('');
  out.push('| operation | tool | seconds | CPU s | peak RSS MB | MB/s | note |', '| --- | --- | ---: | ---: | ---: | ---: | --- |');
  for (const r of rows)
    out.push(`| ${r.op} | ${r.tool} | ${fmt(r.seconds)} | ${fmt(r.cpu)} | ${fmt(r.rssMB, 0)} | ${fmt(r.mbps, 0)} | ${r.note ?? ''} |`);
  // With --runs N a tool has N rows of an operation: the targets compare medians (one round's noise
  // decides nothing); a round that failed leaves the target not measured.
  const t = (op: string, tool: string): number | undefined => {
    const secs = rows.filter((r) => r.op === op && r.tool === tool).map((r) => r.seconds);
    if (secs.length === 0) return undefined;
    return secs.some((x) => Number.isNaN(x)) ? Number.NaN : median(secs);
  };
  const targets: [string, number | undefined, number | undefined, number][] = [
    ['pull from s3rver at least as fast as rclone copy', t('pull from s3rver', 'dv pull'), t('pull from s3rver', 'rclone copy'), 1],
    ['pull from moto_server at least as fast as rclone copy', t('pull from moto', 'dv pull'), t('pull from moto', 'rclone copy'), 1],
    ['push to a directory remote ≤ 1.5× rsync -a', t('push to a directory', 'dv push'), t('push to a directory', 'rsync -a'), 1.5],
    [
      'incremental push: dv commit + push faster than restic backup + rclone copy',
      t('incremental push (1 MiB overwrite, 10 MiB append, CSV +1%)', 'dv commit + push'),
      t('incremental push (1 MiB overwrite, 10 MiB append, CSV +1%)', 'restic backup + rclone copy'),
      1,
    ],
  ];
  out.push('', '| target (medians of the rounds) | dv | peer | met |', '| --- | ---: | ---: | --- |');
  for (const [name, dv, peer, factor] of targets) {
    const verdict =
      dv === undefined || peer === undefined || Number.isNaN(dv) || Number.isNaN(peer)
        ? 'not measured'
        : dv <= peer * factor
          ? 'met'
          : 'NOT MET';
    out.push(`| ${name} | ${fmt(dv ?? null)} s | ${fmt(peer ?? null)} s | ${verdict} |`);
  }
  if (quick) out.push('', 'Quick sizes: the targets are meant for the full sizes; these verdicts are for orientation only.');
  return out.join('\n');
}
