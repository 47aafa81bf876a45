import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Backend } from '../../src/backend/backend.js';
import { isTransient, withRetry } from '../../src/backend/retry.js';
import { DvError, fsError } from '../../src/errors.js';
import { collect, rejectsWith } from './conformance.js';

const transient = () => new DvError('REMOTE_ERROR', 'flaky', { transient: true });

/** A backend whose get() fails with the queued errors, then answers; it counts calls. */
function fake(errors: unknown[], listRuns: Array<{ keys: string[]; fail?: unknown }> = []) {
  const queue = [...errors];
  const state = { calls: 0, listCalls: 0, closed: false };
  const no = async (): Promise<never> => {
    throw new Error('not used');
  };
  const be: Backend = {
    location: 'fake://',
    async get() {
      state.calls++;
      const e = queue.shift();
      if (e !== undefined) throw e;
      return Buffer.from('ok');
    },
    async *list() {
      const run = listRuns[state.listCalls++] ?? { keys: [] };
      for (const key of run.keys) yield { key, size: key.length };
      if (run.fail) throw run.fail;
    },
    put: no,
    putFile: no,
    getRange: no,
    stat: no,
    delete: no,
    check: no,
    async close() {
      state.closed = true;
    },
  };
  return { be, state };
}

describe('withRetry', () => {
  test('budgetMs: a timed-out attempt past the budget is not retried; other transient failures still are', async () => {
    const slowTimeout = async (): Promise<never> => {
      await new Promise((r) => setTimeout(r, 30));
      throw new DvError('REMOTE_UNREACHABLE', 'no answer in time', { transient: true, timedOut: true });
    };
    const hung = fake([]);
    hung.be.get = async () => {
      hung.state.calls++;
      return slowTimeout();
    };
    await rejectsWith(withRetry(hung.be, { baseMs: 1, budgetMs: 20 }).get('k'), 'REMOTE_UNREACHABLE');
    assert.equal(hung.state.calls, 1, 'a hung remote is tried once when its attempt used up the budget');
    // A dropped connection late in a long operation (a large upload) is retried whatever the elapsed time.
    const long = fake([]);
    const errors = [transient(), transient()];
    long.be.get = async () => {
      long.state.calls++;
      await new Promise((r) => setTimeout(r, 30));
      const e = errors.shift();
      if (e) throw e;
      return Buffer.from('ok');
    };
    assert.equal((await withRetry(long.be, { baseMs: 1, budgetMs: 20 }).get('k')).toString(), 'ok');
    assert.equal(long.state.calls, 3);
  });

  test('retries transient errors, then returns the answer', async () => {
    const { be, state } = fake([transient(), new DvError('REMOTE_UNREACHABLE', 'down')]);
    const seen: Array<{ op: string; key: string; attempt: number }> = [];
    const r = withRetry(be, { baseMs: 1, onRetry: ({ op, key, attempt }) => seen.push({ op, key, attempt }) });
    assert.equal((await r.get('k')).toString(), 'ok');
    assert.equal(state.calls, 3);
    assert.deepEqual(seen, [
      { op: 'get', key: 'k', attempt: 1 },
      { op: 'get', key: 'k', attempt: 2 },
    ]);
  });

  test('never retries permanent errors', async () => {
    const permanent = [
      new DvError('OBJECT_MISSING', 'gone'),
      new DvError('AUTH_FAILED', 'no'),
      new DvError('REMOTE_NOT_FOUND', 'no bucket'),
      new DvError('USAGE', 'bad key'),
      new DvError('REMOTE_ERROR', 'refused', { transient: false }),
      fsError(Object.assign(new Error('EACCES'), { code: 'EACCES' }), '/x'),
      fsError(Object.assign(new Error('ENOSPC'), { code: 'ENOSPC' }), '/x'),
      new TypeError('a bug'),
    ];
    for (const err of permanent) {
      const { be, state } = fake([err]);
      await assert.rejects(withRetry(be, { baseMs: 1 }).get('k'), (e) => e === err);
      assert.equal(state.calls, 1, String(err));
    }
  });

  test('gives up after `attempts` with the last error', async () => {
    const errs = Array.from({ length: 10 }, transient);
    const { be, state } = fake(errs);
    await assert.rejects(withRetry(be, { attempts: 4, baseMs: 1 }).get('k'), (e) => e === errs[3]);
    assert.equal(state.calls, 4);
  });

  test('backoff is exponential, capped and jittered', async () => {
    const { be } = fake(Array.from({ length: 5 }, transient));
    const delays: number[] = [];
    const r = withRetry(be, { attempts: 6, baseMs: 4, maxMs: 20, random: () => 0.999, onRetry: (i) => delays.push(i.delayMs) });
    await r.get('k');
    assert.deepEqual(delays, [3, 7, 15, 19, 19]);
    const zero: number[] = [];
    await withRetry(fake([transient()]).be, { baseMs: 1000, random: () => 0, onRetry: (i) => zero.push(i.delayMs) }).get('k');
    assert.deepEqual(zero, [0]);
  });

  test('no retry starts after the signal aborts, even mid-backoff', async () => {
    const ac = new AbortController();
    const { be, state } = fake(Array.from({ length: 5 }, transient));
    const t0 = Date.now();
    setTimeout(() => ac.abort(), 30);
    await rejectsWith(withRetry(be, { baseMs: 10_000, random: () => 1, signal: ac.signal }).get('k'), 'INTERRUPTED');
    assert.equal(state.calls, 1);
    assert.ok(Date.now() - t0 < 2000);
    const before = fake([]);
    await rejectsWith(withRetry(before.be, { signal: AbortSignal.abort() }).get('k'), 'INTERRUPTED');
    assert.equal(before.state.calls, 0);
  });

  test('a list that fails midway restarts without repeating keys', async () => {
    const { be, state } = fake([], [{ keys: ['c', 'a', 'b'], fail: transient() }, { keys: ['c', 'a', 'b', 'd', 'e'] }]);
    const got = await collect(withRetry(be, { baseMs: 1 }).list(''));
    assert.deepEqual(
      got.map((e) => e.key),
      ['c', 'a', 'b', 'd', 'e'],
    );
    assert.equal(state.listCalls, 2);
  });

  test('a list failing permanently is not restarted', async () => {
    const { be, state } = fake([], [{ keys: ['a'], fail: new DvError('AUTH_FAILED', 'no') }]);
    await rejectsWith(collect(withRetry(be, { baseMs: 1 }).list('')), 'AUTH_FAILED');
    assert.equal(state.listCalls, 1);
  });

  test('a streamed range: a synchronous sink stays synchronous; a retry resumes after the bytes given; a sink failure is not retried', async () => {
    const data = Buffer.from('abcdefghijklmnopqrstuvwxyz');
    const { be } = fake([]);
    let attempts = 0;
    const returned: unknown[] = [];
    // Hands 4-byte pieces; the first attempt drops the connection after 10 bytes.
    be.getRangeTo = async (_key, offset, length, sink) => {
      const first = attempts++ === 0;
      for (let at = offset; at < offset + length; at += 4) {
        if (first && at >= offset + 10) throw Object.assign(new Error('reset'), { code: 'ECONNRESET' });
        const r = sink(data.subarray(at, Math.min(at + 4, offset + length)));
        returned.push(r);
        await r;
      }
    };
    const got: Buffer[] = [];
    await withRetry(be, { baseMs: 1 }).getRangeTo!('k', 2, 20, (piece) => {
      got.push(Buffer.from(piece));
    });
    assert.equal(Buffer.concat(got).toString(), data.subarray(2, 22).toString(), 'each byte once, in order');
    assert.equal(attempts, 2);
    // A promise for every piece made the direct S3 reader stop and restart its socket after each read.
    assert.deepEqual(
      returned.filter((r) => r !== undefined),
      [],
    );
    const failure = new Error('disk full');
    attempts = 1;
    await assert.rejects(
      withRetry(be, { baseMs: 1 }).getRangeTo!('k', 0, 8, async () => {
        throw failure;
      }),
      (e) => e === failure,
    );
    assert.equal(attempts, 2, 'not retried');
  });

  test('close and location pass through', async () => {
    const { be, state } = fake([]);
    const r = withRetry(be);
    assert.equal(r.location, 'fake://');
    await r.close?.();
    assert.equal(state.closed, true);
  });
});

describe('isTransient', () => {
  test('classifies DvErrors and raw network errors', () => {
    assert.equal(isTransient(new DvError('REMOTE_UNREACHABLE', 'x')), true);
    assert.equal(isTransient(new DvError('REMOTE_ERROR', 'x', { transient: true })), true);
    assert.equal(isTransient(new DvError('REMOTE_ERROR', 'x', { transient: false })), false);
    assert.equal(isTransient(new DvError('OBJECT_CORRUPT', 'x')), false);
    assert.equal(isTransient(Object.assign(new Error('reset'), { code: 'ECONNRESET' })), true);
    assert.equal(isTransient(new Error('plain')), false);
    assert.equal(isTransient(undefined), false);
  });
});
