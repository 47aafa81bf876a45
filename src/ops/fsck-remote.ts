/**
 * `dv fsck --remote [NAME]`: check a remote the way `restic check` does.
 *
 * - Always (cheap, no pack is downloaded): every pack index parses and matches its name (one that
 *   does not is reported, never used) and agrees with its pack's size; every object a root needs
 *   (the snapshots the work tree's pointer files and git refs name, their history, the outs of the
 *   run records under `runs/`) is listed by some index. Only small structured objects this clone
 *   lacks are read.
 * - `readData`: every object the chosen packs list is downloaded (ranged reads, bounded memory)
 *   and re-hashed; `sample` chooses a deterministic-random share of the packs from a seed (given,
 *   or drawn and reported), so a run can be replayed.
 * - `repair`: bad packs and lying indexes are replaced from the local store's verified copies
 *   (transfer/remote-repair.ts); without it nothing on the remote is changed.
 */
import { randomBytes } from 'node:crypto';
import { blake3Hex } from '../core/hash.js';
import { DvError } from '../errors.js';
import type { RepoSession } from '../repo/repo.js';
import { readPacks, type ReadCounter } from '../transfer/remote-check.js';
import { repairRemote, type RepairResult } from '../transfer/remote-repair.js';
import { checkRemoteStructure } from '../transfer/remote-structure.js';
import { remoteIndexKey } from '../transfer/layout.js';
import { rootSnapshots } from '../history/reach.js';
import { withRemote } from '../transfer/remote-session.js';

export interface FsckRemoteOptions {
  remote?: string;
  jobs?: number;
  /** Download and re-hash the objects of every pack (or of a sampled share of them). */
  readData?: boolean;
  /** With readData: the percentage of packs to read (0 < PCT <= 100), chosen from `seed`. */
  sample?: number;
  /** The seed of the sample (any text); drawn at random when not given, and reported. */
  seed?: string;
  /** Replace damaged packs and lying indexes from the local store (implies readData unless sampled). */
  repair?: boolean;
}

export interface FsckRemoteResult {
  remote: string;
  url: string;
  ok: boolean;
  /** Pack indexes in use, and the objects they list. */
  packs: number;
  objects: number;
  /** Root snapshots the remote holds, each checked whole; those the pointer files name that it lacks (not pushed). */
  roots: number;
  notPushed: number;
  /** Run records read from the remote's run cache. */
  runs: number;
  /** Packs no index names (left by a killed push). */
  orphanPacks: number;
  /** Objects a root needs that no index lists (the first 1,000). */
  missing: string[];
  /** Whether object data was read, the sample's share and seed, and which packs were read. */
  readData: boolean;
  sample?: { percent: number; seed: string; packs: string[] };
  /** Copies read back and verified (every object of every pack read). */
  objectsRead: number;
  /** Bytes downloaded by this check (indexes excluded), and the requests made for them. */
  bytesRead: number;
  requests: number;
  /** Objects no listed copy of which verifies. */
  bad: string[];
  /** Index keys of packs with damage (a bad copy, or an index that disagrees with its pack). */
  badIndexes: string[];
  problems: { code: 'OBJECT_CORRUPT' | 'OBJECT_MISSING' | 'BAD_OBJECT'; message: string }[];
  /** Damage that costs pulls nothing (a bad copy with a good one elsewhere), for `--repair`. */
  warnings: string[];
  repair?: RepairResult;
}

export async function fsckRemote(s: RepoSession, opts: FsckRemoteOptions = {}): Promise<FsckRemoteResult> {
  if (opts.sample !== undefined && !(opts.sample > 0 && opts.sample <= 100))
    throw new DvError('USAGE', `--sample ${opts.sample}: give a percentage of packs above 0 and at most 100`);
  if (opts.sample !== undefined && !opts.readData && !opts.repair)
    throw new DvError('USAGE', '--sample goes with --read-data: add --read-data to read a share of the packs');
  if (opts.seed !== undefined && opts.sample === undefined)
    throw new DvError('USAGE', '--seed chooses the packs of a sample: add --sample PCT (and --read-data)');
  const readData = Boolean(opts.readData || opts.repair);
  const purpose = opts.repair ? 'write' : 'read';
  return withRemote(s, { remote: opts.remote, jobs: opts.jobs, purpose, bundles: false }, async ({ config, jobs, backend, remote }) => {
    const problems: FsckRemoteResult['problems'] = [];
    const warnings: string[] = [];
    const howToRepair = 'run `dv fsck --remote --repair` from a clone that holds the data';
    for (const w of [...remote.warnings, ...remote.damaged.map((k) => `${backend.location}: ${k} does not match its name`)]) {
      problems.push({ code: 'BAD_OBJECT', message: w });
    }
    const counter: ReadCounter = { requests: 0, bytes: 0 };
    const { roots } = await rootSnapshots(s);
    const st = await checkRemoteStructure({ backend, remote, store: s.store, roots, jobs, counter });
    for (const p of st.problems) problems.push({ code: p.code, message: `${p.message}: ${howToRepair}` });
    if (st.missingCount > 20)
      problems.push({
        code: 'OBJECT_MISSING',
        message: `and ${st.missingCount - 20} more object(s) roots need are on no index: ${howToRepair}`,
      });

    let sample: FsckRemoteResult['sample'];
    let objectsRead = 0;
    let bad: string[] = [];
    const badPacks = new Set(st.badPacks);
    const goodCopies = new Map<string, string[]>();
    if (readData) {
      let chosen = [...remote.packs];
      if (opts.sample !== undefined && opts.sample < 100) {
        const seed = opts.seed ?? randomBytes(8).toString('hex');
        const n = Math.ceil((chosen.length * opts.sample) / 100);
        chosen = chosen
          .map((p) => ({ p, k: blake3Hex(Buffer.from(`${seed}:${p}`)) }))
          .sort((a, b) => (a.k < b.k ? -1 : a.k > b.k ? 1 : 0))
          .slice(0, n)
          .map((x) => x.p)
          .sort();
        sample = { percent: opts.sample, seed, packs: chosen };
      }
      const read = await readPacks(backend, remote, new Set(chosen), jobs, counter);
      objectsRead = read.copies;
      bad = read.bad;
      for (const [id, packs] of read.goodElsewhere) goodCopies.set(id, packs);
      for (const [pack, ids] of read.badCopies) {
        badPacks.add(pack);
        const lost = ids.filter((id) => !read.goodElsewhere.has(id)).length;
        const line = `${backend.location}: ${remoteIndexKey(pack)} lists ${ids.length} object(s) at places that do not hold them`;
        if (lost > 0) problems.push({ code: 'OBJECT_CORRUPT', message: `${line} (${lost} with no good copy elsewhere): ${howToRepair}` });
        else warnings.push(`${line} (good copies exist elsewhere)`);
      }
      for (const id of bad.slice(0, 100))
        problems.push({ code: 'OBJECT_CORRUPT', message: `${backend.location}: no copy of object ${id} verifies: ${howToRepair}` });
    }

    let repair: RepairResult | undefined;
    if (opts.repair && (problems.length > 0 || warnings.length > 0 || badPacks.size > 0 || st.ignoredIndexes.length > 0)) {
      repair = await repairRemote({
        store: s.store,
        backend,
        remote,
        tmpDir: s.paths.tmpDir,
        jobs,
        badPacks,
        goodCopies,
        missing: st.missing,
        ignoredIndexes: st.ignoredIndexes,
      });
    }
    // After a repair what is left is what could not be mended; the rest was.
    const left = repair
      ? [
          ...repair.unrepairable.slice(0, 100).map((id) => ({
            code: 'OBJECT_MISSING' as const,
            message: `${backend.location}: object ${id} has no good copy there and none in this clone: repair from a clone that holds it`,
          })),
          ...repair.packsKept.map((p) => ({
            code: 'OBJECT_CORRUPT' as const,
            message: `${backend.location}: ${remoteIndexKey(p)} was kept: it holds objects no other copy has; repair from a clone that holds them`,
          })),
        ]
      : problems;
    // What a repair cannot touch stays: objects that decode badly, malformed run records.
    if (repair)
      left.push(...st.problems.filter((p) => p.code === 'BAD_OBJECT' && !p.pack).map((p) => ({ code: p.code, message: p.message })));
    return {
      remote: config.name,
      url: config.url,
      ok: left.length === 0,
      packs: remote.packs.size,
      objects: remote.objects.size,
      roots: st.roots,
      notPushed: st.notPushed,
      runs: st.runs,
      orphanPacks: st.orphanPacks,
      missing: st.missing,
      readData,
      ...(sample ? { sample } : {}),
      objectsRead,
      bytesRead: counter.bytes,
      requests: counter.requests,
      bad,
      badIndexes: [...badPacks].map(remoteIndexKey).sort(),
      problems: left,
      warnings: repair
        ? [...problems.map((p) => `found and repaired: ${p.message.replace(`: ${howToRepair}`, '')}`), ...warnings]
        : warnings,
      ...(repair ? { repair } : {}),
    };
  });
}
