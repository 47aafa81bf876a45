// A reverse proxy in front of an S3 server that injects faults per rule, with a seeded
// RNG so a failing run can be replayed, and counts the requests it saw by method.
import * as http from 'node:http';
import type { Socket } from 'node:net';
import { seededRandom } from './kill.js';

export type FaultKind =
  | 'slowdown' // 503 SlowDown with an S3 XML body
  | 'error500' // 500 InternalError
  | 'reset' // connection destroyed before any response
  | 'truncate' // response headers and half the body, then the connection is destroyed
  | 'stall' // response headers and half the body, then silence
  | 'overlong' // the whole body and 100 bytes more, Content-Length counting them
  | 'delay' // forwarded after delayMs
  | 'hang'; // never answered

export interface FaultRule {
  kind: FaultKind;
  /** Only requests with this HTTP method. */
  method?: string;
  /** Only the first `times` matching requests. */
  times?: number;
  /** Each matching request with this probability (seeded). */
  probability?: number;
  delayMs?: number;
}

export interface FaultProxy {
  endpoint: string;
  port: number;
  /** Requests seen, by HTTP method. */
  counts: Record<string, number>;
  /** Faults injected, by kind. */
  faults: Record<string, number>;
  setRules(rules: FaultRule[]): void;
  reset(): void;
  stop(): Promise<void>;
}

function s3Error(code: string, message: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message><RequestId>fault-proxy</RequestId></Error>`;
}

/** Starts the proxy on 127.0.0.1:0 in front of `target` (e.g. http://127.0.0.1:4568). */
export async function startFaultProxy(target: string, rules: FaultRule[] = [], seed = 42): Promise<FaultProxy> {
  const upstream = new URL(target);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 128 });
  const sockets = new Set<Socket>();
  let random = seededRandom(seed);
  let active = rules.map((r) => ({ ...r, used: 0 }));
  const counts: Record<string, number> = {};
  const faults: Record<string, number> = {};

  function pick(req: http.IncomingMessage): FaultRule | undefined {
    for (const r of active) {
      if (r.method && r.method !== req.method) continue;
      if (r.times !== undefined && r.used >= r.times) continue;
      if (r.probability !== undefined && random() >= r.probability) continue;
      r.used++;
      return r;
    }
    return undefined;
  }

  function forward(req: http.IncomingMessage, res: http.ServerResponse, cut?: 'truncate' | 'stall' | 'overlong'): void {
    const headers = { ...req.headers };
    delete headers.expect;
    const up = http.request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers, agent }, (ur) => {
      if (!cut) {
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        ur.pipe(res);
        return;
      }
      const chunks: Buffer[] = [];
      ur.on('data', (c: Buffer) => chunks.push(c));
      ur.on('end', () => {
        const body = Buffer.concat(chunks);
        if (body.length < 2) {
          req.socket.destroy();
          return;
        }
        if (cut === 'overlong') {
          const h: http.OutgoingHttpHeaders = { ...ur.headers, 'content-length': String(body.length + 100) };
          delete h['transfer-encoding'];
          res.writeHead(ur.statusCode ?? 502, h);
          res.end(Buffer.concat([body, Buffer.alloc(100, 0x5a)]));
          return;
        }
        const h: http.OutgoingHttpHeaders = { ...ur.headers, 'content-length': String(body.length) };
        delete h['transfer-encoding'];
        res.writeHead(ur.statusCode ?? 502, h);
        res.write(body.subarray(0, body.length >> 1), () => {
          if (cut === 'truncate') setTimeout(() => req.socket.destroy(), 5);
        });
      });
    });
    up.on('error', () => req.socket.destroy());
    req.pipe(up);
  }

  const server = http.createServer((req, res) => {
    const method = req.method ?? '?';
    counts[method] = (counts[method] ?? 0) + 1;
    const rule = pick(req);
    if (!rule) return forward(req, res);
    faults[rule.kind] = (faults[rule.kind] ?? 0) + 1;
    const afterBody = (fn: () => void) => {
      req.on('end', fn);
      req.resume();
    };
    switch (rule.kind) {
      case 'slowdown':
        return afterBody(() => {
          res.writeHead(503, { 'content-type': 'application/xml' });
          res.end(s3Error('SlowDown', 'Please reduce your request rate.'));
        });
      case 'error500':
        return afterBody(() => {
          res.writeHead(500, { 'content-type': 'application/xml' });
          res.end(s3Error('InternalError', 'We encountered an internal error. Please try again.'));
        });
      case 'reset':
        return afterBody(() => req.socket.destroy());
      case 'hang':
        return afterBody(() => undefined);
      case 'delay':
        req.pause();
        setTimeout(() => forward(req, res), rule.delayMs ?? 100);
        return;
      case 'truncate':
      case 'stall':
      case 'overlong':
        return forward(req, res, rule.kind);
    }
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;

  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    counts,
    faults,
    setRules(next) {
      active = next.map((r) => ({ ...r, used: 0 }));
    },
    reset() {
      for (const k of Object.keys(counts)) delete counts[k];
      for (const k of Object.keys(faults)) delete faults[k];
      random = seededRandom(seed);
    },
    async stop() {
      for (const s of sockets) s.destroy();
      agent.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
