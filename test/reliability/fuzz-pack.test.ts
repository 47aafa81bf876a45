/**
 * Property test of the pack reader path: packs and pack indexes, valid then mutated (bytes
 * flipped, cut short, extended, replaced, and index entries rewritten by a liar who renames the
 * index after its new hash), fed to ObjectStore over a MemoryIndex. Packs may hold a zstd frame
 * of several objects (flag 2, index v2) whose entries' inner offsets are lied about too. Every read either returns
 * bytes whose hash is the id asked for, or throws a DvError; nothing else escapes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { DvError } from '../../src/errors.js';
import { initHash, blake3Hex } from '../../src/core/hash.js';
import { ObjectStore } from '../../src/store/object-store.js';
import { MemoryIndex } from '../../src/store/index-db.js';
import { writePack, packPaths, type PendingObject } from '../../src/store/pack.js';
import { decodePackIndex, encodePackIndex, type PackEntry } from '../../src/store/pack-index.js';
import { compressFrame, maybeCompress, FLAG_FRAME } from '../../src/store/codec.js';
import { tempDir } from '../helpers/cli.js';

type Mutation =
  | { on: 'pack' | 'idx'; kind: 'flip'; pos: number; byte: number }
  | { on: 'pack' | 'idx'; kind: 'cut'; at: number }
  | { on: 'pack' | 'idx'; kind: 'grow'; junk: Uint8Array }
  | { on: 'pack' | 'idx'; kind: 'replace'; bytes: Uint8Array }
  | { on: 'entry'; kind: 'lie'; which: number; field: 'offset' | 'length' | 'rawSize' | 'flags' | 'inner'; value: number }
  | { on: 'entry'; kind: 'swap'; a: number; b: number }
  | { on: 'pack'; kind: 'delete' };

const objectArb = fc.oneof(
  fc.uint8Array({ minLength: 0, maxLength: 3000 }),
  // Repetitive bytes compress, so the pack also holds zstd objects (flag 1).
  fc.tuple(fc.uint8Array({ minLength: 1, maxLength: 16 }), fc.integer({ min: 600, max: 5000 })).map(([unit, n]) => {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = unit[i % unit.length];
    return new Uint8Array(b);
  }),
);

const side = fc.constantFrom('pack' as const, 'idx' as const);
const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ on: side, kind: fc.constant('flip' as const), pos: fc.nat(), byte: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ on: side, kind: fc.constant('cut' as const), at: fc.nat() }),
  fc.record({ on: side, kind: fc.constant('grow' as const), junk: fc.uint8Array({ minLength: 1, maxLength: 600 }) }),
  fc.record({ on: side, kind: fc.constant('replace' as const), bytes: fc.uint8Array({ maxLength: 2000 }) }),
  fc.record({
    on: fc.constant('entry' as const),
    kind: fc.constant('lie' as const),
    which: fc.nat(),
    field: fc.constantFrom('offset' as const, 'length' as const, 'rawSize' as const, 'flags' as const, 'inner' as const),
    value: fc.oneof(
      fc.integer({ min: 0, max: 70_000 }),
      fc.constantFrom(0, 1, 2, 255, 2 ** 31 - 1, 2 ** 32 - 1),
      fc.integer({ min: 0, max: 2 ** 32 - 1 }),
    ),
  }),
  fc.record({ on: fc.constant('entry' as const), kind: fc.constant('swap' as const), a: fc.nat(), b: fc.nat() }),
  fc.record({ on: fc.constant('pack' as const), kind: fc.constant('delete' as const) }),
);

function mutateBytes(b: Buffer, m: Mutation): Buffer {
  if (m.kind === 'flip') {
    const out = Buffer.from(b);
    if (out.length > 0) out[m.pos % out.length] ^= m.byte;
    return out;
  }
  if (m.kind === 'cut') return b.subarray(0, b.length === 0 ? 0 : m.at % b.length);
  if (m.kind === 'grow') return Buffer.concat([b, Buffer.from(m.junk)]);
  if (m.kind === 'replace') return Buffer.from(m.bytes);
  return b;
}

function lie(entries: PackEntry[], m: Mutation): PackEntry[] {
  const out = entries.map((e) => ({ ...e }));
  if (out.length === 0) return out;
  if (m.kind === 'lie') {
    const e = out[m.which % out.length];
    // offset is 48 bits on disk, the others 32 (flags 8): keep values encodable.
    e[m.field] = m.field === 'flags' ? m.value % 256 : m.value;
    if (e.flags !== FLAG_FRAME && m.field === 'inner') e.flags = FLAG_FRAME;
  } else if (m.kind === 'swap') {
    const a = out[m.a % out.length];
    const b = out[m.b % out.length];
    [a.offset, b.offset, a.length, b.length] = [b.offset, a.offset, b.length, a.length];
  }
  return out;
}

/** Rejects with anything that is not a DvError; a DvError is a proper refusal. */
async function typed<T>(what: string, f: () => Promise<T>): Promise<T | undefined> {
  try {
    return await f();
  } catch (e) {
    assert.ok(e instanceof DvError, `${what}: ${e instanceof Error ? e.stack : String(e)}`);
    return undefined;
  }
}

test('pack reader: mutated packs and indexes give verified bytes or a DvError, never anything else', async () => {
  await initHash();
  const root = tempDir('dv-fuzz-pack-');
  let run = 0;
  const seen = { ok: 0, refused: 0, corruptIdx: 0, framed: 0 };
  try {
    await fc.assert(
      fc.asyncProperty(
        fc.array(objectArb, { minLength: 1, maxLength: 12 }),
        fc.array(mutationArb, { minLength: 1, maxLength: 3 }),
        fc.boolean(),
        fc.boolean(),
        async (raws, mutations, rename, framed) => {
          const dir = join(root, String(run++));
          const packsDir = join(dir, 'packs');
          try {
            const objects: PendingObject[] = [];
            const seenIds = new Set<string>();
            const rawOf = new Map<string, Buffer>();
            for (const r of raws) {
              const raw = Buffer.from(r);
              const id = blake3Hex(raw);
              if (seenIds.has(id)) continue;
              seenIds.add(id);
              const { data, flags } = await maybeCompress(raw);
              rawOf.set(id, raw);
              objects.push({ id, data, rawSize: raw.length, flags });
            }
            // The compressible objects become one frame, as `dv add` writes them.
            const members = objects.filter((o) => o.flags !== 0);
            if (framed && members.length >= 2) {
              const plain = members.map((o) => rawOf.get(o.id)!);
              const frame = await compressFrame(Buffer.concat(plain));
              if (frame) {
                let inner = 0;
                members.forEach((o, k) => {
                  Object.assign(o, { data: frame, flags: FLAG_FRAME, inner });
                  inner += plain[k].length;
                });
                seen.framed++;
              }
            }
            const { packId } = await writePack(packsDir, join(dir, 'tmp'), objects);
            const paths = packPaths(packsDir, packId);
            let pack: Buffer | undefined = Buffer.from(await fsp.readFile(paths.pack));
            let idx: Buffer = Buffer.from(await fsp.readFile(paths.idx));
            for (const m of mutations) {
              if (m.on === 'entry') {
                let entries: PackEntry[] | undefined;
                try {
                  entries = decodePackIndex(idx, packId);
                } catch {
                  entries = undefined;
                }
                if (entries) idx = encodePackIndex(lie(entries, m));
              } else if (m.kind === 'delete') pack = undefined;
              else if (m.on === 'pack') pack = mutateBytes(pack ?? Buffer.alloc(0), m);
              else idx = mutateBytes(idx, m);
            }
            // A liar names the index after its new hash; a damaged disk keeps the old name.
            const name = rename ? blake3Hex(idx) : packId;
            await fsp.rm(paths.pack, { force: true });
            await fsp.rm(paths.idx, { force: true });
            const out = packPaths(packsDir, name);
            await fsp.mkdir(join(out.pack, '..'), { recursive: true });
            if (pack) await fsp.writeFile(out.pack, pack);
            await fsp.writeFile(out.idx, idx);

            const store = new ObjectStore(packsDir, join(dir, 'tmp'), new MemoryIndex());
            try {
              await typed('syncPacks', () => store.syncPacks());
              const listed = await typed('readPackIndex', () => store.readPackIndex(name));
              if (!listed) seen.corruptIdx++;
              const ids = new Set([...objects.map((o) => o.id), ...(listed ?? []).map((e) => e.id)]);
              for (const id of ids) {
                const got = await typed(`get ${id}`, () => store.get(id));
                if (got) {
                  assert.equal(blake3Hex(got), id, 'bytes returned for an id hash to it');
                  seen.ok++;
                } else seen.refused++;
                const stored = await typed(`readStored ${id}`, () => store.readStored(id));
                if (stored) assert.equal(stored.id, id);
              }
              for (const e of listed ?? []) {
                const got = await typed(`readAt ${e.id}`, () =>
                  store.readAt(e.id, {
                    pack: name,
                    offset: e.offset,
                    length: e.length,
                    rawSize: e.rawSize,
                    flags: e.flags,
                    inner: e.inner ?? 0,
                  }),
                );
                if (got) assert.equal(blake3Hex(got), e.id);
              }
              await typed('idsWithPrefix', () => store.idsWithPrefix('ab', 10));
            } finally {
              await store.close();
            }
          } finally {
            await fsp.rm(dir, { recursive: true, force: true });
          }
        },
      ),
      { numRuns: 300, seed: 0x5eed },
    );
  } finally {
    await fsp.rm(root, { recursive: true, force: true });
  }
  assert.ok(seen.framed > 20, `frames exercised: ${JSON.stringify(seen)}`);
  assert.ok(seen.ok > 0 && seen.refused > 0, `both outcomes exercised: ${JSON.stringify(seen)}`);
});
