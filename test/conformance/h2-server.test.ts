/**
 * The server conformance table over HTTP/2 (RFC 8441): every row that applies to a stream — framing,
 * fragmentation, control frames, UTF-8, close codes, permessage-deflate, and the handshake rows about
 * versions and subprotocols — runs on an extended CONNECT stream of one shared session instead of a TCP
 * connection. An accepted stream (:status 200) stands for the table's 101; the stream closing stands for TCP.
 * Rows about HTTP/1.1 only (method, Upgrade, Connection, Sec-WebSocket-Key/Accept, version 8) do not apply.
 */
import { once } from 'node:events';
import * as http2 from 'node:http2';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocketServer } from '@wskit/core';
import { h2Session, openStream } from '../helpers/h2.js';
import { selfSignedCertificate } from '../helpers/tls.js';
import { RawConnection, type RawClientOptions } from '../helpers/raw-peer.js';
import { DEFAULT_MAX_PAYLOAD, serverCases, type ServerCase, type ServerOutcome } from './server-cases.js';
import { comparable, expectedComparable, runServerCase, type CaseConnector } from './run-server-case.js';

const STREAM_HEADERS = new Set(['sec-websocket-protocol', 'sec-websocket-extensions', 'sec-websocket-version']);

function applies(row: ServerCase): boolean {
  const request = row.request;
  if (row.id === 'hs.version-8') return false; // version 8 has no HTTP/2 binding (answered 426 there)
  if (!request) return true;
  if (request.rawRequest !== undefined || request.method !== undefined || request.path !== undefined) return false;
  return Object.keys(request.headers ?? {}).every((name) => STREAM_HEADERS.has(name.toLowerCase()));
}

/** The row's outcome over HTTP/2: the same, except that a refused version lists only 13. */
function overHttp2(outcome: ServerOutcome): ServerOutcome {
  const headers = { ...outcome.headers };
  if (headers['sec-websocket-version'] !== undefined) headers['sec-websocket-version'] = /^13$/;
  return { ...outcome, headers };
}

const rows = serverCases.filter(applies);

let session: http2.ClientHttp2Session;
const servers = new Map<string, Promise<{ port: number; close: () => Promise<void> }>>();

async function startServer(options: {
  perMessageDeflate?: boolean;
  maxPayload?: number;
}): Promise<{ port: number; close: () => Promise<void> }> {
  // The 16 MiB rows echo more than Node's default per-session budget (maxSessionMemory, 10 MB) holds.
  const server = http2.createSecureServer({
    ...selfSignedCertificate(),
    settings: { enableConnectProtocol: true },
    maxSessionMemory: 256,
  });
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (s) => sessions.add(s));
  const wss = new WebSocketServer({ server, maxPayload: DEFAULT_MAX_PAYLOAD, perMessageDeflate: false, ...options });
  wss.on('connection', (ws) => {
    ws.on('message', (data: Buffer, isBinary: boolean) => ws.send(data, { binary: isBinary }));
    ws.on('error', () => {});
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    close: async () => {
      wss.close();
      for (const s of sessions) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

const sessions = new Map<number, Promise<http2.ClientHttp2Session>>();
const connectStream: CaseConnector = async (port, request: RawClientOptions | undefined) => {
  let pending = sessions.get(port);
  if (!pending) sessions.set(port, (pending = h2Session(port)));
  session = await pending;
  const headers: http2.OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(request?.headers ?? {})) {
    if (value === null) headers[name.toLowerCase()] = '';
    else headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  }
  const opened = await openStream(session, '/', headers);
  const flat: Record<string, string> = {};
  for (const [name, value] of Object.entries(opened.headers)) if (!name.startsWith(':')) flat[name] = String(value);
  // As a TCP peer without half-open: the server's END_STREAM is answered with ours, closing the stream.
  opened.stream.once('end', () => opened.stream.end());
  // RawConnection reads frames from any duplex: the stream stands in for the socket.
  const connection = new RawConnection(opened.stream as unknown as Socket, Buffer.alloc(0));
  return { status: opened.status === 200 ? 101 : opened.status, head: { headers: flat }, connection };
};

afterAll(async () => {
  for (const pending of sessions.values()) (await pending).destroy();
  for (const server of servers.values()) await (await server).close();
});

test('the table has rows that apply to streams', () => {
  expect(rows.length).toBeGreaterThan(150);
});

test.concurrent.each(rows.map((row) => [row.id, row] as const))('%s over HTTP/2', async (_id, row) => {
  const outcome = overHttp2(row.expect);
  const key = JSON.stringify(row.server ?? {});
  let server = servers.get(key);
  if (!server) servers.set(key, (server = startServer(row.server ?? {})));
  const { port } = await server;
  const observed = await runServerCase(port, row, outcome, connectStream);
  expect(comparable(observed, outcome)).toEqual(expectedComparable(outcome));
});

/**
 * Bad input that only exists over HTTP/2, beside the table: `:protocol` values, a CONNECT without one, a
 * peer that half-closes or resets its stream in the middle of a frame. On a server with a compat request
 * handler (the common case: a page and its WebSockets on one server).
 */
describe('HTTP/2-only bad input', () => {
  let server: http2.Http2SecureServer;
  let wss: WebSocketServer;
  let port: number;
  let h2: http2.ClientHttp2Session;
  const closes: number[] = [];
  const errors: string[] = [];

  beforeAll(async () => {
    server = http2.createSecureServer(
      { ...selfSignedCertificate(), settings: { enableConnectProtocol: true } },
      (_req, res) => res.end('page'),
    );
    wss = new WebSocketServer({ server });
    wss.on('connection', (ws) => {
      ws.on('close', (code: number) => closes.push(code));
      ws.on('error', (error: Error) => errors.push(error.message));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as AddressInfo).port;
    h2 = await h2Session(port);
  });

  afterAll(async () => {
    h2.destroy();
    wss.close();
    await new Promise((resolve) => server.close(resolve));
  });

  function connectHead(protocol: string | undefined): Promise<number> {
    const headers: http2.OutgoingHttpHeaders = { ':method': 'CONNECT', ':authority': `127.0.0.1:${port}` };
    if (protocol !== undefined) {
      Object.assign(headers, {
        ':protocol': protocol,
        ':scheme': 'https',
        ':path': '/',
        'sec-websocket-version': '13',
      });
    }
    const stream = h2.request(headers, { endStream: false });
    stream.on('error', () => {});
    return new Promise((resolve, reject) => {
      stream.once('response', (head) => {
        resolve(Number(head[':status']));
        stream.close();
      });
      stream.once('close', () => reject(new Error(`closed without a response (rstCode ${stream.rstCode})`)));
    });
  }

  test.each([
    ['websocket', 200],
    ['WebSocket', 200], // a token: compared without case, as the HTTP/1.1 Upgrade header is
    ['h2c', 405],
    ['webtransport', 405],
    [undefined, 405], // a classic CONNECT tunnel: Node's own answer
  ])(':protocol %s is answered %i', async (protocol, status) => {
    expect(await connectHead(protocol)).toBe(status);
  });

  async function acceptedStream(): Promise<http2.ClientHttp2Stream> {
    const accepted = new Promise<void>((resolve) => wss.once('connection', () => resolve()));
    const { status, stream } = await openStream(h2, '/');
    expect(status).toBe(200);
    await accepted;
    return stream;
  }

  const closed = (count: number): Promise<void> =>
    new Promise((resolve) => {
      const check = (): void => (closes.length >= count ? resolve() : void setTimeout(check, 10));
      check();
    });

  test('END_STREAM in the middle of a frame: the socket closes 1006, the session stays up', async () => {
    closes.length = 0;
    const stream = await acceptedStream();
    // Half a masked text frame header (announces 5 bytes, sends 2), then END_STREAM.
    stream.end(Buffer.from([0x81, 0x85, 1, 2, 3, 4, 0x68 ^ 1, 0x65 ^ 2]));
    stream.resume();
    await closed(1);
    expect(closes).toEqual([1006]);
    expect(await connectHead('websocket')).toBe(200);
  });

  test('RST_STREAM (CANCEL) in the middle of a message: the socket closes 1006, nothing is thrown', async () => {
    closes.length = 0;
    errors.length = 0;
    const stream = await acceptedStream();
    // A fragmented message left open: first fragment, no FIN.
    stream.write(Buffer.from([0x01, 0x82, 1, 2, 3, 4, 0x68 ^ 1, 0x69 ^ 2]));
    await new Promise((resolve) => setTimeout(resolve, 20));
    stream.close(http2.constants.NGHTTP2_CANCEL);
    await closed(1);
    expect(closes).toEqual([1006]);
    expect(await connectHead('websocket')).toBe(200);
  });

  test('data frames sent before the 200 are held and read once the socket opens', async () => {
    const echoed = new Promise<string>((resolve) =>
      wss.once('connection', (ws) => ws.once('message', (data: Buffer) => resolve(String(data)))),
    );
    const stream = h2.request(
      {
        ':method': 'CONNECT',
        ':protocol': 'websocket',
        ':scheme': 'https',
        ':path': '/',
        ':authority': `127.0.0.1:${port}`,
        'sec-websocket-version': '13',
      },
      { endStream: false },
    );
    stream.on('error', () => {});
    // Written at once, before any response (an optimistic client): the bytes must not be lost.
    stream.write(Buffer.from([0x81, 0x82, 1, 2, 3, 4, 0x68 ^ 1, 0x69 ^ 2]));
    const timeout = new Promise<string>((_, reject) => setTimeout(() => reject(new Error('early frame lost')), 5000));
    expect(await Promise.race([echoed, timeout])).toBe('hi');
    stream.close();
  });
});
