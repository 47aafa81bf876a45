/** Shared set-up of the read tests: a repository with two versions pushed to a remote, and a binary-safe dv runner. */
import { spawn } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { DV_BIN, dvOk, git, makeRepo, prng, tempDir } from '../helpers/cli.js';
import { makeDataset } from '../helpers/data.js';

export interface BytesResult {
  code: number;
  stdout: Buffer;
  stderr: string;
}

/** Runs `dv args...`, keeping stdout as bytes. */
export function dvBytes(cwd: string, args: string[], env: Record<string, string> = {}): Promise<BytesResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [DV_BIN, ...args], {
      cwd,
      env: { ...process.env, NO_COLOR: '1', XDG_CONFIG_HOME: join(cwd, '.xdg-test'), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout: Buffer.concat(out), stderr }));
  });
}

export interface Pushed {
  /** The repository that made the versions. */
  a: string;
  /** A fresh clone of it that fetched nothing. */
  b: string;
  /** data/large0.bin as tag v1 holds it. */
  v1: Buffer;
  /** Bytes of the snapshot of data at v1. */
  v1Size: number;
}

/**
 * `data` in two versions (tags v1, v2): 300 small files and three large ones (4, 12, 12 MB); v2
 * rewrites large0.bin. Every version is pushed to `remoteUrl` (remote add options in `remoteArgs`),
 * the remote committed, and the repository cloned.
 */
export async function twoVersionsPushed(remoteUrl: string, remoteArgs: string[] = [], env: Record<string, string> = {}): Promise<Pushed> {
  const a = await makeRepo();
  await makeDataset(join(a, 'data'), { files: 300, dirs: 10, large: [4_000_000, 12_000_000, 12_000_000] });
  const v1 = await fsp.readFile(join(a, 'data', 'large0.bin'));
  const added = JSON.parse(await dvOk(a, ['add', 'data', '--json']));
  git(a, ['add', '-A']);
  git(a, ['commit', '-qm', 'v1']);
  git(a, ['tag', 'v1']);
  await fsp.writeFile(join(a, 'data', 'large0.bin'), prng(4242, 4_000_000));
  await dvOk(a, ['commit', '-q', '-m', 'v2']);
  git(a, ['add', '-A']);
  git(a, ['commit', '-qm', 'v2']);
  git(a, ['tag', 'v2']);
  await dvOk(a, ['remote', 'add', 'origin', remoteUrl, ...remoteArgs]);
  await dvOk(a, ['push', '-q', '--all-history'], env);
  git(a, ['add', '-A']);
  git(a, ['commit', '-qm', 'remote']);
  const b = join(tempDir(), 'clone');
  git(tempDir(), ['clone', '-q', a, b]);
  return { a, b, v1, v1Size: added.added[0].size };
}
