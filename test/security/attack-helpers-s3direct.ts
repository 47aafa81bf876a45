/**
 * The hostile HTTP end of the direct-GET attacks (src/backend/s3direct.ts): a node:http server on
 * 127.0.0.1 that either forwards a request to an honest upstream (s3rver) or lets the test answer
 * it with raw bytes written on the socket (a head that never ends, a lying Content-Length, a body
 * longer than announced in the packet of the head, HTTP/0.9, ...). Every byte the attacker got
 * accepted by the kernel is counted, so a test can tell "dv stopped reading" from "dv read it all";
 * every socket is tracked, so a test can tell whether dv closed its connections, and `close`
 * destroys what is left (no test waits on a hung answer).
 *
 * Beside it: memory with guard bytes around the part dv is given (a write outside shows), and a
 * count of this process's open file descriptors.
 */
import { readdirSync } from 'node:fs';
import { createServer, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import type { RangeSink } from '../../src/backend/backend.js';

export interface RawRequest {
  method: string;
  /** The object key (path after the bucket), decoded. */
  key: string;
  headers: IncomingHttpHeaders;
  /** The Range header's first and last byte, when the request had one. */
  range?: { first: number; last: number };
}

/** Answers one request on the raw socket; `send` counts the bytes the kernel accepted. */
export type RawAnswer = (req: RawRequest, sock: Socket, io: RawIo) => void | Promise<void>;

export interface RawIo {
  /** Writes `data`, counted once flushed. */
  send(data: string | Buffer): void;
  /** Writes `chunk` again and again while the socket stays open (the count says how much dv took). */
  flood(chunk: Buffer): void;
  /** Writes `data` one byte every `everyMs`. */
  trickle(data: Buffer, everyMs: number): void;
  /** The honest answer: the same request sent to the upstream, its body read whole. */
  upstream(): Promise<{ status: number; headers: IncomingHttpHeaders; body: Buffer }>;
}

export interface RawS3 {
  endpoint: string;
  port: number;
  requests: RawRequest[];
  /** Bytes of raw answers flushed to the kernel so far. */
  sent(): number;
  /** Sockets still open on the server's side. */
  open(): number;
  close(): Promise<void>;
}

/**
 * Starts the server: `pick` says which requests the test answers raw (anything else goes to
 * `upstream`, or gets a 404 without one).
 */
export async function rawS3(pick: (req: RawRequest) => RawAnswer | undefined, upstream?: string): Promise<RawS3> {
  const requests: RawRequest[] = [];
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  let sent = 0;
  const up = upstream ? new URL(upstream) : undefined;
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const m = /^bytes=(\d+)-(\d+)$/.exec(String(req.headers.range ?? ''));
    const r: RawRequest = {
      method: req.method ?? 'GET',
      key: decodeURIComponent(url.pathname.split('/').slice(2).join('/')),
      headers: req.headers,
      range: m ? { first: Number(m[1]), last: Number(m[2]) } : undefined,
    };
    requests.push(r);
    const answer = pick(r);
    if (!answer) {
      if (!up) {
        res.writeHead(404, { 'content-length': 0 });
        res.end();
        return;
      }
      const fwd = httpRequest({ host: up.hostname, port: up.port, method: req.method, path: req.url, headers: req.headers }, (ur) => {
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        ur.pipe(res);
      });
      fwd.on('error', () => res.destroy());
      req.pipe(fwd);
      return;
    }
    const sock = req.socket;
    const io = {
      send(data: string | Buffer) {
        if (sock.destroyed) return;
        const n = typeof data === 'string' ? Buffer.byteLength(data, 'latin1') : data.length;
        sock.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data, (e) => {
          if (!e) sent += n;
        });
      },
      flood(chunk: Buffer) {
        const pump = (): void => {
          while (!sock.destroyed) {
            const ok = sock.write(chunk, (e) => {
              if (!e) sent += chunk.length;
            });
            if (!ok) {
              sock.once('drain', pump);
              return;
            }
          }
        };
        pump();
      },
      trickle(data: Buffer, everyMs: number) {
        let at = 0;
        const t = setInterval(() => {
          if (sock.destroyed || at >= data.length) {
            clearInterval(t);
            timers.delete(t);
            return;
          }
          io.send(data.subarray(at, at + 1));
          at++;
        }, everyMs);
        timers.add(t);
      },
    } as RawIo;
    io.upstream = () =>
      new Promise((resolve, reject) => {
        if (!up) throw new Error('no upstream');
        const fwd = httpRequest({ host: up.hostname, port: up.port, method: req.method, path: req.url, headers: req.headers }, (ur) => {
          const parts: Buffer[] = [];
          ur.on('data', (d: Buffer) => parts.push(d));
          ur.on('end', () => resolve({ status: ur.statusCode ?? 0, headers: ur.headers, body: Buffer.concat(parts) }));
          ur.on('error', reject);
        });
        fwd.on('error', reject);
        fwd.end();
      });
    req.resume();
    req.on('end', () => void Promise.resolve(answer(r, sock, io)).catch(() => sock.destroy()));
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    requests,
    sent: () => sent,
    open: () => sockets.size,
    async close() {
      for (const t of timers) clearInterval(t);
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A 206 head for `body` bytes of the range asked for (or of `first`..`last` as given), with `extra` header lines. */
export function head206(r: RawRequest, total: number, extra: string[] = [], length?: number): string {
  const { first, last } = r.range ?? { first: 0, last: total - 1 };
  const lines = [
    'HTTP/1.1 206 Partial Content',
    `content-length: ${length ?? last - first + 1}`,
    `content-range: bytes ${first}-${last}/${total}`,
    'content-type: application/octet-stream',
    ...extra,
  ];
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/** Open file descriptors of this process. */
export function fdCount(): number {
  return readdirSync('/proc/self/fd').length;
}

/** Waits until `ok` holds, or `ms` passed; says whether it held. */
export async function eventually(ok: () => boolean, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > until) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}

const GUARD = 0xa5;
const PAD = 4096;

/** `length` bytes dv may fill, between guard bytes; `intact` says whether nothing outside them changed. */
export function guarded(length: number, shared = false): { into: Buffer; intact: () => boolean } {
  const all = Buffer.from(shared ? new SharedArrayBuffer(length + 2 * PAD) : new ArrayBuffer(length + 2 * PAD));
  all.fill(GUARD);
  const into = all.subarray(PAD, PAD + length);
  into.fill(0);
  const intact = (): boolean => {
    for (let i = 0; i < PAD; i++) if (all[i] !== GUARD || all[PAD + length + i] !== GUARD) return false;
    return true;
  };
  return { into, intact };
}

/**
 * A sink like a fetch's slot: room where the next bytes go (a guarded SharedArrayBuffer), every
 * piece checked to lie inside it. `slow` makes each take wait that long (a busy fetch worker).
 */
export function guardedSink(
  length: number,
  slow = 0,
): { sink: RangeSink; bytes: () => Buffer; intact: () => boolean; outside: () => number; pending: () => number } {
  const g = guarded(length, true);
  let filled = 0;
  let outside = 0;
  let pending = 0;
  const sink: RangeSink = (piece) => {
    if (filled + piece.length > length) outside++;
    else if (piece.buffer !== g.into.buffer || piece.byteOffset !== g.into.byteOffset + filled) piece.copy(g.into, filled);
    filled = Math.min(length, filled + piece.length);
    if (slow === 0) return;
    pending++;
    return new Promise<void>((r) =>
      setTimeout(() => {
        pending--;
        r();
      }, slow),
    );
  };
  sink.room = () => (filled < length ? g.into.subarray(filled) : undefined);
  return { sink, bytes: () => g.into.subarray(0, filled), intact: g.intact, outside: () => outside, pending: () => pending };
}

/** A listener on 127.0.0.1 that counts and drops every connection: where a redirect points, to show nothing went there. */
export async function trapServer(): Promise<{ port: number; hits: () => number; close: () => Promise<void> }> {
  let hits = 0;
  const server = createNetServer((sock) => {
    hits++;
    sock.destroy();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as { port: number }).port,
    hits: () => hits,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
