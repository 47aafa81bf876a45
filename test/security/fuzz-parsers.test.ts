/**
 * Hostile-input fuzz, bounded in time: the parsers of everything a remote or a clone hands dv
 * (tree, file manifest, snapshot, pack index, pointer file), fed valid encodings with structural
 * mutations (rows duplicated, swapped, retyped; numbers made huge, negative or fractional; names
 * made long; bytes flipped, cut, extended), either return a value or throw a DvError, never
 * anything else, and never take long. Then the declared-size ledger over random object graphs
 * with shared subtrees, fan-out and size lies: whatever it accepts expands to exactly what the
 * root declares, so no walk through it can do more work than the root admits.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DvError } from '../../src/errors.js';
import { initHash, blake3Hex } from '../../src/core/hash.js';
import { decodeTree, encodeTree, type Tree, type TreeEntry } from '../../src/core/tree.js';
import { decodeManifest, encodeManifest } from '../../src/core/manifest.js';
import { decodeSnapshot, encodeSnapshot } from '../../src/core/snapshot.js';
import { decodePointer, encodePointer } from '../../src/core/pointer.js';
import { decodePackIndex, encodePackIndex } from '../../src/store/pack-index.js';
import { DeclaredLedger } from '../../src/core/declared.js';
import { diffTrees } from '../../src/core/diff.js';

const TIME_LIMIT = 8_000;
const hex64 = fc.stringMatching(/^[0-9a-f]{64}$/);
const name = fc.stringMatching(/^[a-z0-9._-]{1,12}$/).filter((n) => n !== '.' && n !== '..');
const count = fc.integer({ min: 0, max: 2 ** 40 });

/** Only a DvError may escape a parser; anything else (TypeError, RangeError, a hang) is a bug. */
function parses(f: () => unknown): void {
  try {
    f();
  } catch (e) {
    if (!(e instanceof DvError)) throw e;
  }
}

/** Values a liar puts where a number, name or id belongs. */
const oddValue = fc.oneof(
  fc.constantFrom(-1, 2 ** 53, 2 ** 64, 1.5, NaN, null, true, '', '..', '/', '\u0000', [], {}, 'x'.repeat(300)),
  fc.integer(),
  fc.string({ maxLength: 20 }),
  hex64,
);

const entryArb: fc.Arbitrary<TreeEntry> = fc.oneof(
  fc.record({ type: fc.constant('file' as const), name, size: count, id: hex64, chunked: fc.boolean(), exec: fc.boolean() }),
  fc.record({ type: fc.constant('dir' as const), name, size: count, id: hex64, files: count }),
  fc.record({
    type: fc.constant('link' as const),
    name,
    target: fc.string({ minLength: 1, maxLength: 20 }).filter((t) => !t.includes('\0')),
  }),
);

const treeArb = fc
  .uniqueArray(entryArb, { selector: (e) => e.name, maxLength: 12 })
  .map((entries): Tree => ({ entries: entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)) }));

type RowMutation =
  | { kind: 'dup' | 'drop'; at: number }
  | { kind: 'swap'; a: number; b: number }
  | { kind: 'field'; at: number; field: number; value: unknown }
  | { kind: 'bytes'; pos: number; byte: number }
  | { kind: 'cut'; at: number }
  | { kind: 'junk'; text: string };

const rowMutation: fc.Arbitrary<RowMutation> = fc.oneof(
  fc.record({ kind: fc.constantFrom('dup' as const, 'drop' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('swap' as const), a: fc.nat(), b: fc.nat() }),
  fc.record({ kind: fc.constant('field' as const), at: fc.nat(), field: fc.nat({ max: 5 }), value: oddValue }),
  fc.record({ kind: fc.constant('bytes' as const), pos: fc.nat(), byte: fc.nat({ max: 255 }) }),
  fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('junk' as const), text: fc.string({ maxLength: 40 }) }),
);

/** Applies a mutation to a line-based encoding (header line kept in the row list as row 0). */
function mutateLines(text: string, m: RowMutation): string {
  const lines = text.split('\n');
  const pick = (n: number): number => (lines.length === 0 ? 0 : n % lines.length);
  switch (m.kind) {
    case 'dup':
      lines.splice(pick(m.at), 0, lines[pick(m.at)]);
      break;
    case 'drop':
      lines.splice(pick(m.at), 1);
      break;
    case 'swap': {
      const a = pick(m.a);
      const b = pick(m.b);
      [lines[a], lines[b]] = [lines[b], lines[a]];
      break;
    }
    case 'field': {
      const i = pick(m.at);
      try {
        const row = JSON.parse(lines[i]);
        if (Array.isArray(row)) {
          row[m.field % Math.max(1, row.length + 1)] = m.value;
          lines[i] = JSON.stringify(row) ?? '';
        } else if (row && typeof row === 'object') {
          const k = Object.keys(row);
          if (k.length) row[k[m.field % k.length]] = m.value;
          lines[i] = JSON.stringify(row);
        }
      } catch {
        /* the header line */
      }
      break;
    }
    case 'bytes': {
      const b = Buffer.from(lines.join('\n'));
      if (b.length) b[m.pos % b.length] = m.byte;
      return b.toString('latin1');
    }
    case 'cut':
      return lines.join('\n').slice(0, m.at % (text.length + 1));
    case 'junk':
      lines.push(m.text);
      break;
  }
  return lines.join('\n');
}

function mutateBytes(b: Buffer, m: RowMutation): Buffer {
  const out = Buffer.from(b);
  if (m.kind === 'bytes' && out.length) {
    out[m.pos % out.length] = m.byte;
    return out;
  }
  if (m.kind === 'cut') return out.subarray(0, m.at % (out.length + 1));
  if (m.kind === 'junk') return Buffer.concat([out, Buffer.from(m.text)]);
  if (m.kind === 'field' && typeof m.value === 'number' && out.length > 12) {
    // A count or size field overwritten with a liar's number.
    out.writeUInt32BE(Math.abs(m.value) >>> 0 || 0xffffffff, 9 + (m.at % Math.max(1, out.length - 13)));
    return out;
  }
  return out;
}

test('tree, snapshot and pointer parsers: structural mutations give a value or a DvError', { timeout: 60_000 }, async () => {
  await initHash();
  await fc.assert(
    fc.property(treeArb, fc.array(rowMutation, { minLength: 1, maxLength: 4 }), (tree, ms) => {
      let text = encodeTree(tree).toString('utf8');
      for (const m of ms) text = mutateLines(text, m);
      parses(() => decodeTree(Buffer.from(text, 'utf8'), 'fuzz'));
    }),
    { numRuns: 3000, seed: 0x7ee, interruptAfterTimeLimit: TIME_LIMIT },
  );

  const snapArb = fc.record({
    tree: hex64,
    parents: fc.array(hex64, { maxLength: 3 }),
    size: count,
    files: count,
    message: fc.string({ maxLength: 30 }),
    path: name,
  });
  await fc.assert(
    fc.property(snapArb, fc.array(rowMutation, { minLength: 1, maxLength: 4 }), (s, ms) => {
      const bytes = encodeSnapshot({ ...s, kind: 'dir', author: 'a', time: 't', lineage: { git: null, dv: '1', meta: {} } });
      // The JSON body is one line: mutate its fields as a row.
      let text = bytes.toString('utf8');
      for (const m of ms) text = mutateLines(text, m);
      parses(() => decodeSnapshot(Buffer.from(text, 'utf8'), 'fuzz'));
    }),
    { numRuns: 2000, seed: 0x5a9, interruptAfterTimeLimit: TIME_LIMIT },
  );

  await fc.assert(
    fc.property(hex64, hex64, count, count, fc.array(rowMutation, { minLength: 1, maxLength: 4 }), (snapshot, tree, size, files, ms) => {
      // With the source line `dv import` writes (url, rev, commit, path, snapshot), so its decoder is fuzzed too.
      const source = { url: '../up', rev: 'main', commit: tree.slice(0, 40), path: 'data', snapshot };
      let text = encodePointer({ path: 'data', kind: 'dir', snapshot, tree, size, files, source });
      for (const m of ms) text = mutateLines(text, m);
      parses(() => decodePointer(text, 'fuzz.dv'));
    }),
    { numRuns: 2000, seed: 0x901, interruptAfterTimeLimit: TIME_LIMIT },
  );
});

test('manifest and pack index parsers: counts, sizes and bytes that lie give a value or a DvError', { timeout: 60_000 }, async () => {
  const childArb = fc.record({ id: hex64, size: fc.integer({ min: 0, max: 2 ** 47 }) });
  await fc.assert(
    fc.property(
      fc.nat({ max: 9 }),
      fc.array(childArb, { minLength: 1, maxLength: 40 }),
      fc.array(rowMutation, { maxLength: 3 }),
      (level, children, ms) => {
        let b = encodeManifest({ level: level % 256, children });
        for (const m of ms) b = mutateBytes(b, m);
        parses(() => decodeManifest(b, 'fuzz'));
      },
    ),
    { numRuns: 3000, seed: 0x3a1, interruptAfterTimeLimit: TIME_LIMIT },
  );

  const entry = fc.record({
    id: hex64,
    offset: fc.integer({ min: 0, max: 2 ** 40 }),
    length: fc.nat(),
    rawSize: fc.nat(),
    flags: fc.nat({ max: 3 }),
    inner: fc.nat(),
  });
  await fc.assert(
    fc.property(fc.uniqueArray(entry, { selector: (e) => e.id, maxLength: 30 }), fc.array(rowMutation, { maxLength: 3 }), (entries, ms) => {
      let b: Buffer;
      try {
        b = encodePackIndex(entries);
      } catch {
        return;
      }
      for (const m of ms) b = mutateBytes(b, m);
      parses(() => decodePackIndex(b, 'fuzz'));
    }),
    { numRuns: 3000, seed: 0x1d8, interruptAfterTimeLimit: TIME_LIMIT },
  );
});

/**
 * A random object graph: trees at levels 0..depth, each naming up to `fan` trees of the level
 * below (shared freely) and files; each entry's declared size and count is the truth or a lie.
 */
const graphArb = fc.record({
  depth: fc.integer({ min: 1, max: 4 }),
  perLevel: fc.integer({ min: 1, max: 3 }),
  rows: fc.array(
    fc.record({
      fan: fc.integer({ min: 0, max: 6 }),
      files: fc.integer({ min: 0, max: 3 }),
      pick: fc.array(fc.nat(), { minLength: 6, maxLength: 6 }),
      lie: fc.array(fc.integer({ min: -2, max: 2 }), { minLength: 6, maxLength: 6 }),
      lieOften: fc.boolean(),
    }),
    { minLength: 20, maxLength: 20 },
  ),
});

test('declared sizes: whatever the ledger accepts expands to exactly what the root declares', { timeout: 60_000 }, async () => {
  await initHash();
  let refused = 0;
  let accepted = 0;
  await fc.assert(
    fc.asyncProperty(graphArb, async ({ depth, perLevel, rows }) => {
      const trees = new Map<string, Tree>();
      const truth = new Map<string, { size: number; files: number }>();
      let below: string[] = [];
      let r = 0;
      for (let level = 0; level <= depth; level++) {
        const here: string[] = [];
        for (let k = 0; k < (level === depth ? 1 : perLevel); k++) {
          const row = rows[r++ % rows.length];
          const entries: TreeEntry[] = [];
          let size = 0;
          let files = 0;
          for (let f = 0; f < row.files; f++) {
            entries.push({
              type: 'file',
              name: `f${f}`,
              size: f + 1,
              id: blake3Hex(Buffer.from(`chunk${f}`)),
              chunked: false,
              exec: false,
            });
            size += f + 1;
            files += 1;
          }
          for (let d = 0; d < (below.length ? row.fan : 0); d++) {
            const id = below[row.pick[d] % below.length];
            const t = truth.get(id)!;
            // A liar shifts a declared count; a third of graphs lie somewhere.
            const lie = row.lieOften ? row.lie[d] : 0;
            entries.push({
              type: 'dir',
              name: `d${d}`,
              size: Math.max(0, t.size + lie),
              id,
              files: Math.max(0, t.files + (lie > 0 ? 1 : 0)),
            });
            size += t.size;
            files += t.files;
          }
          entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
          const id = blake3Hex(encodeTree({ entries }));
          trees.set(id, { entries });
          truth.set(id, { size, files });
          here.push(id);
        }
        below = here;
      }
      const root = below[0];
      // Walk every path like a checkout would (no memo), through the ledger as treeLoader does.
      const ledger = new DeclaredLedger({ files: false });
      const load = async (id: string): Promise<Tree> => {
        const t = trees.get(id)!;
        ledger.tree(id, t);
        return t;
      };
      const rootDeclared = (() => {
        let s = 0;
        let f = 0;
        for (const e of trees.get(root)!.entries) {
          if (e.type === 'dir') {
            s += e.size;
            f += e.files;
          } else if (e.type === 'file') {
            s += e.size;
            f++;
          }
        }
        return { size: s, files: f };
      })();
      let seen = 0;
      let bytes = 0;
      try {
        await diffTrees(null, root, load, '', (c) => {
          seen++;
          bytes += c.size ?? 0;
          // Fail fast inside the walk too: more than the root declares is a ledger bug.
          if (seen > rootDeclared.files) throw new Error(`walked ${seen} files, the root declares ${rootDeclared.files}`);
        });
      } catch (e) {
        if (e instanceof DvError && e.code === 'BAD_OBJECT') {
          refused++;
          return;
        }
        throw e;
      }
      accepted++;
      assert.equal(seen, rootDeclared.files);
      assert.equal(bytes, rootDeclared.size);
    }),
    { numRuns: 400, seed: 0xdec1, interruptAfterTimeLimit: TIME_LIMIT * 2 },
  );
  // Both outcomes happen: the property is not vacuous.
  assert.ok(refused > 10 && accepted > 10, `refused ${refused}, accepted ${accepted}`);
});

test('declared sizes: a manifest tree is accepted only when its chunks add up to the file', () => {
  const chunk = (n: number): string => blake3Hex(Buffer.from(`c${n}`));
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 1, max: 1000 }), { minLength: 1, maxLength: 8 }),
      fc.integer({ min: -3, max: 3 }),
      fc.nat({ max: 7 }),
      (sizes, lie, at) => {
        const leaf = { level: 0, children: sizes.map((s, k) => ({ id: chunk(k), size: s })) };
        const leafId = blake3Hex(encodeManifest(leaf));
        const total = sizes.reduce((a, b) => a + b, 0);
        // The top node names the leaf node three times: a shared child, counted each time.
        const top = { level: 1, children: [0, 1, 2].map(() => ({ id: leafId, size: total + (at === 0 ? lie : 0) })) };
        const topId = blake3Hex(encodeManifest(top));
        const ledger = new DeclaredLedger();
        const declaredFile = 3 * total + (at === 1 ? lie : 0);
        const tree: Tree = { entries: [{ type: 'file', name: 'big', size: declaredFile, id: topId, chunked: true, exec: false }] };
        const honest = at > 2 || lie === 0;
        try {
          ledger.tree('t'.repeat(64), tree);
          ledger.manifest(topId, top);
          ledger.manifest(leafId, leaf);
          for (const [k, s] of sizes.entries()) ledger.chunk(chunk(k), s + (at === 2 && k === 0 ? lie : 0));
        } catch (e) {
          assert.ok(e instanceof DvError && e.code === 'BAD_OBJECT', String(e));
          assert.ok(!honest, `an honest manifest was refused: ${(e as Error).message}`);
          return;
        }
        assert.ok(honest, 'a lie was accepted');
      },
    ),
    { numRuns: 1000, seed: 0x3a2 },
  );
});
