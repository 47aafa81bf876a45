/** `dv push`: send what a remote lacks of the tracked data (and, with allHistory, of every snapshot). */
import { DvError } from '../errors.js';
import type { RepoSession } from '../repo/repo.js';
import { pushObjects, type PushProgress, type PushStats } from '../transfer/push.js';
import { reachable } from './reach.js';
import { withRemote } from './remote-session.js';
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
  return withRemote(s, { ...opts, purpose: 'write' }, async ({ config, jobs, backend, remote, roots }) => {
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
    return { remote: config.name, url: config.url, snapshots: roots, ...stats };
  });
}
