/**
 * The field-by-field half of `dv lineage diff`: two versions of one stage's record (its params,
 * command, environment, metrics, outs) compared, and the changes sorted into causes (what someone
 * changed: data, code, params, command, environment) and effects (an upstream out, this stage's
 * outs and metrics, which change because a cause did). Pure: the tree and git diffs that need
 * I/O arrive as inputs (ops/lineage-diff.ts).
 *
 * Invariants: every list is bounded (MAX_VALUES changes per kind, the rest counted); values are
 * shown as they were recorded, never re-read from the workspace.
 */
import type { ChangeType } from '../core/diff.js';
import type { ParamValues, RunEnv } from '../pipeline/run.js';
import { canonicalJson } from '../pipeline/run.js';
import { packagesDigest } from '../pipeline/packages-digest.js';
import type { StageRecord } from './statement.js';

/** One stage's record at one version, from dv.lock at a git commit or from the snapshots. */
export interface StageRun extends StageRecord {
  /** Metric values by `file:key` (absent: the stage has no metrics file in the store). */
  metrics?: Record<string, unknown>;
}

/** How an input changed; the counts and paths come from the tree diff of the two versions. */
export interface InputChange {
  path: string;
  /** data: tracked data no stage of the lineage wrote; upstream: an out of a stage in it; file: a plain file (code). */
  kind: 'data' | 'upstream' | 'file';
  a: string | null;
  b: string | null;
  added: number;
  modified: number;
  deleted: number;
  /** The first changed paths, from the repository root. */
  paths: { path: string; change: ChangeType }[];
  /** Changed paths past those listed. */
  more: number;
  /** A tree of either version is not in the local store: the counts are unknown (`dv fetch`). */
  unknown?: true;
}

export interface ValueChange {
  key: string;
  /** The value in version a (absent: not recorded there). */
  a?: unknown;
  b?: unknown;
}

/** The code commits the two runs sat beside, and the files git says changed between them. */
export interface CodeChange {
  a: string | null;
  b: string | null;
  dirtyA: boolean;
  dirtyB: boolean;
  /** Files changed between the commits, less dv's own files and the params files (shown as params). */
  files: string[];
  more: number;
  /** Changed files left out as dv's bookkeeping (pointer files, dv.lock, dv.yaml, .gitignore) or params files. */
  filtered: number;
  /** Why the files are unknown (a commit not in this clone). */
  unknown?: string;
}

export type CauseKind = 'data' | 'code' | 'params' | 'command' | 'env' | 'stage';

export interface StageDiff {
  name: string;
  status: 'same' | 'changed' | 'added' | 'removed';
  causes: CauseKind[];
  inputs: InputChange[];
  params: ValueChange[];
  code: CodeChange | null;
  command: ValueChange[];
  env: ValueChange[];
  metrics: ValueChange[];
  outputs: ValueChange[];
  /** Changes left out of the lists above (each list holds at most MAX_VALUES). */
  more: number;
}

export const MAX_VALUES = 100;
const MAX_DEPTH = 4;
const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
export const sameValue = (a: unknown, b: unknown): boolean => canonicalJson(a ?? null) === canonicalJson(b ?? null);

/** `prefix.key` → value for nested objects (a few levels; deeper values and arrays stay whole). */
export function flatten(v: unknown, prefix = '', out = new Map<string, unknown>(), depth = 0): Map<string, unknown> {
  // Iterative over keys, recursive only to MAX_DEPTH levels: the depth is ours, not the data's.
  if (!isObj(v) || depth >= MAX_DEPTH) {
    if (prefix) out.set(prefix, v);
    return out;
  }
  for (const k of Object.keys(v).sort()) flatten(v[k], prefix ? `${prefix}.${k}` : k, out, depth + 1);
  return out;
}

/** Keys whose values differ between two flat maps, in key order; `counted` gets the number left out. */
export function valueChanges(a: Map<string, unknown>, b: Map<string, unknown>, counted: { more: number }): ValueChange[] {
  const out: ValueChange[] = [];
  for (const key of [...new Set([...a.keys(), ...b.keys()])].sort()) {
    if (a.has(key) && b.has(key) && sameValue(a.get(key), b.get(key))) continue;
    if (out.length >= MAX_VALUES) {
      counted.more++;
      continue;
    }
    out.push({ key, ...(a.has(key) ? { a: a.get(key) } : {}), ...(b.has(key) ? { b: b.get(key) } : {}) });
  }
  return out;
}

/** Params as `file:key` (the file is left out for params.yaml, as `dv params` shows them). */
export function flatParams(p: ParamValues): Map<string, unknown> {
  const m = new Map<string, unknown>();
  for (const [file, kv] of Object.entries(p ?? {})) if (isObj(kv)) for (const [k, v] of Object.entries(kv)) m.set(`${file}:${k}`, v);
  return m;
}

/**
 * The environment without its git fields (the code commit is compared as code). A group one side
 * did not record at all (`pythonPackages` in a dv.lock older dv wrote) stays one value, counted,
 * so it is one line and not a line per package.
 */
export function flatEnv(env: RunEnv | undefined, other?: RunEnv): Map<string, unknown> {
  const { git: _git, ...rest } = (env ?? {}) as unknown as Record<string, unknown>;
  const there = (other ?? {}) as unknown as Record<string, unknown>;
  // dv.lock keeps the package set as a digest (the list is in the run record): when either side
  // has only the digest, both are compared as digests, one line saying the set changed.
  const pkgs = rest.pythonPackages;
  if (pkgs !== undefined && (typeof pkgs === 'string' || typeof there.pythonPackages === 'string'))
    rest.pythonPackages = packagesDigest(pkgs as Record<string, string> | string);
  const out = new Map<string, unknown>();
  for (const k of Object.keys(rest).sort()) {
    const v = rest[k];
    if (other && !(k in there) && isObj(v)) out.set(k, `(${Object.keys(v).length} recorded)`);
    else flatten(v, k, out, 1);
  }
  return out;
}

/** Compares what is pure of two stage records; `inputs` and `code` come from the caller's diffs. */
export function compareRuns(
  name: string,
  a: StageRun | undefined,
  b: StageRun | undefined,
  inputs: InputChange[],
  code: CodeChange | null,
): StageDiff {
  const counted = { more: 0 };
  const diff: StageDiff = {
    name,
    status: !a ? 'added' : !b ? 'removed' : 'same',
    causes: [],
    inputs,
    params: valueChanges(flatParams(a?.params ?? {}), flatParams(b?.params ?? {}), counted),
    code,
    command: valueChanges(
      new Map(a ? [['cmd', a.cmd], ...(a.wdir ? [['wdir', a.wdir] as const] : [])] : []),
      new Map(b ? [['cmd', b.cmd], ...(b.wdir ? [['wdir', b.wdir] as const] : [])] : []),
      counted,
    ),
    env: a && b ? valueChanges(flatEnv(a.env, b.env), flatEnv(b.env, a.env), counted) : [],
    metrics: valueChanges(new Map(Object.entries(a?.metrics ?? {})), new Map(Object.entries(b?.metrics ?? {})), counted),
    outputs: valueChanges(
      new Map((a?.outs ?? []).map((o) => [o.path, o.id])),
      new Map((b?.outs ?? []).map((o) => [o.path, o.id])),
      counted,
    ),
    more: 0,
  };
  diff.more = counted.more;
  if (!a || !b) {
    diff.causes = ['stage'];
    return diff;
  }
  const causes = new Set<CauseKind>();
  if (inputs.some((i) => i.kind === 'data')) causes.add('data');
  const codeFiles = code !== null && (code.files.length > 0 || code.more > 0 || code.dirtyA !== code.dirtyB);
  if (inputs.some((i) => i.kind === 'file') || codeFiles) causes.add('code');
  if (diff.params.length) causes.add('params');
  if (diff.command.length) causes.add('command');
  if (diff.env.length) causes.add('env');
  diff.causes = [...causes];
  const effects = inputs.length + diff.metrics.length + diff.outputs.length + (code && code.a !== code.b ? 1 : 0);
  diff.status = causes.size > 0 || effects > 0 || a.key !== b.key ? 'changed' : 'same';
  return diff;
}

/**
 * What a "code" cause names: the files git says changed; where the commits are the same and only
 * one run had uncommitted code, that (git knows no files to name).
 */
export function codeCauseWhat(code: CodeChange | null): string[] {
  if (!code) return [];
  if (code.files.length === 0 && code.dirtyA !== code.dirtyB) return [`uncommitted code in the ${code.dirtyA ? 'first' : 'second'} run`];
  return code.files;
}

/** A value as one short line: JSON, cut at `max` characters; `absent` for a value not recorded. */
export function showValue(v: unknown, present: boolean, max = 60): string {
  if (!present) return '(absent)';
  const t = typeof v === 'string' ? v : JSON.stringify(v);
  return t.length > max ? t.slice(0, max - 3) + '...' : t;
}
