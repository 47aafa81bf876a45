import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DvError } from '../errors.js';
import type { Backend } from './backend.js';
import { validateKey } from './keys.js';
import { LocalBackend } from './local.js';
import { withRetry, type RetryOptions } from './retry.js';
import type { S3BackendOptions } from './s3.js';

export type RemoteUrl = { kind: 'local'; path: string } | { kind: 's3'; bucket: string; prefix: string };

export interface OpenBackendOptions {
  /** Base for relative directory paths; defaults to process.cwd(). */
  cwd?: string;
  /** Local remotes: create the directory on first write. */
  create?: boolean;
  /** S3 remotes: endpoint, region, profile, checksum, timeouts, ... */
  s3?: Omit<S3BackendOptions, 'bucket' | 'prefix'>;
  /** Retry settings, or false for the raw backend. */
  retry?: RetryOptions | false;
}

const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):/;

function usage(url: string, why: string): DvError {
  return new DvError('USAGE', `unsupported remote URL ${JSON.stringify(url)}: ${why}`, { url });
}

/**
 * Parses a remote location: `s3://bucket[/prefix]`, `file:///dir`, or a directory path
 * (absolute, or relative to `cwd`). Anything else is a USAGE error naming the URL.
 */
export function parseRemoteUrl(url: string, cwd: string = process.cwd()): RemoteUrl {
  if (typeof url !== 'string' || url.trim() === '') throw usage(String(url), 'give a directory path or s3://bucket/prefix');
  if (path.isAbsolute(url)) return { kind: 'local', path: path.resolve(url) };
  const scheme = SCHEME.exec(url)?.[1]?.toLowerCase();
  if (scheme === undefined) return { kind: 'local', path: path.resolve(cwd, url) };
  if (scheme === 'file') {
    try {
      return { kind: 'local', path: fileURLToPath(url) };
    } catch (e) {
      throw usage(url, `${(e as Error).message.split('\n')[0]}; use file:///absolute/path`);
    }
  }
  if (scheme !== 's3') throw usage(url, 'use a directory path or s3://bucket/prefix');
  const m = /^s3:\/\/([^/?#]*)(?:\/([^?#]*))?$/i.exec(url);
  if (!m) throw usage(url, 'expected s3://bucket/prefix without query or fragment');
  const bucket = m[1] ?? '';
  if (!BUCKET.test(bucket) || bucket.includes('..')) throw usage(url, `${JSON.stringify(bucket)} is not a valid bucket name`);
  const prefix = (m[2] ?? '').replace(/\/+$/, '');
  if (prefix !== '') {
    try {
      validateKey(prefix);
    } catch {
      throw usage(url, `the prefix ${JSON.stringify(prefix)} must be '/'-separated names of [A-Za-z0-9._-]`);
    }
  }
  return { kind: 's3', bucket, prefix };
}

/**
 * Opens the backend for a remote URL, wrapped in retries: the one place where backend
 * wrappers are composed. The AWS SDK is loaded only for an S3 remote (~150 ms of startup).
 */
export async function openBackend(url: string, opts: OpenBackendOptions = {}): Promise<Backend> {
  const parsed = parseRemoteUrl(url, opts.cwd);
  const raw: Backend =
    parsed.kind === 'local'
      ? new LocalBackend(parsed.path, { create: opts.create })
      : new (await import('./s3.js')).S3Backend({ ...opts.s3, bucket: parsed.bucket, prefix: parsed.prefix });
  if (opts.retry === false) return raw;
  // An S3 operation retries only within its remote's timeout (remote.NAME.timeout): against a
  // hung server the command fails in about that time, not attempts × timeout.
  const budgetMs = parsed.kind === 's3' ? (opts.s3?.timeoutMs ?? 30_000) : undefined;
  return withRetry(raw, { budgetMs, ...opts.retry });
}
