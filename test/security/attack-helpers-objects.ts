/**
 * Hostile dv objects for the attack suite, built by hand (dv's encoders would refuse most of
 * them): trees with any names, manifests that lie about sizes or share children, snapshots with
 * any path, and the nested `.git` directory whose config runs a command on the next `git status`.
 * Objects reach the victim through a directory remote laid out as dv lays one out
 * (test/helpers/evil-remote.ts), or through s3rver after `uploadDir`.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { encodeManifest } from '../../src/core/manifest.js';
import { obj, pointerText, rawTree, snapshotBytes, writeRemotePack, type Obj } from '../helpers/evil-remote.js';
import type { S3TestServer } from '../helpers/s3server.js';
import { maybeCompress } from '../../src/store/codec.js';
import { packPaths, writePack, type PendingObject } from '../../src/store/pack.js';
import { remoteIndexKey, remotePackKey } from '../../src/transfer/layout.js';

export { obj, pointerText, rawTree, snapshotBytes, writeRemotePack, type Obj };

/** A tree object from rows (see rawTree). */
export const treeObj = (rows: unknown[][]): Promise<Obj> => obj(rawTree(rows));

/** A manifest node object: `children` as (id, size) at `level`. */
export const manifestObj = (level: number, children: { id: string; size: number }[]): Promise<Obj> =>
  obj(encodeManifest({ level, children }));

/** A snapshot object. */
export const snapObj = (tree: string, path: string, kind: 'dir' | 'file', size: number, files: number): Promise<Obj> =>
  obj(snapshotBytes(tree, path, kind, size, files));

/** A shell command that leaves proof of its run: the file `<outside>/pwned-<tag>`. */
export const proofCmd = (outside: string, tag: string): string => `touch '${join(outside, `pwned-${tag}`)}'`;

/** Whether any proof of code execution exists in `outside`. */
export async function pwned(outside: string): Promise<string[]> {
  return (await fsp.readdir(outside)).filter((n) => n.startsWith('pwned-')).sort();
}

/**
 * The objects of a minimal git directory (HEAD, config, objects/, refs/) whose config makes git
 * run `cmd` on the next `git status` inside the directory holding it (core.fsmonitor).
 */
export async function gitDirObjects(cmd: string): Promise<{ tree: Obj; objects: Obj[] }> {
  const head = await obj('ref: refs/heads/main\n');
  const config = await obj(`[core]\n\trepositoryformatversion = 0\n\tfsmonitor = "${cmd}; false"\n`);
  const empty = await treeObj([]);
  const tree = await treeObj([
    ['f', 'HEAD', head.bytes.length, head.id, 0],
    ['f', 'config', config.bytes.length, config.id, 0],
    ['d', 'objects', 0, empty.id, 0],
    ['d', 'refs', 0, empty.id, 0],
  ]);
  return { tree, objects: [head, config, empty, tree] };
}

/** An executable shell hook leaving proof in `outside`. */
export const hookObj = (outside: string, tag: string): Promise<Obj> => obj(`#!/bin/sh\n${proofCmd(outside, tag)}\n`);

/** A plain S3 client for the attacker, talking to `srv` (buffer bodies, no aws-chunked framing). */
export function s3Client(srv: S3TestServer): S3Client {
  return new S3Client({
    endpoint: srv.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: srv.credentials,
    requestChecksumCalculation: 'WHEN_REQUIRED',
  });
}

/** Uploads every file under `dir` to `bucket/prefix` on an S3 server, keys as relative paths. */
export async function uploadDir(srv: S3TestServer, bucket: string, prefix: string, dir: string): Promise<number> {
  const client = s3Client(srv);
  let n = 0;
  try {
    const stack = [''];
    while (stack.length > 0) {
      const rel = stack.pop()!;
      for (const e of await fsp.readdir(join(dir, rel), { withFileTypes: true })) {
        const r = rel ? `${rel}/${e.name}` : e.name;
        if (e.isDirectory()) stack.push(r);
        else if (e.isFile()) {
          await client.send(new PutObjectCommand({ Bucket: bucket, Key: `${prefix}/${r}`, Body: await fsp.readFile(join(dir, r)) }));
          n++;
        }
      }
    }
  } finally {
    client.destroy();
  }
  return n;
}

/** An object stored as the remote will hold it (zstd when it pays), for `publish`. */
export async function stored(o: Obj): Promise<PendingObject> {
  const { data, flags } = await maybeCompress(o.bytes);
  return { id: o.id, data, rawSize: o.bytes.length, flags };
}

/** Writes objects (as stored) as one pack with its index into the directory remote `remoteDir`. Returns the pack id. */
export async function publish(remoteDir: string, objects: PendingObject[]): Promise<string> {
  const scratch = await fsp.mkdtemp(join(remoteDir, '..', 'scratch-'));
  try {
    const { packId } = await writePack(join(scratch, 'packs'), join(scratch, 'tmp'), objects);
    const paths = packPaths(join(scratch, 'packs'), packId);
    const packKey = join(remoteDir, ...remotePackKey(packId).split('/'));
    const idxKey = join(remoteDir, ...remoteIndexKey(packId).split('/'));
    await fsp.mkdir(join(packKey, '..'), { recursive: true });
    await fsp.mkdir(join(idxKey, '..'), { recursive: true });
    await fsp.copyFile(paths.pack, packKey);
    await fsp.copyFile(paths.idx, idxKey);
    return packId;
  } finally {
    await fsp.rm(scratch, { recursive: true, force: true });
  }
}
