/**
 * `dv ui`: a local, read-only web page over the repository, like a small DVC Studio: the commits
 * and the snapshots their pointer files name, the pipeline DAG with each stage's lineage, metrics
 * across commits (and experiments) as charts, and a dataset diff between two revisions. The page
 * is static (src/ui/static, vega from node_modules: ui/assets.ts); it reads JSON from /api/*.
 *
 * Invariants:
 * - read only: GET and HEAD (405 otherwise); nothing is written to the store or the workspace;
 * - bound to 127.0.0.1 by default, and a request whose Host is not this server's own loopback
 *   host:port is refused (403) before anything is read: no DNS rebinding (ui/guard.ts);
 * - only the names of the asset map are files; a URL never becomes a path;
 * - bounded: lists are pages (ui/guard.ts caps offset and limit), at most MAX_ACTIVE API requests
 *   at once (503 beyond), a JSON answer over MAX_JSON bytes is refused with advice to page;
 * - every answer carries a Content-Security-Policy that lets the page load scripts from this
 *   server only and connect nowhere else ('unsafe-eval' because vega compiles its expressions);
 *   the page draws names from the repository (untrusted: a clone) as text, never as markup.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { DvError } from '../errors.js';
import { checkPort, listenUntilAborted } from '../read/listen.js';
import type { RepoSession } from '../repo/repo.js';
import { asset } from '../ui/assets.js';
import { ALLOWED_METHODS, allowedHosts, BadQuery, hostAllowed, intParam, methodAllowed, revParam, textParam } from '../ui/guard.js';
import { commitsPage, diffPage, metricsPage, revs, UiCaches } from './ui-data.js';
import { dagView, stageView } from './ui-pipeline.js';

export interface UiOptions {
  /** Default 8090; 0 picks a free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Told the page's URL once the server listens. */
  onListening?: (url: string) => void;
  /** Stops the server; without one it runs until the process ends. */
  signal?: AbortSignal;
}

export interface UiResult {
  url: string;
  requests: number;
}

const MAX_ACTIVE = 8;
const MAX_JSON = 8 * 1024 * 1024;

const HEADERS = {
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; " +
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
};

type Api = (s: RepoSession, c: UiCaches, q: URLSearchParams) => Promise<unknown>;

/** The JSON endpoints; each validates its query before it reads anything. */
const API: Record<string, Api> = {
  '/api/revs': (s) => revs(s),
  '/api/commits': (s, _c, q) =>
    commitsPage(s, revParam(q, 'rev', 'HEAD'), intParam(q, 'offset', 0, 0, 1e9), intParam(q, 'limit', 30, 1, 200)),
  '/api/diff': (s, c, q) =>
    diffPage(s, c, revParam(q, 'a'), revParam(q, 'b'), intParam(q, 'offset', 0, 0, 1e9), intParam(q, 'limit', 500, 1, 5000)),
  '/api/metrics': (s, c, q) =>
    metricsPage(s, c, revParam(q, 'rev', 'HEAD'), intParam(q, 'offset', 0, 0, 1e9), intParam(q, 'limit', 100, 1, 500)),
  '/api/dag': (s) => dagView(s),
  '/api/stage': (s, _c, q) => stageView(s, textParam(q, 'name')),
};

/** An HTTP status for a refusal. */
function statusOf(e: unknown): number {
  if (e instanceof BadQuery) return 400;
  if (!(e instanceof DvError)) return 500;
  if (['NOT_TRACKED', 'PATH_NOT_FOUND', 'UNKNOWN_ID'].includes(e.code)) return 404;
  if (['USAGE', 'AMBIGUOUS_ID'].includes(e.code)) return 400;
  if (['OBJECT_MISSING', 'OBJECT_CORRUPT', 'BAD_OBJECT', 'BAD_POINTER'].includes(e.code)) return 502;
  return 500;
}

function send(
  res: ServerResponse,
  status: number,
  type: string,
  body: Buffer,
  headOnly: boolean,
  extra: Record<string, string> = {},
): void {
  if (res.headersSent) return void res.destroy();
  res.writeHead(status, { ...HEADERS, ...extra, 'Content-Type': type, 'Content-Length': String(body.length) });
  res.end(headOnly ? undefined : body);
}

function fail(res: ServerResponse, status: number, message: string, headOnly = false, extra: Record<string, string> = {}): void {
  const body = Buffer.from(JSON.stringify({ error: message }) + '\n', 'utf8');
  send(res, status, 'application/json; charset=utf-8', body, headOnly, { 'Cache-Control': 'no-store', ...extra });
}

class Handler {
  active = 0;
  requests = 0;
  private readonly caches = new UiCaches();

  constructor(
    private readonly s: RepoSession,
    private readonly hosts: Set<string> | undefined,
  ) {}

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.requests++;
    const head = req.method === 'HEAD';
    if (!hostAllowed(this.hosts, req.headers.host))
      return fail(res, 403, 'dv ui answers only requests to its own address (Host header)', head);
    if (!methodAllowed(req.method))
      return fail(res, 405, `${req.method} is not allowed: dv ui is read only`, head, { Allow: ALLOWED_METHODS });
    const raw = req.url ?? '/';
    const q = raw.indexOf('?');
    const path = q < 0 ? raw : raw.slice(0, q);
    const a = asset(path);
    if (a) {
      const { type, body } = await a;
      return send(res, 200, type, body, head, { 'Cache-Control': 'no-cache' });
    }
    const api = Object.hasOwn(API, path) ? API[path] : undefined;
    if (!api) return fail(res, 404, `no such page: ${path.slice(0, 100)}`, head);
    if (this.active >= MAX_ACTIVE)
      return fail(res, 503, `dv ui is answering ${MAX_ACTIVE} requests already: try again`, head, { 'Retry-After': '1' });
    this.active++;
    try {
      const body = Buffer.from(JSON.stringify(await api(this.s, this.caches, new URLSearchParams(q < 0 ? '' : raw.slice(q + 1)))), 'utf8');
      if (body.length > MAX_JSON) return fail(res, 500, `the answer is over ${MAX_JSON} bytes: ask a smaller page (limit=)`, head);
      send(res, 200, 'application/json; charset=utf-8', body, head, { 'Cache-Control': 'no-store' });
    } catch (e) {
      fail(res, statusOf(e), (e instanceof Error ? e.message : String(e)).split('\n')[0], head);
    } finally {
      this.active--;
    }
  }
}

export async function ui(s: RepoSession, o: UiOptions): Promise<UiResult> {
  const host = o.host ?? '127.0.0.1';
  const port = o.port ?? 8090;
  checkPort(port);
  let h: Handler | undefined;
  const server: Server = createServer((req, res) => {
    if (!h) return fail(res, 503, 'dv ui is starting: try again');
    h.handle(req, res).catch((e) => fail(res, 500, e instanceof Error ? e.message : String(e)));
  });
  const url = await listenUntilAborted(server, {
    host,
    port,
    signal: o.signal,
    onListening: o.onListening,
    // The Host check needs the real port (--port 0 picks one).
    onBound: (a) => (h = new Handler(s, allowedHosts(host, a.port))),
  });
  return { url, requests: h?.requests ?? 0 };
}
