/**
 * A tree is one directory: entries sorted by name, each a file, a directory or a symlink.
 * Encoding: the line "dvtree 1", then one JSON array per entry per line:
 *   ["f", name, size, chunkId, exec]     file stored as a single chunk (its id is the chunk id)
 *   ["m", name, size, manifestId, exec]  file stored as a chunk manifest
 *   ["d", name, size, treeId, files]     directory (size and file count of everything below)
 *   ["l", name, target]                  symbolic link (target kept verbatim, never followed)
 * The id of a tree is the BLAKE3 of these bytes; the header makes a tree distinguishable
 * from any raw chunk that is not byte-for-byte the same object.
 */
import { DvError } from '../errors.js';
import { isId } from './ids.js';

export const TREE_MAGIC = 'dvtree 1\n';

export type FileEntry = { type: 'file'; name: string; size: number; id: string; chunked: boolean; exec: boolean };
export type DirEntry = { type: 'dir'; name: string; size: number; id: string; files: number };
export type LinkEntry = { type: 'link'; name: string; target: string };
export type TreeEntry = FileEntry | DirEntry | LinkEntry;

export interface Tree {
  entries: TreeEntry[];
}

// Code points HFS+ ignores in names, so `.g\u200cit` opens `.git` there (git's utf8.c, next_hfs_char).
const HFS_IGNORED = /[\u200c-\u200f\u202a-\u202e\u206a-\u206f\ufeff]/g;
// After that, case-insensitively: the name itself, or its NTFS short name (`git~1`: git puts
// .git first in a directory, and dv is held to the same rule), then what NTFS drops or reads
// as a data stream of the same file: trailing dots and spaces, and `:stream` (`.git::$INDEX_ALLOCATION`).
// git's path.c (is_ntfs_dotgit) and read-cache.c (verify_path) refuse exactly these for `.git`.
const RESERVED = /^(?:(\.git|git~1)|(\.dv|dv~1))[. ]*(?::.*)?$/s;

/**
 * `.git` or `.dv` when some file system would take `name` for one of them: a tree holding such
 * an entry at any depth would plant a git directory (whose config runs commands) or a dv
 * repository (whose config redirects where dv deletes) inside the workspace.
 */
export function reservedName(name: string): '.git' | '.dv' | undefined {
  const m = RESERVED.exec(name.replace(HFS_IGNORED, '').toLowerCase());
  return m ? (m[1] ? '.git' : '.dv') : undefined;
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Why `name` may not be a tree entry name, or undefined when it is fine. */
export function badEntryName(name: unknown): string | undefined {
  if (typeof name !== 'string' || name.length === 0) return 'empty name';
  if (name === '.' || name === '..') return `name ${JSON.stringify(name)} is a path component`;
  if (name.includes('/')) return 'name contains "/"';
  if (name.includes('\\')) return 'name contains "\\"';
  if (name.includes('\0')) return 'name contains NUL';
  // A lone surrogate is no character: file systems store U+FFFD instead, so two different names
  // would land on one file (and a symlink check on the name would not be the file's).
  if (LONE_SURROGATE.test(name)) return 'name is not valid Unicode (a lone surrogate)';
  if (Buffer.byteLength(name) > 255) return 'name longer than 255 bytes';
  const r = reservedName(name);
  if (r)
    return `name ${JSON.stringify(name)} ${r === name ? 'is reserved' : `is taken for ${r} by some file systems`} (dv never stores or writes a .git or .dv, at any depth)`;
  return undefined;
}

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

export function sortEntries(entries: TreeEntry[]): TreeEntry[] {
  return entries.sort((a, b) => cmp(a.name, b.name));
}

export function encodeTree(tree: Tree): Buffer {
  let out = TREE_MAGIC;
  let prev: string | undefined;
  for (const e of tree.entries) {
    const bad = badEntryName(e.name);
    if (bad) throw new DvError('UNSAFE_PATH', `cannot store ${JSON.stringify(e.name)}: ${bad}`);
    if (prev !== undefined && cmp(prev, e.name) >= 0) throw new Error(`tree entries not sorted or duplicated at ${e.name}`);
    prev = e.name;
    let row: unknown[];
    if (e.type === 'file') row = [e.chunked ? 'm' : 'f', e.name, e.size, e.id, e.exec ? 1 : 0];
    else if (e.type === 'dir') row = ['d', e.name, e.size, e.id, e.files];
    else row = ['l', e.name, e.target];
    out += JSON.stringify(row) + '\n';
  }
  return Buffer.from(out, 'utf8');
}

const isCount = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;

/** Decodes and validates a tree; any defect is a BAD_OBJECT or UNSAFE_PATH DvError naming `id`. */
export function decodeTree(bytes: Uint8Array, id = '?'): Tree {
  const bad = (why: string): DvError => new DvError('BAD_OBJECT', `tree ${id.slice(0, 12)} is malformed: ${why}`, { id });
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
  if (!text.startsWith(TREE_MAGIC)) throw bad('missing header');
  if (!text.endsWith('\n')) throw bad('truncated');
  const lines = text.slice(TREE_MAGIC.length, -1);
  const entries: TreeEntry[] = [];
  if (lines.length === 0) return { entries };
  let prev: string | undefined;
  for (const line of lines.split('\n')) {
    let row: unknown;
    try {
      row = JSON.parse(line);
    } catch {
      throw bad('entry is not JSON');
    }
    if (!Array.isArray(row) || typeof row[0] !== 'string') throw bad('entry is not an array');
    const name = row[1];
    const why = badEntryName(name);
    if (why)
      throw new DvError(
        'UNSAFE_PATH',
        `tree ${id.slice(0, 12)} has an unsafe entry name: ${why}; dv does not check out or compare with such a tree (\`dv commit\` records your workspace without it)`,
        { id, name },
      );
    if (prev !== undefined && cmp(prev, name) >= 0) throw bad(`entries out of order at ${JSON.stringify(name)}`);
    prev = name;
    const [kind, , a, b, c] = row;
    if ((kind === 'f' || kind === 'm') && row.length === 5 && isCount(a) && isId(b) && (c === 0 || c === 1)) {
      entries.push({ type: 'file', name, size: a, id: b, chunked: kind === 'm', exec: c === 1 });
    } else if (kind === 'd' && row.length === 5 && isCount(a) && isId(b) && isCount(c)) {
      entries.push({ type: 'dir', name, size: a, id: b, files: c });
    } else if (kind === 'l' && row.length === 3 && typeof a === 'string' && a.length > 0 && !a.includes('\0')) {
      entries.push({ type: 'link', name, target: a });
    } else {
      throw bad(`bad entry for ${JSON.stringify(name)}`);
    }
  }
  return { entries };
}

/** Total size and file count of a tree, from its entries. */
export function treeStats(tree: Tree): { size: number; files: number } {
  let size = 0;
  let files = 0;
  for (const e of tree.entries) {
    if (e.type === 'file') {
      size += e.size;
      files += 1;
    } else if (e.type === 'dir') {
      size += e.size;
      files += e.files;
    } else {
      files += 1;
    }
  }
  return { size, files };
}
