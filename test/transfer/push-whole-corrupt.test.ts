/**
 * Whole local packs are verified before they are copied, ahead of the copies (push.ts
 * sendWholePacks): a pack with a damaged object never reaches a directory remote, not even as a
 * temp file; the push fails with OBJECT_CORRUPT naming the object, and no index on the remote
 * names a pack that is not there whole.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { dv, dvOk, makeRepo, prng, tempDir } from '../helpers/cli.js';
import { decodePackIndex } from '../../src/store/pack-index.js';
import { firstBadEntry } from '../../src/transfer/verify-pack.js';
import { initHash } from '../../src/core/hash.js';

/** `dir`'s packs (fan-out directories of `<id>.pack` beside `<id>.idx`): id → pack path. */
async function packsIn(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const fan of await fsp.readdir(dir).catch(() => [] as string[]))
    for (const f of await fsp.readdir(join(dir, fan))) if (f.endsWith('.pack')) out.set(f.slice(0, -5), join(dir, fan, f));
  return out;
}

test('a whole pack with a damaged object is refused before any byte of it reaches the remote; what was sent is indexed whole', async () => {
  await initHash();
  const a = await makeRepo();
  await fsp.mkdir(join(a, 'data'));
  // Four commits of a large file: four local packs that travel whole.
  for (let k = 0; k < 4; k++) {
    await fsp.writeFile(join(a, 'data', `large-${k}.bin`), prng(70 + k, (6 + k) << 20));
    await dvOk(a, k === 0 ? ['add', '-q', 'data'] : ['commit', '-q', '-m', `large ${k}`]);
  }
  const local = await packsIn(join(a, '.dv', 'cache', 'packs'));
  const sizes = await Promise.all([...local].map(async ([id, p]) => ({ id, p, size: (await fsp.stat(p)).size })));
  const big = sizes.filter((s) => s.size > 5 << 20).sort((x, y) => (x.id < y.id ? -1 : 1));
  assert.ok(big.length >= 4, `four large local packs (${big.length})`);
  // Damage one object in the middle of the third pack (in the order the push takes them).
  const victim = big[2];
  const entries = decodePackIndex(await fsp.readFile(victim.p.replace(/\.pack$/, '.idx')), victim.id);
  const e = entries[Math.floor(entries.length / 2)];
  const fh = await fsp.open(victim.p, 'r+');
  try {
    const b = Buffer.alloc(1);
    await fh.read(b, 0, 1, e.offset + 100);
    b[0] ^= 0xff;
    await fh.write(b, 0, 1, e.offset + 100);
  } finally {
    await fh.close();
  }

  const remote = join(tempDir('dv-whole-corrupt-'), 'remote');
  await dvOk(a, ['remote', 'add', 'origin', remote]);
  const r = await dv(a, ['push']);
  assert.equal(r.code, 23, r.stderr);
  assert.match(r.stderr, new RegExp(`OBJECT_CORRUPT.*${e.id}.*is corrupt: not pushing it`));
  assert.equal(r.stderr.trim().split('\n').length, 1, 'one line');

  const all = await fsp.readdir(remote, { recursive: true }).catch(() => [] as string[]);
  assert.ok(
    !all.some((f) => f.includes(victim.id)),
    `nothing of the damaged pack is on the remote: ${all.filter((f) => f.includes(victim.id))}`,
  );
  assert.ok(!all.some((f) => f.includes('~')), 'no temp file is left');
  const sent = await packsIn(join(remote, 'packs'));
  for (const [id, p] of sent) {
    const idx = await fsp.readFile(join(remote, 'index', id.slice(0, 2), `${id}.idx`)).catch(() => undefined);
    if (!idx) continue;
    assert.equal(await firstBadEntry(p, decodePackIndex(idx, id)), undefined, `${id}: an indexed pack is all there and verifies`);
  }
});
