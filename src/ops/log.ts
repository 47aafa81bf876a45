/** `dv log`: the snapshots of tracked paths, newest first, following parents. */
import type { Snapshot } from '../core/snapshot.js';
import { DvError } from '../errors.js';
import type { RepoSession } from '../repo/repo.js';
import { pointerHistory, resolveCommit } from '../repo/git-revision.js';
import { toRepoRel } from '../workspace/scan.js';
import { selectTracked } from '../workspace/tracked.js';
import { loadSnapshot } from '../history/objects.js';

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
        if (e instanceof DvError && e.code === 'OBJECT_MISSING') {
          const hint = `\`dv fetch ${t.rel}\` brings it; \`dv log --git ${t.rel}\` shows the history git holds without fetching`;
          throw new DvError('OBJECT_MISSING', `snapshot ${id.slice(0, 12)} of ${t.rel} is not in this clone: ${hint}`, { id, path: t.rel });
        }
        throw e;
      }
      out.push({ id, ...snap });
      queue.push(...snap.parents);
    }
  }
  out.sort((a, b) => (a.time < b.time ? 1 : a.time > b.time ? -1 : 0));
  return opts.limit ? out.slice(0, opts.limit) : out;
}

/** A commit that changed pointer files, and what each named (`dv log --git`). */
export interface GitLogEntry {
  commit: string;
  time: string;
  author: string;
  subject: string;
  paths: { path: string; snapshot: string; tree: string; files: number; size: number; fetched: boolean }[];
}

/**
 * The history of the pointer files in git, newest first: each commit reachable from `rev` that
 * added or changed one (of `paths`, when given), with the snapshots it named and whether this
 * clone holds them. Works in a fresh clone that fetched nothing.
 */
export async function gitLog(s: RepoSession, opts: LogOptions & { rev?: string } = {}): Promise<GitLogEntry[]> {
  const rev = opts.rev ?? 'HEAD';
  const commit = await resolveCommit(s.root, rev);
  if (!commit)
    throw new DvError('USAGE', `dv log --git ${rev}: not a git revision here (try HEAD, a branch, a tag or a commit id)`, { rev });
  const rels = (opts.paths ?? []).map((p) =>
    toRepoRel(s.root, opts.cwd ?? s.root, p)
      .replace(/\/+$/, '')
      .replace(/\.dv$/, ''),
  );
  const history = await pointerHistory(s.root, commit, rels, opts.limit ?? 1000);
  const ids = [...new Set(history.flatMap((c) => c.pointers.map((p) => p.pointer.snapshot)))];
  const held = await s.store.hasMany(ids);
  const have = new Set(ids.filter((_, i) => held[i]));
  return history.map((c) => ({
    commit: c.commit,
    time: c.time,
    author: c.author,
    subject: c.subject,
    paths: c.pointers.map(({ rel, pointer: p }) => ({
      path: rel,
      snapshot: p.snapshot,
      tree: p.tree,
      files: p.files,
      size: p.size,
      fetched: have.has(p.snapshot),
    })),
  }));
}
