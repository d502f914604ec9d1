/**
 * Raw-bytes peers for conformance tests: a client that writes the opening handshake by hand to a server
 * under test, and a server that answers a client under test by hand. Both expose the frames the other
 * side sent, decoded by our own FrameReader, plus when TCP closed.
 */
import { createHash, randomBytes } from 'node:crypto';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { constants as zlib, inflateRawSync } from 'node:zlib';
import { FrameReader, OP, type Frame } from './frames.js';

export const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export function acceptKey(key: string): string {
  return createHash('sha1')
    .update(key + GUID)
    .digest('base64');
}

/** One side of a raw connection after the HTTP head: frames seen so far, TCP state, a way to wait. */
export class RawConnection {
  readonly frames: Frame[] = [];
  tcpClosed = false;
  private readonly reader = new FrameReader();
  private readonly waiters = new Set<() => void>();
  readonly closedPromise: Promise<void>;

  constructor(
    readonly socket: Socket,
    leftover: Buffer,
  ) {
    this.closedPromise = new Promise((resolve) => {
      socket.on('close', () => {
        this.tcpClosed = true;
        this.wake();
        resolve();
      });
    });
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    if (leftover.length > 0) this.onData(leftover);
  }

  private onData(chunk: Buffer): void {
    this.frames.push(...this.reader.push(chunk));
    this.wake();
  }

  private wake(): void {
    for (const waiter of this.waiters) waiter();
  }

  write(data: Buffer | Buffer[]): void {
    if (this.socket.destroyed || !this.socket.writable) return;
    for (const chunk of Array.isArray(data) ? data : [data]) this.socket.write(chunk);
  }

  /** Resolves true once pred holds, false after timeoutMs (or when TCP closes without it holding). */
  waitFor(pred: (c: RawConnection) => boolean, timeoutMs: number): Promise<boolean> {
    if (pred(this)) return Promise.resolve(true);
    return new Promise((resolve) => {
      const check = (): void => {
        if (pred(this)) finish(true);
        else if (this.tcpClosed) finish(false);
      };
      const timer = setTimeout(() => finish(false), timeoutMs);
      const finish = (result: boolean): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve(result);
      };
      this.waiters.add(check);
    });
  }

  closeFrame(): Frame | undefined {
    return this.frames.find((f) => f.opcode === OP.close);
  }

  destroy(): void {
    this.socket.destroy();
  }
}

export interface HttpHead {
  /** Request line or status line. */
  startLine: string;
  /** Lower-cased names; repeated headers joined with ', '. */
  headers: Record<string, string>;
  /** Headers in order, names as sent, for duplicate checks. */
  rawHeaders: Array<[string, string]>;
}

function parseHead(text: string): HttpHead {
  const [startLine, ...lines] = text.split('\r\n');
  const headers: Record<string, string> = {};
  const rawHeaders: Array<[string, string]> = [];
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    rawHeaders.push([name, value]);
    const lower = name.toLowerCase();
    headers[lower] = lower in headers ? `${headers[lower]}, ${value}` : value;
  }
  return { startLine, headers, rawHeaders };
}

/** Reads one HTTP head from the socket; resolves with it and the bytes after it. */
function readHead(socket: Socket, timeoutMs: number): Promise<{ head: HttpHead; rest: Buffer } | null> {
  return new Promise((resolve) => {
    let buffer = Buffer.alloc(0);
    const done = (value: { head: HttpHead; rest: Buffer } | null): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      resolve(value);
    };
    const onData = (chunk: Buffer): void => {
      buffer = Buffer.concat([buffer, chunk]);
      const end = buffer.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.pause();
      done({ head: parseHead(buffer.subarray(0, end).toString('latin1')), rest: buffer.subarray(end + 4) });
    };
    const onClose = (): void => done(null);
    const timer = setTimeout(() => done(null), timeoutMs);
    socket.on('data', onData);
    socket.on('close', onClose);
  });
}

export interface RawClientOptions {
  path?: string;
  method?: string;
  /** Header overrides; null removes a default header. Multiple values become repeated header lines. */
  headers?: Record<string, string | string[] | null>;
  /** Send exactly these request bytes instead of building a request. */
  rawRequest?: string;
  timeoutMs?: number;
}

export interface RawClientResult {
  status: number;
  head: HttpHead;
  key: string;
  /** Present when the response was 101: the framed connection. */
  connection: RawConnection;
}

export async function rawClient(port: number, options: RawClientOptions = {}): Promise<RawClientResult> {
  const key = randomBytes(16).toString('base64');
  const socket = connect(port, '127.0.0.1');
  socket.setNoDelay(true);
  socket.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const defaults: Record<string, string | string[] | null> = {
    Host: `127.0.0.1:${port}`,
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': key,
    'Sec-WebSocket-Version': '13',
  };
  const merged = { ...defaults, ...options.headers };
  let request = options.rawRequest;
  if (request === undefined) {
    const lines = [`${options.method ?? 'GET'} ${options.path ?? '/'} HTTP/1.1`];
    for (const [name, value] of Object.entries(merged)) {
      if (value === null) continue;
      for (const v of Array.isArray(value) ? value : [value]) lines.push(`${name}: ${v}`);
    }
    request = `${lines.join('\r\n')}\r\n\r\n`;
  }
  const headPromise = readHead(socket, options.timeoutMs ?? 10_000);
  socket.write(request);
  const result = await headPromise;
  if (!result) {
    socket.destroy();
    throw new Error('no HTTP response head from server');
  }
  const status = Number(result.head.startLine.split(' ')[1]);
  const connection = new RawConnection(socket, result.rest);
  socket.resume();
  return { status, head: result.head, key, connection };
}

export interface RawServerHandshake {
  head: HttpHead;
  /** Writes the given response head (status line + headers) and returns the framed connection. */
  respond(statusLine: string, headers: Record<string, string>): RawConnection;
  /** The standard 101 answer, with extra headers merged in (a value of '' omits the header). */
  accept(extra?: Record<string, string>): RawConnection;
  socket: Socket;
}

/** A TCP server that hands each incoming HTTP upgrade request to `onRequest`, to answer by hand. */
export async function rawServer(
  onRequest: (handshake: RawServerHandshake) => void,
): Promise<{ port: number; server: Server; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    socket.setNoDelay(true);
    void readHead(socket, 5000).then((result) => {
      if (!result) return void socket.destroy();
      const { head, rest } = result;
      const respond = (statusLine: string, headers: Record<string, string>): RawConnection => {
        const lines = [statusLine];
        for (const [name, value] of Object.entries(headers)) if (value !== '') lines.push(`${name}: ${value}`);
        socket.write(`${lines.join('\r\n')}\r\n\r\n`);
        const connection = new RawConnection(socket, rest);
        socket.resume();
        return connection;
      };
      onRequest({
        head,
        socket,
        respond,
        accept: (extra = {}) =>
          respond('HTTP/1.1 101 Switching Protocols', {
            Upgrade: 'websocket',
            Connection: 'Upgrade',
            'Sec-WebSocket-Accept': acceptKey(head.headers['sec-websocket-key'] ?? ''),
            ...extra,
          }),
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const close = (): Promise<void> =>
    new Promise((resolve) => {
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    });
  return { port, server, close };
}

/** What a peer's frames amount to: assembled messages and control frames, in arrival order. */
export type PeerEvent =
  | { type: 'text'; data: string; valid: boolean }
  | { type: 'binary'; data: Buffer }
  | { type: 'ping'; data: Buffer }
  | { type: 'pong'; data: Buffer }
  | { type: 'close'; code: number | null; reason: Buffer };

/**
 * Assembles frames into events. Compressed messages (RSV1 on the first frame) are inflated; pass
 * `contextTakeover: false` semantics (each message independent), which is what the tests negotiate.
 */
export function toEvents(frames: Frame[]): PeerEvent[] {
  const events: PeerEvent[] = [];
  let parts: Buffer[] = [];
  let first: Frame | null = null;
  for (const frame of frames) {
    if (frame.opcode >= 0x8) {
      if (frame.opcode === OP.ping) events.push({ type: 'ping', data: frame.payload });
      else if (frame.opcode === OP.pong) events.push({ type: 'pong', data: frame.payload });
      else if (frame.opcode === OP.close) {
        const code = frame.payload.length >= 2 ? frame.payload.readUInt16BE(0) : null;
        events.push({ type: 'close', code, reason: frame.payload.subarray(2) });
      }
      continue;
    }
    if (frame.opcode !== OP.cont) first = frame;
    parts.push(frame.payload);
    if (!frame.fin || !first) continue;
    let data = Buffer.concat(parts);
    if (first.rsv1)
      data = inflateRawSync(Buffer.concat([data, Buffer.from([0x00, 0x00, 0xff, 0xff])]), {
        finishFlush: zlib.Z_SYNC_FLUSH,
      });
    if (first.opcode === OP.text) events.push({ type: 'text', data: data.toString(), valid: isUtf8(data) });
    else events.push({ type: 'binary', data });
    parts = [];
    first = null;
  }
  return events;
}

function isUtf8(data: Buffer): boolean {
  return Buffer.from(data.toString(), 'utf8').equals(data);
}
