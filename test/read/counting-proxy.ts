/** A reverse proxy that counts the requests and response bytes an S3 server sends, by method. */
import * as http from 'node:http';

export interface CountingProxy {
  endpoint: string;
  /** Response body bytes of GET requests, and every request seen by method (+ ranged GETs). */
  counts: { getBytes: number; requests: Record<string, number>; rangedGets: number };
  reset(): void;
  stop(): Promise<void>;
}

export async function startCountingProxy(target: string): Promise<CountingProxy> {
  const upstream = new URL(target);
  const agent = new http.Agent({ keepAlive: true });
  const counts = { getBytes: 0, requests: {} as Record<string, number>, rangedGets: 0 };
  const server = http.createServer((req, res) => {
    const method = req.method ?? '?';
    counts.requests[method] = (counts.requests[method] ?? 0) + 1;
    if (method === 'GET' && req.headers.range) counts.rangedGets++;
    const up = http.request({ host: upstream.hostname, port: upstream.port, method, path: req.url, headers: req.headers, agent }, (ur) => {
      res.writeHead(ur.statusCode ?? 502, ur.headers);
      ur.on('data', (d: Buffer) => {
        if (method === 'GET') counts.getBytes += d.length;
      });
      ur.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return {
    endpoint: `http://127.0.0.1:${port}`,
    counts,
    reset() {
      counts.getBytes = 0;
      counts.rangedGets = 0;
      counts.requests = {};
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      agent.destroy();
    },
  };
}
