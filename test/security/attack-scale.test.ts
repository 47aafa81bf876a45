/**
 * Attack (or plain legitimate data): a change of 130,000 files in one directory, past the
 * ~125,000 where `dv status` and `dv diff` overflowed the stack (and with them the pre-commit
 * hook). Secure outcome: status, diff against the workspace and diff between two snapshots all
 * succeed and report the 130,000 added files, in bounded memory.
 */
import { describe, test } from 'node:test';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { Findings, makeBox, show, victimDv, victimRepo } from './attack-helpers.js';

const N = 130_000;
const MB = 1024 * 1024;

describe('attack: a change of 130,000 files in one directory', () => {
  test('dv status, dv diff <snapshot> and dv diff <a> <b> succeed and count every file', { timeout: 900_000 }, async () => {
    const box = await makeBox();
    const victim = await victimRepo(box);
    await fsp.mkdir(join(victim, 'data', 'many'), { recursive: true });
    await fsp.writeFile(join(victim, 'data', 'seed.txt'), 'seed\n');
    const add = await victimDv(box, victim, ['add', '-q', 'data'], { timeoutMs: 60_000 });
    if (add.code !== 0) throw new Error(show(add));
    const first = /^snapshot: (.*)$/m.exec(await fsp.readFile(join(victim, 'data.dv'), 'utf8'))![1];
    for (let i = 0; i < N; i += 2000) {
      await Promise.all(
        Array.from({ length: Math.min(2000, N - i) }, (_, k) => fsp.writeFile(join(victim, 'data', 'many', `f${i + k}`), `${i + k}\n`)),
      );
    }
    const f = new Findings('130,000 files');
    const limits = { timeoutMs: 300_000, maxRssBytes: 1500 * MB, maxOutputBytes: 256 * MB };
    const status = await victimDv(box, victim, ['status', '--json'], limits);
    let added = -1;
    try {
      added = (JSON.parse(status.stdout) as { paths: { added: string[] }[] }).paths[0].added.length;
    } catch {
      /* reported below */
    }
    f.check(
      status.code === 0 && (added === N || status.stdout.includes(String(N))),
      `dv status failed on ${N} new files (added: ${added}): ${show(status)}`,
    );
    const diffWs = await victimDv(box, victim, ['diff', first.slice(0, 12), '--json'], limits);
    f.check(diffWs.code === 0, `dv diff <snapshot> (against the workspace) failed: ${show(diffWs)}`);
    const commit = await victimDv(box, victim, ['commit', '-q', '-m', 'many'], limits);
    f.check(commit.code === 0, `dv commit failed: ${show(commit)}`);
    if (commit.code === 0) {
      const second = /^snapshot: (.*)$/m.exec(await fsp.readFile(join(victim, 'data.dv'), 'utf8'))![1];
      const diff = await victimDv(box, victim, ['diff', first.slice(0, 12), second.slice(0, 12)], limits);
      f.check(diff.code === 0 && (diff.stdout.match(/\n/g) ?? []).length >= 1, `dv diff <a> <b> failed: ${show(diff)}`);
    }
    f.done();
  });
});
