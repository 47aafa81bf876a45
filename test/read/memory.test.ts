/**
 * Constant memory: `repo.open` and `dv cat` stream a 256 MiB file from a directory remote, in a
 * clone that fetched nothing, with peak RSS measured in the reading process (a child). The figure
 * is reported; the bound is the target for a 2 GiB file (150 MB), which a read that held
 * the file would exceed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DV_BIN, REPO_DIR, dvOk, git, makeRepo, prng, tempDir } from '../helpers/cli.js';

const SIZE = 256 * 1024 * 1024;
const BLOCK = 16 * 1024 * 1024;
const LIMIT = 150 * 1000 * 1000;

/** Runs a node script in a child; its stdout is JSON. */
function node(script: string, cwd: string, env: Record<string, string>): Promise<any> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      cwd,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`exit ${code}: ${err}`))));
  });
}

test('a 256 MiB file streams from the remote with peak RSS far below its size (repo.open and dv cat)', async (t) => {
  const a = await makeRepo();
  await fsp.mkdir(join(a, 'data'));
  const file = join(a, 'data', 'big.bin');
  const want = createHash('sha256');
  const fh = await fsp.open(file, 'w');
  for (let off = 0, k = 0; off < SIZE; off += BLOCK, k++) {
    const b = prng(1000 + k, BLOCK);
    want.update(b);
    await fh.write(b);
  }
  await fh.close();
  const sha = want.digest('hex');
  await dvOk(a, ['add', '-q', 'data']);
  await dvOk(a, ['remote', 'add', 'origin', join(tempDir(), 'remote')]);
  await dvOk(a, ['push', '-q']);
  git(a, ['add', '-A']);
  git(a, ['commit', '-qm', 'data']);
  await fsp.rm(file);
  const b = join(tempDir(), 'clone');
  git(tempDir(), ['clone', '-q', a, b]);
  const xdg = { XDG_CONFIG_HOME: join(b, '.xdg-test') };

  const api = pathToFileURL(join(REPO_DIR, 'dist', 'src', 'index.js')).href;
  const r = await node(
    `import { createHash } from 'node:crypto';
     const { Repo } = await import(${JSON.stringify(api)});
     const s = await (await Repo.open(process.cwd())).open('data/big.bin', { rev: 'HEAD' });
     const h = createHash('sha256');
     let bytes = 0;
     for await (const c of s) { h.update(c); bytes += c.length; }
     console.log(JSON.stringify({ sha: h.digest('hex'), bytes, rss: process.resourceUsage().maxRSS * 1024, stats: s.stats }));`,
    b,
    xdg,
  );
  t.diagnostic(
    `repo.open: ${r.bytes} bytes, peak RSS ${(r.rss / 1e6).toFixed(1)} MB, ${r.stats.requests} ranged reads of ${r.stats.bytes} bytes`,
  );
  assert.equal(r.sha, sha, 'byte-identical');
  assert.equal(r.bytes, SIZE);
  assert.ok(r.rss < LIMIT, `peak RSS ${r.rss}`);

  // The CLI: dv cat into a pipe read here, its peak RSS reported by bin/dv.
  const rssFile = join(tempDir(), 'rss');
  const got = createHash('sha256');
  const code = await new Promise<number>((resolve, reject) => {
    const child = spawn(process.execPath, [DV_BIN, 'cat', 'HEAD:data/big.bin'], {
      cwd: b,
      env: { ...process.env, ...xdg, DV_REPORT_RSS: rssFile },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    child.stdout.on('data', (d: Buffer) => got.update(d));
    child.on('error', reject);
    child.on('close', (c) => resolve(c ?? -1));
  });
  assert.equal(code, 0);
  assert.equal(got.digest('hex'), sha);
  const rss = Number(await fsp.readFile(rssFile, 'utf8'));
  t.diagnostic(`dv cat: peak RSS ${(rss / 1e6).toFixed(1)} MB`);
  assert.ok(rss < LIMIT, `peak RSS ${rss}`);
});
