/**
 * `dv serve`: a read-only HTTP server over one version of the tracked data (and any other with
 * `/@<rev>/...`): directories as HTML listings, files streamed with `Range` support, and with
 * `webdav` the same tree over WebDAV (OPTIONS, PROPFIND depth 0/1, GET, HEAD) so an operating
 * system's own client mounts it. Files come from the local store, else the remote (src/read/),
 * every chunk verified before it is sent.
 *
 * Invariants:
 * - read only: any method but GET, HEAD, OPTIONS (and PROPFIND with `webdav`) is 405; nothing is
 *   written to the store or the workspace;
 * - a request names a path inside the version by its segments: empty, `.`, `..` and segments
 *   that decode to a `/` or NUL are refused (400) before anything is looked up;
 * - bound to 127.0.0.1 by default, and then a request whose Host is not a loopback name is
 *   refused (a web page elsewhere must not read the data through DNS rebinding);
 * - bounded: at most MAX_ACTIVE requests at once (503 beyond), a PROPFIND body is read up to
 *   MAX_BODY and otherwise ignored, no depth-infinity PROPFIND (403, as RFC 4918 allows);
 * - a failure after the headers went out ends the connection, so a client never takes a verified
 *   prefix for the whole file.
 * The reader session (and so the LevelDB index) is held while the server runs.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import type { FileEntry, TreeEntry } from '../core/tree.js';
import { DvError } from '../errors.js';
import type { RepoSession } from '../repo/repo.js';
import { contentType, davMultistatus, htmlListing, type HttpEntry, parseRange } from '../read/http.js';
import { checkPort, listenUntilAborted } from '../read/listen.js';
import { locate, type Located } from '../read/locate.js';
import { connectRemote } from '../read/remote.js';
import { ObjectSource } from '../read/source.js';
import { openFile } from '../read/stream.js';

export interface ServeOptions {
  /** The version served at `/`: a git revision or snapshot id (default: the pointer files now). */
  rev?: string;
  /** Default 8080; 0 picks a free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  remote?: string;
  webdav?: boolean;
  /** Told the server's URL once it listens. */
  onListening?: (url: string) => void;
  /** Stops the server; without one it runs until the process ends. */
  signal?: AbortSignal;
}

export interface ServeResult {
  url: string;
  requests: number;
}

const MAX_ACTIVE = 32;
const MAX_BODY = 64 * 1024;
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

/** An HTTP status for a refusal from below. */
function statusOf(e: unknown): number {
  if (!(e instanceof DvError)) return 500;
  if (['NOT_TRACKED', 'PATH_NOT_FOUND', 'UNKNOWN_ID'].includes(e.code)) return 404;
  if (['USAGE', 'AMBIGUOUS_ID'].includes(e.code)) return 400;
  if (['OBJECT_MISSING', 'OBJECT_CORRUPT', 'BAD_OBJECT', 'NO_REMOTE'].includes(e.code)) return 502;
  return 500;
}

/** `/@rev/a/b` or `/a/b` as (rev, segments); undefined for a path dv refuses. */
export function parseTarget(rawUrl: string): { rev?: string; segments: string[] } | undefined {
  const q = rawUrl.indexOf('?');
  const parts = (q < 0 ? rawUrl : rawUrl.slice(0, q)).split('/').filter((p) => p !== '');
  const segments: string[] = [];
  for (const p of parts) {
    let d: string;
    try {
      d = decodeURIComponent(p);
    } catch {
      return undefined;
    }
    if (d === '.' || d === '..' || d.includes('/') || d.includes('\0')) return undefined;
    segments.push(d);
  }
  if (segments[0]?.startsWith('@')) {
    const rev = segments.shift()!.slice(1);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are refused
    if (rev === '' || rev.length > 256 || rev.startsWith('-') || /[:\u0000-\u001f]/.test(rev)) return undefined;
    return { rev, segments };
  }
  return { segments };
}

class Handler {
  active = 0;
  requests = 0;
  private readonly started = new Date();

  constructor(
    private readonly s: RepoSession,
    private readonly src: ObjectSource,
    private readonly o: ServeOptions,
    private readonly loopbackOnly: boolean,
  ) {}

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.requests++;
    const method = req.method ?? 'GET';
    const allow = `GET, HEAD, OPTIONS${this.o.webdav ? ', PROPFIND' : ''}`;
    if (this.loopbackOnly && !LOOPBACK.has(hostName(req.headers.host))) return text(res, 403, 'dv serve answers on a loopback name only');
    if (method === 'OPTIONS') {
      res.writeHead(200, { Allow: allow, ...(this.o.webdav ? { DAV: '1' } : {}), 'Content-Length': '0' });
      return void res.end();
    }
    if (!allow.split(', ').includes(method)) {
      res.setHeader('Allow', allow);
      return text(res, 405, `${method} is not allowed: dv serve is read only`);
    }
    if (method === 'PROPFIND' && !(await drain(req))) return text(res, 413, 'PROPFIND body too large');
    const t = parseTarget(req.url ?? '/');
    if (!t) return text(res, 400, 'bad path: no empty, ".", ".." or encoded "/" segments');
    const rev = t.rev ?? this.o.rev;
    const base = t.rev === undefined ? t.segments : [`@${t.rev}`, ...t.segments];
    const spec = `${rev ?? ''}:${t.segments.join('/')}`;
    const l = await this.find(spec);
    if (l instanceof Error) {
      const virtual = t.segments.length > 0 ? await this.virtualDir(rev, t.segments) : undefined;
      if (!virtual) return text(res, statusOf(l), l.message);
      return this.directory(req, res, rev, base, t.segments, virtual);
    }
    const f = l.found;
    if (f.type === 'link') return text(res, 404, `${l.path} is a symbolic link (to ${f.target})`);
    if (f.type === 'file') return this.file(req, res, base, l, f.entry);
    const entries = f.type === 'tracked' ? this.trackedEntries(f.pointers, []) : (await l.load!(f.id)).entries.map(toEntry);
    return this.directory(req, res, rev, base, t.segments, entries);
  }

  private async find(spec: string): Promise<Located | Error> {
    try {
      return await locate(this.src, { root: this.s.root, cwd: this.s.root, spec });
    } catch (e) {
      return e as Error;
    }
  }

  /** Entries one level under `prefix` of the tracked paths (`data/` when `data/raw` is tracked). */
  private trackedEntries(pointers: Extract<Located['found'], { type: 'tracked' }>['pointers'], prefix: string[]): HttpEntry[] {
    const head = prefix.length ? `${prefix.join('/')}/` : '';
    const out = new Map<string, HttpEntry>();
    for (const p of pointers) {
      if (!p.rel.startsWith(head)) continue;
      const rest = p.rel.slice(head.length).split('/');
      const name = rest[0];
      if (rest.length > 1) {
        if (!out.has(name)) out.set(name, { name, type: 'dir' });
      } else {
        out.set(name, { name, type: p.pointer.kind, size: p.pointer.size, id: p.pointer.snapshot, files: p.pointer.files });
      }
    }
    return [...out.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  /** A directory that only holds tracked paths further down (not tracked itself), or undefined. */
  private async virtualDir(rev: string | undefined, segments: string[]): Promise<HttpEntry[] | undefined> {
    const l = await this.find(`${rev ?? ''}:`);
    if (l instanceof Error || l.found.type !== 'tracked') return undefined;
    const entries = this.trackedEntries(l.found.pointers, segments);
    return entries.length > 0 ? entries : undefined;
  }

  private directory(
    req: IncomingMessage,
    res: ServerResponse,
    rev: string | undefined,
    base: string[],
    segments: string[],
    entries: HttpEntry[],
  ): void {
    if (req.method !== 'PROPFIND') {
      const title = `/${segments.join('/')} at ${rev ?? 'the pointer files now'}`;
      send(res, 200, htmlListing(title, base, entries), 'text/html; charset=utf-8', req.method === 'HEAD');
    } else if (req.headers.depth !== '0' && req.headers.depth !== '1') {
      text(res, 403, '<?xml version="1.0"?><D:error xmlns:D="DAV:"><D:propfind-finite-depth/></D:error>', 'application/xml');
    } else {
      const self: HttpEntry = { name: segments[segments.length - 1] ?? '', type: 'dir' };
      const body = davMultistatus(base, self, req.headers.depth === '1' ? entries : [], this.started);
      send(res, 207, body, 'application/xml; charset=utf-8');
    }
  }

  private async file(req: IncomingMessage, res: ServerResponse, base: string[], l: Located, entry: FileEntry): Promise<void> {
    if (req.method === 'PROPFIND') {
      const self: HttpEntry = { name: entry.name, type: 'file', size: entry.size, id: entry.id };
      return send(res, 207, davMultistatus(base, self, [], this.started), 'application/xml; charset=utf-8');
    }
    const etag = `"${entry.id}"`;
    const ifRange = req.headers['if-range'];
    const r = ifRange !== undefined && ifRange !== etag ? 'all' : parseRange(req.headers.range, entry.size);
    const headers: Record<string, string> = {
      'Accept-Ranges': 'bytes',
      ETag: etag,
      'Content-Type': contentType(l.path),
      'X-Content-Type-Options': 'nosniff',
      'Content-Security-Policy': 'sandbox',
    };
    if (r === 'unsatisfiable') {
      res.writeHead(416, { ...headers, 'Content-Range': `bytes */${entry.size}`, 'Content-Length': '0' });
      return void res.end();
    }
    const range = r === 'all' ? undefined : r;
    const length = range ? range.end - range.start : entry.size;
    if (range) headers['Content-Range'] = `bytes ${range.start}-${range.end - 1}/${entry.size}`;
    headers['Content-Length'] = String(length);
    if (req.method === 'HEAD' || length === 0) {
      res.writeHead(range ? 206 : 200, headers);
      return void res.end();
    }
    if (this.active >= MAX_ACTIVE) {
      res.setHeader('Retry-After', '1');
      return text(res, 503, `dv serve is sending ${MAX_ACTIVE} files already: try again`);
    }
    this.active++;
    try {
      const stream = openFile(this.src, entry, undefined, range);
      res.writeHead(range ? 206 : 200, headers);
      await pipeline(stream, res);
    } catch {
      // After the headers the only honest answer is a cut connection (the length will not match).
      res.destroy();
    } finally {
      this.active--;
    }
  }
}

function toEntry(e: TreeEntry): HttpEntry {
  if (e.type === 'link') return { name: e.name, type: 'link', target: e.target };
  if (e.type === 'dir') return { name: e.name, type: 'dir', size: e.size, id: e.id, files: e.files };
  return { name: e.name, type: 'file', size: e.size, id: e.id };
}

function hostName(host: string | undefined): string {
  if (!host) return '';
  if (host.startsWith('[')) return host.slice(0, host.indexOf(']') + 1);
  const i = host.lastIndexOf(':');
  return (i < 0 ? host : host.slice(0, i)).toLowerCase();
}

/** Reads and drops a request body up to MAX_BODY bytes; false when it is larger. */
async function drain(req: IncomingMessage): Promise<boolean> {
  let n = 0;
  for await (const b of req) {
    n += (b as Buffer).length;
    if (n > MAX_BODY) return false;
  }
  return true;
}

function send(res: ServerResponse, status: number, body: string, type: string, headOnly = false): void {
  const bytes = Buffer.from(body, 'utf8');
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': String(bytes.length), 'X-Content-Type-Options': 'nosniff' });
  res.end(headOnly ? undefined : bytes);
}

function text(res: ServerResponse, status: number, message: string, type = 'text/plain; charset=utf-8'): void {
  if (res.headersSent) return void res.destroy();
  send(res, status, type.startsWith('text/') ? `${message}\n` : message, type);
}

export async function serve(s: RepoSession, o: ServeOptions): Promise<ServeResult> {
  const host = o.host ?? '127.0.0.1';
  const port = o.port ?? 8080;
  checkPort(port);
  const src = new ObjectSource(s.store, () => connectRemote(s, o.remote));
  const h = new Handler(s, src, o, LOOPBACK.has(host));
  const server: Server = createServer((req, res) => {
    h.handle(req, res).catch((e) => text(res, statusOf(e), e instanceof Error ? e.message : String(e)));
  });
  try {
    const url = await listenUntilAborted(server, { host, port, signal: o.signal, onListening: o.onListening });
    return { url, requests: h.requests };
  } finally {
    await src.close();
  }
}
