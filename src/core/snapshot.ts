/**
 * A snapshot records one state of one tracked path: its tree, parents, message, author,
 * time and lineage (the code commit it sits beside, dv version, user metadata).
 * Encoding: "dvsnap 1\n" then canonical JSON (fixed key order, sorted meta keys).
 * `pipeline` is reserved for stage lineage (inputs, params, environment) of reproducible runs.
 */
import { DvError } from '../errors.js';
import { isId } from './ids.js';

export const SNAPSHOT_MAGIC = 'dvsnap 1\n';

export interface GitLineage {
  commit: string | null;
  branch: string | null;
  dirty: boolean;
}

export interface Lineage {
  git: GitLineage | null;
  dv: string;
  meta: Record<string, string>;
  pipeline?: unknown;
}

export interface Snapshot {
  /** The tracked path, relative to the repository root, '/'-separated. */
  path: string;
  /** 'dir' when the tracked path is a directory; 'file' when a single file (the tree then holds one entry). */
  kind: 'dir' | 'file';
  tree: string;
  parents: string[];
  message: string;
  author: string;
  time: string;
  size: number;
  files: number;
  lineage: Lineage;
}

function sortedRecord(r: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of Object.keys(r).sort()) out[k] = r[k];
  return out;
}

export function encodeSnapshot(s: Snapshot): Buffer {
  const canonical = {
    path: s.path,
    kind: s.kind,
    tree: s.tree,
    parents: s.parents,
    message: s.message,
    author: s.author,
    time: s.time,
    size: s.size,
    files: s.files,
    lineage: {
      git: s.lineage.git ? { commit: s.lineage.git.commit, branch: s.lineage.git.branch, dirty: s.lineage.git.dirty } : null,
      dv: s.lineage.dv,
      meta: sortedRecord(s.lineage.meta),
      ...(s.lineage.pipeline !== undefined ? { pipeline: s.lineage.pipeline } : {}),
    },
  };
  return Buffer.from(SNAPSHOT_MAGIC + JSON.stringify(canonical) + '\n', 'utf8');
}

export function isSnapshotBytes(bytes: Uint8Array): boolean {
  return (
    Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.byteLength, SNAPSHOT_MAGIC.length)).toString('latin1') === SNAPSHOT_MAGIC
  );
}

export function decodeSnapshot(bytes: Uint8Array, id = '?'): Snapshot {
  const bad = (why: string): DvError => new DvError('BAD_OBJECT', `snapshot ${id.slice(0, 12)} is malformed: ${why}`, { id });
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
  if (!text.startsWith(SNAPSHOT_MAGIC)) throw bad('missing header');
  let o: any;
  try {
    o = JSON.parse(text.slice(SNAPSHOT_MAGIC.length));
  } catch {
    throw bad('not JSON');
  }
  if (!o || typeof o !== 'object') throw bad('not an object');
  if (typeof o.path !== 'string' || (o.kind !== 'dir' && o.kind !== 'file')) throw bad('path or kind');
  if (!isId(o.tree)) throw bad('tree id');
  if (!Array.isArray(o.parents) || !o.parents.every(isId)) throw bad('parents');
  if (typeof o.message !== 'string' || typeof o.author !== 'string' || typeof o.time !== 'string') throw bad('message, author or time');
  if (!Number.isSafeInteger(o.size) || o.size < 0 || !Number.isSafeInteger(o.files) || o.files < 0) throw bad('size or files');
  const l = o.lineage;
  if (!l || typeof l !== 'object' || typeof l.dv !== 'string' || !l.meta || typeof l.meta !== 'object') throw bad('lineage');
  for (const v of Object.values(l.meta)) if (typeof v !== 'string') throw bad('lineage.meta');
  const g = l.git;
  if (g !== null && (typeof g !== 'object' || typeof g.dirty !== 'boolean')) throw bad('lineage.git');
  return {
    path: o.path,
    kind: o.kind,
    tree: o.tree,
    parents: o.parents,
    message: o.message,
    author: o.author,
    time: o.time,
    size: o.size,
    files: o.files,
    lineage: { git: g, dv: l.dv, meta: l.meta, ...(l.pipeline !== undefined ? { pipeline: l.pipeline } : {}) },
  };
}
