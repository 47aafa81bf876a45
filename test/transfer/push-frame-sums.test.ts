/**
 * The frames a commit writes are summed as written (store/pack-index.ts frameSum, kept in the
 * index's record of the pack), and a push checks a whole local pack's frames by those sums
 * (transfer/verify-pack.ts): the sums recorded are those of the bytes on disk, a frame damaged
 * after it was written is still refused before it reaches the remote, and after the index is
 * rebuilt (no sums) the push checks every frame in full and sends it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { dv, dvOk, makeRepo, tempDir } from '../helpers/cli.js';
import { decodeFrameSums, decodePackIndex, frameSum } from '../../src/store/pack-index.js';
import { FLAG_FRAME } from '../../src/store/codec.js';
import { initHash } from '../../src/core/hash.js';

/** `lines` rows of a table that compresses about 3× (frames of it are kept). */
function table(lines: number): string {
  const rows = ['id,name,value,note'];
  let s = 7;
  for (let k = 0; k < lines; k++) {
    s = (s * 1103515245 + 12345) % 2147483648;
    rows.push(`${k},name-${s % 5000},${(s % 100000) / 100},note ${s % 977} for row ${k}`);
  }
  return rows.join('\n');
}

/** The local packs with frames: id, pack path, stored bytes, and the sums the index recorded. */
async function framePacks(repo: string): Promise<{ id: string; pack: string; size: number; sums: Map<number, string> }[]> {
  const packs = join(repo, '.dv', 'cache', 'packs');
  const db = new ClassicLevel<string, Buffer>(join(repo, '.dv', 'index'), { keyEncoding: 'utf8', valueEncoding: 'buffer' });
  try {
    const out = [];
    for (const fan of await fsp.readdir(packs))
      for (const f of await fsp.readdir(join(packs, fan))) {
        if (!f.endsWith('.idx')) continue;
        const id = f.slice(0, -4);
        const entries = decodePackIndex(await fsp.readFile(join(packs, fan, f)), id);
        if (!entries.some((e) => e.flags === FLAG_FRAME)) continue;
        const pack = join(packs, fan, `${id}.pack`);
        out.push({ id, pack, size: (await fsp.stat(pack)).size, sums: decodeFrameSums(await db.get(`p:${id}`)) });
      }
    return out;
  } finally {
    await db.close();
  }
}

test('frames are summed as written; a push refuses a frame damaged since, and checks in full without sums', async () => {
  await initHash();
  const a = await makeRepo();
  await fsp.mkdir(join(a, 'data'));
  // ~26 MB of CSV: framed packs of several MB, which a push sends whole.
  await fsp.writeFile(join(a, 'data', 'table.csv'), table(450_000));
  await dvOk(a, ['add', '-q', 'data']);
  const packs = await framePacks(a);
  const big = packs.filter((p) => p.size > 4 << 20);
  assert.ok(big.length > 0, `a framed pack of more than 4 MiB (${packs.map((p) => p.size).join(', ')})`);
  // Every frame of every pack has its sum, and it is the sum of the bytes on disk.
  for (const p of packs) {
    const entries = decodePackIndex(await fsp.readFile(p.pack.replace(/\.pack$/, '.idx')), p.id);
    const frames = new Map(entries.filter((e) => e.flags === FLAG_FRAME).map((e) => [e.offset, e.length]));
    assert.equal(p.sums.size, frames.size, `pack ${p.id.slice(0, 8)}: a sum per frame`);
    const bytes = await fsp.readFile(p.pack);
    for (const [offset, length] of frames) assert.equal(p.sums.get(offset), frameSum(bytes.subarray(offset, offset + length)));
  }

  // Damage a frame of the large pack: the push fails naming damage, and the remote gets nothing of it.
  const victim = big[0];
  const offset = [...victim.sums.keys()].sort((x, y) => x - y)[1];
  assert.ok(offset !== undefined, 'the pack has two frames');
  const original = await fsp.readFile(victim.pack);
  const damaged = Buffer.from(original);
  damaged[offset + 100] ^= 0x5a;
  await fsp.writeFile(victim.pack, damaged);
  const remote = tempDir('dv-frame-sums-remote-');
  await dvOk(a, ['remote', 'add', 'origin', remote]);
  const r = await dv(a, ['push', '-q', '-r', 'origin']);
  assert.notEqual(r.code, 0, 'a push of a damaged frame fails');
  assert.match(r.stderr, /corrupt|damaged|does not match/i);
  const sent = await fsp.readdir(join(remote, 'packs')).catch(() => [] as string[]);
  for (const fan of sent)
    for (const f of await fsp.readdir(join(remote, 'packs', fan))) assert.ok(!f.startsWith(victim.id), `${f} reached the remote`);

  // Mended, then the index rebuilt (no sums): the push checks every frame in full and sends all.
  await fsp.writeFile(victim.pack, original);
  await dvOk(a, ['fsck', '-q', '--rebuild-index']);
  assert.ok(
    (await framePacks(a)).every((p) => p.sums.size === 0),
    'a rebuilt index holds no sums',
  );
  await dvOk(a, ['push', '-q', '-r', 'origin']);
  const b = await makeRepo();
  await fsp.copyFile(join(a, 'data.dv'), join(b, 'data.dv'));
  await dvOk(b, ['remote', 'add', 'origin', remote]);
  await dvOk(b, ['pull', '-q', '-r', 'origin']);
  assert.equal(await fsp.readFile(join(b, 'data', 'table.csv'), 'utf8'), await fsp.readFile(join(a, 'data', 'table.csv'), 'utf8'));
});
