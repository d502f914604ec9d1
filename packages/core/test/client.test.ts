/**
 * The wskit client against a `ws` server and against hand-answering TCP servers: URL schemes (ws, wss,
 * http, https, ws+unix), client options, response validation, and the client events of ws 8.
 */
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocketServer as WsServer, type WebSocket as WsSocket } from 'ws';
import { WebSocket } from '@wskit/core';
import { selfSignedCertificate } from '../../../test/helpers/tls.js';
import { OP, closeOf, delay, errorOf, frame, opened, rawServer, shutdown, within, wsServer } from './helpers.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function echoServer(
  options: ConstructorParameters<typeof WsServer>[0] = {},
): Promise<{ wss: WsServer; url: string; port: number }> {
  const s = await wsServer(options);
  s.wss.on('connection', (ws: WsSocket) => ws.on('message', (d, b) => ws.send(d, { binary: b })));
  cleanups.push(() => shutdown(s.wss));
  return s;
}

async function echoOnce(ws: WebSocket, text: string): Promise<string> {
  await opened(ws);
  const reply = once(ws, 'message');
  ws.send(text);
  return String((await within(reply, 2000, 'echo'))[0]);
}

describe('URL schemes', () => {
  test('ws: and http: URLs', async () => {
    const { port } = await echoServer();
    const a = new WebSocket(`ws://127.0.0.1:${port}/p?q=1`);
    const b = new WebSocket(`http://127.0.0.1:${port}/`);
    expect(await echoOnce(a, 'a')).toBe('a');
    expect(await echoOnce(b, 'b')).toBe('b');
    expect(a.url).toBe(`ws://127.0.0.1:${port}/p?q=1`);
    expect(b.url).toBe(`ws://127.0.0.1:${port}/`);
    a.terminate();
    b.terminate();
  });

  test('an IPv6 literal URL ([::1]) connects to that address', async () => {
    const wss = new WsServer({ host: '::1', port: 0 });
    await once(wss, 'listening');
    wss.on('connection', (ws: WsSocket) => ws.on('message', (d, b) => ws.send(d, { binary: b })));
    cleanups.push(() => shutdown(wss));
    const ws = new WebSocket(`ws://[::1]:${(wss.address() as AddressInfo).port}/`);
    expect(await echoOnce(ws, 'v6')).toBe('v6');
    ws.terminate();
  });

  test('ws+unix: URL reaches a server on a unix socket, with a request path', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wskit-unix-'));
    const path = join(dir, 's.sock');
    const server = http.createServer();
    const wss = new WsServer({ server });
    const seenPath = new Promise<string | undefined>((resolve) =>
      wss.once('connection', (_ws, req) => resolve(req.url)),
    );
    wss.on('connection', (ws: WsSocket) => ws.on('message', (d, b) => ws.send(d, { binary: b })));
    server.listen(path);
    await once(server, 'listening');
    cleanups.push(async () => {
      await shutdown(wss);
      await new Promise((r) => server.close(r));
      rmSync(dir, { recursive: true, force: true });
    });
    const ws = new WebSocket(`ws+unix:${path}:/over/unix?x=1`);
    expect(await echoOnce(ws, 'unix')).toBe('unix');
    expect(await seenPath).toBe('/over/unix?x=1');
    ws.terminate();
    // Without a request path the request is for '/'.
    const rootPath = new Promise<string | undefined>((resolve) =>
      wss.once('connection', (_ws, req) => resolve(req.url)),
    );
    const root = new WebSocket(`ws+unix:${path}`);
    expect(await echoOnce(root, 'root')).toBe('root');
    expect(await rootPath).toBe('/');
    root.terminate();
  });

  describe('wss: and https: with a self-signed certificate', () => {
    let cert: Buffer;
    let key: Buffer;
    beforeAll(() => {
      ({ cert, key } = selfSignedCertificate());
    });

    async function tlsServer(): Promise<number> {
      const server = https.createServer({ cert, key });
      const wss = new WsServer({ server });
      wss.on('connection', (ws: WsSocket, req) =>
        ws.send(`secure:${String((req.socket as { encrypted?: boolean }).encrypted)}`),
      );
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      cleanups.push(async () => {
        await shutdown(wss);
        server.closeAllConnections();
        await new Promise((r) => server.close(r));
      });
      return (server.address() as AddressInfo).port;
    }

    test('wss: with the certificate as CA, and https: with rejectUnauthorized false', async () => {
      const port = await tlsServer();
      const a = new WebSocket(`wss://127.0.0.1:${port}/`, { ca: cert });
      const b = new WebSocket(`https://127.0.0.1:${port}/`, { rejectUnauthorized: false });
      const [ma, mb] = await Promise.all([once(a, 'message'), once(b, 'message')]);
      expect(String(ma[0])).toBe('secure:true');
      expect(String(mb[0])).toBe('secure:true');
      expect(b.url).toBe(`wss://127.0.0.1:${port}/`);
      a.terminate();
      b.terminate();
    });

    test('wss: refuses an untrusted certificate', async () => {
      const port = await tlsServer();
      const ws = new WebSocket(`wss://127.0.0.1:${port}/`);
      const closed = closeOf(ws);
      const error = await within(errorOf(ws), 3000, 'TLS error');
      expect((error as Error & { code?: string }).code).toMatch(/SELF_SIGNED|UNABLE_TO_VERIFY|DEPTH_ZERO/);
      expect((await within(closed, 2000, 'close'))[0]).toBe(1006);
    });
  });

  test('invalid URLs throw SyntaxError', () => {
    expect(() => new WebSocket('not a url')).toThrow(SyntaxError);
    expect(() => new WebSocket('ftp://127.0.0.1/')).toThrow(SyntaxError);
    expect(() => new WebSocket('ws+unix:')).toThrow(/pathname is empty/);
    expect(() => new WebSocket('ws://127.0.0.1/#frag')).toThrow(SyntaxError);
    expect(() => new WebSocket('ws://127.0.0.1/', ['a', 'a'])).toThrow(SyntaxError);
    expect(() => new WebSocket('ws://127.0.0.1/', ['bad token'])).toThrow(SyntaxError);
  });
});

describe('options', () => {
  test('headers, origin, protocolVersion 13 and 8', async () => {
    const { wss, port } = await echoServer();
    const requests: http.IncomingMessage[] = [];
    wss.on('connection', (_ws, req) => requests.push(req));
    const a = new WebSocket(`ws://127.0.0.1:${port}`, { headers: { 'X-Test': 'yes' }, origin: 'https://o.test' });
    const b = new WebSocket(`ws://127.0.0.1:${port}`, { protocolVersion: 8, origin: 'https://o8.test' });
    await Promise.all([opened(a), opened(b)]);
    await delay(5);
    const byVersion = Object.fromEntries(requests.map((r) => [r.headers['sec-websocket-version'], r.headers]));
    expect(byVersion['13']?.['x-test']).toBe('yes');
    expect(byVersion['13']?.origin).toBe('https://o.test');
    expect(byVersion['8']?.['sec-websocket-origin']).toBe('https://o8.test');
    expect(byVersion['8']?.origin).toBeUndefined();
    expect(() => new WebSocket(`ws://127.0.0.1:${port}`, { protocolVersion: 12 as 13 })).toThrow(RangeError);
    a.terminate();
    b.terminate();
  });

  test('subprotocols: the server choice becomes ws.protocol', async () => {
    await echoServer();
    const { port } = await echoServer({ handleProtocols: (set: Set<string>) => (set.has('two') ? 'two' : false) });
    const ws = new WebSocket(`ws://127.0.0.1:${port}`, ['one', 'two']);
    await opened(ws);
    expect(ws.protocol).toBe('two');
    ws.terminate();
  });

  test('handshakeTimeout: a server that never answers', async () => {
    const server = await rawServer(() => {
      /* never answers */
    });
    cleanups.push(server.close);
    const ws = new WebSocket(server.url, { handshakeTimeout: 100 });
    const closed = closeOf(ws);
    const error = await within(errorOf(ws), 2000, 'timeout error');
    expect(error.message).toBe('Opening handshake has timed out');
    expect((await within(closed, 2000, 'close'))[0]).toBe(1006);
  });

  test('maxPayload: a bigger message from the server fails with 1009', async () => {
    const { wss, port } = await echoServer();
    wss.on('connection', (ws: WsSocket) => ws.send(Buffer.alloc(2048)));
    const ws = new WebSocket(`ws://127.0.0.1:${port}`, { maxPayload: 1024 });
    const error = await within(errorOf(ws), 2000, 'error');
    expect(error.code).toBe('WS_ERR_UNSUPPORTED_MESSAGE_LENGTH');
    expect(error.closeCode).toBe(1009);
  });

  test('default maxPayload is 100 MiB (a frame header announcing more is refused)', async () => {
    const server = await rawServer((peer) => {
      peer.accept({}, frame(OP.binary, Buffer.alloc(0), { mask: false, fakeLength64: BigInt(100 * 1024 * 1024 + 1) }));
    });
    cleanups.push(server.close);
    const ws = new WebSocket(server.url);
    expect((await within(errorOf(ws), 2000, 'error')).closeCode).toBe(1009);
  });

  test('skipUTF8Validation on the client', async () => {
    const bad = Buffer.from([0x61, 0xff, 0x62]);
    const server = await rawServer((peer) => peer.accept({}, frame(OP.text, bad, { mask: false })));
    cleanups.push(server.close);
    const ws = new WebSocket(server.url, { skipUTF8Validation: true, perMessageDeflate: false });
    const [data, isBinary] = await within(once(ws, 'message'), 2000, 'message');
    expect(Buffer.compare(data as Buffer, bad)).toBe(0);
    expect(isBinary).toBe(false);
    ws.terminate();
  });

  test('autoPong false: ping is reported, not answered', async () => {
    const { wss, port } = await echoServer();
    const pongs: Buffer[] = [];
    wss.on('connection', (ws: WsSocket) => {
      ws.on('pong', (d) => pongs.push(d));
      ws.ping('p');
    });
    const ws = new WebSocket(`ws://127.0.0.1:${port}`, { autoPong: false });
    const [data] = await within(once(ws, 'ping'), 2000, 'ping');
    expect(String(data)).toBe('p');
    await delay(80);
    expect(pongs).toHaveLength(0);
    ws.pong('manual');
    await delay(50);
    expect(pongs.map(String)).toEqual(['manual']);
    ws.terminate();
  });

  test('agent is used for the request', async () => {
    const { port } = await echoServer();
    let created = 0;
    class CountingAgent extends http.Agent {
      override createConnection(
        ...args: Parameters<http.Agent['createConnection']>
      ): ReturnType<http.Agent['createConnection']> {
        created++;
        return super.createConnection(...args);
      }
    }
    const agent = new CountingAgent();
    const ws = new WebSocket(`ws://127.0.0.1:${port}`, { agent });
    expect(await echoOnce(ws, 'via agent')).toBe('via agent');
    expect(created).toBe(1);
    ws.terminate();
    agent.destroy();
  });

  test('finishRequest gets (request, websocket) and ends the request itself', async () => {
    const { wss, port } = await echoServer();
    const seen = new Promise<string | undefined>((resolve) =>
      wss.once('connection', (_ws, req) => resolve(req.headers['x-late'] as string | undefined)),
    );
    let gotSocket: unknown = null;
    const ws = new WebSocket(`ws://127.0.0.1:${port}`, {
      finishRequest: (req, websocket) => {
        gotSocket = websocket;
        req.setHeader('X-Late', 'added');
        req.end();
      },
    });
    await opened(ws);
    expect(gotSocket).toBe(ws);
    expect(await seen).toBe('added');
    ws.terminate();
  });
});

describe('redirects', () => {
  async function redirector(target: (n: number) => string): Promise<{ port: number; hits: () => number }> {
    let hits = 0;
    const server = http.createServer();
    server.on('upgrade', (_req, socket: Socket) => {
      hits++;
      socket.end(`HTTP/1.1 302 Found\r\nLocation: ${target(hits)}\r\nContent-Length: 0\r\n\r\n`);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    cleanups.push(() => new Promise((r) => server.close(() => r())));
    return { port: (server.address() as AddressInfo).port, hits: () => hits };
  }

  test('followRedirects follows and emits redirect(url, req)', async () => {
    const { port: target } = await echoServer();
    const { port } = await redirector(() => `ws://127.0.0.1:${target}/landed`);
    const ws = new WebSocket(`ws://127.0.0.1:${port}/start`, { followRedirects: true });
    const redirects: Array<[string, unknown]> = [];
    ws.on('redirect', (url: string, req: unknown) => redirects.push([url, req]));
    expect(await echoOnce(ws, 'after redirect')).toBe('after redirect');
    expect(redirects).toHaveLength(1);
    expect(redirects[0]![0]).toBe(`ws://127.0.0.1:${target}/landed`);
    expect(redirects[0]![1]).toBeInstanceOf(http.ClientRequest);
    expect(ws.url).toBe(`ws://127.0.0.1:${target}/landed`);
    ws.terminate();
  });

  test('maxRedirects bounds a redirect loop', async () => {
    let self = 0;
    const r = await redirector(() => `ws://127.0.0.1:${self}/again`);
    self = r.port;
    const ws = new WebSocket(`ws://127.0.0.1:${self}/`, { followRedirects: true, maxRedirects: 2 });
    const closed = closeOf(ws);
    const error = await within(errorOf(ws), 3000, 'redirect error');
    expect(error.message).toBe('Maximum redirects exceeded');
    expect(r.hits()).toBe(3);
    expect((await within(closed, 2000, 'close'))[0]).toBe(1006);
  });

  test('without followRedirects a 302 is an unexpected response', async () => {
    const { port } = await redirector(() => 'ws://127.0.0.1:1/');
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
    const error = await within(errorOf(ws), 2000, 'error');
    expect(error.message).toBe('Unexpected server response: 302');
  });
});

describe('response validation (raw 101 answers)', () => {
  async function answer(
    extra: Record<string, string>,
    protocols: string[] = [],
    options: ConstructorParameters<typeof WebSocket>[2] = {},
  ): Promise<{ ws: WebSocket; error: Error; upgraded: boolean }> {
    const server = await rawServer((peer) => peer.accept(extra));
    cleanups.push(server.close);
    const ws = new WebSocket(server.url, protocols, options);
    let upgraded = false;
    ws.on('upgrade', () => {
      upgraded = true;
    });
    ws.on('open', () => {
      throw new Error('must not open');
    });
    const closed = closeOf(ws);
    const error = await within(errorOf(ws), 2000, 'validation error');
    expect((await within(closed, 2000, 'close'))[0]).toBe(1006);
    return { ws, error, upgraded };
  }

  test('wrong Sec-WebSocket-Accept', async () => {
    const { error, upgraded } = await answer({ 'Sec-WebSocket-Accept': 'AAAAAAAAAAAAAAAAAAAAAAAAAAA=' });
    expect(error.message).toBe('Invalid Sec-WebSocket-Accept header');
    expect(upgraded).toBe(true);
  });

  test('missing Sec-WebSocket-Accept', async () => {
    const { error } = await answer({ 'Sec-WebSocket-Accept': '' });
    expect(error.message).toBe('Invalid Sec-WebSocket-Accept header');
  });

  test('subprotocol that was not offered', async () => {
    const { error } = await answer({ 'Sec-WebSocket-Protocol': 'three' }, ['one', 'two']);
    expect(error.message).toBe('Server sent an invalid subprotocol');
  });

  test('subprotocol when none was offered', async () => {
    const { error } = await answer({ 'Sec-WebSocket-Protocol': 'one' });
    expect(error.message).toBe('Server sent a subprotocol but none was requested');
  });

  test('no subprotocol when some were offered', async () => {
    const { error } = await answer({}, ['one']);
    expect(error.message).toBe('Server sent no subprotocol');
  });

  test('extension when none was offered', async () => {
    const { error } = await answer({ 'Sec-WebSocket-Extensions': 'permessage-deflate' }, [], {
      perMessageDeflate: false,
    });
    expect(error.message).toMatch(/Sec-WebSocket-Extensions|extension/);
  });

  test('an extension other than the one offered', async () => {
    const { error } = await answer({ 'Sec-WebSocket-Extensions': 'x-webkit-deflate-frame' });
    expect(error.message).toMatch(/extension/i);
  });

  test('permessage-deflate with a parameter the client did not allow', async () => {
    const { error } = await answer({ 'Sec-WebSocket-Extensions': 'permessage-deflate; server_max_window_bits=20' });
    expect(error.message).toMatch(/Sec-WebSocket-Extensions/);
  });

  test('a valid accept with the offered subprotocol and extension opens', async () => {
    const server = await rawServer((peer) =>
      peer.accept({ 'Sec-WebSocket-Protocol': 'two', 'Sec-WebSocket-Extensions': 'permessage-deflate' }),
    );
    cleanups.push(server.close);
    const ws = new WebSocket(server.url, ['one', 'two']);
    const upgrade = new Promise<http.IncomingMessage>((resolve) => ws.once('upgrade', resolve));
    await opened(ws);
    expect((await upgrade).statusCode).toBe(101);
    expect(ws.protocol).toBe('two');
    expect(ws.extensions).toBe('permessage-deflate');
    ws.terminate();
  });
});

describe('events', () => {
  test('unexpected-response(req, res) replaces the error; the socket closes on terminate', async () => {
    const server = http.createServer();
    server.on('upgrade', (_req, socket: Socket) => {
      socket.end('HTTP/1.1 401 Unauthorized\r\nX-Why: token\r\nContent-Length: 4\r\n\r\nnope');
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    cleanups.push(() => new Promise((r) => server.close(() => r())));
    const ws = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}`);
    const errors: Error[] = [];
    ws.on('error', (e) => errors.push(e));
    const [req, res] = (await within(once(ws, 'unexpected-response'), 2000, 'unexpected-response')) as [
      http.ClientRequest,
      http.IncomingMessage,
    ];
    expect(req).toBeInstanceOf(http.ClientRequest);
    expect(res.statusCode).toBe(401);
    expect(res.headers['x-why']).toBe('token');
    let body = '';
    for await (const chunk of res) body += String(chunk);
    expect(body).toBe('nope');
    expect(ws.readyState).toBe(WebSocket.CONNECTING);
    const closed = closeOf(ws);
    ws.terminate();
    expect((await closed)[0]).toBe(1006);
  });

  test('open, message, ping, pong, close in order with a ws server', async () => {
    const { wss, port } = await wsServer();
    cleanups.push(() => shutdown(wss));
    wss.on('connection', (ws: WsSocket) => {
      ws.ping('hb');
      ws.send('hello');
      ws.on('message', (d) => {
        if (String(d) === 'bye') ws.close(4001, 'done');
      });
    });
    const ws = new WebSocket(`ws://127.0.0.1:${port}`);
    const events: string[] = [];
    ws.on('upgrade', () => events.push('upgrade'));
    ws.on('open', () => events.push('open'));
    ws.on('ping', (d: Buffer) => events.push(`ping:${d}`));
    ws.on('message', (d: Buffer, b: boolean) => {
      events.push(`message:${d}:${b}`);
      ws.ping('back');
    });
    ws.on('pong', (d: Buffer) => {
      events.push(`pong:${d}`);
      ws.send('bye');
    });
    const [code, reason] = await within(closeOf(ws), 2000, 'close');
    expect([code, reason]).toEqual([4001, 'done']);
    expect(events).toEqual(['upgrade', 'open', 'ping:hb', 'message:hello:false', 'pong:back']);
  });

  test('connection refused: error then close 1006', async () => {
    const probe = http.createServer().listen(0, '127.0.0.1');
    await once(probe, 'listening');
    const port = (probe.address() as AddressInfo).port;
    await new Promise((r) => probe.close(r));
    const ws = new WebSocket(`ws://127.0.0.1:${port}`);
    const closed = closeOf(ws);
    const error = await within(errorOf(ws), 2000, 'error');
    expect(error.code).toBe('ECONNREFUSED');
    expect((await within(closed, 2000, 'close'))[0]).toBe(1006);
  });
});
