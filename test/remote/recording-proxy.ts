// A reverse proxy in front of an S3 server that records every request (method, path, headers)
// and the bytes of every response body: to prove which headers each upload carried, and how
// much of the remote a command downloaded.
import * as http from 'node:http';
import type { Socket } from 'node:net';

export interface Recorded {
  method: string;
  /** The request path without the query. */
  path: string;
  query: string;
  headers: http.IncomingHttpHeaders;
  /** Bytes of the response body. */
  bytesOut: number;
}

export interface RecordingProxy {
  endpoint: string;
  requests: Recorded[];
  reset(): void;
  stop(): Promise<void>;
}

export async function startRecordingProxy(target: string): Promise<RecordingProxy> {
  const upstream = new URL(target);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const sockets = new Set<Socket>();
  const requests: Recorded[] = [];
  const server = http.createServer((req, res) => {
    const [path, query = ''] = (req.url ?? '/').split('?');
    const rec: Recorded = { method: req.method ?? '', path, query, headers: req.headers, bytesOut: 0 };
    requests.push(rec);
    const up = http.request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers, agent },
      (ur) => {
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        ur.on('data', (d: Buffer) => {
          rec.bytesOut += d.length;
        });
        ur.pipe(res);
      },
    );
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    reset: () => {
      requests.length = 0;
    },
    stop: async () => {
      for (const s of sockets) s.destroy();
      agent.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
