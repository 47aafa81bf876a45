import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { logSnapshot, loggedSnapshots } from '../../src/repo/reflog.js';

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);
const C = 'c'.repeat(64);

test('snapshot log: a line cut short by a kill does not swallow the next entry', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'dv-reflog-'));
  try {
    await logSnapshot(dir, A, 'data');
    // A process killed mid-append leaves a partial line without its newline.
    await fsp.appendFile(join(dir, 'snapshots.log'), `2026-11-29T00:00:00.000Z ${B.slice(0, 20)}`);
    await logSnapshot(dir, C, 'data');
    assert.deepEqual((await loggedSnapshots(dir)).sort(), [A, C]);
    const lines = (await fsp.readFile(join(dir, 'snapshots.log'), 'utf8')).split('\n');
    assert.equal(lines.length, 4, 'entry, partial line, entry, trailing empty');
    assert.ok(lines[2].includes(C));
    // Entries before a cut-off time are left out.
    assert.deepEqual(await loggedSnapshots(dir, new Date(Date.now() + 60_000)), []);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
