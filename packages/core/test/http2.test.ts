/**
 * WebSockets over HTTP/2 (RFC 8441): the server on an HTTP/2 server (with and without a compat request
 * handler) and through handleStream, refusals as HTTP/2 statuses, the wskit client multiplexing sockets
 * on one session, and both directions of backpressure with 100 sockets on one session.
 */
import { once } from 'node:events';
import * as http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { WebSocket as WsClient } from 'ws';
import { WebSocket, WebSocketServer, type ServerOptions } from '@wskit/core';
import { h2Session, openStream } from '../../../test/helpers/h2.js';
import { selfSignedCertificate } from '../../../test/helpers/tls.js';
import { closeOf, errorOf, opened, within } from './helpers.js';

interface H2Fixture {
  server: http2.Http2SecureServer;
  wss: WebSocketServer;
  port: number;
  sessions: () => number;
  close: () => Promise<void>;
}

async function h2Server(
  options: Omit<ServerOptions, 'server' | 'port' | 'noServer'> = {},
  requestHandler?: (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void,
): Promise<H2Fixture> {
  const server = http2.createSecureServer({ ...selfSignedCertificate(), settings: { enableConnectProtocol: true } });
  if (requestHandler) server.on('request', requestHandler);
  let sessions = 0;
  const open = new Set<http2.ServerHttp2Session>();
  server.on('session', (session) => {
    sessions++;
    open.add(session);
    session.once('close', () => open.delete(session));
  });
  const wss = new WebSocketServer({ server, ...options });
  wss.on('connection', (ws) => {
    ws.on('message', (data: Buffer, isBinary: boolean) => ws.send(data, { binary: isBinary }));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    server,
    wss,
    port,
    sessions: () => sessions,
    close: async () => {
      for (const ws of wss.clients) ws.terminate();
      wss.close();
      const closed = once(server, 'close');
      server.close();
      // Client sessions still open would hold server.close(): they are ended from the server side.
      for (const session of open) session.destroy();
      await within(closed, 10_000, 'server close');
    },
  };
}

const client = (
  port: number,
  path = '/',
  options: ConstructorParameters<typeof WebSocket>[2] = {},
  protocols?: string[],
) =>
  new WebSocket(`wss://127.0.0.1:${port}${path}`, protocols ?? [], {
    http2: true,
    rejectUnauthorized: false,
    ...options,
  });

/** The server-side socket of a client socket: same stream id on the (one) session. */
function peerOf(wss: WebSocketServer, ws: WebSocket): WebSocket {
  const id = (ws._socket as http2.ClientHttp2Stream).id;
  return [...wss.clients].find((peer) => (peer._socket as http2.ServerHttp2Stream).id === id)!;
}

const nextMessage = (ws: WebSocket): Promise<[Buffer, boolean]> =>
  new Promise((resolve) => ws.once('message', (data: Buffer, isBinary: boolean) => resolve([data, isBinary])));

describe('server on an HTTP/2 server', () => {
  test.each([
    ['stream API only', undefined],
    [
      'a compat request handler (nodejs/node#36977)',
      (_req: unknown, res: http2.Http2ServerResponse) => res.end('page'),
    ],
  ])('accepts extended CONNECT with %s: :status 200, echo, clean close', async (_name, handler) => {
    const f = await h2Server({}, handler);
    try {
      const connections: Array<{ url?: string; version: string; remote?: string }> = [];
      f.wss.on('connection', (_ws, req) => {
        connections.push({ url: req.url, version: req.httpVersion, remote: req.socket.remoteAddress });
      });
      const session = await h2Session(f.port);
      const { status, headers, stream } = await openStream(session, '/chat?room=1');
      expect(status).toBe(200);
      expect(headers['sec-websocket-accept']).toBeUndefined();
      expect(headers.upgrade).toBeUndefined();
      // A masked text frame "hi", then a close 1000.
      stream.write(Buffer.from([0x81, 0x82, 1, 2, 3, 4, 0x68 ^ 1, 0x69 ^ 2]));
      const [echo] = (await once(stream, 'data')) as [Buffer];
      expect(echo).toEqual(Buffer.from([0x81, 0x02, 0x68, 0x69]));
      stream.write(Buffer.from([0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8]));
      stream.on('data', () => {});
      await once(stream, 'end');
      stream.end();
      await once(stream, 'close');
      expect(stream.rstCode).toBe(http2.constants.NGHTTP2_NO_ERROR);
      expect(connections).toEqual([{ url: '/chat?room=1', version: '2.0', remote: '127.0.0.1' }]);
      if (handler) {
        // Ordinary requests still reach the handler, and a CONNECT without :protocol gets Node's 405.
        const page = session.request({ ':path': '/' });
        let body = '';
        page.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
        await once(page, 'end');
        expect(body).toBe('page');
        const tunnel = session.request({ ':method': 'CONNECT', ':authority': 'example.com:443' });
        tunnel.on('error', () => {});
        const [head] = (await once(tunnel, 'response')) as [http2.IncomingHttpHeaders];
        expect(head[':status']).toBe(405);
      }
      session.close();
    } finally {
      await f.close();
    }
  });

  test('refusals are real HTTP/2 statuses: version, subprotocol, path, verifyClient (sync and async)', async () => {
    const f = await h2Server({
      path: '/ws',
      verifyClient: (
        info: { req: { headers: http2.IncomingHttpHeaders } },
        cb: (ok: boolean, code?: number, message?: string, headers?: Record<string, string>) => void,
      ) => {
        const token = info.req.headers.authorization;
        if (token === 'Bearer good') cb(true);
        else if (token === 'Bearer banned') setTimeout(() => cb(false, 403, 'Forbidden', { 'X-Reason': 'banned' }), 10);
        else cb(false, 401, 'Unauthorized', { 'WWW-Authenticate': 'Bearer' });
      },
    });
    try {
      const session = await h2Session(f.port);
      const good = { authorization: 'Bearer good' };
      const cases: Array<[string, http2.OutgoingHttpHeaders, number, Record<string, string>]> = [
        ['/ws', { ...good, 'sec-websocket-version': '8' }, 426, { 'sec-websocket-version': '13' }],
        ['/ws', { ...good, 'sec-websocket-version': '' }, 400, {}],
        ['/ws', { ...good, 'sec-websocket-protocol': 'chat, chat' }, 400, {}],
        ['/other', good, 400, {}],
        ['/ws', {}, 401, { 'www-authenticate': 'Bearer' }],
        ['/ws', { authorization: 'Bearer banned' }, 403, { 'x-reason': 'banned' }],
        ['/ws', good, 200, {}],
      ];
      for (const [path, headers, status, expected] of cases) {
        const result = await openStream(session, path, headers);
        expect([path, headers, result.status]).toEqual([path, headers, status]);
        for (const [name, value] of Object.entries(expected)) expect(result.headers[name]).toBe(value);
        if (status !== 200) {
          // The refusal is a complete response; the stream is then reset with NO_ERROR.
          result.stream.resume();
          await once(result.stream, 'close');
          expect(result.stream.rstCode).toBe(http2.constants.NGHTTP2_NO_ERROR);
        } else {
          result.stream.close();
        }
      }
      session.close();
    } finally {
      await f.close();
    }
  });

  test('handleProtocols, permessage-deflate and the headers event shape the 200 response', async () => {
    const f = await h2Server({
      perMessageDeflate: true,
      handleProtocols: (protocols) => (protocols.has('v2') ? 'v2' : false),
    });
    f.wss.on('headers', (headers) => headers.push('Set-Cookie: a=1', 'Set-Cookie: b=2'));
    try {
      const session = await h2Session(f.port);
      const { status, headers, stream } = await openStream(session, '/', {
        'sec-websocket-protocol': 'v1, v2',
        'sec-websocket-extensions': 'permessage-deflate; client_max_window_bits',
      });
      expect(status).toBe(200);
      expect(headers['sec-websocket-protocol']).toBe('v2');
      expect(headers['sec-websocket-extensions']).toMatch(/^permessage-deflate/);
      expect(headers['set-cookie']).toEqual(['a=1', 'b=2']);
      stream.close();
      session.close();
    } finally {
      await f.close();
    }
  });

  test('allowHTTP1: HTTP/1.1 clients upgrade on the same server and reach the same WebSocketServer', async () => {
    const server = http2.createSecureServer({
      ...selfSignedCertificate(),
      allowHTTP1: true,
      settings: { enableConnectProtocol: true },
    });
    const wss = new WebSocketServer({ server });
    const versions: string[] = [];
    wss.on('connection', (ws, req) => {
      versions.push(req.httpVersion);
      ws.on('message', (data: Buffer) => ws.send(`${req.httpVersion}:${String(data)}`));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as AddressInfo).port;
    try {
      const over1 = new WsClient(`wss://127.0.0.1:${port}/`, { rejectUnauthorized: false });
      await once(over1, 'open');
      over1.send('a');
      const [reply1] = (await once(over1, 'message')) as [Buffer];
      const over2 = client(port);
      await opened(over2);
      over2.send('b');
      const [reply2] = await nextMessage(over2);
      expect([String(reply1), String(reply2)]).toEqual(['1.1:a', '2.0:b']);
      over1.close();
      over2.close();
      await Promise.all([once(over1, 'close'), closeOf(over2)]);
    } finally {
      wss.close();
      server.close();
    }
  });

  test("noServer: handleStream takes streams from the application's own stream handler", async () => {
    const server = http2.createSecureServer({ ...selfSignedCertificate(), settings: { enableConnectProtocol: true } });
    const wss = new WebSocketServer({ noServer: true });
    server.on('stream', (stream, headers) => {
      if (headers[':method'] !== 'CONNECT') {
        stream.respond({ ':status': 404 });
        stream.end();
        return;
      }
      wss.handleStream(stream, headers, (ws, req) => {
        ws.send(`hello ${req.url}`);
        ws.on('message', (data: Buffer) => ws.close(4000, String(data)));
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const ws = client((server.address() as AddressInfo).port, '/room/7');
      const [first] = await nextMessage(ws);
      expect(String(first)).toBe('hello /room/7');
      ws.send('bye');
      expect(await closeOf(ws)).toEqual([4000, 'bye']);
    } finally {
      wss.close();
      server.close();
    }
  });

  test('maxPayload, invalid UTF-8 and protocol errors close the stream with the RFC code', async () => {
    const f = await h2Server({ maxPayload: 1000 });
    try {
      for (const [bytes, code] of [
        [Buffer.from([0x82, 0xfe, 0x07, 0xd0, 0, 0, 0, 0]), 1009],
        [Buffer.from([0x81, 0x81, 0, 0, 0, 0, 0xff]), 1007],
        [Buffer.from([0x81, 0x01, 0x61]), 1002],
      ] as const) {
        const ws = client(f.port);
        await opened(ws);
        // Raw bytes straight onto the stream (the wskit client would never send them).
        ws._socket!.write(bytes);
        const [closeCode] = await closeOf(ws);
        expect(closeCode).toBe(code);
      }
    } finally {
      await f.close();
    }
  });
});

describe('wskit client over HTTP/2', () => {
  test('sockets to one origin share one session; text, binary, compressed echo; closes both ways', async () => {
    const f = await h2Server({ perMessageDeflate: true });
    try {
      const sockets = Array.from({ length: 5 }, () => client(f.port, '/echo'));
      await within(Promise.all(sockets.map(opened)), 10_000, 'open');
      expect(f.sessions()).toBe(1);
      expect(sockets.map((ws) => ws.extensions)).toEqual(Array(5).fill('permessage-deflate'));
      sockets[0]!.send('hello over h2');
      expect(await nextMessage(sockets[0]!)).toEqual([Buffer.from('hello over h2'), false]);
      const big = Buffer.alloc(300_000, 'abc');
      sockets[1]!.send(big, { binary: true, compress: true });
      // Compared with equals(): jest's deep equality walks a 300 kB Buffer for seconds.
      const [echoed, isBinary] = await nextMessage(sockets[1]!);
      expect([echoed.equals(big), isBinary]).toEqual([true, true]);
      expect(f.wss.clients.size).toBe(5);
      // The server closes socket 2, socket 3 closes itself: both close handshakes complete.
      const serverSide = peerOf(f.wss, sockets[2]!);
      const serverClosed = closeOf(serverSide);
      serverSide.close(4001, 'server bye');
      expect(await within(closeOf(sockets[2]!), 10_000, 'close from server')).toEqual([4001, 'server bye']);
      expect(await serverClosed).toEqual([4001, 'server bye']);
      const peer3 = peerOf(f.wss, sockets[3]!);
      const peer3Closed = closeOf(peer3);
      sockets[3]!.close(4002, 'client bye');
      expect(await within(peer3Closed, 10_000, 'close from client')).toEqual([4002, 'client bye']);
      // The other sockets on the session are unaffected.
      sockets[4]!.send('still here');
      expect(String((await nextMessage(sockets[4]!))[0])).toBe('still here');
      for (const ws of sockets) ws.close(1000, 'done');
      await within(
        Promise.all(sockets.map((ws) => (ws.readyState === WebSocket.CLOSED ? null : closeOf(ws)))),
        10_000,
        'close',
      );
    } finally {
      await f.close();
    }
  });

  test('terminate() resets the stream with CANCEL and the peer reports 1006', async () => {
    const f = await h2Server();
    try {
      const ws = client(f.port);
      await opened(ws);
      const [serverSide] = [...f.wss.clients];
      const stream = serverSide!._socket as http2.ServerHttp2Stream;
      const closed = closeOf(ws);
      serverSide!.terminate();
      expect((await closed)[0]).toBe(1006);
      expect(stream.rstCode).toBe(http2.constants.NGHTTP2_CANCEL);
    } finally {
      await f.close();
    }
  });

  test('a session passed by the caller is used and left open', async () => {
    const f = await h2Server();
    try {
      const session = http2.connect(`https://127.0.0.1:${f.port}`, { rejectUnauthorized: false });
      const a = client(f.port, '/', { http2: session });
      const b = client(f.port, '/', { http2: session });
      await Promise.all([opened(a), opened(b)]);
      expect((a._socket as http2.ClientHttp2Stream).session).toBe(session);
      expect((b._socket as http2.ClientHttp2Stream).session).toBe(session);
      a.close();
      b.close();
      await Promise.all([closeOf(a), closeOf(b)]);
      expect(session.closed).toBe(false);
      session.close();
    } finally {
      await f.close();
    }
  });

  test('refusals and servers without extended CONNECT fail the handshake with a clear error', async () => {
    const f = await h2Server({ verifyClient: () => false });
    const plain = http2.createSecureServer(selfSignedCertificate());
    plain.listen(0, '127.0.0.1');
    await once(plain, 'listening');
    try {
      const refused = client(f.port);
      expect((await errorOf(refused)).message).toBe('Unexpected server response: 401');
      const noSetting = client((plain.address() as AddressInfo).port);
      expect((await errorOf(noSetting)).message).toMatch(/SETTINGS_ENABLE_CONNECT_PROTOCOL/);
      const unix = (): WebSocket => new WebSocket('ws+unix:/tmp/x.sock', { http2: true });
      expect(unix).toThrow(/HTTP\/2/);
    } finally {
      plain.close();
      await f.close();
    }
  });

  test("a paused server socket stops its stream: the client's sends wait in its bufferedAmount", async () => {
    const f = await h2Server();
    try {
      const ws = client(f.port);
      await opened(ws);
      const peer = [...f.wss.clients][0]!;
      const received: Buffer[] = [];
      peer.removeAllListeners('message');
      peer.on('message', (data: Buffer) => received.push(data));
      peer.pause();
      for (let n = 0; n < 32; n++) ws.send(Buffer.alloc(64 * 1024, n));
      await new Promise((resolve) => setTimeout(resolve, 300));
      // The server holds a bounded amount (stream window + receive bound); the rest waits at the client.
      expect(received.length).toBe(0);
      // The server holds about one stream window (measured 64 KiB) of the 2 MiB; the client keeps the rest.
      expect((peer._socket as http2.ServerHttp2Stream).readableLength).toBeLessThanOrEqual(256 * 1024);
      expect(ws.bufferedAmount).toBeGreaterThan(2 * 1024 * 1024 - 256 * 1024);
      peer.resume();
      await within(
        new Promise<void>((resolve) => {
          const check = (): void => (received.length === 32 ? resolve() : void setTimeout(check, 20));
          check();
        }),
        20_000,
        'paused server drains',
      );
      expect(received.every((data, n) => data.length === 64 * 1024 && data[0] === n)).toBe(true);
      expect(ws.bufferedAmount).toBe(0);
      ws.close();
      await closeOf(ws);
    } finally {
      await f.close();
    }
  });

  test('heartbeat pings travel over the stream', async () => {
    const f = await h2Server({ heartbeat: { interval: 100, timeout: 5000 } });
    try {
      const ws = client(f.port);
      await opened(ws);
      const [serverSide] = [...f.wss.clients];
      const [rtt] = (await within(once(serverSide!, 'heartbeat'), 10_000, 'heartbeat')) as [number];
      expect(rtt).toBeGreaterThanOrEqual(0);
      ws.close();
      await closeOf(ws);
    } finally {
      await f.close();
    }
  });
});

describe('100 sockets on one session', () => {
  test('all echo; a paused reader holds back only its own stream (flow control), then gets everything', async () => {
    const f = await h2Server();
    try {
      const session = http2.connect(`https://127.0.0.1:${f.port}`, { rejectUnauthorized: false });
      const sockets = Array.from({ length: 100 }, () => client(f.port, '/', { http2: session }));
      await within(Promise.all(sockets.map(opened)), 20_000, '100 sockets open');
      expect(f.sessions()).toBe(1);
      const serverSide = [...f.wss.clients];
      expect(serverSide).toHaveLength(100);

      // Every socket echoes 5 messages of 16 KiB, in order.
      const chunk = (i: number, n: number): Buffer => Buffer.alloc(16 * 1024, (i * 7 + n) & 0xff);
      const echoed = sockets.map(async (ws, i) => {
        const got: Buffer[] = [];
        const done = new Promise<void>((resolve) => {
          const onMessage = (data: Buffer): void => {
            got.push(data);
            if (got.length === 5) {
              ws.off('message', onMessage);
              resolve();
            }
          };
          ws.on('message', onMessage);
        });
        for (let n = 0; n < 5; n++) ws.send(chunk(i, n));
        await done;
        return got.every((data, n) => data.equals(chunk(i, n)));
      });
      expect(await within(Promise.all(echoed), 30_000, 'echo on 100 sockets')).toEqual(Array(100).fill(true));

      // Socket 0 stops reading; its server side sends 2 MiB. Flow control stops the stream, so the
      // server's bufferedAmount holds most of it, while the other 99 streams keep flowing.
      const reader = sockets[0]!;
      const received: Buffer[] = [];
      reader.on('message', (data: Buffer) => received.push(data));
      reader.pause();
      const writer = peerOf(f.wss, reader);
      for (let n = 0; n < 32; n++) writer.send(Buffer.alloc(64 * 1024, n));
      await new Promise((resolve) => setTimeout(resolve, 300));
      // Bounded memory at the reader: it holds about one stream window (64 KiB; measured 80 KiB), not the
      // 2 MiB sent. The rest waits at the writer, counted in its bufferedAmount (maxBufferedAmount bounds it).
      expect((reader._socket as http2.ClientHttp2Stream).readableLength).toBeLessThanOrEqual(256 * 1024);
      expect(writer.bufferedAmount).toBeGreaterThan(2 * 1024 * 1024 - 256 * 1024);
      const others = sockets.slice(1).map(async (ws, i) => {
        const reply = nextMessage(ws);
        ws.send(`still flowing ${i}`);
        return String((await reply)[0]);
      });
      expect(await within(Promise.all(others), 20_000, 'others while one is stalled')).toEqual(
        sockets.slice(1).map((_, i) => `still flowing ${i}`),
      );
      expect(received.length).toBe(0);
      reader.resume();
      await within(
        new Promise<void>((resolve) => {
          const check = (): void => (received.length === 32 ? resolve() : void setTimeout(check, 20));
          check();
        }),
        20_000,
        'stalled reader drains',
      );
      expect(received.every((data, n) => data.length === 64 * 1024 && data[0] === n)).toBe(true);
      expect(writer.bufferedAmount).toBe(0);
      for (const ws of sockets) ws.close();
      await within(
        Promise.all(sockets.map((ws) => (ws.readyState === WebSocket.CLOSED ? null : closeOf(ws)))),
        20_000,
        'close',
      );
      session.close();
    } finally {
      await f.close();
    }
  }, 90_000);

  test('maxBufferedAmount bounds the writer too: a stalled stream is reset, its session neighbours go on', async () => {
    const f = await h2Server({ maxBufferedAmount: 512 * 1024 });
    try {
      const session = http2.connect(`https://127.0.0.1:${f.port}`, { rejectUnauthorized: false });
      const sockets = Array.from({ length: 10 }, () => client(f.port, '/', { http2: session }));
      await within(Promise.all(sockets.map(opened)), 10_000, 'open');
      const [stalled, ...others] = sockets as [WebSocket, ...WebSocket[]];
      stalled.pause();
      const writer = peerOf(f.wss, stalled);
      const writerStream = writer._socket as http2.ServerHttp2Stream;
      const writerError = errorOf(writer);
      const writerClosed = closeOf(writer);
      // 64 KiB at a time until the limit trips (the window takes the first 64 KiB, the queue the rest).
      let sent = 0;
      while (writer.readyState === WebSocket.OPEN && sent < 64) {
        writer.send(Buffer.alloc(64 * 1024));
        sent++;
      }
      expect(await writerError).toMatchObject({ code: 'WS_ERR_BUFFER_LIMIT' });
      expect((await writerClosed)[0]).toBe(1006);
      expect(sent).toBeLessThan(16);
      if (!writerStream.closed) await within(once(writerStream, 'close'), 10_000, 'stream reset');
      expect(writerStream.rstCode).toBe(http2.constants.NGHTTP2_CANCEL);
      stalled.resume();
      expect((await within(closeOf(stalled), 10_000, 'stalled client closes'))[0]).toBe(1006);
      // The same session still carries the other nine.
      const replies = others.map(async (ws, i) => {
        const reply = nextMessage(ws);
        ws.send(`after ${i}`);
        return String((await reply)[0]);
      });
      expect(await within(Promise.all(replies), 10_000, 'neighbours')).toEqual(others.map((_, i) => `after ${i}`));
      expect(session.closed).toBe(false);
      for (const ws of others) ws.close();
      await Promise.all(others.map(closeOf));
      session.close();
    } finally {
      await f.close();
    }
  });
});
