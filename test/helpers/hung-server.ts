/** A TCP server on 127.0.0.1 that accepts connections and never answers: a hung remote for timeout tests. */
import { createServer, type Server, type Socket } from 'node:net';

export async function hungServer(): Promise<{ port: number; close: () => void }> {
  const sockets: Socket[] = [];
  const srv: Server = createServer((s) => {
    sockets.push(s);
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  return {
    port,
    close: () => {
      for (const s of sockets) s.destroy();
      srv.close();
    },
  };
}
