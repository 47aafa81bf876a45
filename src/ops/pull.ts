/** `dv pull`: fetch, then check out — everything a fresh `git clone` needs besides credentials. */
import type { RepoSession } from '../repo/repo.js';
import { checkout, type CheckoutResult } from './checkout.js';
import { fetch, type FetchOptions, type FetchResult } from './fetch.js';

export interface PullOptions extends FetchOptions {
  force?: boolean;
  onCheckoutProgress?: (files: number, bytes: number, total: { files: number; bytes: number; path: string }) => void;
}

export interface PullResult {
  fetch: FetchResult;
  checkout: CheckoutResult;
}

export async function pull(s: RepoSession, opts: PullOptions = {}): Promise<PullResult> {
  const f = await fetch(s, opts);
  const c = await checkout(s, {
    paths: opts.paths,
    cwd: opts.cwd,
    force: opts.force,
    jobs: opts.jobs,
    onProgress: opts.onCheckoutProgress,
  });
  return { fetch: f, checkout: c };
}
