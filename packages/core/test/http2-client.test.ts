/**
 * The wskit client over HTTP/2 (RFC 8441), option by option: each ws client option either works over an
 * extended CONNECT stream or is refused with a typed error. Redirects (3xx on the CONNECT stream), headers,
 * origin, credentials, subprotocols, permessage-deflate, handshakeTimeout, maxPayload, the 'upgrade' event,
 * refusals as HandshakeError, servers without HTTP/2 or without extended CONNECT, and session pooling.
 */
import { once } from 'node:events';
import * as http2 from 'node:http2';
import * as https from 'node:https';
import * as tls from 'node:tls';
import { IncomingMessage } from 'node:http';
import { Agent } from 'node:https';
import type { AddressInfo } from 'node:net';
import {
  HandshakeError,
  Http2ConnectError,
  Http2UnsupportedError,
  WebSocket,
  WebSocketServer,
  type ServerOptions,
} from '@wskit/core';
import { selfSignedCertificate } from '../../../test/helpers/tls.js';
import { closeOf, errorOf, opened, within } from './helpers.js';

interface Seen {
  url: string | undefined;
  headers: http2.IncomingHttpHeaders;
}

interface Fixture {
  port: number;
  wss: WebSocketServer;
  seen: Seen[];
  sessions: () => number;
  openSessions: () => number;
  close: () => Promise<void>;
}

const fixtures: Fixture[] = [];
afterEach(async () => {
  for (const f of fixtures.splice(0)) await f.close();
});

async function h2Server(options: Omit<ServerOptions, 'server' | 'port' | 'noServer'> = {}): Promise<Fixture> {
  const server = http2.createSecureServer({ ...selfSignedCertificate(), settings: { enableConnectProtocol: true } });
  let sessions = 0;
  const open = new Set<http2.ServerHttp2Session>();
  server.on('session', (session) => {
    sessions++;
    open.add(session);
    session.once('close', () => open.delete(session));
  });
  const wss = new WebSocketServer({ server, ...options });
  const seen: Seen[] = [];
  wss.on('connection', (ws, req) => {
    seen.push({ url: req.url, headers: req.headers as http2.IncomingHttpHeaders });
    ws.on('message', (data: Buffer, isBinary: boolean) => ws.send(data, { binary: isBinary }));
    ws.send(`at ${req.url}`);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const f: Fixture = {
    port: (server.address() as AddressInfo).port,
    wss,
    seen,
    sessions: () => sessions,
    openSessions: () => open.size,
    close: async () => {
      for (const ws of wss.clients) ws.terminate();
      wss.close();
      const closed = once(server, 'close');
      server.close();
      for (const session of open) session.destroy();
      await within(closed, 10_000, 'server close');
    },
  };
  fixtures.push(f);
  return f;
}

type Options = NonNullable<ConstructorParameters<typeof WebSocket>[2]>;
const connect = (port: number, path = '/', options: Options = {}, protocols: string[] = []): WebSocket =>
  new WebSocket(`wss://127.0.0.1:${port}${path}`, protocols, { http2: true, rejectUnauthorized: false, ...options });

const firstMessage = (ws: WebSocket): Promise<string> =>
  new Promise((resolve) => ws.once('message', (data: Buffer) => resolve(String(data))));

async function openAndClose(ws: WebSocket): Promise<string> {
  const message = await within(firstMessage(ws), 10_000, 'first message');
  ws.close();
  await closeOf(ws);
  return message;
}

/** Refuses `/from...` paths with the redirect `to(path)` gives; other paths are accepted. */
type AsyncVerify = WebSocket.VerifyClientCallbackAsync;

function redirecting(status: number, to: (path: string) => string): AsyncVerify {
  return (info, cb) => {
    const url = info.req.url ?? '/';
    if (url.startsWith('/from')) cb(false, status, 'Moved', { Location: to(url) });
    else cb(true);
  };
}

describe('followRedirects over HTTP/2: a 3xx on the CONNECT stream', () => {
  test.each([301, 302, 303, 307, 308])(
    '%i with a relative Location is followed on the same session',
    async (status) => {
      const f = await h2Server({ verifyClient: redirecting(status, () => '/to?x=1') });
      const redirects: string[] = [];
      const ws = connect(f.port, '/from', { followRedirects: true });
      ws.on('redirect', (url: string) => redirects.push(url));
      expect(await openAndClose(ws)).toBe('at /to?x=1');
      expect(ws.url).toBe(`wss://127.0.0.1:${f.port}/to?x=1`);
      // One session carried both streams; 'redirect' (which carries a ClientRequest) is not emitted over HTTP/2.
      expect(f.sessions()).toBe(1);
      expect(redirects).toEqual([]);
    },
  );

  test('without followRedirects the 3xx fails the handshake as a HandshakeError with its Location', async () => {
    const f = await h2Server({ verifyClient: redirecting(302, () => '/to') });
    const error = await errorOf(connect(f.port, '/from'));
    expect(error).toBeInstanceOf(HandshakeError);
    expect(error).toMatchObject({
      code: 'WS_ERR_HANDSHAKE',
      status: 302,
      message: 'Unexpected server response: 302',
      headers: { location: '/to' },
    });
  });

  // A refusal's or redirect's stream, reset with its body unread, never emitted 'close' while paused: the pooled
  // session (and its TCP connection) stayed open after the socket had failed, or after the redirect's socket closed.
  test.each([
    ['a refused handshake', false],
    ['a followed redirect', true],
  ])('%s releases the pooled session: it closes with the last socket', async (_name, followRedirects) => {
    const f = await h2Server({ verifyClient: redirecting(302, () => '/to') });
    const ws = connect(f.port, '/from', { followRedirects });
    if (followRedirects) expect(await openAndClose(ws)).toBe('at /to');
    else expect(await errorOf(ws)).toBeInstanceOf(HandshakeError);
    await within(
      new Promise<void>((resolve) => {
        const check = (): void => (f.openSessions() === 0 ? resolve() : void setTimeout(check, 20));
        setTimeout(check, 20);
      }),
      10_000,
      'pooled session closes',
    );
    expect(f.sessions()).toBe(1);
  });

  test('maxRedirects bounds a redirect loop', async () => {
    const f = await h2Server({ verifyClient: redirecting(302, (path) => `${path}x`) });
    const ws = connect(f.port, '/from', { followRedirects: true, maxRedirects: 3 });
    const closed = closeOf(ws);
    const error = await within(errorOf(ws), 10_000, 'redirect loop');
    expect(error.message).toBe('Maximum redirects exceeded');
    expect((await closed)[0]).toBe(1006);
    expect(f.seen).toEqual([]);
  });

  test('a redirect to another origin opens a session there and sends no credentials', async () => {
    const target = await h2Server();
    const origin = await h2Server({
      verifyClient: redirecting(307, () => `wss://127.0.0.1:${target.port}/landed`),
    });
    const ws = connect(origin.port, '/from', {
      followRedirects: true,
      headers: { Authorization: 'Bearer secret', Cookie: 'sid=1', 'X-Kept': 'yes' },
    });
    expect(await openAndClose(ws)).toBe('at /landed');
    const [landed] = target.seen;
    expect(landed!.headers.authorization).toBeUndefined();
    expect(landed!.headers.cookie).toBeUndefined();
    expect(landed!.headers['x-kept']).toBe('yes');
    expect([origin.sessions(), target.sessions()]).toEqual([1, 1]);
  });

  test("with a caller's session: same-origin redirects stay on it, another origin gets a shared session", async () => {
    const target = await h2Server();
    const origin = await h2Server({
      verifyClient: ((info, cb) => {
        if (info.req.url === '/from-here') cb(false, 302, 'Moved', { Location: '/here' });
        else if (info.req.url === '/from-there')
          cb(false, 302, 'Moved', { Location: `wss://127.0.0.1:${target.port}/there` });
        else cb(true);
      }) as AsyncVerify,
    });
    const session = http2.connect(`https://127.0.0.1:${origin.port}`, { rejectUnauthorized: false });
    try {
      const here = connect(origin.port, '/from-here', { http2: session, followRedirects: true });
      await within(firstMessage(here), 10_000, 'same origin');
      expect((here._socket as http2.ClientHttp2Stream).session).toBe(session);
      const there = connect(origin.port, '/from-there', { http2: session, followRedirects: true });
      expect(await within(firstMessage(there), 10_000, 'other origin')).toBe('at /there');
      expect((there._socket as http2.ClientHttp2Stream).session).not.toBe(session);
      here.close();
      there.close();
      await Promise.all([closeOf(here), closeOf(there)]);
      expect(session.closed).toBe(false);
    } finally {
      session.close();
    }
  });
});

describe('options with no HTTP/2 form are refused with Http2UnsupportedError', () => {
  test.each<[string, string, Options]>([
    ['finishRequest', 'wss://127.0.0.1:1/', { finishRequest: (req) => req.end() }],
    ['agent', 'wss://127.0.0.1:1/', { agent: new Agent() }],
    ['createConnection', 'wss://127.0.0.1:1/', { createConnection: () => undefined as never }],
    ['socketPath', 'wss://127.0.0.1:1/', { socketPath: '/tmp/x.sock' }],
    ['protocolVersion', 'wss://127.0.0.1:1/', { protocolVersion: 8 }],
    ['url', 'ws+unix:/tmp/x.sock', {}],
  ])('%s', (option, url, options) => {
    let thrown: unknown;
    try {
      new WebSocket(url, { http2: true, ...options });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(Http2UnsupportedError);
    expect(thrown).toBeInstanceOf(TypeError);
    expect(thrown).toMatchObject({ code: 'WS_ERR_HTTP2_UNSUPPORTED', option });
    expect((thrown as Error).message).toMatch(/HTTP\/2/);
    // Without http2 the same options are the HTTP/1.1 client's (no throw for the connectable ones).
  });
});

describe('servers that cannot take a WebSocket over HTTP/2', () => {
  test('no SETTINGS_ENABLE_CONNECT_PROTOCOL: Http2ConnectError, no fallback to HTTP/1.1', async () => {
    const server = http2.createSecureServer({ ...selfSignedCertificate(), allowHTTP1: true });
    let upgrades = 0;
    server.on('upgrade', () => upgrades++);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const ws = connect((server.address() as AddressInfo).port);
      const closed = closeOf(ws);
      const error = await errorOf(ws);
      expect(error).toBeInstanceOf(Http2ConnectError);
      expect(error).toMatchObject({ code: 'WS_ERR_HTTP2_NO_EXTENDED_CONNECT' });
      expect(error.message).toMatch(/SETTINGS_ENABLE_CONNECT_PROTOCOL/);
      expect((await closed)[0]).toBe(1006);
      expect(upgrades).toBe(0);
    } finally {
      server.close();
    }
  });

  test("a caller's session whose SETTINGS already came, with or without extended CONNECT, is told apart", async () => {
    const plain = http2.createSecureServer(selfSignedCertificate());
    plain.listen(0, '127.0.0.1');
    await once(plain, 'listening');
    const enabled = await h2Server();
    const settled = async (port: number): Promise<http2.ClientHttp2Session> => {
      const session = http2.connect(`https://127.0.0.1:${port}`, { rejectUnauthorized: false });
      await once(session, 'remoteSettings');
      return session;
    };
    const [without, withConnect] = await Promise.all([
      settled((plain.address() as AddressInfo).port),
      settled(enabled.port),
    ]);
    try {
      // Not left to handshakeTimeout: a PING tells that the SETTINGS are already in.
      const started = Date.now();
      const refused = connect(enabled.port, '/', { http2: without, handshakeTimeout: 5000 });
      const error = await within(errorOf(refused), 4000, 'settled session without extended CONNECT');
      expect(error).toBeInstanceOf(Http2ConnectError);
      expect(Date.now() - started).toBeLessThan(2000);
      const accepted = connect(enabled.port, '/', { http2: withConnect });
      expect(await openAndClose(accepted)).toBe('at /');
    } finally {
      without.close();
      withConnect.close();
      plain.close();
    }
  });

  test("a caller's session passed once connected, before its SETTINGS are known: the socket opens", async () => {
    const f = await h2Server();
    const session = http2.connect(`https://127.0.0.1:${f.port}`, { rejectUnauthorized: false });
    try {
      await once(session, 'connect');
      const ws = connect(f.port, '/', { http2: session });
      expect(await openAndClose(ws)).toBe('at /');
    } finally {
      session.close();
    }
  });

  test('an HTTPS server without h2 (ALPN): Http2ConnectError with the TLS alert as its cause', async () => {
    const server = https.createServer(selfSignedCertificate());
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const error = await errorOf(connect((server.address() as AddressInfo).port));
      expect(error).toBeInstanceOf(Http2ConnectError);
      expect(error.message).toMatch(/does not speak HTTP\/2/);
      expect((error.cause as NodeJS.ErrnoException).code).toBe('ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL');
    } finally {
      server.close();
    }
  });

  test('nothing listening: the connection error itself reaches the socket, closed with 1006', async () => {
    const server = http2.createSecureServer(selfSignedCertificate());
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as AddressInfo).port;
    await new Promise((resolve) => server.close(resolve));
    const ws = connect(port);
    const closed = closeOf(ws);
    const error = await within(errorOf(ws), 10_000, 'refused');
    expect(error).not.toBeInstanceOf(Http2ConnectError);
    expect(error.code).toBe('ECONNREFUSED');
    expect((await closed)[0]).toBe(1006);
  });

  test('session options Node refuses: an error event on the socket, not a throw from the constructor', async () => {
    const ws = connect(1, '/', { settings: 5 } as unknown as Options);
    const error = await errorOf(ws);
    expect(error.code).toBe('ERR_INVALID_ARG_TYPE');
    expect(ws.readyState).toBe(WebSocket.CLOSED);
  });

  test('a CONNECT stream reset before any response fails the handshake with the reset code', async () => {
    const server = http2.createSecureServer({ ...selfSignedCertificate(), settings: { enableConnectProtocol: true } });
    server.on('stream', (stream) => stream.close(http2.constants.NGHTTP2_NO_ERROR));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const ws = connect((server.address() as AddressInfo).port);
      const closed = closeOf(ws);
      const error = await within(errorOf(ws), 10_000, 'reset');
      expect(error.message).toBe('The stream was closed before the handshake completed (code 0)');
      expect((await closed)[0]).toBe(1006);
    } finally {
      server.close();
    }
  });

  test('a refusal with a repeated header field: the HandshakeError joins its values', async () => {
    const server = http2.createSecureServer({ ...selfSignedCertificate(), settings: { enableConnectProtocol: true } });
    server.on('stream', (stream) => {
      stream.respond({ ':status': 403, 'set-cookie': ['a=1', 'b=2'] });
      stream.end();
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const error = await within(errorOf(connect((server.address() as AddressInfo).port)), 10_000, 'refusal');
      expect(error).toBeInstanceOf(HandshakeError);
      expect((error as HandshakeError).status).toBe(403);
      expect((error as HandshakeError).headers['set-cookie']).toBe('a=1, b=2');
    } finally {
      server.close();
    }
  });

  test("a refusal is a HandshakeError with the :status and the response's headers", async () => {
    const f = await h2Server({
      verifyClient: ((_info, cb) => cb(false, 403, 'Forbidden', { 'X-Reason': 'banned' })) as AsyncVerify,
    });
    const ws = connect(f.port);
    let unexpected = 0;
    // 'unexpected-response' carries a ClientRequest, which HTTP/2 has none of: the error says it all.
    ws.on('unexpected-response', () => unexpected++);
    const closed = closeOf(ws);
    const error = await errorOf(ws);
    expect(error).toBeInstanceOf(HandshakeError);
    expect(error).toMatchObject({ code: 'WS_ERR_HANDSHAKE', status: 403, headers: { 'x-reason': 'banned' } });
    await closed;
    expect(unexpected).toBe(0);
  });
});

describe('ws client options over HTTP/2', () => {
  test('headers, origin, URL credentials and Host reach the server as HTTP/2 headers', async () => {
    const f = await h2Server();
    const ws = new WebSocket(`wss://user:p%40ss@127.0.0.1:${f.port}/h?q=1`, {
      http2: true,
      rejectUnauthorized: false,
      origin: 'https://app.example',
      headers: { 'X-Token': 'abc', Host: `localhost:${f.port}` },
    });
    await openAndClose(ws);
    const [{ headers, url }] = f.seen as [Seen];
    expect(url).toBe('/h?q=1');
    expect(headers).toMatchObject({
      ':method': 'CONNECT',
      ':protocol': 'websocket',
      ':scheme': 'https',
      ':authority': `localhost:${f.port}`,
      'x-token': 'abc',
      origin: 'https://app.example',
      authorization: `Basic ${Buffer.from('user:p@ss').toString('base64')}`,
      'sec-websocket-version': '13',
    });
    // No HTTP/1.1 upgrade headers on an HTTP/2 stream (they are connection-specific there).
    for (const name of ['connection', 'upgrade', 'sec-websocket-key', 'host']) expect(headers[name]).toBeUndefined();
  });

  test("a header HTTP/2 forbids (TE other than trailers) fails the handshake with Node's error", async () => {
    const f = await h2Server();
    const ws = connect(f.port, '/', { headers: { TE: 'gzip' } });
    const closed = closeOf(ws);
    const error = await within(errorOf(ws), 10_000, 'invalid header');
    expect(error.code).toBe('ERR_HTTP2_INVALID_CONNECTION_HEADERS');
    expect((await closed)[0]).toBe(1006);
    expect(f.seen).toEqual([]);
    // The session stays usable for the next socket.
    expect(await openAndClose(connect(f.port))).toBe('at /');
  });

  test('protocols: the server picks one; a server that picks none fails the handshake', async () => {
    const f = await h2Server({ handleProtocols: (offered) => (offered.has('v2') ? 'v2' : false) });
    const picked = connect(f.port, '/', {}, ['v1', 'v2']);
    await opened(picked);
    expect(picked.protocol).toBe('v2');
    expect(f.seen[0]!.headers['sec-websocket-protocol']).toBe('v1,v2');
    picked.close();
    await closeOf(picked);
    // The `protocols` option (used when the constructor is given none); the server accepts without one.
    const refused = new WebSocket(`wss://127.0.0.1:${f.port}/`, {
      http2: true,
      rejectUnauthorized: false,
      protocols: ['v1'],
    });
    expect((await errorOf(refused)).message).toBe('Server sent no subprotocol');
  });

  test('perMessageDeflate: negotiated with its parameters, or not offered when false', async () => {
    const f = await h2Server({ perMessageDeflate: true });
    const compressed = connect(f.port, '/', { perMessageDeflate: { serverNoContextTakeover: true } });
    await opened(compressed);
    expect(compressed.extensions).toBe('permessage-deflate');
    expect(f.seen[0]!.headers['sec-websocket-extensions']).toMatch(/^permessage-deflate; server_no_context_takeover/);
    const text = 'compressible '.repeat(1000);
    compressed.send(text);
    const echoes: string[] = [];
    await new Promise<void>((resolve) =>
      compressed.on('message', (data: Buffer) => {
        echoes.push(String(data));
        if (echoes.length === 2) resolve();
      }),
    );
    expect(echoes[1]).toBe(text);
    const uncompressed = connect(f.port, '/', { perMessageDeflate: false });
    await opened(uncompressed);
    expect(uncompressed.extensions).toBe('');
    expect(f.seen[1]!.headers['sec-websocket-extensions']).toBeUndefined();
    compressed.close();
    uncompressed.close();
    await Promise.all([closeOf(compressed), closeOf(uncompressed)]);
  });

  test('handshakeTimeout: a server that never answers the CONNECT; the stream is cancelled', async () => {
    const server = http2.createSecureServer({ ...selfSignedCertificate(), settings: { enableConnectProtocol: true } });
    const streams: http2.ServerHttp2Stream[] = [];
    server.on('stream', (stream) => streams.push(stream));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const started = Date.now();
      const ws = connect((server.address() as AddressInfo).port, '/', { handshakeTimeout: 300 });
      const error = await within(errorOf(ws), 5000, 'handshake timeout');
      expect(error.message).toBe('Opening handshake has timed out');
      expect(Date.now() - started).toBeGreaterThanOrEqual(250);
      await within(once(streams[0]!, 'close'), 5000, 'stream reset');
      expect(streams[0]!.rstCode).toBe(http2.constants.NGHTTP2_CANCEL);
    } finally {
      for (const stream of streams) stream.close();
      server.close();
    }
  });

  test('maxPayload: a message over the limit closes the socket with 1009 both ways', async () => {
    const f = await h2Server();
    const ws = connect(f.port, '/', { maxPayload: 64 });
    await within(firstMessage(ws), 10_000, 'greeting');
    const [peer] = [...f.wss.clients];
    const peerClosed = closeOf(peer!);
    const errored = errorOf(ws);
    const closed = closeOf(ws);
    peer!.send(Buffer.alloc(65));
    expect(await errored).toMatchObject({ code: 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH', closeCode: 1009 });
    await closed;
    // The close frame the client sent says why.
    expect((await peerClosed)[0]).toBe(1009);
  });

  test("'upgrade' carries an IncomingMessage: statusCode 200, httpVersion 2.0, the response headers, the stream", async () => {
    const f = await h2Server();
    f.wss.on('headers', (lines) => lines.push('X-Served-By: wskit'));
    const ws = connect(f.port);
    const [response] = (await once(ws, 'upgrade')) as [IncomingMessage];
    expect(response).toBeInstanceOf(IncomingMessage);
    expect({
      statusCode: response.statusCode,
      httpVersion: response.httpVersion,
      major: response.httpVersionMajor,
      status: response.headers[':status'],
      servedBy: response.headers['x-served-by'],
    }).toEqual({ statusCode: 200, httpVersion: '2.0', major: 2, status: 200, servedBy: 'wskit' });
    await opened(ws);
    expect(response.socket).toBe(ws._socket);
    ws.close();
    await closeOf(ws);
  });

  test("closing from 'upgrade' cancels the stream before the socket opens", async () => {
    const f = await h2Server();
    const ws = connect(f.port);
    ws.once('upgrade', () => ws.close());
    const closed = closeOf(ws);
    const error = await errorOf(ws);
    expect(error.message).toBe('WebSocket was closed before the connection was established');
    expect((await closed)[0]).toBe(1006);
    expect(ws.readyState).toBe(WebSocket.CLOSED);
  });
});

describe('sessions (what stands in for an agent over HTTP/2)', () => {
  test('shared per origin, opened once for sockets opened together, closed with the last socket', async () => {
    const a = await h2Server();
    const b = await h2Server();
    const warnings: string[] = [];
    const onWarning = (warning: Error): void => void warnings.push(warning.name);
    process.on('warning', onWarning);
    try {
      // 20 sockets opened in one tick wait for the same SETTINGS: no MaxListenersExceededWarning.
      const sockets = [
        ...Array.from({ length: 20 }, () => connect(a.port)),
        ...Array.from({ length: 3 }, () => connect(b.port)),
      ];
      await within(Promise.all(sockets.map(opened)), 10_000, 'open');
      expect([a.sessions(), b.sessions()]).toEqual([1, 1]);
      const session = (sockets[0]!._socket as http2.ClientHttp2Stream).session!;
      expect(session.listenerCount('remoteSettings')).toBeLessThanOrEqual(1);
      for (const ws of sockets) ws.close();
      await Promise.all(sockets.map(closeOf));
      // The pooled sessions close once no socket uses them.
      await within(
        new Promise<void>((resolve) => {
          const check = (): void =>
            a.openSessions() + b.openSessions() === 0 ? resolve() : void setTimeout(check, 20);
          check();
        }),
        10_000,
        'pooled sessions close',
      );
      // A later socket opens a new session.
      const later = connect(a.port);
      await openAndClose(later);
      expect(a.sessions()).toBe(2);
      expect(warnings).not.toContain('MaxListenersExceededWarning');
    } finally {
      process.off('warning', onWarning);
    }
  });

  test('an option left undefined keys the pool like an absent one: the sockets share a session', async () => {
    const f = await h2Server();
    const sockets = [connect(f.port), connect(f.port, '/', { servername: undefined })];
    await within(Promise.all(sockets.map(opened)), 10_000, 'open');
    expect(f.sessions()).toBe(1);
    for (const ws of sockets) ws.close();
    await Promise.all(sockets.map(closeOf));
  });

  test('ws: over cleartext HTTP/2 (h2c): :scheme http on a session to http://', async () => {
    const server = http2.createServer({ settings: { enableConnectProtocol: true } });
    const wss = new WebSocketServer({ server });
    let scheme: unknown;
    wss.on('connection', (ws, req) => {
      scheme = req.headers[':scheme'];
      ws.send(`h2c ${req.url}`);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const ws = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}/plain?x=1`, { http2: true });
      expect(await openAndClose(ws)).toBe('h2c /plain?x=1');
      expect(scheme).toBe('http');
    } finally {
      wss.close();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  test('TLS options that are objects (ca) key the pool by identity: the same ca shares a session', async () => {
    const f = await h2Server();
    const { cert } = selfSignedCertificate();
    const sockets = [1, 2].map(() => new WebSocket(`wss://127.0.0.1:${f.port}/`, { http2: true, ca: cert }));
    await within(Promise.all(sockets.map(opened)), 10_000, 'open with ca');
    expect(f.sessions()).toBe(1);
    for (const ws of sockets) ws.close();
    await Promise.all(sockets.map(closeOf));
  });

  test('close() while waiting for the SETTINGS: the socket fails at once, its pooled session closes', async () => {
    const f = await h2Server();
    const ws = connect(f.port);
    const closed = closeOf(ws);
    const error = errorOf(ws);
    ws.close();
    expect((await error).message).toBe('WebSocket was closed before the connection was established');
    expect((await closed)[0]).toBe(1006);
    // The session it was waiting on was closed with it (no socket left): none stays open at the server.
    await within(
      new Promise<void>((resolve) => {
        const check = (): void => (f.openSessions() === 0 ? resolve() : void setTimeout(check, 20));
        setTimeout(check, 100);
      }),
      10_000,
      'pooled session closes',
    );
    expect(await openAndClose(connect(f.port))).toBe('at /');
  });

  test('a session known to refuse extended CONNECT fails the next socket at once too', async () => {
    const plain = http2.createSecureServer(selfSignedCertificate());
    plain.listen(0, '127.0.0.1');
    await once(plain, 'listening');
    const session = http2.connect(`https://127.0.0.1:${(plain.address() as AddressInfo).port}`, {
      rejectUnauthorized: false,
    });
    try {
      const first = connect(0, '/', { http2: session });
      expect(await errorOf(first)).toBeInstanceOf(Http2ConnectError);
      // The session's state is known now: the callback comes synchronously, inside the constructor.
      const second = connect(0, '/', { http2: session });
      expect(await errorOf(second)).toBeInstanceOf(Http2ConnectError);
    } finally {
      session.close();
      plain.close();
    }
  });

  test('a closed session passed by the caller fails the socket', async () => {
    const f = await h2Server();
    const session = http2.connect(`https://127.0.0.1:${f.port}`, { rejectUnauthorized: false });
    session.on('error', () => {});
    session.close();
    const error = await errorOf(connect(f.port, '/', { http2: session }));
    expect(error.message).toBe('The HTTP/2 session is closed');
  });

  test('a server that negotiates h2 but hangs up before its SETTINGS fails the socket with that reason', async () => {
    // TLS completes with h2 by ALPN, then the connection drops: the handshake was pending on the SETTINGS.
    const server = tls.createServer({ ...selfSignedCertificate(), ALPNProtocols: ['h2'] }, (socket) =>
      socket.destroy(),
    );
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const ws = connect((server.address() as AddressInfo).port);
      const error = await within(errorOf(ws), 10_000, 'error');
      expect(error.message).toBe('The HTTP/2 session closed before the server sent its SETTINGS');
      expect(ws.readyState).toBe(WebSocket.CLOSED);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
