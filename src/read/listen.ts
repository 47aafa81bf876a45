/**
 * The life of dv's local HTTP servers (`dv serve`, `dv ui`): check the port, listen, say the URL,
 * answer until the caller's signal aborts, then close every connection.
 *
 * Invariants: a port outside 0-65535 or one in use is one USAGE error naming --port, before any
 * request is answered; the server is closed (its open connections too) however the run ends.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DvError } from '../errors.js';

export interface ListenOptions {
  host: string;
  port: number;
  /** Stops the server. */
  signal?: AbortSignal;
  /** Called with the bound address before the URL is announced (e.g. to learn the port --port 0 picked). */
  onBound?: (a: AddressInfo) => void;
  /** Called with the URL once the server answers. */
  onListening?: (url: string) => void;
}

/** Throws USAGE unless `port` is a TCP port. */
export function checkPort(port: number): void {
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new DvError('USAGE', `--port ${port} is not a TCP port (0-65535)`, { arg: 'port' });
}

/** Runs `server` on host:port until the signal aborts; returns its URL. */
export async function listenUntilAborted(server: Server, o: ListenOptions): Promise<string> {
  checkPort(o.port);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e: NodeJS.ErrnoException) =>
        reject(
          e.code === 'EADDRINUSE'
            ? new DvError('USAGE', `port ${o.port} on ${o.host} is in use: pass --port with another (0 picks a free one)`, { arg: 'port' })
            : e,
        ),
      );
      server.listen(o.port, o.host, () => resolve());
    });
    const a = server.address() as AddressInfo;
    o.onBound?.(a);
    const url = `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}/`;
    o.onListening?.(url);
    await new Promise<void>((resolve) => {
      if (o.signal?.aborted) return resolve();
      o.signal?.addEventListener('abort', () => resolve(), { once: true });
    });
    return url;
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(() => r(undefined)));
  }
}
