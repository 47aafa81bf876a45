/** `dv push`: send what a remote lacks of the tracked data (and, with allHistory, of every snapshot). */
import { DvError } from '../errors.js';
import type { RepoSession } from '../repo/repo.js';
import { pushObjects, type PushProgress, type PushStats } from '../transfer/push.js';
import { reachable } from './reach.js';
import { withRemote } from './remote-session.js';
import { runsToPush, uploadRuns, type PushRunsMode } from './run-cache.js';

export interface PushOptions {
  remote?: string;
  paths?: string[];
  cwd?: string;
  jobs?: number;
  allHistory?: boolean;
  /** Run records to send to the remote run cache (default: those dv.lock names). */
  runs?: PushRunsMode;
  onProgress?: (p: PushProgress) => void;
}

export interface PushResult extends PushStats {
  remote: string;
  url: string;
  snapshots: string[];
  /** Run records uploaded to the remote run cache. */
  runsSent: number;
}

export async function push(s: RepoSession, opts: PushOptions = {}): Promise<PushResult> {
  return withRemote(s, { ...opts, purpose: 'write' }, async ({ config, jobs, backend, remote, roots }) => {
    const { ids, meta, problems } = await reachable(s, roots, { history: opts.allHistory ?? false });
    // The run cache travels with the data: run objects and their outs' data, in packs; the
    // records under runs/ once that data is there.
    const runs = await runsToPush(s, opts.runs ?? 'locked', (id) => remote.has(id));
    runs.ids.forEach((id) => ids.add(id));
    runs.meta.forEach((id) => meta.add(id));
    const blocking = problems.filter((p) => !(p.id && remote.has(p.id)));
    if (blocking.length > 0) {
      const p = blocking[0];
      throw new DvError(p.code === 'OBJECT_CORRUPT' ? 'OBJECT_CORRUPT' : 'OBJECT_MISSING', `cannot push: ${p.message}${blocking.length > 1 ? ` (and ${blocking.length - 1} more)` : ''}; run \`dv fsck\`, or \`dv fetch\` from a remote that has it`, { problems: blocking.slice(0, 20) });
    }
    const stats = await pushObjects({ store: s.store, backend, remote, ids, meta, tmpDir: s.paths.tmpDir, jobs, onProgress: opts.onProgress });
    const runsSent = await uploadRuns(backend, runs.runs);
    return { remote: config.name, url: config.url, snapshots: roots, ...stats, runsSent };
  });
}
