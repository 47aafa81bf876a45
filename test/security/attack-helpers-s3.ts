/**
 * A tiny hostile S3 server for the attack suite: plain node:http on 127.0.0.1, path-style
 * (`/bucket/key`), answering ListObjectsV2, GetObject and HeadObject the way the test's
 * `respond` decides: trickling bodies, lying Content-Length, ignored Range headers, listings
 * that never end. Every request is recorded (method, path, whether it was signed). Closing the
 * server destroys every open socket, so no test waits on a hung response.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface S3Request {
  method: string;
  bucket: string;
  key: string;
  query: URLSearchParams;
  signed: boolean;
  range?: string;
}

export interface HostileS3 {
  endpoint: string;
  requests: S3Request[];
  close(): Promise<void>;
}

export type Responder = (req: S3Request, res: ServerResponse, raw: IncomingMessage) => void | Promise<void>;

/** Starts the server; `respond` handles every request (the request body is drained first). */
export async function hostileS3(respond: Responder): Promise<HostileS3> {
  const requests: S3Request[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((raw, res) => {
    const url = new URL(raw.url ?? '/', 'http://127.0.0.1');
    const [, bucket = '', ...rest] = url.pathname.split('/');
    const r: S3Request = {
      method: raw.method ?? 'GET',
      bucket,
      key: decodeURIComponent(rest.join('/')),
      query: url.searchParams,
      signed: /AWS4-HMAC-SHA256/.test(String(raw.headers.authorization ?? '')),
      range: raw.headers.range as string | undefined,
    };
    requests.push(r);
    raw.resume();
    raw.on('end', () => {
      void Promise.resolve(respond(r, res, raw)).catch(() => res.destroy());
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** A ListObjectsV2 answer. */
export function listXml(bucket: string, prefix: string, keys: { key: string; size: number }[], next?: string): string {
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
    `<Name>${esc(bucket)}</Name><Prefix>${esc(prefix)}</Prefix>` +
    `<KeyCount>${keys.length}</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>${next ? 'true' : 'false'}</IsTruncated>` +
    (next ? `<NextContinuationToken>${esc(next)}</NextContinuationToken>` : '') +
    keys
      .map(
        (k) =>
          `<Contents><Key>${esc(k.key)}</Key><LastModified>2024-01-01T00:00:00.000Z</LastModified><ETag>"0"</ETag>` +
          `<Size>${k.size}</Size><StorageClass>STANDARD</StorageClass></Contents>`,
      )
      .join('') +
    '</ListBucketResult>'
  );
}

export function sendXml(res: ServerResponse, xml: string, status = 200): void {
  res.writeHead(status, { 'Content-Type': 'application/xml', 'Content-Length': Buffer.byteLength(xml) });
  res.end(xml);
}

export function notFound(res: ServerResponse, key: string): void {
  sendXml(
    res,
    `<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchKey</Code><Message>no</Message><Key>${esc(key)}</Key></Error>`,
    404,
  );
}

/** Sends `total` bytes of zeros as fast as the client takes them (headers first), stopping when it goes away. */
export function streamZeros(res: ServerResponse, total: number, headers: Record<string, string | number> = {}): void {
  res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': total, ...headers });
  const block = Buffer.alloc(1 << 20);
  let sent = 0;
  const pump = (): void => {
    while (sent < total && !res.destroyed) {
      const n = Math.min(block.length, total - sent);
      sent += n;
      if (!res.write(n === block.length ? block : block.subarray(0, n))) {
        res.once('drain', pump);
        return;
      }
    }
    if (sent >= total) res.end();
  };
  pump();
}

/** Sends headers for `total` bytes, then one byte every `everyMs`, for as long as the client stays. */
export function trickle(res: ServerResponse, total: number, everyMs: number): void {
  res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': total });
  let sent = 0;
  const timer = setInterval(() => {
    if (res.destroyed || sent >= total) {
      clearInterval(timer);
      return;
    }
    res.write(Buffer.from([0]));
    sent++;
  }, everyMs);
  res.on('close', () => clearInterval(timer));
}
