/**
 * `dv gc --remote [NAME] [--dry-run] [--grace DURATION]`: delete from a remote what no root this
 * clone can see reaches (transfer/remote-gc.ts has the two-phase design, ARCHITECTURE.md the
 * argument why it is safe with concurrent pushes and pulls). The roots are every git ref's
 * pointer files through their whole history, the work tree's, dv.lock run records and the
 * `gc.protect` refs (transfer/remote-gc-roots.ts). Nothing younger than the grace goes: a pack is
 * deleted only by a later run than the one that marked it, once the mark is older than the grace.
 */
import { DvError } from '../errors.js';
import type { RepoSession } from '../repo/repo.js';
import { collectRemote, type RemoteGcStats } from '../transfer/remote-gc.js';
import { gcRoots } from '../transfer/remote-gc-roots.js';
import { withRemote } from '../transfer/remote-session.js';

export const DEFAULT_GRACE = '14d';

export interface GcRemoteOptions {
  remote?: string;
  jobs?: number;
  dryRun?: boolean;
  /** How long a pack stays after a run first finds it unreferenced: `14d` (default), `12h`, `30m`, `45s`, `0`. */
  grace?: string;
}

export interface GcRemoteResult extends RemoteGcStats {
  remote: string;
  url: string;
  dryRun: boolean;
  graceMs: number;
  /** Root snapshots (pointer files of the work tree and of every commit of every ref, attestations). */
  roots: number;
  /** Snapshots kept because an attestation file (`*.intoto.json`) in the git history names them. */
  attested: number;
  protectedRefs: string[];
}

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 };

/** `14d`, `12h`, `30m`, `45s`, `2w`, `0` as milliseconds; anything else is USAGE. */
export function parseGrace(text: string): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)([smhdw]?)$/.exec(text.trim());
  const n = m ? Number(m[1]) * (m[2] ? UNITS[m[2]] : m[1] === '0' ? 0 : Number.NaN) : Number.NaN;
  if (!Number.isFinite(n) || n > 3650 * UNITS.d)
    throw new DvError('USAGE', `--grace ${text}: give a duration such as 14d, 12h, 30m or 45s (0 for none), at most 3650d`, {
      option: '--grace',
      value: text,
    });
  return Math.round(n);
}

export async function gcRemote(s: RepoSession, opts: GcRemoteOptions = {}): Promise<GcRemoteResult> {
  const graceMs = parseGrace(opts.grace ?? DEFAULT_GRACE);
  const roots = await gcRoots(s);
  return withRemote(s, { remote: opts.remote, jobs: opts.jobs, purpose: 'read' }, async ({ config, jobs, backend, remote }) => {
    if (remote.damaged.length > 0 || remote.warnings.length > 0)
      throw new DvError(
        'REMOTE_ERROR',
        `gc --remote stopped: ${backend.location} has pack indexes dv cannot read (${[...remote.damaged, ...remote.warnings][0]}), ` +
          'so what they hold is unknown: run `dv fsck --remote --repair` first',
        { location: backend.location, transient: false },
      );
    const stats = await collectRemote({
      backend,
      remote,
      store: s.store,
      roots,
      graceMs,
      dryRun: Boolean(opts.dryRun),
      tmpDir: s.paths.tmpDir,
      jobs,
    });
    return {
      remote: config.name,
      url: config.url,
      dryRun: Boolean(opts.dryRun),
      graceMs,
      roots: roots.snapshots.length,
      attested: roots.attested.length,
      protectedRefs: roots.protectedRefs,
      ...stats,
    };
  });
}
