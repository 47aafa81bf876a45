import { setTimeout as sleep } from 'node:timers/promises';
import { DvError, isDvError } from '../errors.js';
import type { Backend, RangeSink } from './backend.js';

/** What a retry reports: `attempt` (of `attempts`) failed on `location`/`key`, the next starts in `delayMs`. */
export interface RetryInfo {
  op: string;
  location: string;
  key: string;
  attempt: number;
  attempts: number;
  delayMs: number;
  error: unknown;
}

/** The short cause of a failure for a retry line: the detail in a dv error's parentheses (SlowDown, ETIMEDOUT), else its code. */
export function retryCause(error: unknown): string {
  const e = error as { code?: unknown; message?: unknown } | undefined;
  const detail = typeof e?.message === 'string' ? /\(([^()]{1,80})\)/.exec(e.message)?.[1] : undefined;
  return detail ?? (typeof e?.code === 'string' ? e.code : 'error');
}

export interface RetryOptions {
  /** Total attempts, the first one included. */
  attempts?: number;
  baseMs?: number;
  maxMs?: number;
  /** Called before each retry's wait; `attempt` is the number of the attempt that failed. */
  onRetry?: (info: RetryInfo) => void;
  /** Once aborted, no new attempt starts; the wrapper throws INTERRUPTED. */
  signal?: AbortSignal;
  /** Randomness for the jitter, replaceable so tests are deterministic. */
  random?: () => number;
  /**
   * After an attempt that timed out (`isTimeout`), no retry starts once this many ms have passed
   * since the operation's first attempt began, and no wait runs past it: a hung server (each
   * attempt lasting the whole request timeout) fails once, in about the configured timeout,
   * instead of attempts × timeout. Other transient failures (a dropped connection during a long
   * upload, SlowDown) are retried up to `attempts` however long the operation has run.
   */
  budgetMs?: number;
}

const TRANSIENT_NODE_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

/**
 * Whether retrying the failed operation may help: unreachable remotes and remote errors
 * not marked `data.transient === false`. Missing objects, auth, space, permission and
 * usage errors are permanent.
 */
export function isTransient(err: unknown): boolean {
  if (isDvError(err)) {
    if (err.code === 'REMOTE_UNREACHABLE') return true;
    if (err.code === 'REMOTE_ERROR') return err.data.transient !== false;
    return false;
  }
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && TRANSIENT_NODE_CODES.has(code);
}

/** Whether the failure is the remote not answering in time (the backends mark it `data.timedOut`). */
export function isTimeout(err: unknown): boolean {
  if (isDvError(err)) return err.data.timedOut === true;
  return (err as { code?: unknown } | undefined)?.code === 'ETIMEDOUT';
}

function interrupted(cause: unknown): DvError {
  return new DvError('INTERRUPTED', 'stopped before the operation could be retried', {}, { cause });
}

/**
 * Wraps a backend so that transient failures are retried with exponential backoff and
 * full jitter. Permanent errors pass through at once; no retry starts after `signal` aborts.
 * A failed `list` is restarted and skips the keys it already yielded.
 */
export function withRetry(backend: Backend, opts: RetryOptions = {}): Backend {
  const attempts = Math.max(1, opts.attempts ?? 6);
  const baseMs = opts.baseMs ?? 100;
  const maxMs = opts.maxMs ?? 5000;
  const random = opts.random ?? Math.random;
  const signal = opts.signal;

  const budgetMs = opts.budgetMs ?? Number.POSITIVE_INFINITY;

  async function backoff(op: string, key: string, attempt: number, error: unknown, startedAt: number): Promise<void> {
    if (attempt >= attempts || !isTransient(error)) throw error;
    if (signal?.aborted) throw interrupted(error);
    const delayMs = Math.floor(random() * Math.min(maxMs, baseMs * 2 ** (attempt - 1)));
    if (isTimeout(error) && Date.now() - startedAt + delayMs >= budgetMs) throw error;
    opts.onRetry?.({ op, location: backend.location, key, attempt, attempts, delayMs, error });
    try {
      await sleep(delayMs, undefined, signal ? { signal } : undefined);
    } catch {
      throw interrupted(error);
    }
  }

  async function run<T>(op: string, key: string, fn: () => Promise<T>): Promise<T> {
    const startedAt = Date.now();
    for (let attempt = 1; ; attempt++) {
      if (signal?.aborted) throw interrupted(signal.reason);
      try {
        return await fn();
      } catch (err) {
        await backoff(op, key, attempt, err, startedAt);
      }
    }
  }

  async function* list(prefix: string): AsyncIterable<{ key: string; size: number }> {
    // Remembers what it yielded rather than the last key: not every store lists in key
    // order (s3rver walks directories), and a restarted listing must not repeat or skip.
    const seen = new Set<string>();
    const startedAt = Date.now();
    for (let attempt = 1; ; attempt++) {
      if (signal?.aborted) throw interrupted(signal.reason);
      try {
        for await (const entry of backend.list(prefix)) {
          if (seen.has(entry.key)) continue;
          seen.add(entry.key);
          yield entry;
        }
        return;
      } catch (err) {
        await backoff('list', prefix, attempt, err, startedAt);
      }
    }
  }

  /**
   * A streamed range resumes where it stopped: a retry asks only for the bytes not yet handed to the
   * sink, so the sink sees each byte once, in order, however many attempts it took.
   */
  async function getRangeTo(key: string, offset: number, length: number, sink: RangeSink): Promise<void> {
    let given = 0;
    // A failure of the sink itself is never retried: it is passed on as it is.
    let sinkFailed: { e: unknown } | undefined;
    // Synchronous where the sink is: a promise for every piece made the direct reader (s3direct.ts)
    // stop and restart its socket after each read (6,000 times a GiB), waiting for a microtask each time.
    const counted: RangeSink = (piece) => {
      given += piece.length;
      let r: void | Promise<void>;
      try {
        r = sink(piece);
      } catch (e) {
        sinkFailed = { e };
        throw e;
      }
      if (!(r instanceof Promise)) return r;
      return r.catch((e: unknown) => {
        sinkFailed = { e };
        throw e;
      });
    };
    if (sink.room) counted.room = sink.room;
    const stop = new DvError('INTERRUPTED', 'the sink of a streamed range failed');
    try {
      await run('getRange', key, async () => {
        if (given === length && given > 0) return;
        await backend.getRangeTo!(key, offset + given, length - given, counted).catch((e: unknown) => {
          throw sinkFailed ? stop : e;
        });
      });
    } catch (e) {
      throw sinkFailed ? sinkFailed.e : e;
    }
  }

  const wrapped: Backend = {
    location: backend.location,
    put: (key, data) => run('put', key, () => backend.put(key, data)),
    putFile: (key, localPath) => run('putFile', key, () => backend.putFile(key, localPath)),
    get: (key, o) => run('get', key, () => backend.get(key, o)),
    getRange: (key, offset, length, into) => run('getRange', key, () => backend.getRange(key, offset, length, into)),
    stat: (key) => run('stat', key, () => backend.stat(key)),
    list,
    delete: (key) => run('delete', key, () => backend.delete(key)),
    check: () => run('check', '', () => backend.check()),
  };
  if (backend.getRangeTo) wrapped.getRangeTo = getRangeTo;
  if (backend.close) wrapped.close = () => backend.close!();
  if (backend.sweepLeftovers) wrapped.sweepLeftovers = (age, dryRun) => run('sweep', '', () => backend.sweepLeftovers!(age, dryRun));
  return wrapped;
}
