/**
 * The refusals of `dv ui`, before any request reaches the repository: which Host headers are
 * answered, which methods, and what a query string may hold. Pure: no I/O.
 *
 * Invariants:
 * - bound to a loopback address, the server answers only a Host that names it exactly
 *   (`127.0.0.1:PORT`, `localhost:PORT`, `[::1]:PORT`): a page of another site that rebinds its
 *   DNS name to 127.0.0.1 sends its own name as Host and is refused (403) before anything is read;
 * - read only: GET and HEAD, anything else is 405 with `Allow`;
 * - a revision from a query string is text git will only see after `--end-of-options`
 *   (repo/git-revision.ts), and is refused here first when empty, over MAX_REV characters, starting
 *   with `-` or holding a control character or `:` (a `rev:path` is not a revision);
 * - numbers (offset, limit) are whole, in range, and default when absent: a page is bounded.
 */

export const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1']);
const MAX_REV = 256;

/**
 * The Host values a server bound to `host:port` answers: its loopback names, or the one address
 * it was bound to; undefined (any) only for a wildcard address, whose name dv cannot know.
 */
export function allowedHosts(host: string, port: number): Set<string> | undefined {
  if (LOOPBACK.has(host)) return new Set([`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`]);
  if (host === '0.0.0.0' || host === '::') return undefined;
  return new Set([`${host.includes(':') ? `[${host}]` : host.toLowerCase()}:${port}`]);
}

/** Whether a request's Host header may be answered. */
export function hostAllowed(allowed: Set<string> | undefined, header: string | undefined): boolean {
  return allowed === undefined || (header !== undefined && allowed.has(header.toLowerCase()));
}

export const ALLOWED_METHODS = 'GET, HEAD';

export function methodAllowed(method: string | undefined): boolean {
  return method === 'GET' || method === 'HEAD';
}

/** A refusal of a query parameter: the page shows the message, the status is 400. */
export class BadQuery extends Error {}

/** Query parameter `name` as a revision (absent: `def`); see the header for what is refused. */
export function revParam(q: URLSearchParams, name: string, def?: string): string {
  const v = q.get(name) ?? def;
  if (v === undefined) throw new BadQuery(`?${name}= is required: a git revision (a commit, branch or tag)`);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are refused
  if (v === '' || v.length > MAX_REV || v.startsWith('-') || /[:\u0000-\u001f\u007f]/.test(v))
    throw new BadQuery(`?${name}=${v.slice(0, 40)} is not a git revision dv accepts (no leading "-", ":" or control characters)`);
  return v;
}

/** Query parameter `name` as a whole number in [min, max] (absent: `def`). */
export function intParam(q: URLSearchParams, name: string, def: number, min: number, max: number): number {
  const v = q.get(name);
  if (v === null) return def;
  if (!/^\d{1,9}$/.test(v) || Number(v) < min || Number(v) > max)
    throw new BadQuery(`?${name}=${v.slice(0, 20)}: a whole number from ${min} to ${max}`);
  return Number(v);
}

/** Query parameter `name` as a stage name or path: at most 4096 characters, no control characters. */
export function textParam(q: URLSearchParams, name: string): string {
  const v = q.get(name);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are refused
  if (v === null || v === '' || v.length > 4096 || /[\u0000-\u001f]/.test(v))
    throw new BadQuery(`?${name}= is required (text, no control characters)`);
  return v;
}
