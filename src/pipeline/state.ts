/**
 * What `dv repro`, `dv status`, `dv dag` and `dv lineage` share: reading dv.yaml and dv.lock,
 * the id of a path in the workspace, parameter values, the environment a stage runs in, and
 * how a stage differs from its last recorded run.
 */
import { execFile } from 'node:child_process';
import { arch, platform, release } from 'node:os';
import { realpath } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { DvError } from '../errors.js';
import { git } from '../repo/git.js';
import { VERSION, type RepoSession } from '../repo/repo.js';
import { readControlFile, writeControlFile } from '../repo/control-file.js';
import { findTracked, type Tracked } from '../workspace/pointers.js';
import { scanPath } from '../workspace/scan.js';
import { blake3Hex } from '../core/hash.js';
import { encodeTree } from '../core/tree.js';
import { treeLoader } from '../history/objects.js';
import { buildDag, type Dag } from './dag.js';
import { extraEnv } from './env-extra.js';
import { encodeLock, type KeptRecord, LOCK_FILE, parseLock, type LockStage, type Lockfile } from './lockfile.js';
import { canonicalJson, lookupParam, runKey, type DepRecord, type ParamValues, type RunEnv } from './run.js';
import { formatParamRef, keptInGit, parseSpec, parseYaml, SPEC_FILE, type PipelineSpec, type StageSpec } from './spec.js';

export interface Pipeline {
  /** Whether dv.yaml exists. */
  exists: boolean;
  spec: PipelineSpec;
  dag: Dag;
  lock: Lockfile;
}

/** dv.yaml and dv.lock come with a clone: never read through a link or from a FIFO. */
async function readText(file: string): Promise<string | undefined> {
  return readControlFile(file, { code: 'PIPELINE_INVALID' });
}

/**
 * The runs dv.lock records (run key and run object id), for push and fetch to carry the run
 * cache with the data. A missing or unreadable dv.lock names none: data transfer never fails on it.
 */
export async function lockedRuns(root: string): Promise<{ key: string; run: string }[]> {
  const text = await readText(join(root, LOCK_FILE)).catch(() => undefined);
  if (text === undefined) return [];
  try {
    return Object.values(parseLock(text).stages).map((st) => ({ key: st.key, run: st.run }));
  } catch {
    return [];
  }
}

/**
 * dv.yaml (each stage valid) and dv.lock, without the graph: what `dv stage remove` needs to take
 * a stage out of a dv.yaml whose stages form a cycle or share an out.
 */
export async function loadPipelineFiles(root: string): Promise<Omit<Pipeline, 'dag'>> {
  const specText = await readText(join(root, SPEC_FILE));
  const lockText = await readText(join(root, LOCK_FILE));
  return {
    exists: specText !== undefined,
    spec: specText === undefined ? { stages: [] } : parseSpec(specText),
    lock: lockText === undefined ? { stages: {} } : parseLock(lockText),
  };
}

/** dv.yaml (validated, with its DAG) and dv.lock; an empty pipeline when dv.yaml is absent. */
export async function loadPipeline(root: string): Promise<Pipeline> {
  const files = await loadPipelineFiles(root);
  return { ...files, dag: buildDag(files.spec.stages) };
}

export async function writeLock(s: RepoSession, lock: Lockfile): Promise<void> {
  await writeControlFile(join(s.root, LOCK_FILE), encodeLock(lock), {
    code: 'PIPELINE_INVALID',
    root: s.root,
    tmpDir: join(s.root, '.dv', 'tmp'),
  });
}

/**
 * The id of a path as it is in the workspace: the tree id of a hash-only scan (the stat cache
 * makes an unchanged path cost a walk). A single file gives a tree holding that one entry.
 * Null when the path does not exist.
 */
export async function workspaceId(s: RepoSession, rel: string): Promise<{ id: string; kind: 'dir' | 'file' } | null> {
  try {
    const r = await scanPath({ root: s.root, rel, index: s.index });
    return { id: r.tree, kind: r.kind };
  } catch (e) {
    if (e instanceof DvError && e.code === 'PATH_NOT_FOUND') return null;
    throw e;
  }
}

export type StageChangeType = 'new' | 'cmd' | 'dep' | 'param' | 'out' | 'upstream';

export interface StageChange {
  type: StageChangeType;
  /** The path, parameter (file:key) or upstream stage concerned; the stage name for 'new' and 'cmd'. */
  what: string;
  /** added, removed, modified, missing (or, for upstream: out-of-date). */
  how: string;
}

/** A stage as the workspace has it now, against its last recorded run. */
export interface StageState {
  name: string;
  deps: DepRecord[];
  /** Deps that are neither in the workspace nor tracked (their stage has not run yet, or a typo). */
  missingDeps: string[];
  params: ParamValues;
  /** Parameters whose file or key does not exist ("file:key"). */
  missingParams: string[];
  key: string;
  /** Why the stage is out of date; empty when up to date. */
  changes: StageChange[];
}

/** Reads tracked paths and parameter files once per command. */
export class PipelineContext {
  private tracked: Tracked[] | undefined;
  private readonly docs = new Map<string, unknown | null>();
  constructor(readonly s: RepoSession) {}

  async trackedPaths(): Promise<Tracked[]> {
    this.tracked ??= await findTracked(this.s.root);
    return this.tracked;
  }

  /** Forget what was read: after a stage wrote outs, pointers and maybe parameter files. */
  refresh(): void {
    this.tracked = undefined;
    this.docs.clear();
  }

  async dep(rel: string): Promise<DepRecord | null> {
    const ws = await workspaceId(this.s, rel);
    const tracked = await this.trackedPaths();
    const t = tracked.find((x) => x.rel === rel);
    if (t) {
      if (ws)
        return { path: rel, id: ws.id, ...(t.pointer.tree === ws.id ? { snapshot: t.pointer.snapshot } : { uncommitted: true as const }) };
      // Tracked but not checked out (a fresh clone before `dv pull`): its pointer says what it is.
      return { path: rel, id: t.pointer.tree, snapshot: t.pointer.snapshot };
    }
    // A path inside a tracked directory: committed when it is what the pointer's tree holds there.
    const outer = tracked.find((x) => x.pointer.kind === 'dir' && rel.startsWith(x.rel + '/'));
    if (outer) {
      const committed = await this.committedId(outer, rel.slice(outer.rel.length + 1));
      // Through a symlink in the tree: not compared (the link's target is compared where it is a dep).
      if (committed === 'link') return ws ? { path: rel, id: ws.id } : null;
      const id = typeof committed === 'string' && committed !== 'absent' && committed !== 'unavailable' ? committed : undefined;
      // Unavailable (the pointer's tree is not in the store, e.g. after `git pull` without
      // `dv pull`): the workspace copy cannot be vouched for, so it counts as uncommitted.
      if (ws) return { path: rel, id: ws.id, ...(id === ws.id ? { snapshot: outer.pointer.snapshot } : { uncommitted: true as const }) };
      if (id) return { path: rel, id, snapshot: outer.pointer.snapshot };
      return null;
    }
    return ws ? { path: rel, id: ws.id } : null;
  }

  /**
   * The id `inside` (a path within tracked directory `t`) has in the pointer's tree, as
   * workspaceId would give it once checked out; 'absent' when the tree holds nothing there;
   * 'link' when the path is or goes through a symlink; 'unavailable' when the tree is not in
   * the local store (a clone before `dv pull`).
   */
  private async committedId(t: Tracked, inside: string): Promise<string> {
    const load = treeLoader(this.s.store);
    try {
      let tree = await load(t.pointer.tree);
      const parts = inside.split('/');
      for (let i = 0; i < parts.length; i++) {
        const e = tree.entries.find((x) => x.name === parts[i]);
        if (!e) return 'absent';
        if (e.type === 'link') return 'link';
        if (i === parts.length - 1) return e.type === 'dir' ? e.id : blake3Hex(encodeTree({ entries: [e] }));
        if (e.type !== 'dir') return 'absent';
        tree = await load(e.id);
      }
      return 'absent';
    } catch (e) {
      if (e instanceof DvError && (e.code === 'OBJECT_MISSING' || e.code === 'UNKNOWN_ID')) return 'unavailable';
      throw e;
    }
  }

  private async paramDoc(file: string): Promise<unknown | null> {
    if (!this.docs.has(file)) {
      // A params file is the user's data, not dv's own: it may be a link, but never a FIFO or device.
      const text = await readControlFile(join(this.s.root, file), { code: 'PIPELINE_INVALID', followLinks: true, show: file });
      this.docs.set(file, text === undefined ? null : (parseYaml(text, file) ?? {}));
    }
    return this.docs.get(file)!;
  }

  async params(stage: StageSpec): Promise<{ values: ParamValues; missing: string[] }> {
    const values: ParamValues = {};
    const missing: string[] = [];
    for (const p of stage.params) {
      const doc = await this.paramDoc(p.file);
      const v = doc === null ? undefined : lookupParam(doc, p.key);
      if (v === undefined) {
        missing.push(`${p.file}:${p.key}`);
        continue;
      }
      values[p.file] ??= {};
      values[p.file][p.key] = v;
    }
    return { values, missing };
  }

  /** The stage now, and how it differs from `locked` (its dv.lock entry). */
  async state(stage: StageSpec, locked: LockStage | undefined): Promise<StageState> {
    const deps: DepRecord[] = [];
    const missingDeps: string[] = [];
    for (const d of stage.deps) {
      const r = await this.dep(d);
      if (r) deps.push(r);
      else missingDeps.push(d);
    }
    const { values, missing } = await this.params(stage);
    const key = runKey({ cmd: stage.cmd, wdir: stage.wdir, deps, params: values, outs: stage.outs });
    const changes: StageChange[] = [];
    if (!locked) {
      changes.push({ type: 'new', what: stage.name, how: 'never run' });
    } else {
      if (locked.cmd !== stage.cmd) changes.push({ type: 'cmd', what: stage.name, how: 'modified' });
      else if ((locked.wdir ?? '') !== (stage.wdir ?? '')) changes.push({ type: 'cmd', what: stage.name, how: 'wdir modified' });
      for (const d of stage.deps) {
        const was = locked.deps.find((x) => x.path === d);
        const now = deps.find((x) => x.path === d);
        if (!now) changes.push({ type: 'dep', what: d, how: 'missing' });
        else if (!was) changes.push({ type: 'dep', what: d, how: 'added' });
        else if (was.id !== now.id) changes.push({ type: 'dep', what: d, how: 'modified' });
      }
      for (const d of locked.deps) if (!stage.deps.includes(d.path)) changes.push({ type: 'dep', what: d.path, how: 'removed' });
      const before = flattenParams(locked.params);
      const after = flattenParams(values);
      for (const p of stage.params) {
        const k = `${p.file}:${p.key}`;
        if (missing.includes(k)) changes.push({ type: 'param', what: formatParamRef(p), how: 'missing' });
        else if (!before.has(k)) changes.push({ type: 'param', what: formatParamRef(p), how: 'added' });
        else if (before.get(k) !== after.get(k)) changes.push({ type: 'param', what: formatParamRef(p), how: 'modified' });
      }
      for (const k of before.keys()) if (!after.has(k) && !missing.includes(k)) changes.push({ type: 'param', what: k, how: 'removed' });
      for (const o of stage.outs) {
        const was = locked.outs.find((x) => x.path === o);
        if (!was) {
          changes.push({ type: 'out', what: o, how: 'added' });
          continue;
        }
        const ws = await workspaceId(this.s, o);
        if (!ws) changes.push({ type: 'out', what: o, how: 'missing' });
        else if (ws.id !== was.id) changes.push({ type: 'out', what: o, how: 'modified' });
      }
      for (const o of locked.outs) if (!stage.outs.includes(o.path)) changes.push({ type: 'out', what: o.path, how: 'removed' });
      changes.push(...(await keptChanges(this.s, stage, locked)));
    }
    return { name: stage.name, deps, missingDeps, params: values, missingParams: missing, key, changes };
  }
}

/**
 * The files the stage keeps in git as they are now (their content ids), for its dv.lock entry;
 * undefined when it keeps none. A file the run did not leave is not named.
 */
export async function keptRecords(s: RepoSession, stage: StageSpec): Promise<KeptRecord[] | undefined> {
  const paths = keptInGit(stage);
  if (paths.length === 0) return undefined;
  const out: KeptRecord[] = [];
  for (const path of paths) {
    const ws = await workspaceId(s, path);
    if (ws) out.push({ path, id: ws.id });
  }
  return out;
}

/**
 * How the files the stage keeps in git differ from what its last run left (dv.lock's `kept`):
 * deleted, edited, or newly declared. Nothing for an entry written before dv recorded them.
 */
export async function keptChanges(s: RepoSession, stage: StageSpec, locked: LockStage): Promise<StageChange[]> {
  if (!locked.kept) return [];
  const changes: StageChange[] = [];
  for (const path of keptInGit(stage)) {
    const was = locked.kept.find((k) => k.path === path);
    const ws = await workspaceId(s, path);
    if (!was) changes.push({ type: 'out', what: path, how: 'added' });
    else if (!ws) changes.push({ type: 'out', what: path, how: 'missing' });
    else if (ws.id !== was.id) changes.push({ type: 'out', what: path, how: 'modified' });
  }
  return changes;
}

function flattenParams(p: ParamValues): Map<string, string> {
  const m = new Map<string, string>();
  for (const [file, keys] of Object.entries(p)) for (const [k, v] of Object.entries(keys)) m.set(`${file}:${k}`, canonicalJson(v));
  return m;
}

export interface OutOfDateStage {
  name: string;
  changes: StageChange[];
}

/**
 * Stages that `dv repro` would run or restore, in DAG order: their own changes, or 'upstream'
 * when a stage they read from is out of date.
 */
export async function outOfDate(s: RepoSession, p: Pipeline, names?: string[]): Promise<OutOfDateStage[]> {
  const ctx = new PipelineContext(s);
  const stale = new Set<string>();
  const out: OutOfDateStage[] = [];
  for (const name of p.dag.order) {
    const st = await ctx.state(p.dag.stages.get(name)!, p.lock.stages[name]);
    const changes = [...st.changes];
    for (const u of p.dag.upstream.get(name) ?? []) if (stale.has(u)) changes.push({ type: 'upstream', what: u, how: 'out of date' });
    if (changes.length > 0) stale.add(name);
    if (changes.length > 0 && (!names || names.includes(name))) out.push({ name, changes });
  }
  return out;
}

export function describeChange(c: StageChange): string {
  switch (c.type) {
    case 'new':
      return 'never run';
    case 'cmd':
      return c.how === 'wdir modified' ? 'wdir modified' : 'command modified';
    case 'dep':
      return `dep ${c.what} ${c.how}`;
    case 'param':
      return `param ${c.what} ${c.how}`;
    case 'out':
      return `out ${c.what} ${c.how}`;
    case 'upstream':
      return `upstream stage ${c.what} out of date`;
  }
}

/**
 * The files whose content a run records by other means, so their edits do not make the code
 * dirty: the parameter files (their values are recorded) and the files stages keep in git (their
 * outputs: a -M metrics file rewritten by one stage made every later run dirty, and every exp run
 * was dirty for the params.yaml it sets).
 */
export function recordedFiles(spec: PipelineSpec): Set<string> {
  return new Set(spec.stages.flatMap((st) => [...st.params.map((p) => p.file), ...keptInGit(st)]));
}

/**
 * HEAD, branch, and whether code has uncommitted changes: git's tracked files that differ from
 * HEAD, less pointer files, .gitignore files, dv.lock, dv.yaml (a run records its stage's command,
 * deps and outs) and `recorded` (repository paths). Files git does not track are not looked at.
 */
export async function codeState(root: string, recorded: ReadonlySet<string> = new Set()): Promise<RunEnv['git']> {
  const top = await git(root, ['rev-parse', '--show-toplevel']);
  if (top.code !== 0) return null;
  const head = await git(root, ['rev-parse', '--verify', '-q', 'HEAD']);
  const branch = await git(root, ['symbolic-ref', '--short', '-q', 'HEAD']);
  // -z: paths as they are (no quoting); a rename's entry is followed by its source, also changed.
  const st = await git(root, ['status', '--porcelain', '-z', '--untracked-files=no']);
  // git names paths from its top level, as the real path: dv's root may be reached through a link.
  const prefix = relative(top.stdout.trim(), await realpath(root).catch(() => root))
    .split(sep)
    .join('/');
  const own = (p: string): string => (prefix && p.startsWith(prefix + '/') ? p.slice(prefix.length + 1) : p);
  const bookkeeping = (p: string): boolean =>
    p.endsWith('.dv') ||
    p === '.gitignore' ||
    p.endsWith('/.gitignore') ||
    own(p) === LOCK_FILE ||
    own(p) === SPEC_FILE ||
    recorded.has(own(p));
  const dirty = st.stdout
    .split('\0')
    .filter((e) => e !== '')
    .some((e) => !bookkeeping(/^[ MADRCU?!]{2} /.test(e) ? e.slice(3) : e));
  return { commit: head.code === 0 ? head.stdout.trim() : null, branch: branch.code === 0 ? branch.stdout.trim() : null, dirty };
}

const LOCKFILES = [
  'package-lock.json',
  'yarn.lock',
  'pnpm-lock.yaml',
  'requirements.txt',
  'poetry.lock',
  'Pipfile.lock',
  'uv.lock',
  'environment.yml',
  'conda-lock.yml',
  'Cargo.lock',
  'go.sum',
];
/** Environment variables recorded when set; `dv config pipeline.env A,B` adds more. */
export const ENV_ALLOW = [
  'CUDA_VISIBLE_DEVICES',
  'PYTHONHASHSEED',
  'OMP_NUM_THREADS',
  'MKL_NUM_THREADS',
  'TZ',
  'LANG',
  'LC_ALL',
  'SOURCE_DATE_EPOCH',
];

function version(cmd: string, args: string[]): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: 3000, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) return resolve(undefined);
      const m = /(\d+\.\d+(?:\.\d+)?\S*)/.exec(`${stdout} ${stderr}`);
      resolve(m ? m[1] : undefined);
    });
  });
}

/** Where a stage runs: dv, OS, tools it can see cheaply, lockfile ids, git commit, allowed variables. */
export async function captureEnv(s: RepoSession, gitState: RunEnv['git']): Promise<RunEnv> {
  const tools: Record<string, string> = { node: process.versions.node };
  const [py, extra] = await Promise.all([version('python3', ['--version']), extraEnv()]);
  if (py) tools.python3 = py;
  const lockfiles: Record<string, string> = {};
  for (const f of LOCKFILES) {
    const ws = await workspaceId(s, f).catch(() => null);
    if (ws) lockfiles[f] = ws.id;
  }
  const names = [
    ...ENV_ALLOW,
    ...(s.config.get('pipeline.env') ?? '')
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean),
  ];
  const vars: Record<string, string> = {};
  for (const n of [...new Set(names)].sort()) if (process.env[n] !== undefined) vars[n] = process.env[n]!;
  return { dv: VERSION, os: `${platform()} ${release()}`, arch: arch(), tools, git: gitState, lockfiles, vars, ...extra };
}

/** `dv.yaml` must exist for commands that run stages. */
export function requireStages(p: Pipeline): void {
  if (!p.exists || p.spec.stages.length === 0)
    throw new DvError(
      'PIPELINE_INVALID',
      `no stages: add one with \`dv stage add -n NAME -d DEP -o OUT -- "CMD"\` (it writes ${SPEC_FILE})`,
    );
}

/** Stages named on the command line must exist: USAGE otherwise (dv.yaml itself is fine). */
export function checkStageNames(p: Pipeline, names: string[]): void {
  for (const n of names) {
    if (!p.dag.stages.has(n))
      throw new DvError('USAGE', `no stage named ${JSON.stringify(n)} in ${SPEC_FILE}: see \`dv stage list\``, { stage: n });
  }
}
