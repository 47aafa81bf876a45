// The `read` suite (`npm run bench -- read [--quick] [--size MiB] [--runs N]`): reading one large
// file of a version without checking it out (issue 16), from s3rver, in a clone that fetched
// nothing: time to first byte, throughput and peak RSS of `dv cat`, of `repo.open` read by a
// library caller, and of a `dv serve` GET with a Range, beside `aws s3 cp s3://.../file -` of the
// same bytes stored as one object in the same s3rver (the floor: no chunks, no verification).
//
// Each reader's output is hashed (SHA-256) and compared with the source file: a fast wrong
// answer is a failure, not a row.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { benchEnv } from './lib/env.js';
import { GNU_TIME_PATH, hasGnuTime, median, which } from './lib/measure.js';
import { ByteStream } from './lib/prng.js';
import { S3_ENV, startS3rver } from './lib/s3rver.js';
import { AWS } from './lib/tools.js';

const USAGE = `usage: npm run bench -- read [options]
  --quick        a 256 MiB file, one run (default: 1 GiB, three runs)
  --size MIB     the file's size in MiB
  --runs N       runs per reader (median reported)
  --tmp DIR      where the repositories and s3rver's files go (default: the OS temp dir)
  --keep         keep them`;

interface Timing {
  ttfb: number;
  seconds: number;
  rssMB: number | null;
  sha: string;
}

/** Runs `cmd args` with GNU time, hashing stdout: time to first byte, total, peak RSS. */
function timedRead(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv, scratch: string): Promise<Timing> {
  const rssFile = join(scratch, `rss-${process.hrtime.bigint()}`);
  const argv = hasGnuTime ? [GNU_TIME_PATH, ['-f', '%M', '-o', rssFile, cmd, ...args]] : [cmd, args];
  return new Promise((res, rej) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(argv[0] as string, argv[1] as string[], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const hash = createHash('sha256');
    let ttfb = -1;
    let err = '';
    child.stdout.on('data', (d: Buffer) => {
      if (ttfb < 0) ttfb = Number(process.hrtime.bigint() - t0) / 1e9;
      hash.update(d);
    });
    child.stderr.on('data', (d) => (err += d));
    child.on('error', rej);
    child.on('close', async (code) => {
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      if (code !== 0) return rej(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${err.slice(-500)}`));
      let rssMB: number | null = null;
      if (hasGnuTime) {
        const { readFileSync } = await import('node:fs');
        rssMB = (Number(readFileSync(rssFile, 'utf8').trim().split('\n').pop()) * 1024) / 1e6;
      }
      res({ ttfb, seconds, rssMB, sha: hash.digest('hex') });
    });
  });
}

function sh(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((res, rej) => {
    const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (code) => (code === 0 ? res(out) : rej(new Error(`${cmd} ${args.join(' ')}: ${err.slice(-500)}`))));
  });
}

/** Writes `mib` MiB of seeded random bytes; returns their SHA-256. */
async function writeRandom(path: string, mib: number): Promise<string> {
  const bytes = new ByteStream('dv-read-bench');
  const hash = createHash('sha256');
  const out = createWriteStream(path);
  for (let i = 0; i < mib; i++) {
    const b = bytes.take(1 << 20);
    hash.update(b);
    if (!out.write(b)) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((r, j) => out.end((e?: Error) => (e ? j(e) : r())));
  return hash.digest('hex');
}

export async function read(argv: string[]): Promise<number> {
  const { values: v } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      size: { type: 'string' },
      runs: { type: 'string' },
      tmp: { type: 'string', default: tmpdir() },
      keep: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (v.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const mib = v.size ? Number(v.size) : v.quick ? 256 : 1024;
  const runs = v.runs ? Number(v.runs) : v.quick ? 1 : 3;
  if (!Number.isInteger(mib) || mib < 1 || !Number.isInteger(runs) || runs < 1) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const dvBin = join(repoRoot, 'bin', 'dv');
  const tmp = mkdtempSync(join(resolve(v.tmp), 'dv-read-'));
  const env: NodeJS.ProcessEnv = { ...benchEnv(join(tmp, 'home')), ...S3_ENV };
  const log = (s: string): void => void process.stderr.write(`read: ${s}\n`);
  const s3 = await startS3rver(join(tmp, 's3rver'));
  try {
    await s3.createBucket('bench');
    const a = join(tmp, 'a');
    mkdirSync(join(a, 'data'), { recursive: true });
    log(`writing a ${mib} MiB file`);
    const sha = await writeRandom(join(a, 'data', 'big.bin'), mib);
    const dv = (cwd: string, ...args: string[]): Promise<string> => sh(process.execPath, [dvBin, ...args], cwd, env);
    await sh('git', ['init', '-q'], a, env);
    await dv(a, 'init', '-q');
    await dv(a, 'add', '-q', 'data');
    await dv(a, 'remote', 'add', 's3', 's3://bench/dv', '--endpoint', s3.endpoint, '--default');
    log('pushing to s3rver');
    await dv(a, 'push', '-q');
    await sh('git', ['add', '-A'], a, env);
    await sh('git', ['commit', '-qm', 'v1'], a, env);
    const b = join(tmp, 'b');
    await sh('git', ['clone', '-q', a, b], tmp, env);
    // Debian's aws, else one on PATH (a pip install).
    const aws = which(AWS) ? AWS : which('aws') ? 'aws' : undefined;
    if (aws)
      await sh(aws, ['--endpoint-url', s3.endpoint, 's3', 'cp', '--quiet', join(a, 'data', 'big.bin'), 's3://bench/raw/big.bin'], a, env);

    // The caller honours back-pressure (pipeline): writing to a pipe without it would buffer the file in the caller.
    const openScript = `Promise.all([import('${join(repoRoot, 'dist', 'src', 'index.js')}'), import('node:stream/promises')]).then(async ([{ Repo }, { pipeline }]) => {
      const s = await (await Repo.open(process.cwd())).open('data/big.bin', { rev: 'HEAD' });
      await pipeline(s, process.stdout);
    });`;
    const readers: [string, string, string[]][] = [
      ['dv cat HEAD:data/big.bin', process.execPath, [dvBin, 'cat', 'HEAD:data/big.bin']],
      ['repo.open (library)', process.execPath, ['-e', openScript]],
    ];
    if (aws)
      readers.push(['aws s3 cp (one object)', aws, ['--endpoint-url', s3.endpoint, 's3', 'cp', '--quiet', 's3://bench/raw/big.bin', '-']]);
    const rows: string[] = [];
    for (const [name, cmd, args] of readers) {
      const ts: Timing[] = [];
      for (let i = 0; i < runs; i++) {
        const t = await timedRead(cmd, args, b, env, tmp);
        if (t.sha !== sha) throw new Error(`${name} returned other bytes than the file`);
        ts.push(t);
        log(`${name}: first byte ${t.ttfb.toFixed(2)} s, ${t.seconds.toFixed(2)} s, ${t.rssMB?.toFixed(0) ?? '?'} MB`);
      }
      const secs = median(ts.map((t) => t.seconds));
      const rss = ts.every((t) => t.rssMB !== null) ? median(ts.map((t) => t.rssMB!)) : null;
      rows.push(
        `| ${name} | ${median(ts.map((t) => t.ttfb)).toFixed(2)} s | ${secs.toFixed(2)} s | ${((mib * 1.048576) / secs).toFixed(0)} MB/s | ${rss?.toFixed(0) ?? '—'} MB |`,
      );
    }
    if (!aws) log('aws (the AWS CLI) is not installed: its row is left out');
    process.stdout.write(
      [
        `Reading one ${mib} MiB file from s3rver in a clone that fetched nothing (median of ${runs}; every output's SHA-256 checked):`,
        '',
        '| reader | first byte | total | throughput | peak RSS |',
        '| --- | ---: | ---: | ---: | ---: |',
        ...rows,
        '',
      ].join('\n'),
    );
    return 0;
  } finally {
    await s3.stop();
    if (!v.keep) rmSync(tmp, { recursive: true, force: true });
    else if (existsSync(tmp)) log(`kept ${tmp}`);
  }
}
