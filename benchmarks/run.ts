// `npm run bench [-- --quick]`: generates the datasets, runs dv, its peers and the baselines on
// them in one run, and prints the table and the targets (see benchmarks/README.md).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { generate, FULL, QUICK, type Dataset } from './lib/datasets.js';
import { describeMachine } from './lib/machine.js';
import { CommandFailed, createProbe, dropCaches, hasGnuTime, loadavg, which } from './lib/measure.js';
import { buildRows, evaluateTargets, renderRows, renderTargets } from './lib/report.js';
import { benchEnv } from './lib/env.js';
import { startS3rver, S3_ENV, type S3rver } from './lib/s3rver.js';
import { Harness, type Availability, type BaselineName } from './lib/harness.js';
import { AWS, borgPeer, dvCommand, dvPeer, gitLfsPeer, resticPeer, type Peer } from './lib/tools.js';

const USAGE = `usage: npm run bench [-- options]
       npm run bench -- scale [--quick] [--files N]   (the many-files suite: benchmarks/scale.ts)
       npm run bench -- read [--quick] [--size MIB]   (one file of a version from s3rver: benchmarks/read.ts)
       npm run bench -- transfer [--quick]           (large files over S3 and to a directory: benchmarks/transfer.ts)
       npm run bench -- bigfile [--size GIB]         (one large file, page-cached, dv add beside b3sum and cp: benchmarks/bigfile.ts)
  --quick             small datasets, one run each (about a minute)
  --runs N            runs per operation, medians reported (default 3; --quick: 1)
  --datasets LIST     comma-separated: many-small,few-large,csv (default: all)
  --skip LIST         tools to leave out: restic,borg,git-lfs,cat,b3sum,cp,zstd,aws
  --cold              drop the page cache before every timed run (root only) instead of warming it
  --seed S            dataset seed (default dv-bench-1)
  --dv PATH           the dv executable to measure (default: this repo's bin/dv)
  --tmp DIR           where the datasets and stores go (default: the OS temp dir)
  --keep              keep the temporary directory
  --no-write          write neither the JSON copy nor RESULTS.md`;

/** Where RESULTS.md's scale section starts (kept when a full run rewrites the file). */
const SCALE_HEADING = '## Scale: many small files';

const ALL_DATASETS: Dataset['name'][] = ['many-small', 'few-large', 'csv'];

async function main(): Promise<number> {
  const { values: v } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      runs: { type: 'string' },
      datasets: { type: 'string' },
      skip: { type: 'string', default: '' },
      cold: { type: 'boolean', default: false },
      seed: { type: 'string', default: 'dv-bench-1' },
      dv: { type: 'string' },
      tmp: { type: 'string', default: tmpdir() },
      keep: { type: 'boolean', default: false },
      'no-write': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  // The AWS SDK (used here to create buckets) warns on Node 20, which dv supports deliberately.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  if (v.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const dvBin = v.dv ? resolve(v.dv) : join(repoRoot, 'bin', 'dv');
  if (!v.dv && !existsSync(join(repoRoot, 'dist', 'src', 'cli', 'main.js'))) {
    process.stderr.write('bench: dv is not built; run `npm run build` first (npm run bench does)\n');
    return 2;
  }
  const runs = v.runs ? Number(v.runs) : v.quick ? 1 : 3;
  const datasets = (v.datasets ? v.datasets.split(',') : ALL_DATASETS) as Dataset['name'][];
  if (!Number.isInteger(runs) || runs < 1 || datasets.some((d) => !ALL_DATASETS.includes(d))) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const skip = new Set(v.skip.split(',').filter(Boolean));
  if (v.cold) {
    try {
      dropCaches();
    } catch (e) {
      process.stderr.write(`bench: --cold needs to write /proc/sys/vm/drop_caches (root): ${(e as Error).message}\n`);
      return 2;
    }
  }
  if (!hasGnuTime)
    process.stderr.write('bench: GNU time (/usr/bin/time) is missing: peak RSS will not be measured (apt-get install time)\n');

  const sizes = v.quick ? QUICK : FULL;
  const tmp = mkdtempSync(join(v.tmp, 'dv-bench-'));
  let s3: S3rver | undefined;
  const cleanup = async (): Promise<void> => {
    await s3?.stop();
    s3 = undefined;
    if (!v.keep) rmSync(tmp, { recursive: true, force: true });
  };
  const onSignal = (sig: NodeJS.Signals): void => {
    process.stderr.write(`\nbench: ${sig}: cleaning up\n`);
    void cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    const env = childEnv(tmp);
    const dv = dvCommand(dvBin, !v.dv);
    const pushHelp = dv(repoRoot, env, 'push', '--help');
    const remotes = spawnSync(pushHelp.cmd, pushHelp.args, { env, stdio: 'ignore' }).status === 0;
    const allPeers: Peer[] = [dvPeer(dv), resticPeer(), borgPeer(), gitLfsPeer()].filter((p) => !skip.has(p.name));
    const avail = (name: string, installed: boolean): Availability => (skip.has(name) ? 'skipped' : installed ? 'ok' : 'not installed');
    const have: Record<BaselineName, Availability> = {
      cat: avail('cat', true),
      cp: avail('cp', true),
      b3sum: avail('b3sum', which('b3sum')),
      zstd: avail('zstd', which('zstd')),
      aws: avail('aws', existsSync(AWS)),
    };
    const needS3 = (remotes || have.aws === 'ok') && datasets.some((d) => d !== 'csv');
    if (needS3) s3 = await startS3rver(join(tmp, 's3rver'));
    const h = new Harness({ tmp, env, dv, s3, remotes, cold: v.cold, timeoutSeconds: v.quick ? 300 : 3600, statusRuns: 3 });

    // Described first: the repository may move on (commits, builds) while the benchmark runs.
    const machine = describeMachine(repoRoot, {
      restic: ['restic', ['version']],
      borg: ['borg', ['--version']],
      'git-lfs': ['git', ['lfs', 'version']],
      b3sum: ['b3sum', ['--version']],
      zstd: ['zstd', ['--version']],
      aws: [AWS, ['--version']],
      git: ['git', ['--version']],
    });
    const probes: { when: string; ms: number }[] = [];
    const probe = (when: string): void => {
      probes.push({ when, ms: createProbe(join(tmp, 'probe')) });
    };
    probe('start');
    const loadStart = loadavg();
    const started = new Date();
    const info: { name: string; describe: string; files: number; bytes: number }[] = [];
    for (const name of datasets) {
      h.round = '';
      const t0 = Date.now();
      const ds = generate(name, join(tmp, 'datasets', name), sizes, v.seed);
      info.push({ name, describe: ds.describe, files: ds.files, bytes: ds.bytes });
      h.log(`${name}: generated ${ds.describe} (${(ds.bytes / 1e6).toFixed(1)} MB) in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      for (let round = 1; round <= runs; round++) {
        h.round = `${name} ${round}/${runs}`;
        probe(`${name} ${round}`);
        // A failure here is a bug of the harness: report it and go on with the next tool.
        await h.baselines(ds, round, have).catch((e: unknown) => h.log(`baselines: ${String(e)}`));
        for (const peer of allPeers) await h.peer(ds, peer, round).catch((e: unknown) => h.log(`${peer.name}: ${String(e)}`));
      }
      rmSync(dirname(ds.dataDir), { recursive: true, force: true });
    }
    await s3?.stop();
    s3 = undefined;
    const loadEnd = loadavg();
    probe('end');

    const peerNames = allPeers.map((p) => p.name);
    const rows = buildRows(h.samples, datasets, peerNames);
    const csvBytes = info.find((d) => d.name === 'csv')?.bytes ?? sizes.csvBytes;
    const targets = evaluateTargets(rows, { csvBytes, peers: peerNames });
    if (v.dv) machine.dvCommit += ` (measured: ${dvBin})`;
    const report = render({
      started,
      quick: v.quick,
      runs,
      cold: v.cold,
      machine,
      info,
      rows,
      targets,
      loadStart,
      loadEnd,
      remotes,
      probes,
    });
    process.stdout.write(`${report}\n`);

    if (!v['no-write']) {
      const stamp = started.toISOString().replace(/[:.]/g, '-').slice(0, 19);
      const dir = join(repoRoot, 'benchmarks', 'results');
      mkdirSync(dir, { recursive: true });
      const json = join(dir, `${stamp}${v.quick ? '-quick' : ''}.json`);
      const data = {
        date: started.toISOString(),
        mode: v.quick ? 'quick' : 'full',
        runs,
        pageCache: v.cold ? 'cold' : 'warm',
        seed: v.seed,
        sizes,
        datasets: info,
        machine,
        load: { start: loadStart, end: loadEnd },
        createProbes: probes,
        remotesImplemented: remotes,
        rows,
        targets,
        samples: h.samples,
      };
      writeFileSync(json, `${JSON.stringify(data, null, 2)}\n`);
      h.log(`JSON copy: ${json}`);
      if (!v.quick && datasets.length === ALL_DATASETS.length) {
        // The scale suite's section (pasted from `npm run bench -- scale`) outlives this table.
        const file = join(repoRoot, 'benchmarks', 'RESULTS.md');
        const old = existsSync(file) ? readFileSync(file, 'utf8') : '';
        const at = old.indexOf(`\n${SCALE_HEADING}`);
        writeFileSync(file, `${report}\n${at >= 0 ? old.slice(at) : ''}`);
        // Formatted as `npm run check` wants it (its tables aligned, `*` escaped), so a run can be committed as it is.
        const biome = spawnSync(join(repoRoot, 'node_modules', '.bin', 'biome'), ['format', '--write', file], { encoding: 'utf8' });
        if (biome.status !== 0) h.log(`RESULTS.md not formatted (run \`npx biome format --write ${file}\`): ${biome.stderr.trim()}`);
        h.log('wrote benchmarks/RESULTS.md');
      }
    }
    return 0;
  } finally {
    await cleanup();
  }
}

/** The environment of every measured command: our own HOME and config, s3rver's credentials. */
function childEnv(tmp: string): NodeJS.ProcessEnv {
  return { ...benchEnv(join(tmp, 'home')), ...S3_ENV };
}

interface RenderInput {
  started: Date;
  quick: boolean;
  runs: number;
  cold: boolean;
  machine: ReturnType<typeof describeMachine>;
  info: { name: string; describe: string; files: number; bytes: number }[];
  rows: ReturnType<typeof buildRows>;
  targets: ReturnType<typeof evaluateTargets>;
  loadStart: number[];
  loadEnd: number[];
  remotes: boolean;
  probes: { when: string; ms: number }[];
}

function render(r: RenderInput): string {
  const m = r.machine;
  const la = (l: number[]): string => l.map((x) => x.toFixed(2)).join(' ');
  const out: string[] = [];
  out.push(`# dv benchmark${r.quick ? ' (--quick)' : ''}`, '');
  out.push(`Made by \`npm run bench${r.quick ? ' -- --quick' : ''}\`; how and what it measures: [benchmarks/README.md](README.md).`, '');
  out.push(
    `- date: ${r.started.toISOString().replace('T', ' ').slice(0, 16)} UTC; ${r.quick ? 'quick sizes' : 'full sizes'}, median of ${r.runs} run${r.runs > 1 ? 's' : ''} per operation (status: 3 per run)`,
  );
  out.push(`- machine: ${m.nproc} cores, ${m.memoryGiB} GiB, ${m.cpu}, ${m.kernel}, Node ${m.node}; dv ${m.dvCommit}`);
  out.push(
    `- tools: ${Object.entries(m.tools)
      .map(([k, x]) => `${k}: ${x}`)
      .join('; ')}`,
  );
  out.push(
    `- page cache: ${r.cold ? 'cold — dropped (sync; echo 3 > /proc/sys/vm/drop_caches) before every timed run of every tool' : 'warm for every tool — everything the command reads (data, store, remote) is read once right before each timed run, after a `sync` (dirty pages from the set-up written back first)'}`,
  );
  out.push(
    `- load average (1/5/15 min): ${la(r.loadStart)} at the start, ${la(r.loadEnd)} at the end. "other CPU" = cores busy with processes other than the measured one (and s3rver) during the run, median; "load" = highest 1-min load average at the start of a run. A figure with other CPU well above 0 was measured on a shared machine: expect noise.`,
  );
  out.push(
    `- "÷ dv" = the tool's time divided by dv's (> 1: dv is faster). MB/s = dataset bytes / time. Peak RSS = largest process of the command's tree (GNU time). New bytes = growth of the store (dv: .dv/cache/packs; restic/borg: the repository; git-lfs: .git; remotes: the remote directory or bucket). MB = 10^6 bytes.`,
  );
  const ms = r.probes.map((p) => p.ms);
  out.push(
    `- file creation (2,000 empty files, a probe of how busy the file system is): ${ms[0]!.toFixed(0)} ms at the start, ${ms[ms.length - 1]!.toFixed(0)} ms at the end, ${Math.min(...ms).toFixed(0)}–${Math.max(...ms).toFixed(0)} ms over the run (measured before each dataset round). It swings 10× and more on a shared machine, and the many-small checkout, pull and copy rows follow it.`,
  );
  if (!r.remotes) out.push('- dv remotes: `dv push --help` fails in this build, so the push/pull rows say n/a (not implemented).');
  for (const d of r.info) {
    out.push('', `## ${d.name}: ${d.describe} (${(d.bytes / 1e6).toFixed(1)} MB)`, '');
    out.push(renderRows(r.rows.filter((x) => x.dataset === d.name)));
  }
  out.push('', '## Targets', '');
  if (r.quick)
    out.push('Quick sizes: the thresholds are meant for the full sizes, so the time verdicts here are for orientation only.', '');
  out.push(renderTargets(r.targets));
  return out.join('\n');
}

// Suites beside the default one, each in its own file: `npm run bench -- scale|read|transfer [--quick]`.
const suites: Record<string, () => Promise<number>> = {
  scale: () => import('./scale.js').then((m) => m.scale(process.argv.slice(3))),
  read: () => import('./read.js').then((m) => m.read(process.argv.slice(3))),
  transfer: () => import('./transfer.js').then((m) => m.transfer(process.argv.slice(3))),
  bigfile: () => import('./bigfile.js').then((m) => m.bigfile(process.argv.slice(3))),
};
const suite = (suites[process.argv[2] ?? ''] ?? main)();
suite.then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`bench: ${e instanceof CommandFailed ? e.message : e instanceof Error ? e.stack : String(e)}\n`);
    process.exit(1);
  },
);
