/**
 * Hand-crafted remotes for hostile-input tests, built with dv's own modules but bypassing the
 * checks of its encoders: trees with any entry names and symlink targets, snapshots with any
 * path, pack indexes that lie about sizes. Laid out as a directory remote (see transfer/layout).
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { blake3Hex, initHash } from '../../src/core/hash.js';
import { encodeSnapshot } from '../../src/core/snapshot.js';
import { encodePointer } from '../../src/core/pointer.js';
import { writePack, packPaths } from '../../src/store/pack.js';
import { decodePackIndex, encodePackIndex, type PackEntry } from '../../src/store/pack-index.js';
import { remoteIndexKey, remotePackKey } from '../../src/transfer/layout.js';
import { tempDir } from './cli.js';

export interface Obj {
  id: string;
  bytes: Buffer;
}

export async function obj(bytes: Buffer | string): Promise<Obj> {
  await initHash();
  const b = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes);
  return { id: blake3Hex(b), bytes: b };
}

/** Tree bytes from raw rows, unchecked: ["f", name, size, id, exec], ["d", name, size, id, files], ["l", name, target]. */
export function rawTree(rows: unknown[][]): Buffer {
  return Buffer.from('dvtree 1\n' + rows.map((r) => JSON.stringify(r) + '\n').join(''), 'utf8');
}

export function snapshotBytes(tree: string, path = 'data', kind: 'dir' | 'file' = 'dir', size = 0, files = 0): Buffer {
  return encodeSnapshot({
    path,
    kind,
    tree,
    parents: [],
    message: 'crafted',
    author: 'mallory <m@example.com>',
    time: '2024-01-01T00:00:00.000Z',
    size,
    files,
    lineage: { git: null, dv: '0.1.0', meta: {} },
  });
}

export function pointerText(snapshot: string, tree: string, path = 'data', kind: 'dir' | 'file' = 'dir'): string {
  return encodePointer({ path, kind, snapshot, tree, size: 0, files: 0 });
}

/**
 * Writes `objects` as one pack into the directory remote `remoteDir`. `lie` may rewrite the
 * index entries (the index is then renamed after its new hash, as a liar would do).
 * Returns the pack id and its entries as written.
 */
export async function writeRemotePack(
  remoteDir: string,
  objects: Obj[],
  lie?: (entries: PackEntry[]) => PackEntry[],
): Promise<{ packId: string; entries: PackEntry[] }> {
  const scratch = tempDir('dv-evil-pack-');
  try {
    const { packId } = await writePack(
      join(scratch, 'packs'),
      join(scratch, 'tmp'),
      objects.map((o) => ({ id: o.id, data: o.bytes, rawSize: o.bytes.length, flags: 0 })),
    );
    const paths = packPaths(join(scratch, 'packs'), packId);
    let idx: Buffer = await fsp.readFile(paths.idx);
    let entries = decodePackIndex(idx, packId);
    let id = packId;
    if (lie) {
      entries = lie(entries);
      idx = encodePackIndex(entries);
      id = blake3Hex(idx);
    }
    const packKey = join(remoteDir, ...remotePackKey(id).split('/'));
    const idxKey = join(remoteDir, ...remoteIndexKey(id).split('/'));
    await fsp.mkdir(join(packKey, '..'), { recursive: true });
    await fsp.mkdir(join(idxKey, '..'), { recursive: true });
    await fsp.copyFile(paths.pack, packKey);
    await fsp.writeFile(idxKey, idx);
    return { packId: id, entries };
  } finally {
    await fsp.rm(scratch, { recursive: true, force: true });
  }
}
