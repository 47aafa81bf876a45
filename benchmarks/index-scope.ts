// `dv status` while another dv command holds the repository (issue 14, "many processes, one
// index"): the time of `dv status --json` on a tree of small files, quiet, then beside a
// `dv push` stuck on a hung server, then beside a `dv add` hashing a huge (sparse) file; and
// how many files each status had to read again (`filesHashed`: 0 when the stat cache served).
// A control row runs the status beside two busy loops that are not dv: what the add's hashing
// workers cost it in CPU alone, apart from waiting for the index.
//
//   npm run build && node dist/benchmarks/index-scope.js [--files 20000] [--runs 5] [--dv PATH]
//
// --dv measures another build (e.g. an older checkout's bin/dv) on the same steps.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, openSync, closeSync, ftruncateSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ByteStream, Xorshift } from './lib/prng.js';

const { values: args } = parseArgs({
  options: { files: { type: 'string', default: '20000' }, runs: { type: 'string', default: '5' }, dv: { type: 'string' } },
});
const FILES = Number(args.files);
const RUNS = Number(args.runs);
const DV = resolve(args.dv ?? join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'dv'));

interface Sample {
  ms: number;
  hashed: number;
  warned: boolean;
}

function dv(cwd: string, argv: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; out: string; err: string; ms: number }> {
  const t0 = performance.now();
  return new Promise((r) => {
    const c = spawn(process.execPath, [DV, ...argv], { cwd, env });
    let out = '';
    let err = '';
    c.stdout.on('data', (d) => (out += d));
    c.stderr.on('data', (d) => (err += d));
    c.on('close', (code) => r({ code, out, err, ms: performance.now() - t0 }));
  });
}

async function statuses(repo: string, env: NodeJS.ProcessEnv, label: string): Promise<Sample[]> {
  const out: Sample[] = [];
  for (let i = 0; i < RUNS; i++) {
    const r = await dv(repo, ['status', '--json'], env);
    if (r.code !== 0) throw new Error(`${label}: dv status exited ${r.code}: ${r.err}`);
    const st = JSON.parse(r.out) as { paths: { filesHashed: number }[] };
    out.push({ ms: r.ms, hashed: st.paths.reduce((n, p) => n + p.filesHashed, 0), warned: /warning/.test(r.err) });
  }
  return out;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function row(label: string, s: Sample[], quiet?: number): string {
  const m = median(s.map((x) => x.ms));
  const ratio = quiet ? `${(m / quiet).toFixed(2)}x` : '';
  const hashed = s.map((x) => x.hashed).join('/');
  return `| ${label} | ${(m / 1000).toFixed(2)} s | ${ratio} | ${hashed} | ${s.some((x) => x.warned) ? 'yes' : 'no'} |`;
}

async function main(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'dv-index-scope-'));
  const repo = join(root, 'repo');
  const env = {
    ...process.env,
    NO_COLOR: '1',
    XDG_CONFIG_HOME: join(root, 'xdg'),
    AWS_ACCESS_KEY_ID: 'k',
    AWS_SECRET_ACCESS_KEY: 's',
    AWS_REGION: 'us-east-1',
  };
  const children: ChildProcess[] = [];
  const sockets: Socket[] = [];
  const hung = createServer((s) => {
    sockets.push(s);
    s.on('error', () => undefined);
  });
  try {
    mkdirSync(repo);
    execFileSync('git', ['init', '-q', '-b', 'main', repo]);
    await dv(repo, ['init'], env);
    // The many-small dataset of the main benchmark: 1-16 KiB of random bytes, 100 files a directory.
    const rng = new Xorshift('index-scope');
    const bytes = new ByteStream('index-scope');
    const dirs = Math.max(1, Math.round(FILES / 100));
    for (let d = 0; d < dirs; d++) mkdirSync(join(repo, 'data', `d${d}`), { recursive: true });
    for (let i = 0; i < FILES; i++) writeFileSync(join(repo, 'data', `d${i % dirs}`, `f${i}.bin`), bytes.take(rng.int(1024, 16 * 1024)));
    const add = await dv(repo, ['add', 'data', '-q'], env);
    if (add.code !== 0) throw new Error(add.err);
    await statuses(repo, env, 'warm-up');
    const quiet = await statuses(repo, env, 'quiet');
    const q = median(quiet.map((x) => x.ms));

    await new Promise<void>((r) => hung.listen(0, '127.0.0.1', r));
    const port = (hung.address() as { port: number }).port;
    await dv(repo, ['remote', 'add', 's3', 's3://bucket/x', '--endpoint', `http://127.0.0.1:${port}`], env);
    await dv(repo, ['config', 'remote.s3.timeout', '600'], env);
    const push = spawn(process.execPath, [DV, 'push', 's3'], { cwd: repo, env, stdio: 'ignore' });
    children.push(push);
    await sleep(2000);
    const beside = await statuses(repo, env, 'beside a hung push');
    if (push.exitCode !== null) throw new Error('the push ended before the statuses did');
    push.kill('SIGKILL');

    const fd = openSync(join(repo, 'big.bin'), 'w');
    ftruncateSync(fd, 1024 * 2 ** 30); // 1 TiB, sparse: hashing outlasts the statuses
    closeSync(fd);
    const long = spawn(process.execPath, [DV, 'add', 'big.bin'], { cwd: repo, env, stdio: 'ignore' });
    children.push(long);
    await sleep(2000);
    const besideAdd = await statuses(repo, env, 'beside a long add');
    if (long.exitCode !== null) throw new Error('the add ended before the statuses did');
    long.kill('SIGKILL');
    // The control: what two busy cores alone (no dv) cost a status, as the add's hashing workers do.
    const hogs = [0, 1].map(() => spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }));
    children.push(...hogs);
    await sleep(500);
    const besideHogs = await statuses(repo, env, 'beside two busy cores');
    for (const h of hogs) h.kill('SIGKILL');
    const quietAgain = await statuses(repo, env, 'quiet again');

    console.log(`dv status --json on ${FILES} files (${DV}), median of ${RUNS}:`);
    console.log('| while | time | vs quiet | files re-hashed (each run) | warning |');
    console.log('| --- | --- | --- | --- | --- |');
    console.log(row('quiet', quiet));
    console.log(row('a push hangs on a hung server', beside, q));
    console.log(row('an add hashes a huge file', besideAdd, q));
    console.log(row('(control: two busy cores, no dv)', besideHogs, q));
    console.log(row('quiet again', quietAgain, q));
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    for (const s of sockets) s.destroy();
    hung.close();
    rmSync(root, { recursive: true, force: true });
  }
}

await main();
