/**
 * The pointer file `<path>.dv`: small, human-readable text that git tracks. It names the
 * snapshot of the tracked path beside it, plus the tree, size and file count so that a
 * reviewer sees what changed in a git diff. Lines are `key: value`; '#' starts a comment.
 */
import { DvError } from '../errors.js';
import { isId } from './ids.js';
import { badEntryName } from './tree.js';

export const POINTER_SUFFIX = '.dv';

/** Where imported data came from (`dv import`): another git repository's tracked path, at a commit. */
export interface PointerSource {
  /** The repository URL as given to `dv import`. */
  url: string;
  /** The branch, tag or commit asked for; absent: the source's default branch (what `dv update` follows). */
  rev?: string;
  /** The git commit it resolved to. */
  commit: string;
  /** The path inside the source repository. */
  path: string;
  /** The source's snapshot holding that path. */
  snapshot?: string;
}

export interface Pointer {
  /** Name of the tracked file or directory, beside the pointer file. */
  path: string;
  kind: 'dir' | 'file';
  snapshot: string;
  tree: string;
  size: number;
  files: number;
  /** Set by `dv import`: the line `source: {json}` (older dv ignores a key it does not know). */
  source?: PointerSource;
}

export function encodePointer(p: Pointer): string {
  const source = p.source ? [`source: ${JSON.stringify(p.source)}`] : [];
  return [
    '# dv pointer file: commit it with git. `dv checkout` restores the data it names.',
    'dv: 1',
    `path: ${JSON.stringify(p.path)}`,
    `kind: ${p.kind}`,
    `snapshot: ${p.snapshot}`,
    `tree: ${p.tree}`,
    `size: ${p.size}`,
    `files: ${p.files}`,
    ...source,
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
  const source = fields.has('source') ? decodeSource(fields.get('source')!, bad) : undefined;
  return { path: path as string, kind, snapshot, tree, size: num('size'), files: num('files'), ...(source ? { source } : {}) };
}

/** The `source` line of an imported path: one JSON object of short strings, each checked. */
function decodeSource(text: string, bad: (why: string) => DvError): PointerSource {
  let o: unknown;
  try {
    o = text.length <= 8192 ? JSON.parse(text) : undefined;
  } catch {
    o = undefined;
  }
  if (!o || typeof o !== 'object' || Array.isArray(o)) throw bad('source is not a JSON object');
  const r = o as Record<string, unknown>;
  const str = (k: string, optional: boolean): string | undefined => {
    const v = r[k];
    if (v === undefined && optional) return undefined;
    // biome-ignore lint/suspicious/noControlCharactersInRegex: a control character in a URL or path is refused
    if (typeof v !== 'string' || v === '' || /[\u0000-\u001f]/.test(v)) throw bad(`source.${k} is not a string`);
    return v;
  };
  const commit = str('commit', false)!;
  if (!/^(?:[0-9a-f]{40}|[0-9a-f]{64})$/.test(commit)) throw bad('source.commit is not a git commit id');
  const snapshot = str('snapshot', true);
  if (snapshot !== undefined && !isId(snapshot)) throw bad('source.snapshot is not a valid id');
  const rev = str('rev', true);
  return { url: str('url', false)!, ...(rev ? { rev } : {}), commit, path: str('path', false)!, ...(snapshot ? { snapshot } : {}) };
}
