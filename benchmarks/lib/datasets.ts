// The benchmark datasets, generated from a seed into a temporary directory (never committed):
// many-small, few-large and a CSV, plus the edits applied to them before `commit`.
import { closeSync, mkdirSync, openSync, statSync, utimesSync, writeSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { insertCsvRows, writeCsv } from './csv.js';
import { ByteStream, Xorshift } from './prng.js';

export interface Sizes {
  smallFiles: number;
  smallDirs: number;
  largeFiles: number;
  largeBytes: number;
  csvBytes: number;
}

export const FULL: Sizes = { smallFiles: 20_000, smallDirs: 200, largeFiles: 4, largeBytes: 256 << 20, csvBytes: 200_000_000 };
export const QUICK: Sizes = { smallFiles: 2_000, smallDirs: 20, largeFiles: 2, largeBytes: 16 << 20, csvBytes: 10_000_000 };

/** An edit applied to a working copy (`data` dir) before a timed commit. */
export interface Edit {
  /** The operation name in the table, e.g. "commit: 1 MiB overwrite". */
  op: string;
  apply(dataDir: string): void;
}

export interface Dataset {
  name: 'many-small' | 'few-large' | 'csv';
  describe: string;
  /** Where the generated data lives: `<root>/data`. */
  dataDir: string;
  files: number;
  bytes: number;
  edits: Edit[];
}

// Every generated file gets this mtime, so copies made with `cp -a` look like data that has been
// sitting on disk for a while (not written in the same second as the index that records them).
const MTIME = new Date('2024-01-01T00:00:00Z');

const MiB = 1 << 20;

function manySmall(root: string, s: Sizes, seed: string): Dataset {
  const dataDir = join(root, 'data');
  const rng = new Xorshift(`${seed}:many-small`);
  const bytes = new ByteStream(`${seed}:many-small`);
  let total = 0;
  const perDir = Math.ceil(s.smallFiles / s.smallDirs);
  for (let i = 0; i < s.smallFiles; i++) {
    const dir = join(dataDir, `d${String(Math.floor(i / perDir)).padStart(3, '0')}`);
    if (i % perDir === 0) mkdirSync(dir, { recursive: true });
    const size = rng.int(1024, 16 * 1024);
    const file = join(dir, `f${String(i).padStart(5, '0')}.bin`);
    writeFileSync(file, bytes.take(size));
    utimesSync(file, MTIME, MTIME);
    total += size;
  }
  return {
    name: 'many-small',
    describe: `${s.smallFiles.toLocaleString('en-US')} files of 1–16 KiB in ${s.smallDirs} directories`,
    dataDir,
    files: s.smallFiles,
    bytes: total,
    edits: [],
  };
}

function writeRandom(file: string, stream: ByteStream, size: number, flags = 'w'): void {
  const fd = openSync(file, flags);
  try {
    for (let done = 0; done < size; ) {
      const n = Math.min(8 * MiB, size - done);
      writeSync(fd, stream.take(n));
      done += n;
    }
  } finally {
    closeSync(fd);
  }
}

function fewLarge(root: string, s: Sizes, seed: string): Dataset {
  const dataDir = join(root, 'data');
  mkdirSync(dataDir, { recursive: true });
  for (let i = 0; i < s.largeFiles; i++) {
    const file = join(dataDir, `large-${i}.bin`);
    writeRandom(file, new ByteStream(`${seed}:large-${i}`), s.largeBytes);
    utimesSync(file, MTIME, MTIME);
  }
  const overwrite: Edit = {
    op: 'commit: 1 MiB overwrite',
    apply(dir) {
      const file = join(dir, 'large-0.bin');
      const at = Math.floor(statSync(file).size / 2) - MiB / 2;
      const fd = openSync(file, 'r+');
      try {
        writeSync(fd, new ByteStream(`${seed}:overwrite`).take(MiB), 0, MiB, at);
      } finally {
        closeSync(fd);
      }
    },
  };
  const append: Edit = {
    op: 'commit: 10 MiB append',
    apply(dir) {
      writeRandom(join(dir, `large-${Math.min(1, s.largeFiles - 1)}.bin`), new ByteStream(`${seed}:append`), 10 * MiB, 'a');
    },
  };
  const mib = s.largeBytes / MiB;
  return {
    name: 'few-large',
    describe: `${s.largeFiles} × ${mib} MiB random`,
    dataDir,
    files: s.largeFiles,
    bytes: s.largeFiles * s.largeBytes,
    edits: [overwrite, append],
  };
}

function csv(root: string, s: Sizes, seed: string): Dataset {
  const dataDir = join(root, 'data');
  mkdirSync(dataDir, { recursive: true });
  const file = join(dataDir, 'table.csv');
  const { rows, bytes } = writeCsv(file, s.csvBytes, seed);
  utimesSync(file, MTIME, MTIME);
  const insert: Edit = {
    op: 'commit: CSV +1% rows',
    apply: (dir) => insertCsvRows(join(dir, 'table.csv'), rows, seed),
  };
  return {
    name: 'csv',
    describe: `${(bytes / 1e6).toFixed(0)} MB CSV, ${rows.toLocaleString('en-US')} rows`,
    dataDir,
    files: 1,
    bytes,
    edits: [insert],
  };
}

/** Generates one dataset under `root` (which must not exist yet). */
export function generate(name: Dataset['name'], root: string, sizes: Sizes, seed: string): Dataset {
  mkdirSync(root, { recursive: true });
  if (name === 'many-small') return manySmall(root, sizes, seed);
  if (name === 'few-large') return fewLarge(root, sizes, seed);
  return csv(root, sizes, seed);
}
