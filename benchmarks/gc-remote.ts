// Remote size before and after `dv gc --remote` (issue 18): a dataset of FILES random files
// (default 1 GiB in 20 files), committed on main and pushed to a directory remote; nine
// experiment branches, each from main, replace 10 % of the files (a version each: ten versions in
// all), push and commit; eight of those branches are deleted. Two `dv gc --remote --grace 0` runs
// (mark, then sweep) should leave main's version and the ninth branch's: the bytes of the deleted
// branches go. Reports the remote's size before, after each run, and each run's wall time.
//
//   npm run build && node dist/benchmarks/gc-remote.js [--size MIB] [--files N] [--tmp DIR] [--keep]
//
// Not a test: nothing is asserted but that the data still pulls byte-identical (checked by hash
// in a fresh clone of main and of the kept branch).
//
// Measured 2026-12-06 (2 shared cores, default 1 GiB, 20 files of 53.7 MB, 2 replaced per branch):
// remote 2065.8 MB before; 2065.8 MB after run 1 (41 packs marked, 1.72 s); 1196.0 MB after run 2
// (41 packs removed, 869.2 MB, 3.44 s), against 1181.1 MB of file data main and exp9 need.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { benchEnv } from './lib/env.js';
import { ByteStream } from './lib/prng.js';

const MiB = 1024 * 1024;
const DV = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'dv');
const VERSIONS = 10;
const DELETED = 8;

const { values: o } = parseArgs({
  options: {
    size: { type: 'string', default: '1024' },
    files: { type: 'string', default: '20' },
    tmp: { type: 'string' },
    keep: { type: 'boolean', default: false },
  },
});
const totalMiB = Number(o.size);
const nFiles = Number(o.files);
if (!(totalMiB > 0) || !Number.isInteger(nFiles) || nFiles < 10) throw new Error('--size MIB > 0 and --files N >= 10');
const fileBytes = Math.floor((totalMiB * MiB) / nFiles);
const churn = Math.max(1, Math.round(nFiles / 10));

const root = mkdtempSync(join(o.tmp ?? tmpdir(), 'dv-bench-gc-'));
const env = benchEnv(join(root, 'home'));
const run = (cwd: string, cmd: string, args: string[]): string =>
  execFileSync(cmd, args, { cwd, env, encoding: 'utf8', maxBuffer: 64 * MiB });
const dv = (cwd: string, ...args: string[]): string => run(cwd, process.execPath, [DV, ...args]);
const git = (cwd: string, ...args: string[]): string => run(cwd, 'git', args);

function sizeOf(dir: string): number {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true }))
    if (e.isFile()) n += statSync(join(e.parentPath ?? (e as { path: string }).path, e.name)).size;
  return n;
}
const mb = (b: number): string => `${(b / 1e6).toFixed(1)} MB`;

function writeFile(path: string, seed: string): void {
  const s = new ByteStream(seed);
  const buf = s.take(fileBytes);
  writeFileSync(path, buf);
}

function hashDir(dir: string): string {
  const h = createHash('sha256');
  for (const f of readdirSync(dir).sort()) h.update(f).update(readFileSync(join(dir, f)));
  return h.digest('hex');
}

try {
  const a = join(root, 'a');
  const remote = join(root, 'remote');
  mkdirSync(join(a, 'data'), { recursive: true });
  git(root, 'init', '-q', '-b', 'main', a);
  dv(a, 'init', '-q');
  for (let i = 0; i < nFiles; i++) writeFile(join(a, 'data', `f${i}.bin`), `v0-${i}`);
  dv(a, 'add', '-q', 'data');
  dv(a, 'remote', 'add', 'origin', remote);
  dv(a, 'push', '-q');
  git(a, 'add', '-A');
  git(a, 'commit', '-qm', 'v0');
  const hashes = new Map<string, string>([['main', hashDir(join(a, 'data'))]]);
  for (let v = 1; v < VERSIONS; v++) {
    git(a, 'checkout', '-q', '-b', `exp${v}`, 'main');
    dv(a, 'checkout', '-q');
    for (let k = 0; k < churn; k++) writeFile(join(a, 'data', `f${(v * churn + k) % nFiles}.bin`), `v${v}-${k}`);
    dv(a, 'commit', '-q', '-m', `exp${v}`);
    dv(a, 'push', '-q');
    git(a, 'commit', '-qam', `exp${v}`);
    hashes.set(`exp${v}`, hashDir(join(a, 'data')));
  }
  git(a, 'checkout', '-q', 'main');
  dv(a, 'checkout', '-q');
  for (let v = 1; v <= DELETED; v++) git(a, 'branch', '-qD', `exp${v}`);
  const kept = `exp${VERSIONS - 1}`;
  const before = sizeOf(remote);
  const times: number[] = [];
  const sizes: number[] = [];
  const results: { packsMarked: number; packsRemoved: number; bytesRemoved: number }[] = [];
  for (let r = 0; r < 2; r++) {
    const t0 = process.hrtime.bigint();
    results.push(JSON.parse(dv(a, 'gc', '--remote', '--grace', '0', '--json')));
    times.push(Number(process.hrtime.bigint() - t0) / 1e9);
    sizes.push(sizeOf(remote));
  }
  // What is left still pulls byte-identical: main and the kept branch, each in a fresh clone.
  for (const branch of ['main', kept]) {
    const c = join(root, `clone-${branch}`);
    git(root, 'clone', '-q', '-b', branch, a, c);
    dv(c, 'pull', '-q');
    if (hashDir(join(c, 'data')) !== hashes.get(branch)) throw new Error(`${branch} does not pull byte-identical after gc`);
  }
  const lines = [
    `dataset: ${nFiles} files × ${mb(fileBytes)} = ${mb(nFiles * fileBytes)}; ${VERSIONS} versions (main + ${VERSIONS - 1} branches, ` +
      `${churn} files replaced each); ${DELETED} branches deleted`,
    `remote before gc:        ${mb(before)}`,
    `after run 1 (mark):      ${mb(sizes[0])}  (${results[0].packsMarked} packs marked, ${times[0].toFixed(2)} s)`,
    `after run 2 (sweep):     ${mb(sizes[1])}  (${results[1].packsRemoved} packs removed, ${mb(results[1].bytesRemoved)}, ${times[1].toFixed(2)} s)`,
    `ideal (main + ${kept}):  ${mb((nFiles + churn) * fileBytes)} of file data`,
    'main and the kept branch pull byte-identical from a fresh clone',
  ];
  console.log(lines.join('\n'));
} finally {
  if (!o.keep) rmSync(root, { recursive: true, force: true });
  else console.log(`kept ${root}`);
}
