/**
 * What identifies a run, and what records it. Pure.
 * - The run key: BLAKE3 of the canonical JSON of (cmd, deps with their ids, param values, out
 *   paths). Two runs with the same key read the same inputs the same way, so one's outs can
 *   stand in for the other's (the run cache).
 * - The run object ("dvrun 1\n" + canonical JSON): key, stage, cmd, deps, params, outs with
 *   their snapshot ids, environment and time; stored in the object store like a snapshot.
 */
import { blake3Hex } from '../core/hash.js';
import { isId } from '../core/ids.js';
import { DvError } from '../errors.js';

export const RUN_MAGIC = 'dvrun 1\n';
const KEY_MAGIC = 'dvrunkey 1\n';

export interface DepRecord {
  path: string;
  /** Tree id of the path as the stage read it (a single file: a tree of that one entry). */
  id: string;
  /** Snapshot of the tracked path, when the dep is a tracked path matching its pointer file. */
  snapshot?: string;
  /**
   * A tracked path whose workspace content differs from its pointer file (not `dv commit`ed):
   * `id` is what the stage read, and no snapshot holds it. Only with `dv repro --force`.
   */
  uncommitted?: true;
}

export interface OutRecord {
  path: string;
  id: string;
  snapshot: string;
}

/** Parameter values by file, then by dotted key. */
export type ParamValues = Record<string, Record<string, unknown>>;

export interface RunEnv {
  dv: string;
  os: string;
  arch: string;
  /** Tool versions found cheaply (node, python3, ...). */
  tools: Record<string, string>;
  git: { commit: string | null; branch: string | null; dirty: boolean } | null;
  /** Tree ids of lockfiles at the repository root (package-lock.json, requirements.txt, ...). */
  lockfiles: Record<string, string>;
  /** Allow-listed environment variables that were set. */
  vars: Record<string, string>;
  /**
   * Python packages of `python3`, CPU model, container id, NVIDIA driver (env-extra.ts); absent in older records.
   * The packages are name → version in run records and snapshots; dv.lock keeps their digest line
   * (`sha256:<hex> (N packages)`, env-extra.ts packagesDigest); dv.lock files of an older dv hold the map.
   */
  pythonPackages?: Record<string, string> | string;
  cpu?: string;
  container?: string;
  gpuDriver?: string;
  /** CUDA toolkit version (env-extra.ts). */
  cuda?: string;
  /** sha256 of the dependency lockfiles in the stage's wdir (env-extra.ts stageLockfiles). */
  stageLockfiles?: Record<string, string>;
}

export interface RunRecord {
  key: string;
  stage: string;
  cmd: string;
  /** Where the command ran, from the repository root (absent: the root). */
  wdir?: string;
  deps: DepRecord[];
  params: ParamValues;
  outs: OutRecord[];
  env: RunEnv;
  ranAt: string;
}

/** JSON with object keys sorted at every level: equal values give equal text. */
export function canonicalJson(v: unknown): string {
  return JSON.stringify(sortDeep(v));
}

function sortDeep(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortDeep);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v as object).sort()) out[k] = sortDeep((v as Record<string, unknown>)[k]);
    return out;
  }
  return v;
}

/** The run key; `wdir` counts only when set, so stages without one keep their keys. */
export function runKey(r: {
  cmd: string;
  wdir?: string;
  deps: { path: string; id: string }[];
  params: ParamValues;
  outs: string[];
}): string {
  const deps = [...r.deps].map((d) => [d.path, d.id]).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return blake3Hex(
    Buffer.from(
      KEY_MAGIC + canonicalJson({ cmd: r.cmd, ...(r.wdir ? { wdir: r.wdir } : {}), deps, params: r.params, outs: [...r.outs].sort() }),
      'utf8',
    ),
  );
}

export function encodeRun(r: RunRecord): Buffer {
  return Buffer.from(RUN_MAGIC + canonicalJson(r) + '\n', 'utf8');
}

export function isRunBytes(b: Uint8Array): boolean {
  return Buffer.from(b.buffer, b.byteOffset, Math.min(b.byteLength, RUN_MAGIC.length)).toString('latin1') === RUN_MAGIC;
}

export function decodeRun(bytes: Uint8Array, id = '?'): RunRecord {
  const bad = (why: string): DvError => new DvError('BAD_OBJECT', `run record ${id.slice(0, 12)} is malformed: ${why}`, { id });
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
  if (!text.startsWith(RUN_MAGIC)) throw bad('missing header');
  let o: any;
  try {
    o = JSON.parse(text.slice(RUN_MAGIC.length));
  } catch {
    throw bad('not JSON');
  }
  if (
    !o ||
    typeof o !== 'object' ||
    !isId(o.key) ||
    typeof o.stage !== 'string' ||
    typeof o.cmd !== 'string' ||
    (o.wdir !== undefined && typeof o.wdir !== 'string')
  )
    throw bad('key, stage, cmd or wdir');
  if (!Array.isArray(o.outs) || !o.outs.every((x: any) => x && typeof x.path === 'string' && isId(x.id) && isId(x.snapshot)))
    throw bad('outs');
  if (!Array.isArray(o.deps) || !o.deps.every((x: any) => x && typeof x.path === 'string' && isId(x.id))) throw bad('deps');
  return o as RunRecord;
}

/** The value at dotted `key` in a parsed parameters file, or undefined. */
export function lookupParam(doc: unknown, key: string): unknown {
  let cur: unknown = doc;
  for (const part of key.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    if (Array.isArray(cur)) {
      if (!/^\d+$/.test(part)) return undefined;
      cur = cur[Number(part)];
    } else {
      if (!Object.hasOwn(cur, part)) return undefined;
      cur = (cur as Record<string, unknown>)[part];
    }
  }
  return cur;
}
