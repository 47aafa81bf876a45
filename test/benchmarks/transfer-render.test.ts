/**
 * The transfer benchmark's verdicts (benchmarks/transfer.ts `render`): with several rounds the
 * targets compare each tool's median, and a round that failed leaves its target not measured.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { render, type TransferRow } from '../../benchmarks/transfer.js';

const row = (tool: string, seconds: number): TransferRow => ({ op: 'pull from s3rver', tool, seconds, cpu: null, rssMB: null, mbps: null });
const verdict = (out: string): string | undefined => out.split('\n').find((l) => l.startsWith('| pull from s3rver at least'));

test('three rounds: the target compares medians, not the first round', () => {
  // First round: dv slower (5.0 vs 3.0); medians: dv 3.1, rclone 3.2.
  const rows = [
    row('dv pull', 5.0),
    row('rclone copy', 3.0),
    row('dv pull', 3.1),
    row('rclone copy', 3.2),
    row('dv pull', 3.0),
    row('rclone copy', 3.4),
  ];
  assert.equal(verdict(render(rows, [], false)), '| pull from s3rver at least as fast as rclone copy | 3.10 s | 3.20 s | met |');
  const slower = [
    row('dv pull', 3.0),
    row('rclone copy', 3.2),
    row('dv pull', 3.5),
    row('rclone copy', 3.1),
    row('dv pull', 3.6),
    row('rclone copy', 3.3),
  ];
  assert.equal(verdict(render(slower, [], false)), '| pull from s3rver at least as fast as rclone copy | 3.50 s | 3.20 s | NOT MET |');
});

test('a failed round leaves the target not measured', () => {
  const rows = [row('dv pull', 3.0), row('rclone copy', 3.2), row('dv pull', Number.NaN), row('rclone copy', 3.1)];
  assert.match(verdict(render(rows, [], false)) ?? '', /not measured/);
});
