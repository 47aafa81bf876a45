/**
 * Walks a directory tree: every directory, regular file and symlink below `root`, with the few
 * stat fields dv needs. Synchronous on purpose: on a tree of 20,000 files it is about twice as
 * fast as an async walk (no promise per entry) and allocates far less, and nothing else runs
 * while a scan walks. Symlinks are never followed.
 */
import { lstatSync, readdirSync } from 'node:fs';
import { fsError } from '../errors.js';
import { WORKER_TEMP } from './write-temp.js';

export interface FileStat {
  size: number;
  mtimeMs: number;
  ino: number;
  mode: number;
}

export interface WalkEntry {
  /** Path relative to the walked root, '/'-separated. */
  rel: string;
  stats: FileStat;
}

export interface Walk {
  dirs: string[];
  files: WalkEntry[];
  links: WalkEntry[];
  /** Checkout temp files (write-temp.ts), skipped: not data, removed by the next checkout. */
  temps: string[];
}

export function walkTree(root: string): Walk {
  const out: Walk = { dirs: [''], files: [], links: [], temps: [] };
  const visit = (abs: string, rel: string): void => {
    let names;
    try {
      names = readdirSync(abs, { withFileTypes: true });
    } catch (e) {
      throw fsError(e, abs);
    }
    for (const d of names) {
      const r = rel ? `${rel}/${d.name}` : d.name;
      const p = `${abs}/${d.name}`;
      if (d.isDirectory()) {
        out.dirs.push(r);
        visit(p, r);
        continue;
      }
      if (!d.isFile() && !d.isSymbolicLink()) continue; // sockets, FIFOs, devices are not data
      if (d.isFile() && d.name.endsWith('.dvtmp') && WORKER_TEMP.test(d.name)) { out.temps.push(r); continue; }
      const st = lstatSync(p, { throwIfNoEntry: false });
      if (!st) continue; // deleted while we walked
      const stats = { size: st.size, mtimeMs: st.mtimeMs, ino: st.ino, mode: st.mode };
      if (st.isFile()) out.files.push({ rel: r, stats });
      else if (st.isSymbolicLink()) out.links.push({ rel: r, stats });
    }
  };
  visit(root, '');
  return out;
}
