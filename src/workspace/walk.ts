/**
 * Walks a directory tree: every directory, regular file and symlink below `root`, with the few
 * stat fields dv needs. Synchronous on purpose: on a tree of 20,000 files it is about twice as
 * fast as an async walk (no promise per entry) and allocates far less, and nothing else runs
 * while a scan walks. Symlinks are never followed; a nested `.git` or `.dv` (another repository)
 * is skipped.
 */
import { type Dirent, lstatSync, readdirSync } from 'node:fs';
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
  // Iterative: the depth of a directory tree is the data's to choose, the stack is not.
  const todo: [string, string][] = [[root, '']];
  for (let next = todo.pop(); next; next = todo.pop()) {
    const [abs, rel] = next;
    let names: Dirent[];
    try {
      names = readdirSync(abs, { withFileTypes: true });
    } catch (e) {
      throw fsError(e, abs);
    }
    for (const d of names) {
      // A repository nested in the data (a vendored git checkout, another dv repository) is
      // not data: git skips it the same way, and no tree may hold a .git or .dv (core/tree.ts).
      if (d.name === '.git' || d.name === '.dv') continue;
      const r = rel ? `${rel}/${d.name}` : d.name;
      const p = `${abs}/${d.name}`;
      if (d.isDirectory()) {
        out.dirs.push(r);
        todo.push([p, r]);
        continue;
      }
      if (!d.isFile() && !d.isSymbolicLink()) continue; // sockets, FIFOs, devices are not data
      if (d.isFile() && d.name.endsWith('.dvtmp') && WORKER_TEMP.test(d.name)) {
        out.temps.push(r);
        continue;
      }
      const st = lstatSync(p, { throwIfNoEntry: false });
      if (!st) continue; // deleted while we walked
      const stats = { size: st.size, mtimeMs: st.mtimeMs, ino: st.ino, mode: st.mode };
      if (st.isFile()) out.files.push({ rel: r, stats });
      else if (st.isSymbolicLink()) out.links.push({ rel: r, stats });
    }
  }
  return out;
}
