/**
 * Plain-http GETs whose body the caller reads straight into its own memory (s3.ts: a range into a
 * fetch's slot, or into a caller's buffer). The SDK still builds, signs and deserializes every
 * request: this is its request handler, which sends the GETs it is asked to send directly over a
 * socket of their own whose reads land where the caller says (net's `onread`), so a GiB of body is
 * neither allocated in 64 KiB socket buffers nor pushed through the http stream nor copied again.
 *
 * Invariants: only GETs over http: that ask for it come here (everything else, https included, goes
 * to the SDK's NodeHttpHandler); a response this reader cannot take exactly (no Content-Length, a
 * transfer coding, a head over 64 KiB, a status below 200, a header it cannot read) is sent again
 * through the SDK's handler before anything was returned; a body yields exactly its Content-Length
 * or fails (the socket ending early is a dropped connection); a read never asks for a byte past the
 * body; a direct read ends (resolves or rejects) only once no `take` is pending, so the caller's
 * memory is never handed on while a piece is still being taken; one request per connection
 * (`Connection: close`), and the socket is destroyed when its body ends, fails or is dropped; the
 * socket has an idle timeout and the head a deadline.
 */
import { connect, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import type { NodeHttpHandler } from '@smithy/node-http-handler';

type Request = Parameters<NodeHttpHandler['handle']>[0];
type Options = NonNullable<Parameters<NodeHttpHandler['handle']>[1]>;
type Answer = Awaited<ReturnType<NodeHttpHandler['handle']>>;

/** The request option that asks for a direct GET (client.send(cmd, { [DIRECT]: true })). */
export const DIRECT = 'dvDirect';

/** Where a direct body goes: `room` is where the next bytes may be read in place; `take` gets every piece, in order. */
export interface DirectTarget {
  /**
   * Memory the next read may fill (undefined: the bytes come through a scratch buffer and `take` copies
   * them). Asked right after `take` returned, maybe before its promise settled: the read waits for it.
   */
  room(): Buffer | undefined;
  /** A piece read: a view of what `room` gave, at its start, or bytes to copy (valid until the returned promise settles). */
  take(piece: Buffer): void | Promise<void>;
}

const SCRATCH = 64 * 1024;
const MAX_HEAD = 64 * 1024;
/** Tells the caller to send the request through the SDK's own handler instead. */
class NotDirect extends Error {}

const timeoutError = (what: string): Error => Object.assign(new Error(`${what} timed out`), { name: 'TimeoutError', code: 'ETIMEDOUT' });
const closedError = (): Error =>
  Object.assign(new Error('the connection closed before the body ended'), { code: 'ERR_STREAM_PREMATURE_CLOSE' });

/** The SDK's request handler with direct GETs beside it. */
export class DirectHandler {
  readonly metadata = { handlerProtocol: 'http/1.1' };

  constructor(
    private readonly inner: NodeHttpHandler,
    private readonly timeouts: { connectMs: number; idleMs: number },
  ) {}

  async handle(request: Request, options: Options = {}): Promise<Answer> {
    const direct = (options as Record<string, unknown>)[DIRECT] === true;
    if (!direct || request.protocol !== 'http:' || request.method !== 'GET' || options.abortSignal) {
      return this.inner.handle(request, options);
    }
    let head: string;
    try {
      head = requestHead(request);
    } catch {
      return this.inner.handle(request, options);
    }
    try {
      return await exchange(request, head, { ...this.timeouts, headMs: options.requestTimeout || 0 });
    } catch (e) {
      if (e instanceof NotDirect) return this.inner.handle(request, options);
      throw e;
    }
  }

  updateHttpClientConfig(...a: Parameters<NodeHttpHandler['updateHttpClientConfig']>): void {
    this.inner.updateHttpClientConfig(...a);
  }

  httpHandlerConfigs(): ReturnType<NodeHttpHandler['httpHandlerConfigs']> {
    return this.inner.httpHandlerConfigs();
  }

  destroy(): void {
    this.inner.destroy();
  }
}

const escapeUri = (s: string): string => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/** The request line and headers, as the SDK signed them; throws NotDirect on anything a raw write could not carry. */
function requestHead(r: Request): string {
  const query: string[] = [];
  for (const [k, v] of Object.entries(r.query ?? {})) {
    for (const one of Array.isArray(v) ? v : [v])
      query.push(one === null || one === undefined ? escapeUri(k) : `${escapeUri(k)}=${escapeUri(one)}`);
  }
  const target = `${r.path}${query.length > 0 ? `?${query.join('&')}` : ''}`;
  if (!/^\/[\x21-\x7e]*$/.test(target) || r.username || r.password || r.fragment) throw new NotDirect();
  const lines = [`GET ${target} HTTP/1.1`];
  let host = false;
  for (const [k, v] of Object.entries(r.headers)) {
    const name = k.toLowerCase();
    if (name === 'connection' || name === 'expect' || name === 'transfer-encoding') continue;
    if (!/^[!#$%&'*+.^_`|~0-9a-z-]+$/.test(name) || /[\r\n\0]/.test(String(v))) throw new NotDirect();
    if (name === 'host') host = true;
    lines.push(`${k}: ${v}`);
  }
  if (!host) lines.push(`host: ${r.hostname}${r.port ? `:${r.port}` : ''}`);
  lines.push('connection: close', '', '');
  return lines.join('\r\n');
}

/** Parsed status and headers; NotDirect where the body could not be read exactly. */
function parseHead(text: string): { status: number; reason: string; headers: Record<string, string>; length: number } {
  const lines = text.split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(lines[0] ?? '');
  if (!m) throw new NotDirect();
  const status = Number(m[1]);
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    if (line === '') continue;
    const colon = line.indexOf(':');
    if (colon <= 0) throw new NotDirect();
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = name in headers ? `${headers[name]},${value}` : value;
  }
  const length = headers['content-length'];
  if (status < 200 || headers['transfer-encoding'] !== undefined || length === undefined || !/^\d{1,15}$/.test(length)) {
    throw new NotDirect();
  }
  return { status, reason: m[2] ?? '', headers, length: Number(length) };
}

/** Sends one GET on a socket of its own and answers once its head is read; the body stays on the socket. */
function exchange(r: Request, head: string, t: { connectMs: number; idleMs: number; headMs: number }): Promise<Answer> {
  return new Promise<Answer>((resolve, reject) => {
    const buf = Buffer.allocUnsafe(MAX_HEAD);
    let used = 0;
    let body: DirectBody | undefined;
    let settled = false;
    const fail = (e: Error): void => {
      if (!settled) {
        settled = true;
        clearTimeout(deadline);
        reject(e);
      }
      socket.destroy();
    };
    const onHead = (n: number): void => {
      used += n;
      const end = buf.subarray(0, used).indexOf('\r\n\r\n', Math.max(0, used - n - 3));
      if (end < 0) {
        if (used === MAX_HEAD) fail(new NotDirect());
        return;
      }
      let parsed: ReturnType<typeof parseHead>;
      try {
        parsed = parseHead(buf.toString('latin1', 0, end));
      } catch (e) {
        fail(e as Error);
        return;
      }
      const early = Buffer.from(buf.subarray(end + 4, used));
      if (early.length > parsed.length) {
        fail(closedError());
        return;
      }
      // Nothing more is read until the body has a reader.
      socket.pause();
      body = new DirectBody(socket, parsed.length, early);
      settled = true;
      clearTimeout(deadline);
      resolve({ response: { statusCode: parsed.status, reason: parsed.reason, headers: parsed.headers, body } as Answer['response'] });
    };
    const socket: Socket = connect({
      host: r.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: r.port ?? 80,
      onread: {
        buffer: () => (body ? body.nextBuffer() : buf.subarray(used)),
        callback: (n: number, into: Uint8Array) => {
          if (body) body.onData(n, into);
          else onHead(n);
          return true;
        },
      },
    });
    const deadline = t.headMs > 0 ? setTimeout(() => fail(timeoutError('the request')), t.headMs) : undefined;
    socket.setNoDelay(true);
    socket.setTimeout(t.connectMs, () => {
      const e = timeoutError(body ? 'the connection' : 'connecting');
      if (body) body.destroy(e);
      else fail(e);
    });
    socket.once('connect', () => socket.setTimeout(t.idleMs));
    socket.on('error', (e) => (body ? body.destroy(e) : fail(e)));
    socket.on('close', () => (body ? body.socketClosed() : fail(closedError())));
    socket.write(head);
  });
}

/**
 * A response body on its socket: read directly (`readInto`), or as an ordinary stream by any other
 * reader (the SDK's error parsing, a store that ignored the Range header), never both.
 */
export class DirectBody extends Readable {
  /** Body bytes not yet read from the socket. */
  private left: number;
  private readonly scratch = Buffer.allocUnsafe(SCRATCH);
  private mode: 'none' | 'direct' | 'stream' = 'none';
  private target?: DirectTarget;
  private waiter?: { resolve: () => void; reject: (e: Error) => void };
  /** Whether reading is stopped (it is until the body has a reader). */
  private paused = true;
  /** The pending `take` of a piece, settled or not (never rejects): the read ends only after it. */
  private taking?: Promise<void>;

  constructor(
    private readonly socket: Socket,
    /** The Content-Length. */
    readonly length: number,
    /** Body bytes that came with the head. */
    private early: Buffer,
  ) {
    super();
    this.left = length - early.length;
    // A body nobody reads fails on its idle timeout: never as an unhandled 'error'.
    this.on('error', () => undefined);
  }

  /** Reads the whole body into `target`; resolves once every byte was taken. A failure of `take` rejects with that error. */
  readInto(target: DirectTarget): Promise<void> {
    if (this.mode !== 'none') return Promise.reject(new Error('a direct body is read once'));
    this.mode = 'direct';
    this.target = target;
    return new Promise<void>((resolve, reject) => {
      this.waiter = { resolve, reject };
      const early = this.early;
      this.early = Buffer.alloc(0);
      if (early.length > 0) this.give(early);
      else this.next();
    });
  }

  /**
   * Where the socket's next read goes (net's onread asks right after every read, so before a pending
   * `take` settled: the read itself waits for it, the socket being paused meanwhile).
   */
  nextBuffer(): Uint8Array {
    const most = Math.max(1, Math.min(this.left, SCRATCH));
    if (this.mode !== 'direct' || this.left === 0) return this.scratch.subarray(0, most);
    const room = this.target!.room();
    return room && room.length > 0 ? room.subarray(0, Math.min(room.length, this.left)) : this.scratch.subarray(0, most);
  }

  onData(n: number, into: Uint8Array): void {
    if (this.destroyed) return;
    if (n > this.left) {
      this.destroy(Object.assign(new Error('the server sent more than its Content-Length'), { code: 'ECONNRESET' }));
      return;
    }
    this.left -= n;
    const piece = Buffer.from(into.buffer, into.byteOffset, n);
    if (this.mode === 'direct') {
      this.give(piece);
      return;
    }
    // A stream's reader keeps what it is given: a copy of the scratch buffer.
    if (!this.push(Buffer.from(piece))) this.stopReading();
    if (this.left === 0) this.finish();
  }

  /** Hands a piece to the direct target; reading waits while its promise is pending. */
  private give(piece: Buffer): void {
    let r: void | Promise<void>;
    try {
      r = this.target!.take(piece);
    } catch (e) {
      this.fail(e as Error);
      return;
    }
    if (!(r instanceof Promise)) {
      this.next();
      return;
    }
    this.stopReading();
    this.taking = r.then(
      () => {
        this.taking = undefined;
        this.next();
      },
      (e: Error) => {
        this.taking = undefined;
        this.fail(e);
      },
    );
  }

  /** After a piece was taken: done, or read on. */
  private next(): void {
    if (this.left === 0) {
      this.finish();
      const w = this.waiter;
      this.waiter = undefined;
      w?.resolve();
    } else this.startReading();
  }

  private stopReading(): void {
    if (this.paused) return;
    this.paused = true;
    this.socket.pause();
  }

  private startReading(): void {
    if (!this.paused || this.destroyed) return;
    this.paused = false;
    this.socket.resume();
  }

  private fail(e: Error): void {
    const w = this.waiter;
    this.waiter = undefined;
    this.destroy();
    w?.reject(e);
  }

  /** The whole body arrived: the connection is done with (one request each). */
  private finish(): void {
    this.socket.destroy();
    if (this.mode === 'stream') this.push(null);
  }

  /** The socket closed: an error unless every byte arrived. */
  socketClosed(): void {
    if (this.left > 0 && !this.destroyed) this.destroy(closedError());
  }

  override _read(): void {
    if (this.mode === 'direct') return;
    if (this.mode === 'none') {
      this.mode = 'stream';
      const early = this.early;
      this.early = Buffer.alloc(0);
      if (early.length > 0) this.push(early);
      if (this.left === 0) {
        this.finish();
        return;
      }
    }
    this.startReading();
  }

  override _destroy(err: Error | null, cb: (e?: Error | null) => void): void {
    this.socket.destroy();
    const w = this.waiter;
    this.waiter = undefined;
    // A piece still being taken is the reader's until its take settles: a slot or buffer it fills
    // must not be handed on (or read into again by a retry) before then.
    const reject = (): void => w?.reject(err ?? closedError());
    if (this.taking) void this.taking.then(reject);
    else reject();
    cb(err);
  }
}
