/**
 * What `dv gc --remote` keeps, as seen from this clone: the snapshots named by pointer files in the
 * work tree and in every commit of every git ref (branches, tags, remote-tracking refs, HEAD: the
 * whole git history, not only the tips), the run records named by every dv.lock of that history
 * and of the work tree, and the local run refs. Refs matching the `gc.protect` globs are listed
 * apart: their snapshots must be walkable whole, and their packs are never repacked. Attestation
 * files (`*.intoto.json`) committed in that history keep the snapshots they name
 * (remote-gc-attest.ts).
 *
 * Invariants: git is asked through `git rev-list --objects` (one process per ref set) and
 * `cat-file --batch` (pointer blobs above MAX_POINTER are skipped by readPointerBlobs); dv.lock
 * blobs over MAX_LOCK bytes are skipped; nothing is written.
 */
import { DvError } from '../errors.js';
import { gitOut, readPointerBlobs } from '../repo/git-pointers.js';
import { isPointerPath } from '../repo/git-revision.js';
import type { RepoSession } from '../repo/repo.js';
import { rootSnapshots } from '../history/reach.js';
import { LOCK_FILE, parseLock } from '../pipeline/lockfile.js';
import { lockedRuns } from '../pipeline/state.js';
import { runRefIds } from '../pipeline/run-cache.js';
import { isId } from '../core/ids.js';
import { attestedSnapshots, isAttestationPath, keptAttestedSnapshots } from './remote-gc-attest.js';

const MAX_LOCK = 4 * 1024 * 1024;

export interface GcRoots {
  snapshots: string[];
  /** Snapshots of the refs gc.protect names (with their git history). */
  protectedSnapshots: string[];
  protectedRefs: string[];
  /** Run keys some dv.lock names: their records under `runs/` stay. */
  runKeys: Set<string>;
  /** Run record object ids dv.lock files and local run refs name. */
  runIds: string[];
  /** Snapshots attestation files in the history, or kept by this clone, name (also in `snapshots`). */
  attested: string[];
}

/** The `gc.protect` globs (comma separated) as one regular expression over full ref names. */
export function protectPattern(globs: string | undefined): RegExp | undefined {
  const list = (globs ?? '')
    .split(',')
    .map((g) => g.trim())
    .filter(Boolean);
  if (list.length === 0) return undefined;
  const re = (g: string): string =>
    g
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.');
  return new RegExp(`^(?:${list.map(re).join('|')})$`);
}

export async function gcRoots(s: RepoSession): Promise<GcRoots> {
  const { roots: tips, problems } = await rootSnapshots(s);
  if (problems.length > 0) throw new DvError('BAD_POINTER', `gc --remote stopped, a pointer file is unreadable: ${problems[0].message}`);
  const all = await historyOf(s.root, ['--all']);
  all.attested = [...new Set([...all.attested, ...(await keptAttestedSnapshots(s))])];
  const runKeys = new Set(all.runKeys);
  const runIds = [...all.runIds];
  for (const r of await lockedRuns(s.root)) {
    runKeys.add(r.key);
    runIds.push(r.run);
  }
  runIds.push(...(await runRefIds(s)));
  const pattern = protectPattern(s.config.get('gc.protect'));
  const protectedRefs: string[] = [];
  let protectedSnapshots: string[] = [];
  if (pattern) {
    const refs = (await gitOut(s.root, ['for-each-ref', '--format=%(refname)'])).toString('utf8').split('\n');
    protectedRefs.push(...refs.filter((r) => r && pattern.test(r)));
    if (protectedRefs.length > 0) {
      const h = await historyOf(s.root, protectedRefs);
      protectedSnapshots = [...new Set([...h.snapshots, ...h.attested])];
    }
  }
  return {
    snapshots: [...new Set([...tips, ...all.snapshots, ...all.attested])].sort(),
    protectedSnapshots,
    protectedRefs,
    runKeys,
    runIds: [...new Set(runIds.filter(isId))],
    attested: all.attested,
  };
}

/** The snapshots and runs that pointer files and dv.lock files name in every commit reachable from `revs`. */
async function historyOf(
  root: string,
  revs: string[],
): Promise<{ snapshots: string[]; runKeys: string[]; runIds: string[]; attested: string[] }> {
  const head = (await gitOut(root, ['rev-parse', '-q', '--verify', 'HEAD']).catch(() => Buffer.alloc(0))).toString('utf8').trim();
  if (!head && revs[0] === '--all') return { snapshots: [], runKeys: [], runIds: [], attested: [] };
  const out = (await gitOut(root, ['rev-list', '--objects', ...revs, '--'])).toString('utf8');
  const pointers = new Set<string>();
  const locks = new Set<string>();
  const attestations = new Set<string>();
  for (const line of out.split('\n')) {
    const sp = line.indexOf(' ');
    if (sp !== 40 && sp !== 64) continue;
    const path = line.slice(sp + 1);
    if (isPointerPath(path)) pointers.add(line.slice(0, sp));
    else if (path === LOCK_FILE) locks.add(line.slice(0, sp));
    else if (isAttestationPath(path)) attestations.add(line.slice(0, sp));
  }
  const snapshots = [...(await readPointerBlobs(root, [...pointers])).values()].map((p) => p.snapshot);
  const runKeys: string[] = [];
  const runIds: string[] = [];
  for (const blob of locks) {
    const size = Number((await gitOut(root, ['cat-file', '-s', blob])).toString('utf8').trim());
    if (!(size <= MAX_LOCK)) continue;
    try {
      const lock = parseLock((await gitOut(root, ['cat-file', 'blob', blob])).toString('utf8'), `git blob ${blob}`);
      for (const st of Object.values(lock.stages)) {
        runKeys.push(st.key);
        runIds.push(st.run);
      }
    } catch (e) {
      if (!(e instanceof DvError)) throw e;
    }
  }
  return { snapshots: [...new Set(snapshots)], runKeys, runIds, attested: await attestedSnapshots(root, [...attestations]) };
}
