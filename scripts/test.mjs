#!/usr/bin/env node
// Runs the suite: every compiled test file under dist/test. Test files start the servers they
// need themselves (s3rver always, moto_server where installed) on 127.0.0.1.
//
//   node scripts/test.mjs [--fast] [SUBSTRING...]
// --fast leaves out the slow suites (reliability, attacks, long end-to-end runs): the inner loop;
// SUBSTRINGs keep only the files whose path holds one of them.
//
// Every run is hermetic (scripts/hermetic-env.mjs): a fresh HOME per test file, no global or
// system git config, a fixed git identity, locale and time zone, no inherited GIT_*/AWS_* variables.
import { spawnSync } from 'node:child_process';
import { readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';

import { hermeticEnv } from './hermetic-env.mjs';

// The suites --fast leaves out: processes killed on purpose, full disks, injected S3 faults, and
// the long end-to-end suites (attack and hostile-input suites, transfers through servers, whole
// pipelines, huge trees). What stays is the inner loop: unit tests, the in-process CLI and API
// tests and a quick end-to-end test of each area, about a minute here. `npm test` and CI run all.
const SLOW = [
  '/reliability/',
  'backend/s3-faults',
  'backend/moto',
  '/security/attack-',
  '/security/hostile-',
  '/security/race',
  '/remote/',
  'cli/git-push',
  'cli/remote-',
  'cli/install',
  'cli/user-reports',
  'cli/roundtrip',
  'cli/huge-dir',
  'cli/bigfile',
  'cli/dedup',
  'cli/config',
  'cli/git-revisions',
  'cli/frames',
  'cli/commit-within',
  'cli/status-dirs',
  'pipeline/remote-run-cache',
  'pipeline/lock-deps',
  'pipeline/repro',
  'pipeline/verify-clone',
  'pipeline/stage-edges',
  'provenance/run-trust',
  'api/typecheck',
  '/ui/ui.test',
  'metrics/plots-browser',
  'metrics/exp.test',
  'metrics/exp-share',
];

function find(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...find(p));
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}
const args = process.argv.slice(2);
const fast = args.includes('--fast');
const filter = args.filter((a) => a !== '--fast');
let files = find('dist/test');
if (fast) files = files.filter((f) => !SLOW.some((s) => f.includes(s)));
if (filter.length) files = files.filter((f) => filter.some((x) => f.includes(x)));
if (files.length === 0) {
  console.error(`no test file matches ${filter.join(' ')}`);
  process.exit(2);
}
const env = { ...hermeticEnv(), DV_TEST_FILE_HOME: '1' };
const preload = new URL('hermetic-env.mjs', import.meta.url).href;
const r = spawnSync(process.execPath, ['--import', preload, '--test', '--test-concurrency=2', ...files], { stdio: 'inherit', env });
rmSync(env.DV_TEST_ENV_ROOT, { recursive: true, force: true });
process.exit(r.status ?? 1);
