/**
 * A hostile remote or pointer file cannot make `dv cat` write bytes that do not verify or read
 * more than the file declares: a manifest whose chunks outgrow its file, an index that lies about
 * a chunk's size, a pointer file that lies about its tree, and an unsafe entry name are refused
 * with their codes, and stdout holds nothing that did not verify.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { encodeManifest } from '../../src/core/manifest.js';
import { encodePointer } from '../../src/core/pointer.js';
import { dvOk, makeRepo, prng, tempDir } from '../helpers/cli.js';
import { obj, rawTree, writeRemotePack, type Obj } from '../helpers/evil-remote.js';
import { dvBytes } from './setup.js';

const SIZE = 100_000;

/** A workspace whose data.dv names `tree` (claiming `size` bytes in `files` files) on a directory remote holding `objects`. */
async function victim(
  tree: Obj,
  size: number,
  files: number,
  objects: Obj[],
  lie?: Parameters<typeof writeRemotePack>[2],
): Promise<string> {
  const remote = join(tempDir(), 'remote');
  await writeRemotePack(remote, [...objects, tree], lie);
  const ws = await makeRepo();
  await dvOk(ws, ['remote', 'add', 'origin', remote]);
  await fsp.writeFile(join(ws, 'data.dv'), encodePointer({ path: 'data', kind: 'dir', snapshot: tree.id, tree: tree.id, size, files }));
  return ws;
}

async function refused(ws: string, spec: string, code: string, exit: number, msg: RegExp, content?: Buffer): Promise<void> {
  const r = await dvBytes(ws, ['cat', spec]);
  assert.equal(r.code, exit, r.stderr);
  assert.match(r.stderr, new RegExp(`^dv: error ${code}: `));
  assert.match(r.stderr, msg);
  assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
  if (content) assert.ok(content.subarray(0, r.stdout.length).equals(r.stdout), 'stdout is a verified prefix');
  else assert.equal(r.stdout.length, 0);
}

test('honest objects written by hand read back (the set-up is sound)', async () => {
  const c1 = await obj(prng(1, SIZE));
  const c2 = await obj(prng(2, SIZE));
  const m = await obj(
    encodeManifest({
      level: 0,
      children: [
        { id: c1.id, size: SIZE },
        { id: c2.id, size: SIZE },
      ],
    }),
  );
  const tree = await obj(rawTree([['m', 'big.bin', 2 * SIZE, m.id, 0]]));
  const ws = await victim(tree, 2 * SIZE, 1, [c1, c2, m]);
  const r = await dvBytes(ws, ['cat', ':data/big.bin']);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(r.stdout.equals(Buffer.concat([c1.bytes, c2.bytes])));
});

test('a manifest whose chunks add up to more than its file declares is refused: BAD_OBJECT, nothing written', async () => {
  const c1 = await obj(prng(1, SIZE));
  const c2 = await obj(prng(2, SIZE));
  const m = await obj(
    encodeManifest({
      level: 0,
      children: [
        { id: c1.id, size: SIZE },
        { id: c2.id, size: SIZE },
      ],
    }),
  );
  const tree = await obj(rawTree([['m', 'big.bin', SIZE + 10, m.id, 0]]));
  const ws = await victim(tree, SIZE + 10, 1, [c1, c2, m]);
  await refused(ws, ':data/big.bin', 'BAD_OBJECT', 24, /does not match its declared size .*children add up to 200000/);
});

test('an index that lies about a chunk size is refused before the chunk is read: BAD_OBJECT', async () => {
  const c1 = await obj(prng(1, SIZE));
  const c2 = await obj(prng(2, SIZE));
  const m = await obj(
    encodeManifest({
      level: 0,
      children: [
        { id: c1.id, size: SIZE },
        { id: c2.id, size: SIZE },
      ],
    }),
  );
  const tree = await obj(rawTree([['m', 'big.bin', 2 * SIZE, m.id, 0]]));
  const ws = await victim(tree, 2 * SIZE, 1, [c1, c2, m], (entries) =>
    entries.map((e) => (e.id === c2.id ? { ...e, rawSize: 64 * 1024 * 1024 + 1 } : e)),
  );
  await refused(ws, ':data/big.bin', 'BAD_OBJECT', 24, /refusing an object this large/, Buffer.concat([c1.bytes, c2.bytes]));
});

test('a pointer file that lies about its tree, and an unsafe name in a tree, are refused', async () => {
  const c1 = await obj(prng(1, SIZE));
  const tree = await obj(rawTree([['f', 'a.bin', SIZE, c1.id, 0]]));
  const liar = await victim(tree, 5, 1, [c1]);
  await refused(liar, ':data/a.bin', 'BAD_OBJECT', 24, /pointer file data\.dv says 5 bytes/);
  const evil = await obj(rawTree([['f', '..', SIZE, c1.id, 0]]));
  const ws = await victim(evil, SIZE, 1, [c1]);
  await refused(ws, ':data/a.bin', 'UNSAFE_PATH', 25, /unsafe entry name/);
});

test('a manifest node at the wrong level is refused (no walk the data can deepen): BAD_OBJECT', async () => {
  const c1 = await obj(prng(1, SIZE));
  const leaf = await obj(encodeManifest({ level: 0, children: [{ id: c1.id, size: SIZE }] }));
  const mid = await obj(encodeManifest({ level: 1, children: [{ id: leaf.id, size: SIZE }] }));
  // A level-2 root over a level-1 node that claims to be level 1 holding a level-1 node: one level too many.
  const wrong = await obj(encodeManifest({ level: 1, children: [{ id: mid.id, size: SIZE }] }));
  const root = await obj(encodeManifest({ level: 2, children: [{ id: wrong.id, size: SIZE }] }));
  const tree = await obj(rawTree([['m', 'big.bin', SIZE, root.id, 0]]));
  const ws = await victim(tree, SIZE, 1, [c1, leaf, mid, wrong, root]);
  await refused(ws, ':data/big.bin', 'BAD_OBJECT', 24, /it is level 1, file manifest [0-9a-f]{12} expects level 0/);
});
