/**
 * Shared pieces of the core integration tests: servers on 127.0.0.1:0 (wskit and ws), a frame builder
 * and reader for raw-bytes peers, a hand-written handshake client and a hand-answering TCP server.
 */
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { WebSocket as WsClient, WebSocketServer as WsServer } from 'ws';
import { WebSocket, WebSocketServer, type ServerOptions } from '@wskit/core';

export const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export const acceptKeyFor = (key: string): string =>
  createHash('sha1')
    .update(key + GUID)
    .digest('base64');

export const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A wskit server listening on an ephemeral port. */
export async function wskitServer(
  options: Omit<ServerOptions, 'port' | 'host' | 'server' | 'noServer'> = {},
): Promise<{ wss: WebSocketServer; port: number; url: string }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, ...options });
  await once(wss, 'listening');
  const port = (wss.address() as AddressInfo).port;
  return { wss, port, url: `ws://127.0.0.1:${port}` };
}

/** A `ws` server listening on an ephemeral port (the reference peer). */
export async function wsServer(
  options: ConstructorParameters<typeof WsServer>[0] = {},
): Promise<{ wss: WsServer; port: number; url: string }> {
  const wss = new WsServer({ host: '127.0.0.1', port: 0, ...options });
  await once(wss, 'listening');
  const port = (wss.address() as AddressInfo).port;
  return { wss, port, url: `ws://127.0.0.1:${port}` };
}

interface Closable {
  clients: Set<{ terminate(): void }>;
  close(cb?: (err?: Error) => void): void;
}

/** Terminates every client, then closes the server. */
export function shutdown(server: Closable): Promise<void> {
  for (const client of server.clients) client.terminate();
  return new Promise((resolve) => server.close(() => resolve()));
}

type AnySocket = WebSocket | WsClient;

/** Resolves with (code, reason as string) of the next 'close'. */
export function closeOf(ws: AnySocket): Promise<[number, string]> {
  return new Promise((resolve) => {
    (ws as WebSocket).once('close', (code: number, reason: Buffer) => resolve([code, reason.toString()]));
  });
}

/** Resolves with the next 'error'. */
export function errorOf(ws: AnySocket): Promise<Error & { code?: string; closeCode?: number }> {
  return new Promise((resolve) => {
    (ws as WebSocket).once('error', resolve);
  });
}

export function opened(ws: AnySocket): Promise<void> {
  if (ws.readyState === 1) return Promise.resolve();
  return new Promise((resolve, reject) => {
    (ws as WebSocket).once('open', () => resolve());
    (ws as WebSocket).once('error', reject);
  });
}

/** Rejects if `promise` does not settle within `ms` (keeps a failing test from hanging until jest's timeout). */
export function within<T>(promise: Promise<T>, ms: number, what = 'operation'): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms);
    }),
  ]);
}

// ─── Frames ────────────────────────────────────────────────────────────────

export const OP = { cont: 0, text: 1, binary: 2, close: 8, ping: 9, pong: 10 } as const;

export interface FrameSpec {
  fin?: boolean;
  rsv1?: boolean;
  rsv2?: boolean;
  rsv3?: boolean;
  /** Defaults to true (client → server frames). */
  mask?: boolean;
  /** Writes this 64-bit length field instead of the real length (payload is still appended). */
  fakeLength64?: bigint;
}

/** Encodes one frame exactly as specified, valid or not. */
export function frame(opcode: number, payload: Buffer | string = Buffer.alloc(0), spec: FrameSpec = {}): Buffer {
  const data = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const mask = spec.mask ?? true;
  const b0 =
    ((spec.fin ?? true) ? 0x80 : 0) | (spec.rsv1 ? 0x40 : 0) | (spec.rsv2 ? 0x20 : 0) | (spec.rsv3 ? 0x10 : 0) | opcode;
  let header: Buffer;
  if (spec.fakeLength64 !== undefined) {
    header = Buffer.alloc(10);
    header[1] = 127;
    header.writeBigUInt64BE(spec.fakeLength64, 2);
  } else if (data.length < 126) {
    header = Buffer.alloc(2);
    header[1] = data.length;
  } else if (data.length < 65536) {
    header = Buffer.alloc(4);
    header[1] = 126;
    header.writeUInt16BE(data.length, 2);
  } else {
    header = Buffer.alloc(10);
    header[1] = 127;
    header.writeBigUInt64BE(BigInt(data.length), 2);
  }
  header[0] = b0;
  if (!mask) return Buffer.concat([header, data]);
  header[1] = header[1]! | 0x80;
  const key = randomBytes(4);
  const masked = Buffer.alloc(data.length);
  for (let i = 0; i < data.length; i++) masked[i] = data[i]! ^ key[i & 3]!;
  return Buffer.concat([header, key, masked]);
}

export function closePayload(code: number, reason: Buffer | string = ''): Buffer {
  const r = typeof reason === 'string' ? Buffer.from(reason) : reason;
  const out = Buffer.alloc(2 + r.length);
  out.writeUInt16BE(code, 0);
  r.copy(out, 2);
  return out;
}

export interface ParsedFrame {
  fin: boolean;
  rsv1: boolean;
  opcode: number;
  masked: boolean;
  payload: Buffer;
}

/** Incremental decoder for what a peer under test sends (either role). */
export class FrameReader {
  private buffer = Buffer.alloc(0);

  push(chunk: Buffer): ParsedFrame[] {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    const out: ParsedFrame[] = [];
    for (;;) {
      const b = this.buffer;
      if (b.length < 2) break;
      const masked = (b[1]! & 0x80) !== 0;
      let len = b[1]! & 0x7f;
      let at = 2;
      if (len === 126) {
        if (b.length < 4) break;
        len = b.readUInt16BE(2);
        at = 4;
      } else if (len === 127) {
        if (b.length < 10) break;
        len = Number(b.readBigUInt64BE(2));
        at = 10;
      }
      const keyAt = at;
      if (masked) at += 4;
      if (b.length < at + len) break;
      const payload = Buffer.from(b.subarray(at, at + len));
      if (masked) for (let i = 0; i < len; i++) payload[i] = payload[i]! ^ b[keyAt + (i & 3)]!;
      out.push({ fin: (b[0]! & 0x80) !== 0, rsv1: (b[0]! & 0x40) !== 0, opcode: b[0]! & 0x0f, masked, payload });
      this.buffer = b.subarray(at + len);
    }
    return out;
  }
}

// ─── Raw peers ─────────────────────────────────────────────────────────────

export interface HttpHead {
  statusLine: string;
  status: number;
  /** Lower-cased names. */
  headers: Record<string, string>;
  body: string;
}

function parseHead(text: string): Omit<HttpHead, 'body'> {
  const [statusLine = '', ...lines] = text.split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { statusLine, status: Number(statusLine.split(' ')[1]), headers };
}

/** A raw TCP connection to a server under test, after a hand-written handshake. */
export class RawClient {
  readonly frames: ParsedFrame[] = [];
  head: HttpHead | null = null;
  /** Resolves when the server closed (or reset) the TCP connection. */
  readonly closed: Promise<void>;
  /** Whether the server half-closed (FIN) before the connection went away. */
  gotEnd = false;
  private data = Buffer.alloc(0);
  private readonly reader = new FrameReader();
  private waiters: Array<() => void> = [];
  private isClosed = false;

  constructor(readonly socket: Socket) {
    socket.on('error', () => {});
    socket.on('end', () => {
      this.gotEnd = true;
    });
    this.closed = new Promise((resolve) =>
      socket.on('close', () => {
        this.isClosed = true;
        this.wake();
        resolve();
      }),
    );
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
  }

  private onData(chunk: Buffer): void {
    if (this.head === null) {
      this.data = Buffer.concat([this.data, chunk]);
      const end = this.data.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = parseHead(this.data.subarray(0, end).toString('latin1'));
      const rest = this.data.subarray(end + 4);
      if (head.status === 101) {
        this.head = { ...head, body: '' };
        if (rest.length > 0) this.frames.push(...this.reader.push(rest));
      } else {
        this.head = { ...head, body: rest.toString() };
        this.data = rest;
      }
    } else if (this.head.status === 101) {
      this.frames.push(...this.reader.push(chunk));
    } else {
      this.head.body += chunk.toString();
    }
    this.wake();
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /** Waits until `pred` holds (or the connection closes, or `ms` pass); returns whether it holds. */
  async until(pred: () => boolean, ms = 2000): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!pred()) {
      if (this.isClosed || Date.now() >= deadline) return pred();
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return true;
  }

  write(bytes: Buffer | string): void {
    if (!this.socket.destroyed) this.socket.write(bytes);
  }

  closeFrame(): ParsedFrame | undefined {
    return this.frames.find((f) => f.opcode === OP.close);
  }

  /** Close code of the first close frame received, if any. */
  closeCode(): number | undefined {
    const f = this.closeFrame();
    return f && f.payload.length >= 2 ? f.payload.readUInt16BE(0) : undefined;
  }

  get isTcpClosed(): boolean {
    return this.isClosed;
  }
}

export interface RawHandshakeOptions {
  path?: string;
  method?: string;
  /** Header overrides; null drops a default header. */
  headers?: Record<string, string | null>;
  /** Exact request bytes instead of a built request. */
  raw?: string | Buffer;
}

/** Opens a TCP connection and writes an upgrade request; resolves once the response head arrived. */
export async function rawHandshake(port: number, options: RawHandshakeOptions = {}): Promise<RawClient> {
  const client = await rawConnect(port);
  client.write(options.raw ?? buildRequest(port, options));
  await client.until(() => client.head !== null, 3000);
  return client;
}

export async function rawConnect(port: number): Promise<RawClient> {
  const socket = connect(port, '127.0.0.1');
  socket.setNoDelay(true);
  await once(socket, 'connect');
  return new RawClient(socket);
}

export function buildRequest(port: number, options: RawHandshakeOptions = {}): string {
  const headers: Record<string, string | null> = {
    Host: `127.0.0.1:${port}`,
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
    'Sec-WebSocket-Version': '13',
    ...options.headers,
  };
  const lines = [`${options.method ?? 'GET'} ${options.path ?? '/'} HTTP/1.1`];
  for (const [name, value] of Object.entries(headers)) if (value !== null) lines.push(`${name}: ${value}`);
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/** What a hand-answering server sees of one client: its request head, the socket and a frame reader. */
export interface RawPeer {
  socket: Socket;
  request: { requestLine: string; headers: Record<string, string> };
  key: string;
  frames: ParsedFrame[];
  /** Writes a standard 101 (override or drop headers with '' values) plus optional trailing bytes. */
  accept(extra?: Record<string, string>, trailing?: Buffer): void;
  until(pred: () => boolean, ms?: number): Promise<boolean>;
}

/** A TCP server that hands each request head to `onPeer`, to answer by hand (client-side tests). */
export async function rawServer(
  onPeer: (peer: RawPeer) => void,
): Promise<{ port: number; url: string; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let data = Buffer.alloc(0);
    let peer: RawPeer | null = null;
    const reader = new FrameReader();
    let waiters: Array<() => void> = [];
    const wake = (): void => {
      const w = waiters;
      waiters = [];
      for (const f of w) f();
    };
    socket.on('data', (chunk: Buffer) => {
      if (peer) {
        peer.frames.push(...reader.push(chunk));
        wake();
        return;
      }
      data = Buffer.concat([data, chunk]);
      const end = data.indexOf('\r\n\r\n');
      if (end < 0) return;
      const [requestLine = '', ...lines] = data.subarray(0, end).toString('latin1').split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of lines) {
        const colon = line.indexOf(':');
        if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      const key = headers['sec-websocket-key'] ?? '';
      const frames: ParsedFrame[] = [];
      peer = {
        socket,
        request: { requestLine, headers },
        key,
        frames,
        accept(extra = {}, trailing) {
          const all: Record<string, string> = {
            Upgrade: 'websocket',
            Connection: 'Upgrade',
            'Sec-WebSocket-Accept': acceptKeyFor(key),
            ...extra,
          };
          const lines2 = ['HTTP/1.1 101 Switching Protocols'];
          for (const [n, v] of Object.entries(all)) if (v !== '') lines2.push(`${n}: ${v}`);
          socket.write(`${lines2.join('\r\n')}\r\n\r\n`);
          if (trailing) socket.write(trailing);
        },
        async until(pred, ms = 2000) {
          const deadline = Date.now() + ms;
          while (!pred()) {
            if (socket.destroyed || Date.now() >= deadline) return pred();
            await new Promise<void>((resolve) => {
              const t = setTimeout(resolve, Math.max(1, deadline - Date.now()));
              waiters.push(() => {
                clearTimeout(t);
                resolve();
              });
            });
          }
          return true;
        },
      };
      const rest = data.subarray(end + 4);
      if (rest.length > 0) frames.push(...reader.push(rest));
      onPeer(peer);
    });
    socket.on('close', wake);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `ws://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** An upgraded raw connection to a wskit/ws server, ready for frames. Fails the test if it was not 101. */
export async function rawUpgraded(port: number, options: RawHandshakeOptions = {}): Promise<RawClient> {
  const client = await rawHandshake(port, options);
  if (client.head?.status !== 101) {
    client.socket.destroy();
    throw new Error(`expected 101, got ${client.head?.statusLine ?? 'nothing'}`);
  }
  return client;
}
