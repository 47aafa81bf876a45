/**
 * Chunker micro-benchmark: MB/s of input for the JS reference `nextCut` and the WebAssembly one
 * (a chain of cuts over the input), and for the candidate scan the parallel split uses (JS and
 * wasm). Best of N runs; the machine's load is printed beside, since other processes skew it.
 *   npm run build && node dist/benchmarks/chunker.js [MiB] [runs]
 */
import { randomFillSync } from 'node:crypto';
import { loadavg } from 'node:os';
import { nextCut } from '../src/core/chunker.js';
import { WasmChunker } from '../src/core/chunker-wasm.js';
import { CAND_RATIO, scanCandidates } from '../src/core/chunker-split.js';

const mib = Number(process.argv[2] ?? 256);
const runs = Number(process.argv[3] ?? 5);
const size = mib * 1024 * 1024;
const wasm = WasmChunker.create(size + size / 16)!;
const data = wasm.alloc(size);
for (let at = 0; at < size; at += 1 << 16) randomFillSync(data, at, Math.min(1 << 16, size - at));
const candBytes = wasm.alloc(Math.ceil(size / CAND_RATIO) * 4);
const wasmList = new Uint32Array(candBytes.buffer, candBytes.byteOffset, candBytes.length / 4);
const jsList = new Uint32Array(wasmList.length);

function chain(cut: (start: number) => number): number {
  let n = 0;
  for (let pos = 0; pos < size; n++) pos += cut(pos);
  return n;
}
const cases: [string, () => number][] = [
  ['nextCut JS (reference)', () => chain((s) => nextCut(data, s, size, true))],
  ['nextCut wasm', () => chain((s) => wasm.nextCut(data, s, size, true))],
  ['candidate scan JS', () => scanCandidates(data, 0, size, jsList)],
  ['candidate scan wasm', () => wasm.scan(data, 0, size, wasmList)],
];
console.log(
  `${mib} MiB random, best of ${runs}; load ${loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')}`,
);
for (const [name, fn] of cases) {
  let best = Infinity;
  let out = 0;
  for (let r = 0; r < runs; r++) {
    const t = performance.now();
    out = fn();
    best = Math.min(best, performance.now() - t);
  }
  console.log(`${name.padEnd(26)} ${(size / best / 1e3).toFixed(0).padStart(6)} MB/s  (${out} chunks/candidates)`);
}
console.log(
  `load after ${loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')}`,
);
