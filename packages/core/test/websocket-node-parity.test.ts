/**
 * WebSocket-Node parity: outgoing fragmentation, streaming reception, frame-size limit, close timeout,
 * WebSocketRouter and W3CWebSocket.
 */
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { WebSocket as WsClient } from 'ws';
import { rawServer, type RawPeer } from './helpers.js';
import { W3CWebSocket, WebSocket, WebSocketRouter, WebSocketServer, type RouterRequest } from '@wskit/core';

const run = promisify(execFile);

async function listen(
  options: ConstructorParameters<typeof WebSocketServer>[0],
): Promise<{ wss: WebSocketServer; url: string }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, ...options });
  await once(wss, 'listening');
  return { wss, url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}` };
}

function stop(wss: WebSocketServer): Promise<void> {
  for (const c of wss.clients) c.terminate();
  return new Promise((resolve) => wss.close(() => resolve()));
}

describe('outgoing fragmentation', () => {
  test('a large message leaves as frames of at most fragmentationThreshold', async () => {
    let peer: RawPeer | undefined;
    const server = await rawServer((p) => {
      peer = p;
      p.accept();
    });
    const client = new WebSocket(server.url, {
      fragmentOutgoingMessages: true,
      fragmentationThreshold: 64 * 1024,
      perMessageDeflate: false,
    });
    await once(client, 'open');
    client.send(Buffer.alloc(1024 * 1024 + 5, 1));
    expect(await peer!.until(() => peer!.frames.some((f) => f.fin), 5000)).toBe(true);
    const frames = peer!.frames;
    expect(frames).toHaveLength(17);
    expect(frames.map((f) => f.opcode)).toEqual([2, ...Array(16).fill(0)]);
    expect(frames.map((f) => f.fin)).toEqual([...Array(16).fill(false), true]);
    expect(frames.every((f) => f.masked)).toBe(true);
    expect(Math.max(...frames.map((f) => f.payload.length))).toBe(64 * 1024);
    expect(Buffer.concat(frames.map((f) => f.payload)).equals(Buffer.alloc(1024 * 1024 + 5, 1))).toBe(true);
    client.terminate();
    await server.close();
  });

  test('a ping is answered in the middle of a fragmented 64 MiB send', async () => {
    const { wss, url } = await listen({ fragmentOutgoingMessages: true, fragmentationThreshold: 256 * 1024 });
    const size = 64 * 1024 * 1024;
    wss.on('connection', (ws) => {
      ws.on('message', () => ws.send(Buffer.alloc(size, 7)));
    });
    const client = new WebSocket(url, { perMessageDeflate: false, maxPayload: size + 1 });
    await once(client, 'open');
    const events: string[] = [];
    let fragmentsSeen = 0;
    // Count continuation frames arriving before the pong through the raw socket's byte count.
    client.on('pong', () => events.push(`pong after ${fragmentsSeen} bytes`));
    client.on('message', (data: Buffer) => events.push(`message ${data.length}`));
    const raw = (client as unknown as { _socket: NodeJS.ReadableStream })._socket;
    raw.on('data', (chunk: Buffer) => {
      fragmentsSeen += chunk.length;
    });
    client.send('go');
    // Wait until part of the message has arrived, then ping.
    while (fragmentsSeen < 4 * 1024 * 1024) await new Promise((r) => setTimeout(r, 1));
    client.ping();
    while (events.length < 2) await new Promise((r) => setTimeout(r, 5));
    expect(events[0]).toMatch(/^pong after \d+ bytes$/);
    expect(events[1]).toBe(`message ${size}`);
    const bytesAtPong = Number(/after (\d+)/.exec(events[0]!)![1]);
    expect(bytesAtPong).toBeLessThan(size);
    client.terminate();
    await stop(wss);
  });

  test('manual fragmentation with fin: false keeps working alongside it', async () => {
    const { wss, url } = await listen({});
    const got = new Promise<Buffer>((resolve) =>
      wss.on('connection', (ws) => ws.once('message', (d: Buffer) => resolve(d))),
    );
    const client = new WebSocket(url, { fragmentOutgoingMessages: true, fragmentationThreshold: 4 });
    await once(client, 'open');
    client.send('hello ', { fin: false });
    client.send('fragmented ', { fin: false });
    client.send('world', { fin: true });
    expect((await got).toString()).toBe('hello fragmented world');
    client.terminate();
    await stop(wss);
  });
});

describe('streaming reception (assembleFragments: false)', () => {
  test('invalid UTF-8 split across fragments fails with 1007 before the final fragment', async () => {
    const { wss, url } = await listen({ assembleFragments: false });
    const serverError = new Promise<Error & { code?: string; closeCode?: number }>((resolve) =>
      wss.on('connection', (ws) => ws.on('error', resolve)),
    );
    const client = new WsClient(url);
    await once(client, 'open');
    client.send(Buffer.from([0x68, 0xe2]), { binary: false, fin: false });
    client.send(Buffer.from([0x28]), { binary: false, fin: false }); // 0xE2 0x28: bad continuation
    const err = await serverError;
    expect(err.code).toBe('WS_ERR_INVALID_UTF8');
    expect(err.closeCode).toBe(1007);
    const [code] = (await once(client, 'close')) as [number];
    expect(code).toBe(1007);
    await stop(wss);
  });

  test('a 1 GiB upload streams to a file while RSS grows by under 56 MiB', async () => {
    const script = join(__dirname, 'fixtures', 'stream-upload.mjs');
    const { stdout } = await run(process.execPath, [script, String(1024 * 1024 * 1024)], {
      cwd: join(__dirname, '..'),
      timeout: 120_000,
    });
    const result = JSON.parse(stdout.trim().split('\n').pop()!) as {
      bytes: number;
      fragments: number;
      baseRss: number;
      peakRss: number;
      fileSize: number;
    };
    expect(result.bytes).toBe(1024 * 1024 * 1024);
    expect(result.fileSize).toBe(1024 * 1024 * 1024);
    // Pieces are handed out as bytes arrive: at least one per 64 KiB frame.
    expect(result.fragments).toBeGreaterThanOrEqual(16384);
    // Growth over the server's RSS once connected, not the absolute peak: the runtime alone takes 53 MiB
    // on Node 20 and 60 MiB on Node 24. The old bound (peak under 100 MiB) allowed 47 MiB of growth on
    // Node 20; measured: 37 MiB (Node 20) and 41 MiB (Node 24), mostly 64 KiB pieces waiting for GC.
    expect(result.peakRss - result.baseRss).toBeLessThan(56 * 1024 * 1024);
  }, 130_000);
});

describe('limits and timeouts', () => {
  test('maxReceivedFrameSize fails a big frame with 1009; maxPayload fails a big message with 1009', async () => {
    const { wss, url } = await listen({ maxReceivedFrameSize: 1024, maxPayload: 4096 });
    const errors: string[] = [];
    wss.on('connection', (ws) => ws.on('error', (e: Error) => errors.push(e.message)));
    const a = new WsClient(url);
    await once(a, 'open');
    a.send(Buffer.alloc(2048));
    const [codeA] = (await once(a, 'close')) as [number];
    expect(codeA).toBe(1009);

    const b = new WsClient(url);
    await once(b, 'open');
    for (let i = 0; i < 5; i++) b.send(Buffer.alloc(1000), { fin: i === 4 });
    const [codeB] = (await once(b, 'close')) as [number];
    expect(codeB).toBe(1009);
    expect(errors).toEqual(['Frame exceeds the maximum payload size', 'Max payload size exceeded']);
    await stop(wss);
  });

  test('closeTimeout: a peer that never answers the close frame is cut off after it', async () => {
    const { wss, url } = await listen({ closeTimeout: 200 });
    const closed = new Promise<[number, number]>((resolve) =>
      wss.on('connection', (ws) => {
        const started = Date.now();
        ws.on('close', (code: number) => resolve([code, Date.now() - started]));
        ws.close(1000);
      }),
    );
    // A raw peer that completes the handshake and then ignores everything.
    const { port } = new URL(url);
    const sock = connect(Number(port), '127.0.0.1');
    sock.write(
      'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    );
    sock.on('data', () => {});
    const [code, elapsed] = await closed;
    expect(code).toBe(1006);
    expect(elapsed).toBeGreaterThanOrEqual(150);
    expect(elapsed).toBeLessThan(5000);
    sock.destroy();
    await stop(wss);
  });
});

describe('WebSocketRouter', () => {
  let server: Server;
  let router: WebSocketRouter;
  let base: string;
  const seen: RouterRequest[] = [];

  beforeAll(async () => {
    server = createServer();
    router = new WebSocketRouter(server);
    router.mount('/rooms/:room', 'chat', (request) => {
      seen.push(request);
      const ws = request.accept('chat', { cookies: [{ name: 'seat', value: request.params.room!, httpOnly: true }] });
      ws?.on('message', (d: Buffer) => ws.send(`${request.params.room}:${d}`));
    });
    router.mount('/rooms/:room', 'admin', (request) =>
      request.reject(401, 'Admins only', { 'WWW-Authenticate': 'Bearer' }),
    );
    router.mount('/files/*', null, async (request) => {
      await new Promise((r) => setTimeout(r, 20));
      request.accept()?.on('message', function (this: WebSocket, d: Buffer) {
        this.send(`${request.params['*']}|${d}`);
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    base = `ws://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await router.close({ timeout: 500 });
    await new Promise((r) => server.close(r));
  });

  test('routes by path pattern and subprotocol, sets cookies on the 101 response', async () => {
    const client = new WsClient(`${base}/rooms/blue?x=1`, ['chat']);
    const upgraded = once(client, 'upgrade');
    await once(client, 'open');
    const [res] = (await upgraded) as [{ headers: Record<string, string[] | string> }];
    expect(client.protocol).toBe('chat');
    expect(res.headers['set-cookie']).toEqual(['seat=blue; HttpOnly']);
    client.send('hi');
    const [data] = (await once(client, 'message')) as [Buffer];
    expect(String(data)).toBe('blue:hi');
    expect(seen.at(-1)!.query.get('x')).toBe('1');
    expect(router.clients.size).toBe(1);
    client.close();
    await once(client, 'close');
  });

  test('reject answers real HTTP with status and headers', async () => {
    const client = new WsClient(`${base}/rooms/blue`, ['admin']);
    client.on('error', () => {});
    const [, res] = (await once(client, 'unexpected-response')) as [
      unknown,
      { statusCode: number; headers: Record<string, string> },
    ];
    expect(res.statusCode).toBe(401);
    expect(res.headers['www-authenticate']).toBe('Bearer');
    client.terminate();
  });

  test('unknown paths get 404; a known path with no matching subprotocol gets 400', async () => {
    for (const [path, protocols, status] of [
      ['/nowhere', [], 404],
      ['/rooms/blue', ['other'], 400],
    ] as const) {
      const client = new WsClient(`${base}${path}`, [...protocols]);
      client.on('error', () => {});
      const [, res] = (await once(client, 'unexpected-response')) as [unknown, { statusCode: number }];
      expect(res.statusCode).toBe(status);
      client.terminate();
    }
  });

  test('async handlers accept later; wildcard captures the rest of the path', async () => {
    const client = new WebSocket(`${base}/files/a/b.txt`);
    await once(client, 'open');
    client.send('x');
    const [data] = (await once(client, 'message')) as [Buffer];
    expect(String(data)).toBe('a/b.txt|x');
    client.close();
    await once(client, 'close');
  });
});

describe('W3CWebSocket', () => {
  test('WebSocket-Node constructor signature and the browser surface', async () => {
    const { wss, url } = await listen({ handleProtocols: (p) => [...p][0] ?? false });
    let origin: string | undefined;
    let header: string | undefined;
    wss.on('connection', (ws, req) => {
      origin = req.headers.origin;
      header = req.headers['x-extra'] as string;
      ws.send('text');
      ws.send(Buffer.from([1, 2, 3]));
    });
    const client = new W3CWebSocket(url, 'proto', 'http://example.test', { 'X-Extra': 'yes' }, undefined, {
      maxReceivedMessageSize: 1024,
    });
    expect(client.binaryType).toBe('arraybuffer');
    const events: unknown[] = [];
    const opened = new Promise<void>((resolve) => {
      client.onopen = () => resolve();
    });
    const got = new Promise<void>((resolve) => {
      client.onmessage = (event) => {
        events.push(event.data);
        if (events.length === 2) resolve();
      };
    });
    await opened;
    expect(client.protocol).toBe('proto');
    expect(client.readyState).toBe(W3CWebSocket.OPEN);
    await got;
    expect(events[0]).toBe('text');
    expect(events[1]).toBeInstanceOf(ArrayBuffer);
    expect([...new Uint8Array(events[1] as ArrayBuffer)]).toEqual([1, 2, 3]);
    expect(origin).toBe('http://example.test');
    expect(header).toBe('yes');
    const closed = new Promise<{ code: number; reason: string; wasClean: boolean }>((resolve) => {
      client.onclose = (e) => resolve(e);
    });
    client.close(4000, 'bye');
    const e = await closed;
    expect([e.code, e.reason, e.wasClean]).toEqual([4000, 'bye', true]);
    await stop(wss);
  });
  test('defaults with the URL alone; request headers merge with the headers argument; maxReceivedMessageSize', async () => {
    const { wss, url } = await listen({});
    const seen: Array<{ origin: string | undefined; a: unknown; b: unknown }> = [];
    wss.on('connection', (ws, req) => {
      seen.push({ origin: req.headers.origin, a: req.headers['x-a'], b: req.headers['x-b'] });
      ws.send('x'.repeat(64));
    });
    const plain = new W3CWebSocket(url);
    await new Promise<void>((resolve) => (plain.onopen = () => resolve()));
    expect(plain.protocol).toBe('');
    plain.close();
    await once(plain, 'close');
    // The headers argument adds to (and wins over) requestOptions.headers; a message over the limit is 1009.
    const limited = new W3CWebSocket(
      url,
      null,
      undefined,
      { 'X-B': 'arg' },
      { headers: { 'X-A': 'req', 'X-B': 'req' } },
      {
        maxReceivedMessageSize: 16,
      },
    );
    const [error] = (await once(limited, 'error')) as [Error & { code?: string; closeCode?: number }];
    expect(error).toMatchObject({ code: 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH', closeCode: 1009 });
    await once(limited, 'close');
    expect(seen).toEqual([
      { origin: undefined, a: undefined, b: undefined },
      { origin: undefined, a: 'req', b: 'arg' },
    ]);
    await stop(wss);
  });
});
