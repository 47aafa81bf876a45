/**
 * `dv lineage diff <artifact> <rev-a> <rev-b>`: what differs between the provenance of two
 * versions of an artifact, stage by stage: the input data (per file, from the tree diff of the
 * input snapshots), params, the code commit and the files git says changed, the command, the
 * environment, the metrics; and which of those are causes (someone changed them) rather than
 * effects (an upstream out, this stage's outs and metrics).
 *
 * A revision is a git revision, read from dv.lock at that commit (the record of each stage's
 * last run there, so an environment recorded by `dv repro -f` shows even when the outs came out
 * identical), or a snapshot id of the artifact, read from the snapshots' lineage. Only records
 * are compared: nothing is run, nothing is written.
 */
import { diffTrees } from '../core/diff.js';
import { isIdPrefix } from '../core/ids.js';
import { DvError, isDvError } from '../errors.js';
import { resolveCommit } from '../repo/git-revision.js';
import type { RepoSession } from '../repo/repo.js';
import { toRepoRel } from '../workspace/scan.js';
import { loadSnapshot, resolveId, treeLoader } from '../history/objects.js';
import { overlaps } from '../pipeline/dag.js';
import type { LockStage } from '../pipeline/lockfile.js';
import { packagesDigest } from '../pipeline/packages-digest.js';
import { decodeRun } from '../pipeline/run.js';
import { asPipelineLineage } from '../pipeline/outs.js';
import { changedBetween, isDvBookkeeping, locksAt } from '../provenance/lock-history.js';
import {
  codeCauseWhat,
  compareRuns,
  type CauseKind,
  type CodeChange,
  type InputChange,
  type StageDiff,
  type StageRun,
} from '../provenance/lineage-compare.js';
import { stageRecord } from '../provenance/statement.js';
import { lineage, storedMetrics } from './lineage.js';

export interface LineageDiffOptions {
  /** The artifact: a stage output (or a file inside one), as a path. */
  artifact: string;
  /** Git revisions or snapshot ids of the artifact. */
  a: string;
  b: string;
  cwd?: string;
}

export interface LineageSide {
  rev: string;
  /** The git commit the revision names (absent for a snapshot id). */
  commit?: string;
  /** The artifact's snapshot at that revision. */
  snapshot: string;
}

export interface LineageDiffResult {
  artifact: string;
  a: LineageSide;
  b: LineageSide;
  /** The causes, stage by stage, in pipeline order: what to look at first. */
  causes: { stage: string; kind: CauseKind; what: string[] }[];
  /** Every stage of either version's lineage, in pipeline order. */
  stages: StageDiff[];
}

/** Changed paths listed per input; the rest are counted. */
const MAX_PATHS = 20;
/** Changed code files listed per stage. */
const MAX_FILES = 50;

interface Side extends LineageSide {
  /** From the artifact's stage back to raw data (breadth first). */
  stages: StageRun[];
}

export async function lineageDiff(s: RepoSession, opts: LineageDiffOptions): Promise<LineageDiffResult> {
  const rel = toRepoRel(s.root, opts.cwd ?? s.root, opts.artifact).replace(/\/+$/, '');
  if (rel === '') throw new DvError('USAGE', 'dv lineage diff: name the artifact (a stage output), then two revisions');
  const a = await side(s, rel, opts.a);
  const b = await side(s, rel, opts.b);
  const byA = new Map(a.stages.map((x) => [x.name, x]));
  const byB = new Map(b.stages.map((x) => [x.name, x]));
  // Pipeline order: raw data first. Breadth first from the artifact, reversed.
  const names = [...new Set([...[...b.stages].reverse(), ...[...a.stages].reverse()].map((x) => x.name))];
  const outsOf = (runs: StageRun[], except: string): string[] =>
    runs.filter((r) => r.name !== except).flatMap((r) => r.outs.map((o) => o.path));
  const stages: StageDiff[] = [];
  for (const name of names) {
    const ra = byA.get(name);
    const rb = byB.get(name);
    const upstream = [...outsOf(a.stages, name), ...outsOf(b.stages, name)];
    const inputs = ra && rb ? await inputChanges(s, ra, rb, upstream) : [];
    const code = ra && rb ? await codeChange(s, ra, rb, [...a.stages, ...b.stages]) : null;
    stages.push(compareRuns(name, ra, rb, inputs, code));
  }
  const causes: LineageDiffResult['causes'] = [];
  for (const d of stages) {
    for (const kind of d.causes) {
      const what =
        kind === 'data'
          ? d.inputs.filter((i) => i.kind === 'data').map((i) => i.path)
          : kind === 'code'
            ? [...d.inputs.filter((i) => i.kind === 'file').map((i) => i.path), ...codeCauseWhat(d.code)]
            : kind === 'params'
              ? d.params.map((p) => p.key)
              : kind === 'command'
                ? d.command.map((c) => c.key)
                : kind === 'env'
                  ? d.env.map((e) => e.key)
                  : [d.status];
      causes.push({ stage: d.name, kind, what: [...new Set(what)] });
    }
  }
  const pub = ({ stages: _s, ...rest }: Side): LineageSide => rest;
  return { artifact: rel, a: pub(a), b: pub(b), causes, stages };
}

/** A revision: a snapshot id of the artifact, else a git revision (an id prefix that is both is refused). */
async function side(s: RepoSession, rel: string, rev: string): Promise<Side> {
  let snapshot: string | undefined;
  if (isIdPrefix(rev.toLowerCase())) {
    try {
      const id = await resolveId(s.store, rev);
      if ((await loadSnapshot(s.store, id).catch(() => undefined)) !== undefined) snapshot = id;
    } catch (e) {
      if (!isDvError(e, 'UNKNOWN_ID')) throw e;
    }
  }
  const commit = await resolveCommit(s.root, rev);
  if (snapshot && commit)
    throw new DvError('USAGE', `${rev} names both a snapshot and a git commit: give more characters, or the full id`, { rev });
  if (snapshot) return { rev, snapshot, stages: await fromSnapshot(s, snapshot) };
  if (!commit)
    throw new DvError('UNKNOWN_ID', `${rev} is neither a git revision nor a snapshot id here: see \`git log\` or \`dv log\``, { rev });
  return fromCommit(s, rel, rev, commit);
}

/** The stages of the artifact's lineage as the snapshots record them. */
async function fromSnapshot(s: RepoSession, snapshot: string): Promise<StageRun[]> {
  const r = await lineage(s, { target: snapshot });
  return r.stages.map((st) => ({ ...stageRecord(st), ...(st.metrics ? { metrics: flatMetrics(st.metrics) } : {}) }));
}

function flatMetrics(ms: { path: string; values: Record<string, unknown> | null }[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const m of ms) for (const [k, v] of Object.entries(m.values ?? {})) out[`${m.path}:${k}`] = v;
  return out;
}

/** The stages of the artifact's lineage as dv.lock at `commit` records them: the out's stage, then what it read, back to raw data. */
async function fromCommit(s: RepoSession, rel: string, rev: string, commit: string): Promise<Side> {
  const lock = (await locksAt(s.root, [commit])).get(commit);
  const stages = Object.entries(lock?.stages ?? {});
  const start = stages.find(([, st]) => st.outs.some((o) => o.path === rel || rel.startsWith(o.path + '/')));
  if (!start)
    throw new DvError(
      'NOT_TRACKED',
      `${rel} is not a stage output in dv.lock at ${rev} (${commit.slice(0, 12)}): \`dv lineage diff\` compares outputs; for data use \`dv diff ${rev}\``,
      { path: rel, rev },
    );
  const out = start[1].outs.find((o) => o.path === rel || rel.startsWith(o.path + '/'))!;
  const runs: StageRun[] = [];
  const seen = new Set<string>([start[0]]);
  // Breadth first over stage names: each stage once, so the walk ends after the lock's stages.
  const queue: [string, LockStage][] = [start];
  while (queue.length > 0) {
    const [name, st] = queue.shift()!;
    runs.push(await lockRun(s, name, st));
    for (const d of st.deps) {
      for (const [n, other] of stages) {
        if (seen.has(n) || !other.outs.some((o) => overlaps(o.path, d.path))) continue;
        seen.add(n);
        queue.push([n, other]);
      }
    }
  }
  return { rev, commit, snapshot: out.snapshot, stages: runs };
}

/** A dv.lock record as a stage run; its metrics come from the out snapshots that name them (when in the store). */
async function lockRun(s: RepoSession, name: string, st: LockStage): Promise<StageRun> {
  let metrics: Record<string, unknown> | undefined;
  for (const o of st.outs) {
    const snap = await loadSnapshot(s.store, o.snapshot).catch(() => undefined);
    const p = asPipelineLineage(snap?.lineage.pipeline);
    if (!p || !Array.isArray(p.metrics) || !p.metrics.includes(o.path)) continue;
    metrics = { ...metrics, ...flatMetrics([{ path: o.path, values: await storedMetrics(s, o.path, o.id) }]) };
  }
  return {
    name,
    cmd: st.cmd,
    ...(st.wdir ? { wdir: st.wdir } : {}),
    key: st.key,
    params: st.params,
    env: await fullEnv(s, st),
    deps: st.deps,
    outs: st.outs.map((o) => ({ path: o.path, id: o.id })),
    ...(metrics ? { metrics } : {}),
  };
}

/**
 * dv.lock's environment with the package list of the run record it names, when that record is in
 * the store and lists the set dv.lock's digest names; else as dv.lock has it (the digest: the
 * diff then says the set changed without naming packages).
 */
async function fullEnv(s: RepoSession, st: LockStage): Promise<LockStage['env']> {
  const pkgs = st.env.pythonPackages;
  if (typeof pkgs !== 'string') return st.env;
  const run = await s.store.get(st.run).then(
    (b) => decodeRun(b, st.run),
    () => undefined,
  );
  const listed = run?.env?.pythonPackages;
  if (!listed || typeof listed !== 'object' || packagesDigest(listed) !== pkgs) return st.env;
  return { ...st.env, pythonPackages: listed };
}

/** Inputs whose recorded ids differ, with the tree diff of the two versions (bounded). */
async function inputChanges(s: RepoSession, a: StageRun, b: StageRun, upstream: string[]): Promise<InputChange[]> {
  const da = new Map(a.deps.map((d) => [d.path, d]));
  const db = new Map(b.deps.map((d) => [d.path, d]));
  const out: InputChange[] = [];
  const load = treeLoader(s.store);
  for (const path of [...new Set([...da.keys(), ...db.keys()])].sort()) {
    const x = da.get(path);
    const y = db.get(path);
    if (x && y && x.id === y.id) continue;
    const tracked = Boolean(x?.snapshot || y?.snapshot || x?.uncommitted || y?.uncommitted);
    const kind = upstream.some((u) => overlaps(u, path)) ? 'upstream' : tracked ? 'data' : 'file';
    const c: InputChange = { path, kind, a: x?.id ?? null, b: y?.id ?? null, added: 0, modified: 0, deleted: 0, paths: [], more: 0 };
    try {
      // A file is a tree of its one entry, named by the file: its changes are the file's.
      const prefix = kind === 'file' || (await isFileDep(s, path, x ?? y!)) ? path.slice(0, Math.max(0, path.lastIndexOf('/'))) : path;
      await diffTrees(c.a, c.b, load, prefix, (ch) => {
        c[ch.type]++;
        if (c.paths.length < MAX_PATHS) c.paths.push({ path: ch.path, change: ch.type });
        else c.more++;
      });
    } catch (e) {
      if (!isDvError(e, 'OBJECT_MISSING') && !isDvError(e, 'UNKNOWN_ID')) throw e;
      Object.assign(c, { added: 0, modified: 0, deleted: 0, paths: [], more: 0 });
      // A plain file's one-entry tree is not stored: that file is what changed.
      const change = !x ? 'added' : !y ? 'deleted' : 'modified';
      if (kind === 'file') {
        c[change] = 1;
        c.paths.push({ path, change });
      } else c.unknown = true;
    }
    out.push(c);
  }
  return out;
}

/** Whether a dep is one file (a tree of that one entry), by its snapshot when it is the tracked path, else by its tree. */
async function isFileDep(s: RepoSession, path: string, d: { id: string; snapshot?: string }): Promise<boolean> {
  const snap = d.snapshot ? await loadSnapshot(s.store, d.snapshot).catch(() => undefined) : undefined;
  if (snap && snap.path === path) return snap.kind === 'file';
  const t = await treeLoader(s.store)(d.id);
  const e = t.entries.length === 1 ? t.entries[0] : undefined;
  return e !== undefined && e.type === 'file' && e.name === path.slice(path.lastIndexOf('/') + 1);
}

/** The code commits of the two runs and the files git says changed between them (less dv's files and params files). */
async function codeChange(s: RepoSession, a: StageRun, b: StageRun, all: StageRun[]): Promise<CodeChange | null> {
  const ga = a.env?.git ?? null;
  const gb = b.env?.git ?? null;
  const ca = ga?.commit ?? null;
  const cb = gb?.commit ?? null;
  const dirtyA = ga?.dirty === true;
  const dirtyB = gb?.dirty === true;
  if (ca === cb && dirtyA === dirtyB) return null;
  const paramFiles = new Set(all.flatMap((r) => Object.keys(r.params ?? {})));
  const drop = (f: string): boolean => isDvBookkeeping(f) || paramFiles.has(f);
  const base: CodeChange = { a: ca, b: cb, dirtyA, dirtyB, files: [], more: 0, filtered: 0 };
  if (ca === null || cb === null || ca === cb) return base;
  const changed = await changedBetween(s.root, ca, cb, MAX_FILES, drop);
  if (!changed) return { ...base, unknown: 'a commit is not in this clone (git fetch)' };
  return { ...base, ...changed };
}
