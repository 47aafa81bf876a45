/**
 * `dv fsck --remote --repair`: damaged packs and lying indexes on a remote are replaced from the
 * local store's verified copies.
 *
 * Order (data before the removal of anything that names it, as every write on a remote):
 * 1. the objects of every bad pack that have no verified good copy outside the bad packs, and the
 *    objects roots need that no index lists, are sent again from the local store (read and verified
 *    there, nothing corrupt leaves) as new packs, each pack before its index;
 * 2. only then is each bad pack removed (unless step 1 wrote it again whole: a pack sent as it
 *    is keeps its name, the hash of its index, so the same key now holds the verified bytes), index first (so no index ever names a missing pack), and
 *    only when nothing is lost by it: every object it lists was sent again or has a verified good
 *    copy in a pack that stays. A pack holding an object nobody else has is kept and reported;
 * 3. indexes the remote lists but no reader uses (malformed, or not matching their name) are
 *    removed; their packs stay, unnamed, for `dv gc --remote`.
 * Objects the local store lacks are reported as not repairable (a clone that has them can repair).
 */
import type { Backend } from '../backend/backend.js';
import type { ObjectStore } from '../store/object-store.js';
import { remoteIndexKey, remotePackKey } from './layout.js';
import type { RemoteIndex } from './remote-index.js';
import { copiesIn } from './remote-check.js';
import { pushObjects } from './push.js';
import { noteWrites } from './written-keys.js';

export interface RepairInput {
  store: ObjectStore;
  backend: Backend;
  remote: RemoteIndex;
  tmpDir: string;
  jobs: number;
  /** Packs with a copy that failed to verify, or whose index disagrees with the pack. */
  badPacks: Set<string>;
  /** Verified good copies (pack ids) of objects with a bad copy somewhere. */
  goodCopies: Map<string, string[]>;
  /** Objects roots need that no index lists. */
  missing: string[];
  /** Index keys no reader uses (refused when loaded). */
  ignoredIndexes: string[];
}

export interface RepairResult {
  /** Objects sent again from the local store. */
  objectsSent: number;
  packsSent: number;
  /** Bad packs removed (index and pack). */
  packsRemoved: string[];
  /** Unusable index keys removed. */
  indexesRemoved: string[];
  /** Bad packs written again in place, whole, from the local store's copy of the same pack. */
  packsRewritten: string[];
  /** Bad packs kept: removing them would lose objects only they hold. */
  packsKept: string[];
  /** Objects that stay damaged or missing: no good copy on the remote, none in the local store. */
  unrepairable: string[];
}

export async function repairRemote(i: RepairInput): Promise<RepairResult> {
  const result: RepairResult = {
    objectsSent: 0,
    packsSent: 0,
    packsRemoved: [],
    packsRewritten: [],
    indexesRemoved: [],
    packsKept: [],
    unrepairable: [],
  };
  const safeElsewhere = (id: string): boolean => (i.goodCopies.get(id) ?? []).some((p) => !i.badPacks.has(p));
  const inBad = copiesIn(i.remote, i.badPacks);
  const want = [...new Set([...inBad.map((c) => c.id).filter((id) => !safeElsewhere(id)), ...i.missing])];
  const here = await i.store.hasMany(want);
  const resend = want.filter((_, k) => here[k]);
  const lost = new Set(want.filter((_, k) => !here[k]));
  // A pack sent whole keeps its name: a bad pack written again in place must not be removed after.
  const written = new Set<string>();
  const backend = noteWrites(i.backend, written);
  if (resend.length > 0) {
    // To this process they are absent now, so the push sends them whatever the bad indexes say.
    i.remote.forget(resend);
    const sent = await pushObjects({
      store: i.store,
      backend,
      remote: i.remote,
      ids: resend,
      meta: new Set(),
      tmpDir: i.tmpDir,
      jobs: i.jobs,
    });
    result.objectsSent = sent.objectsSent;
    result.packsSent = sent.packsSent;
  }
  const keep = new Set(inBad.filter((c) => lost.has(c.id)).map((c) => c.loc.pack));
  for (const pack of i.badPacks) {
    if (written.has(remotePackKey(pack)) && written.has(remoteIndexKey(pack))) {
      result.packsRewritten.push(pack);
      continue;
    }
    if (keep.has(pack)) {
      result.packsKept.push(pack);
      continue;
    }
    await i.backend.delete(remoteIndexKey(pack));
    await i.backend.delete(remotePackKey(pack));
    result.packsRemoved.push(pack);
  }
  for (const key of i.ignoredIndexes) {
    await i.backend.delete(key);
    result.indexesRemoved.push(key);
  }
  result.unrepairable = [...lost].slice(0, 1000);
  return result;
}
