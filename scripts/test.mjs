#!/usr/bin/env node
// Runs the whole suite: every compiled test file under dist/test. Test files start the
// servers they need themselves (s3rver always, moto_server where installed) on 127.0.0.1.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

function find(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...find(p));
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}
const filter = process.argv.slice(2);
let files = find('dist/test');
if (filter.length) files = files.filter((f) => filter.some((x) => f.includes(x)));
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=2', ...files], { stdio: 'inherit' });
process.exit(r.status ?? 1);
