/** Generated datasets for end-to-end tests. */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { prng } from './cli.js';

/** `files` small files (100 B – 4 KiB) spread over `dirs` directories, plus optional large files. */
export async function makeDataset(root: string, opts: { files: number; dirs: number; large?: number[]; seed?: number }): Promise<void> {
  const seed = opts.seed ?? 1;
  for (let d = 0; d < opts.dirs; d++) await fsp.mkdir(join(root, `d${d}`), { recursive: true });
  const pool = prng(seed, 4096 * 64);
  for (let i = 0; i < opts.files; i++) {
    const size = 100 + ((i * 2654435761) % 4000);
    const off = (i * 977) % (pool.length - size);
    await fsp.writeFile(
      join(root, `d${i % opts.dirs}`, `f${i}.dat`),
      Buffer.concat([Buffer.from(`${seed}:${i}\n`), pool.subarray(off, off + size)]),
    );
  }
  for (const [k, n] of (opts.large ?? []).entries()) await fsp.writeFile(join(root, `large${k}.bin`), prng(seed * 100 + k, n));
}

/** Deterministic bytes (xorshift32) of any length: the same generator as `prng`, under the name chunking tests use. */
export const xorshiftBytes = prng;
