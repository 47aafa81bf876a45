/**
 * `dv fsck --remote [NAME]`: check a remote the way `restic check --read-data` does. Every pack
 * index must parse and match its name (one that does not is reported, never used); every object
 * an index lists is read back (ranged, merged per pack) and re-hashed; an index that lists
 * objects at places that do not hold them is named, with the way to repair it
 * (`dv push --repair` from a clone that holds the data). Nothing on the remote is changed.
 *
 * Today it reads every listed object: the cost is one download of the remote. Checking that every
 * object a root needs is present, without reading data, is the next step.
 */
import type { RepoSession } from '../repo/repo.js';
import { checkRemoteCopies } from '../transfer/remote-check.js';
import { withRemote } from '../transfer/remote-session.js';

export interface FsckRemoteOptions {
  remote?: string;
  jobs?: number;
}

export interface FsckRemoteResult {
  remote: string;
  url: string;
  ok: boolean;
  /** Objects the remote's indexes list, each read back and verified. */
  objects: number;
  /** Objects no listed copy of which verifies. */
  bad: string[];
  /** Index keys every object of which sits at a wrong place. */
  badIndexes: string[];
  problems: { code: 'OBJECT_CORRUPT' | 'BAD_OBJECT'; message: string }[];
  /** Indexes that list objects at wrong places whose good copies are elsewhere (after `dv push --repair`). */
  warnings: string[];
}

export async function fsckRemote(s: RepoSession, opts: FsckRemoteOptions = {}): Promise<FsckRemoteResult> {
  return withRemote(s, { remote: opts.remote, jobs: opts.jobs, purpose: 'read' }, async ({ config, jobs, backend, remote }) => {
    const problems: FsckRemoteResult['problems'] = [];
    for (const w of [...remote.warnings, ...remote.damaged.map((k) => `${backend.location}: ${k} does not match its name`)]) {
      problems.push({ code: 'BAD_OBJECT', message: w });
    }
    const check = await checkRemoteCopies(backend, remote, remote.objects.keys(), jobs);
    const repair = 'run `dv push --repair` from a clone that holds the data';
    // A wrong listing is damage while some object has no good copy; once every object has one
    // (a repairing push sent them again) it is a warning: pulls fall back to the good copy.
    const broken = check.bad.length > 0;
    for (const w of broken ? check.warnings : []) problems.push({ code: 'OBJECT_CORRUPT', message: `${w}: ${repair}` });
    for (const id of check.bad.slice(0, 100))
      problems.push({ code: 'OBJECT_CORRUPT', message: `${backend.location}: no copy of object ${id} verifies: ${repair}` });
    const warnings = broken ? [] : check.warnings.map((w) => `${w} (good copies exist elsewhere)`);
    return {
      remote: config.name,
      url: config.url,
      ok: problems.length === 0,
      objects: check.checked,
      bad: check.bad,
      badIndexes: check.badIndexes,
      problems,
      warnings,
    };
  });
}
