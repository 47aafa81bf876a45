/** `dv push`: send what a remote lacks of the tracked data (and, with allHistory, of every snapshot). */
import { promises as fsp } from 'node:fs';
import { parseRemoteUrl } from '../backend/open.js';
import { DvError, fsError } from '../errors.js';
import type { RepoSession } from '../repo/repo.js';
import { openRemote, remoteCacheDir, resolveRemote } from '../repo/remotes.js';
import { pushObjects, type PushProgress, type PushStats } from '../transfer/push.js';
import { RemoteIndex } from '../transfer/remote-index.js';
import { selectTracked } from './commit.js';
import { reachable } from './reach.js';
import { lockedRuns } from './pipeline.js';

export interface PushOptions {
  remote?: string;
  paths?: string[];
  cwd?: string;
  jobs?: number;
  allHistory?: boolean;
  onProgress?: (p: PushProgress) => void;
}

export interface PushResult extends PushStats {
  remote: string;
  url: string;
  snapshots: string[];
}

export async function push(s: RepoSession, opts: PushOptions = {}): Promise<PushResult> {
  const r = resolveRemote(s.config, opts.remote);
  const jobs = opts.jobs ?? (Number(r.jobs) || 8);
  const target = parseRemoteUrl(r.url, s.root);
  // A directory remote is created on first push, as DVC does; a bucket must exist already.
  if (target.kind === 'local') await fsp.mkdir(target.path, { recursive: true }).catch((e) => { throw fsError(e, target.path); });
  const backend = openRemote(r, s.root, { create: true });
  try {
    await backend.check();
    const tracked = await selectTracked(s, opts.paths, opts.cwd ?? s.root);
    const roots = [...new Set(tracked.map((t) => t.pointer.snapshot))];
    const remote = await RemoteIndex.load(backend, remoteCacheDir(s.paths, r.name), jobs);
    const { ids, meta, problems } = await reachable(s, roots, { history: opts.allHistory ?? false });
    // The run cache travels with the data: the run objects dv.lock names, when this clone has them.
    const runs = (await lockedRuns(s.root)).map((r) => r.run);
    const haveRuns = await s.store.hasMany(runs);
    runs.forEach((id, k) => { if (haveRuns[k]) { ids.add(id); meta.add(id); } });
    const blocking = problems.filter((p) => !(p.id && remote.has(p.id)));
    if (blocking.length > 0) {
      const p = blocking[0];
      throw new DvError(p.code === 'OBJECT_CORRUPT' ? 'OBJECT_CORRUPT' : 'OBJECT_MISSING', `cannot push: ${p.message}${blocking.length > 1 ? ` (and ${blocking.length - 1} more)` : ''}; run \`dv fsck\`, or \`dv fetch\` from a remote that has it`, { problems: blocking.slice(0, 20) });
    }
    const stats = await pushObjects({ store: s.store, backend, remote, ids, meta, tmpDir: s.paths.tmpDir, jobs, onProgress: opts.onProgress });
    return { remote: r.name, url: r.url, snapshots: roots, ...stats };
  } finally {
    await backend.close?.();
  }
}
