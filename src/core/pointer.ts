/**
 * The pointer file `<path>.dv`: small, human-readable text that git tracks. It names the
 * snapshot of the tracked path beside it, plus the tree, size and file count so that a
 * reviewer sees what changed in a git diff. Lines are `key: value`; '#' starts a comment.
 */
import { DvError } from '../errors.js';
import { isId } from './ids.js';
import { badEntryName } from './tree.js';

export const POINTER_SUFFIX = '.dv';

export interface Pointer {
  /** Name of the tracked file or directory, beside the pointer file. */
  path: string;
  kind: 'dir' | 'file';
  snapshot: string;
  tree: string;
  size: number;
  files: number;
}

export function encodePointer(p: Pointer): string {
  return [
    '# dv pointer file: commit it with git. `dv checkout` restores the data it names.',
    'dv: 1',
    `path: ${JSON.stringify(p.path)}`,
    `kind: ${p.kind}`,
    `snapshot: ${p.snapshot}`,
    `tree: ${p.tree}`,
    `size: ${p.size}`,
    `files: ${p.files}`,
    '',
  ].join('\n');
}

/** Parses a pointer file; every defect is a BAD_POINTER error naming `file`. */
export function decodePointer(text: string, file: string): Pointer {
  const bad = (why: string): DvError =>
    new DvError('BAD_POINTER', `${file}: ${why}; restore it with \`git checkout -- ${file}\` or re-add the data with \`dv add\``, { file });
  const fields = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-z]+):\s*(.*)$/.exec(line);
    if (!m) throw bad(`malformed line ${JSON.stringify(line.slice(0, 40))}`);
    if (fields.has(m[1])) throw bad(`duplicate key ${m[1]}`);
    fields.set(m[1], m[2]);
  }
  if (fields.get('dv') !== '1') throw bad('not a dv pointer file (missing "dv: 1")');
  let path: unknown;
  try {
    path = JSON.parse(fields.get('path') ?? '');
  } catch {
    throw bad('path is not a quoted string');
  }
  const why = badEntryName(path);
  if (why) throw bad(`unsafe path: ${why}`);
  const kind = fields.get('kind');
  if (kind !== 'dir' && kind !== 'file') throw bad('kind must be dir or file');
  const snapshot = fields.get('snapshot');
  const tree = fields.get('tree');
  if (!isId(snapshot)) throw bad('snapshot is not a valid id');
  if (!isId(tree)) throw bad('tree is not a valid id');
  const num = (k: string): number => {
    const v = fields.get(k);
    if (v === undefined || !/^\d{1,15}$/.test(v)) throw bad(`${k} is not a number`);
    return Number(v);
  };
  return { path: path as string, kind, snapshot, tree, size: num('size'), files: num('files') };
}
