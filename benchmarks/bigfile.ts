// The `bigfile` suite (`npm run bench -- bigfile [--size GiB] [--file PATH]`): one large file,
// page-cached, added to a fresh store (issue 19: "one 8 GiB file: add ≥ 1 GB/s, both cores busy"),
// beside `b3sum` (hashing alone, where installed) and `cp` (reading and writing every byte).
// One run each; per row wall seconds, MB/s, user and sys CPU seconds, CPU% ((user + sys) / wall)
// and peak RSS (GNU time), and the load average at its start: on a shared machine read CPU
// beside wall time. Before each timed command the file is read once (page-cached) after a `sync`
// that writes back what the previous command left dirty, so no command pays for another's
// writeback. Everything it creates is removed at the end (`--keep` keeps it); at most one copy
// of the file's bytes (the store or cp's copy) exists at a time besides the file itself.
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, linkSync, mkdirSync, mkdtempSync, openSync, readSync, rmSync, statSync, writeSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { benchEnv } from './lib/env.js';
import { GNU_TIME_PATH, hasGnuTime, which } from './lib/measure.js';
import { ByteStream } from './lib/prng.js';

const USAGE = `usage: npm run bench -- bigfile [options]
  --size GIB     the file's size in GiB (default 8)
  --file PATH    measure this existing file instead (hard-linked into the repository, never modified)
  --skip LIST    leave out: b3sum,cp
  --dv PATH      the dv executable (default: this repo's bin/dv)
  --tmp DIR      where the file and the store go (default: the OS temp dir)
  --keep         keep them`;

interface Row {
  name: string;
  seconds: number;
  user: number;
  sys: number;
  rssMB: number;
  load1: number;
}

const log = (s: string): void => void process.stderr.write(`bigfile: ${s}\n`);

/** Reads `path` once, so that the timed command finds it in the page cache. */
function warm(path: string): void {
  spawnSync('sync');
  const fd = openSync(path, 'r');
  const buf = Buffer.allocUnsafe(8 << 20);
  try {
    while (readSync(fd, buf, 0, buf.length, null) > 0);
  } finally {
    closeSync(fd);
  }
}

/** Runs `cmd args` under GNU time: wall, user, sys seconds and peak RSS. */
function timed(name: string, cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv, file: string): Row {
  warm(file);
  const load1 = loadavg()[0];
  const r = spawnSync(GNU_TIME_PATH, ['-f', '@@ %e %U %S %M', cmd, ...args], { cwd, env, encoding: 'utf8', maxBuffer: 64 << 20 });
  const m = /@@ ([\d.]+) ([\d.]+) ([\d.]+) (\d+)\s*$/.exec(r.stderr ?? '');
  if (r.status !== 0 || !m) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${(r.stderr ?? '').slice(-500)}`);
  const row = { name, seconds: Number(m[1]), user: Number(m[2]), sys: Number(m[3]), rssMB: (Number(m[4]) * 1024) / 1e6, load1 };
  log(`${name}: ${row.seconds} s, ${row.user} user, ${row.sys} sys, ${row.rssMB.toFixed(0)} MB (load ${load1.toFixed(2)})`);
  // Where each thread of dv's hash pool spent its time (DV_POOL_STATS, set for dv below).
  for (const line of (r.stderr ?? '').split('\n')) if (line.startsWith('dv pool stats: ')) log(`  ${line.slice(15)}`);
  return row;
}

/** Writes `gib` GiB of seeded random bytes to `path`. */
function writeRandom(path: string, gib: number): void {
  const bytes = new ByteStream('dv-bigfile-bench');
  const fd = openSync(path, 'w');
  try {
    for (let i = 0; i < gib * 1024; i++) {
      const b = bytes.take(1 << 20);
      for (let off = 0; off < b.length; ) off += writeSync(fd, b, off);
    }
  } finally {
    closeSync(fd);
  }
}

function render(rows: Row[], bytes: number): string {
  const lines = [
    '| command | wall | MB/s | user | sys | CPU% | peak RSS | load (1 min) at start |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const r of rows) {
    const cpu = ((r.user + r.sys) / r.seconds) * 100;
    lines.push(
      `| ${r.name} | ${r.seconds.toFixed(2)} s | ${(bytes / 1e6 / r.seconds).toFixed(0)} | ${r.user.toFixed(2)} s | ${r.sys.toFixed(2)} s | ` +
        `${cpu.toFixed(0)} % | ${r.rssMB.toFixed(0)} MB | ${r.load1.toFixed(2)} |`,
    );
  }
  return lines.join('\n');
}

export async function bigfile(argv: string[]): Promise<number> {
  const { values: v } = parseArgs({
    args: argv,
    options: {
      size: { type: 'string', default: '8' },
      file: { type: 'string' },
      skip: { type: 'string', default: '' },
      dv: { type: 'string' },
      tmp: { type: 'string', default: tmpdir() },
      keep: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const gib = Number(v.size);
  if (v.help || !(gib > 0) || !Number.isInteger(gib * 1024)) {
    process.stdout.write(`${USAGE}\n`);
    return v.help ? 0 : 2;
  }
  if (!hasGnuTime) {
    log('GNU time (/usr/bin/time) is needed for CPU and peak RSS: apt-get install time');
    return 2;
  }
  const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const dvBin = v.dv ? resolve(v.dv) : join(repoRoot, 'bin', 'dv');
  const skip = new Set(v.skip.split(',').filter(Boolean));
  mkdirSync(v.tmp, { recursive: true });
  const tmp = mkdtempSync(join(v.tmp, 'dv-bigfile-'));
  const env = benchEnv(join(tmp, 'home'));
  const repo = join(tmp, 'repo');
  try {
    const file = join(repo, 'big.bin');
    mkdirSync(repo);
    if (v.file) linkSync(resolve(v.file), file);
    else {
      log(`writing ${gib} GiB of random bytes`);
      writeRandom(file, gib);
    }
    const bytes = statSync(file).size;
    const rows: Row[] = [];
    spawnSync('git', ['init', '-q'], { cwd: repo, env });
    const init = spawnSync(dvBin, ['init'], { cwd: repo, env, encoding: 'utf8' });
    if (init.status !== 0) throw new Error(`dv init failed: ${init.stderr}`);
    rows.push(timed('dv add', dvBin, ['add', 'big.bin'], repo, { ...env, DV_POOL_STATS: '1' }, file));
    // The store goes before cp's copy is made: one copy of the bytes at a time.
    if (!v.keep) rmSync(join(repo, '.dv', 'cache'), { recursive: true, force: true });
    if (skip.has('b3sum')) log('b3sum: skipped');
    else if (!which('b3sum')) log('b3sum is not installed (apt-get install b3sum): its row is left out');
    else rows.push(timed('b3sum (one thread)', 'b3sum', ['--num-threads', '1', 'big.bin'], repo, env, file));
    if (!skip.has('b3sum') && which('b3sum')) rows.push(timed('b3sum (all cores)', 'b3sum', ['big.bin'], repo, env, file));
    if (!skip.has('cp')) {
      rows.push(timed('cp', 'cp', ['big.bin', join(tmp, 'copy.bin')], repo, env, file));
      rmSync(join(tmp, 'copy.bin'), { force: true });
    }
    process.stdout.write(
      [
        `One ${(bytes / 2 ** 30).toFixed(2)} GiB random file, page-cached, one run each (MB/s: ${(bytes / 1e6).toFixed(0)} MB ÷ wall):`,
        '',
        render(rows, bytes),
        '',
        `Target (issue 19): dv add ≥ 1000 MB/s with CPU% ≥ 170 — ` +
          `${rows[0].seconds > 0 && bytes / 1e6 / rows[0].seconds >= 1000 && ((rows[0].user + rows[0].sys) / rows[0].seconds) * 100 >= 170 ? 'met' : 'NOT MET'}.`,
        '',
      ].join('\n'),
    );
    return 0;
  } finally {
    if (!v.keep) rmSync(tmp, { recursive: true, force: true });
    else if (existsSync(tmp)) log(`kept ${tmp}`);
  }
}
