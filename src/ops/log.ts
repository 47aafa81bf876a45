/** `dv log`: the snapshots of tracked paths, newest first, following parents. */
import type { Snapshot } from '../core/snapshot.js';
import { DvError } from '../errors.js';
import type { RepoSession } from '../repo/repo.js';
import { selectTracked } from './commit.js';
import { loadSnapshot } from './objects.js';

export interface LogEntry extends Snapshot {
  id: string;
}

export interface LogOptions {
  paths?: string[];
  cwd?: string;
  limit?: number;
}

export async function log(s: RepoSession, opts: LogOptions = {}): Promise<LogEntry[]> {
  const tracked = await selectTracked(s, opts.paths, opts.cwd ?? s.root);
  const seen = new Set<string>();
  const out: LogEntry[] = [];
  for (const t of tracked) {
    const queue = [t.pointer.snapshot];
    while (queue.length > 0) {
      const id = queue.shift()!;
      if (seen.has(id)) continue;
      seen.add(id);
      let snap: Snapshot;
      try {
        snap = await loadSnapshot(s.store, id);
      } catch (e) {
        // History beyond what was fetched is simply not shown.
        if (e instanceof DvError && e.code === 'OBJECT_MISSING' && out.length > 0) break;
        throw e;
      }
      out.push({ id, ...snap });
      queue.push(...snap.parents);
    }
  }
  out.sort((a, b) => (a.time < b.time ? 1 : a.time > b.time ? -1 : 0));
  return opts.limit ? out.slice(0, opts.limit) : out;
}
