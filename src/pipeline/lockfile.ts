/**
 * `dv.lock` (committed, written by `dv repro`): for each stage, what its last run read and wrote
 * and where it ran. YAML, one stage per key in name order, so a git diff shows what changed.
 *
 *   schema: 1
 *   stages:
 *     train:
 *       cmd: python3 train.py
 *       wdir: src                 # only when the stage has one
 *       key: <run key>            # BLAKE3 of cmd, dep ids, param values, out paths
 *       run: <run object id>      # the run record in the object store
 *       deps: [{path, id, snapshot?, uncommitted?}]   # uncommitted: tracked, not `dv commit`ed
 *       params: {params.yaml: {train.lr: 0.1}}
 *       outs: [{path, id, snapshot}]
 *       kept: [{path, id}]        # files the stage keeps in git (cache: false metrics, plots), as its run left them
 *       env: {dv, os, arch, tools, git, lockfiles, vars, pythonPackages: sha256:<hex> (N packages), cpu, ...}
 *       ranAt: <ISO time>
 *
 * Pure.
 */
import { yaml } from './yaml.js';
import { isId } from '../core/ids.js';
import type { DepRecord, OutRecord, ParamValues, RunEnv } from './run.js';
import { invalid, parseYaml } from './spec.js';
import { packagesDigest } from './packages-digest.js';

export const LOCK_FILE = 'dv.lock';

export interface LockStage {
  cmd: string;
  wdir?: string;
  key: string;
  run: string;
  deps: DepRecord[];
  params: ParamValues;
  outs: OutRecord[];
  /**
   * The files the stage keeps in git (spec.ts's keptInGit) as its run left them, by content id:
   * status sees one deleted or edited by hand. Absent in entries written before dv recorded them.
   */
  kept?: KeptRecord[];
  env: RunEnv;
  ranAt: string;
}

export interface KeptRecord {
  path: string;
  id: string;
}

export interface Lockfile {
  stages: Record<string, LockStage>;
}

export function parseLock(text: string, file = LOCK_FILE): Lockfile {
  const o = parseYaml(text, file) as any;
  if (o === null || o === undefined) return { stages: {} };
  const bad = (why: string): never => {
    throw invalid(`${file}: ${why}: restore it with \`git checkout -- ${file}\`, or delete it and run \`dv repro\``, { file });
  };
  if (typeof o !== 'object' || (o.schema !== undefined && o.schema !== 1)) bad('not a dv.lock of schema 1');
  const stages: Record<string, LockStage> = {};
  for (const [name, s] of Object.entries((o.stages ?? {}) as Record<string, any>)) {
    if (
      !s ||
      typeof s !== 'object' ||
      typeof s.cmd !== 'string' ||
      !isId(s.key) ||
      !isId(s.run) ||
      (s.wdir !== undefined && typeof s.wdir !== 'string')
    )
      bad(`stage ${name}: cmd, wdir, key or run`);
    const recs = (v: unknown, needSnapshot: boolean): any[] => {
      if (
        !Array.isArray(v) ||
        !v.every(
          (x) =>
            x &&
            typeof x.path === 'string' &&
            isId(x.id) &&
            (needSnapshot ? isId(x.snapshot) : x.snapshot === undefined || isId(x.snapshot)),
        )
      )
        bad(`stage ${name}: deps, outs or kept`);
      return v as any[];
    };
    if (s.params !== undefined && (typeof s.params !== 'object' || s.params === null)) bad(`stage ${name}: params`);
    stages[name] = {
      cmd: s.cmd,
      ...(s.wdir ? { wdir: s.wdir } : {}),
      key: s.key,
      run: s.run,
      deps: recs(s.deps ?? [], false).map((d) => ({
        path: d.path,
        id: d.id,
        ...(d.snapshot ? { snapshot: d.snapshot } : {}),
        ...(d.uncommitted === true ? { uncommitted: true as const } : {}),
      })),
      params: s.params ?? {},
      outs: recs(s.outs ?? [], true).map((d) => ({ path: d.path, id: d.id, snapshot: d.snapshot })),
      ...(s.kept !== undefined ? { kept: recs(s.kept, false).map((d) => ({ path: d.path, id: d.id })) } : {}),
      env: s.env ?? {},
      ranAt: String(s.ranAt ?? ''),
    };
  }
  return { stages };
}

/** Object keys sorted at every level (arrays keep their order). */
function sorted(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sorted);
  if (v && typeof v === 'object')
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .map((k) => [k, sorted((v as Record<string, unknown>)[k])]),
    );
  return v;
}

const ENV_KEYS = ['dv', 'os', 'arch', 'tools', 'git', 'lockfiles', 'vars'] as const;

/**
 * The environment in a fixed key order (a run record decoded from the store has its keys sorted),
 * the Python package set as its digest line: the list (a hundred lines a stage with a real
 * Python) is in the run record `run:` names, so dv.lock stays short and its diffs readable.
 */
function encodeEnv(env: RunEnv): RunEnv {
  const e = { ...env } as unknown as Record<string, unknown>;
  if (e.pythonPackages !== undefined && e.pythonPackages !== null)
    e.pythonPackages = packagesDigest(e.pythonPackages as Record<string, string> | string);
  const out: Record<string, unknown> = {};
  for (const k of ENV_KEYS) {
    if (!(k in e)) continue;
    const g = e[k] as RunEnv['git'];
    out[k] =
      k === 'git' && g && typeof g === 'object'
        ? { commit: g.commit, branch: g.branch, dirty: g.dirty, ...(sorted(g) as object) }
        : sorted(e[k]);
  }
  for (const k of Object.keys(e).sort()) if (!(k in out)) out[k] = sorted(e[k]);
  return out as unknown as RunEnv;
}

/**
 * dv.lock's text: the same records give the same bytes whichever way they were made (a run, a
 * run restored from the run cache, dv.lock read back), so git shows only real changes. Stages
 * by name; every record in a fixed key order; maps (params, tools, lockfiles, vars) sorted.
 */
export function encodeLock(l: Lockfile): string {
  const stages: Record<string, LockStage> = {};
  for (const name of Object.keys(l.stages).sort()) {
    const s = l.stages[name];
    stages[name] = {
      cmd: s.cmd,
      ...(s.wdir ? { wdir: s.wdir } : {}),
      key: s.key,
      run: s.run,
      deps: s.deps.map((d) => ({
        path: d.path,
        id: d.id,
        ...(d.snapshot ? { snapshot: d.snapshot } : {}),
        ...(d.uncommitted === true ? { uncommitted: true as const } : {}),
      })),
      params: sorted(s.params) as ParamValues,
      outs: s.outs.map((o) => ({ path: o.path, id: o.id, snapshot: o.snapshot })),
      ...(s.kept ? { kept: s.kept.map((k) => ({ path: k.path, id: k.id })) } : {}),
      env: encodeEnv(s.env),
      ranAt: s.ranAt,
    };
  }
  return (
    '# dv.lock: written by `dv repro`; commit it with git. It records what each stage last read and wrote.\n' +
    yaml().stringify({ schema: 1, stages }, { lineWidth: 0, aliasDuplicateObjects: false })
  );
}
