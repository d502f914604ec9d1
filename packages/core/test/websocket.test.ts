/**
 * The socket API of ws 8 (send/ping/pong/close/terminate/pause/resume, properties, events), exercised on
 * a wskit socket in both roles with a `ws` peer: wskit client ↔ ws server, ws client ↔ wskit server.
 */
import { once } from 'node:events';
import { WebSocket as WsSocket, type WebSocketServer as WsServer } from 'ws';
import { WebSocket, type WebSocketServer } from '@wskit/core';
import { closeOf, delay, opened, shutdown, within, wskitServer, wsServer } from './helpers.js';

type Role = 'wskit client ↔ ws server' | 'ws client ↔ wskit server';

interface Pair {
  /** The wskit socket under test. */
  ours: WebSocket;
  /** The ws socket at the other end. */
  peer: WsSocket;
}

let servers: Array<WebSocketServer | WsServer> = [];

afterEach(async () => {
  await Promise.all(servers.map((s) => shutdown(s as WebSocketServer)));
  servers = [];
});

async function pair(
  role: Role,
  serverOptions: Record<string, unknown> = {},
  clientOptions: Record<string, unknown> = {},
): Promise<Pair> {
  if (role === 'wskit client ↔ ws server') {
    const { wss, url } = await wsServer(serverOptions);
    servers.push(wss);
    const peer = new Promise<WsSocket>((resolve) => wss.once('connection', resolve));
    const ours = new WebSocket(url, clientOptions);
    await opened(ours);
    return { ours, peer: await peer };
  }
  const { wss, url } = await wskitServer(serverOptions);
  servers.push(wss);
  const ours = new Promise<WebSocket>((resolve) => wss.once('connection', resolve));
  const peer = new WsSocket(url, clientOptions);
  await opened(peer);
  return { ours: await ours, peer };
}

function collect(ws: WebSocket | WsSocket, count: number): Promise<Array<[Buffer, boolean]>> {
  const out: Array<[Buffer, boolean]> = [];
  return within(
    new Promise((resolve) => {
      (ws as WebSocket).on('message', (data: Buffer, isBinary: boolean) => {
        out.push([data, isBinary]);
        if (out.length === count) resolve(out);
      });
    }),
    3000,
    `${count} messages`,
  );
}

const roles: Role[] = ['wskit client ↔ ws server', 'ws client ↔ wskit server'];

describe.each(roles)('%s', (role) => {
  test('send accepts string, Buffer, ArrayBuffer, typed arrays, DataView and Blob, in order', async () => {
    const { ours, peer } = await pair(role);
    const got = collect(peer, 9);
    const backing = new Uint8Array([9, 8, 7, 6, 5, 4, 3, 2]);
    ours.send('héllo');
    ours.send(Buffer.from([1, 2, 3]));
    ours.send(new Uint8Array([4, 5]).buffer);
    ours.send(new Uint16Array([0x0102, 0x0304]));
    ours.send(backing.subarray(2, 5)); // a view with an offset: only its bytes go out
    ours.send(new DataView(backing.buffer, 6, 2));
    ours.send(new Blob([Buffer.from('blob-bytes')]));
    ours.send('after the blob');
    ours.send(new Blob(['text blob']), { binary: false });
    const messages = await got;
    expect(messages.map(([d, b]) => [d.toString('hex'), b])).toEqual([
      [Buffer.from('héllo').toString('hex'), false],
      ['010203', true],
      ['0405', true],
      [Buffer.from(new Uint16Array([0x0102, 0x0304]).buffer).toString('hex'), true],
      ['070605', true],
      ['0302', true],
      [Buffer.from('blob-bytes').toString('hex'), true],
      [Buffer.from('after the blob').toString('hex'), false],
      [Buffer.from('text blob').toString('hex'), false],
    ]);
  });

  test('message gives (Buffer, isBinary) for text and binary alike', async () => {
    const { ours, peer } = await pair(role);
    const got = collect(ours, 3);
    peer.send('text');
    peer.send(Buffer.from('bin'));
    peer.send('');
    const messages = await got;
    for (const [data] of messages) expect(Buffer.isBuffer(data)).toBe(true);
    expect(messages.map(([d, b]) => [d.toString(), b])).toEqual([
      ['text', false],
      ['bin', true],
      ['', false],
    ]);
  });

  test('binary option overrides the data type', async () => {
    const { ours, peer } = await pair(role);
    const got = collect(peer, 2);
    ours.send('as binary', { binary: true });
    ours.send(Buffer.from('as text'), { binary: false });
    expect((await got).map(([d, b]) => [d.toString(), b])).toEqual([
      ['as binary', true],
      ['as text', false],
    ]);
  });

  test('fin: false fragments a message by hand', async () => {
    const { ours, peer } = await pair(role);
    const got = collect(peer, 2);
    ours.send('one ', { fin: false });
    ours.send('two ', { fin: false });
    ours.send('three', { fin: true });
    ours.send(Buffer.from([1]), { fin: false });
    ours.send(Buffer.from([2]));
    expect((await got).map(([d, b]) => [d.toString('hex'), b])).toEqual([
      [Buffer.from('one two three').toString('hex'), false],
      ['0102', true],
    ]);
  });

  test('compress option with permessage-deflate negotiated both ways', async () => {
    const { ours, peer } = await pair(role, { perMessageDeflate: { threshold: 0 } }, { perMessageDeflate: true });
    expect(ours.extensions).toBe('permessage-deflate');
    const got = collect(peer, 3);
    const big = Buffer.alloc(50_000, 'abc');
    ours.send(big, { compress: true });
    ours.send(big, { compress: false });
    ours.send('small');
    const messages = await got;
    expect(messages[0]![0].equals(big)).toBe(true);
    expect(messages[1]![0].equals(big)).toBe(true);
    expect(messages[2]![0].toString()).toBe('small');
  });

  test('ping and pong with data and callbacks; autoPong answers', async () => {
    const { ours, peer } = await pair(role);
    const peerPing = once(peer, 'ping');
    const ourPong = once(ours, 'pong');
    const sent = new Promise<Error | null | undefined>((resolve) => ours.ping('hello', undefined, resolve));
    expect(await sent).toBeFalsy();
    expect((await peerPing)[0].toString()).toBe('hello');
    expect((await ourPong)[0].toString()).toBe('hello');

    const peerPong = once(peer, 'pong');
    ours.pong(Buffer.from([1, 2, 3]));
    expect((await peerPong)[0]).toEqual(Buffer.from([1, 2, 3]));

    const ourPing = once(ours, 'ping');
    const peerGotPong = once(peer, 'pong');
    peer.ping('from peer');
    expect((await ourPing)[0].toString()).toBe('from peer');
    expect((await peerGotPong)[0].toString()).toBe('from peer');

    const noArgs = new Promise<Error | null | undefined>((resolve) => ours.ping(resolve));
    expect(await noArgs).toBeFalsy();
    expect(() => ours.ping(Buffer.alloc(126))).toThrow(RangeError);
  });

  test('close(code, reason) is echoed; the peer gets code and reason', async () => {
    const { ours, peer } = await pair(role);
    const peerClosed = closeOf(peer);
    const ourClosed = closeOf(ours);
    ours.close(4000, 'bye now');
    expect(ours.readyState).toBe(WebSocket.CLOSING);
    expect(await peerClosed).toEqual([4000, 'bye now']);
    expect(await ourClosed).toEqual([4000, 'bye now']);
    expect(ours.readyState).toBe(WebSocket.CLOSED);
  });

  test('close() without a code gives 1005 on both sides', async () => {
    const { ours, peer } = await pair(role);
    const peerClosed = closeOf(peer);
    const ourClosed = closeOf(ours);
    ours.close();
    expect(await peerClosed).toEqual([1005, '']);
    expect(await ourClosed).toEqual([1005, '']);
  });

  test('the close event reason is a Buffer', async () => {
    const { ours, peer } = await pair(role);
    const reason = new Promise<unknown>((resolve) => ours.once('close', (_c: number, r: unknown) => resolve(r)));
    peer.close(1001, 'going');
    const r = await reason;
    expect(Buffer.isBuffer(r)).toBe(true);
    expect(String(r)).toBe('going');
  });

  test('close with an invalid code or an over-long reason throws', async () => {
    const { ours } = await pair(role);
    for (const code of [999, 1004, 1005, 1006, 1015, 2000, 5000]) expect(() => ours.close(code)).toThrow(TypeError);
    expect(() => ours.close(1000, 'x'.repeat(124))).toThrow(RangeError);
    expect(() => ours.close(1000, 'é'.repeat(62))).toThrow(RangeError); // 124 bytes, 62 characters
    expect(ours.readyState).toBe(WebSocket.OPEN);
    ours.close(1000, 'x'.repeat(123));
  });

  test('terminate drops the connection: 1006 on both sides', async () => {
    const { ours, peer } = await pair(role);
    const peerClosed = closeOf(peer);
    const ourClosed = closeOf(ours);
    ours.terminate();
    expect((await peerClosed)[0]).toBe(1006);
    expect((await ourClosed)[0]).toBe(1006);
  });

  test('pause holds messages, resume delivers them in order', async () => {
    const { ours, peer } = await pair(role);
    const received: string[] = [];
    ours.on('message', (d: Buffer) => received.push(d.toString()));
    ours.pause();
    expect(ours.isPaused).toBe(true);
    for (let i = 0; i < 5; i++) peer.send(`m${i}`);
    await delay(60);
    expect(received).toEqual([]);
    ours.resume();
    expect(ours.isPaused).toBe(false);
    await within(
      (async () => {
        while (received.length < 5) await delay(5);
      })(),
      2000,
      'messages after resume',
    );
    expect(received).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
  });

  test('binaryType arraybuffer and fragments; text stays a Buffer', async () => {
    const { ours, peer } = await pair(role);
    ours.binaryType = 'arraybuffer';
    const first = collect(ours, 2);
    peer.send(Buffer.from([1, 2, 3]));
    peer.send('still text');
    const [[ab, abBinary], [text]] = (await first) as unknown as Array<[unknown, boolean]>;
    expect(ab).toBeInstanceOf(ArrayBuffer);
    expect(Buffer.from(ab as ArrayBuffer)).toEqual(Buffer.from([1, 2, 3]));
    expect(abBinary).toBe(true);
    expect(Buffer.isBuffer(text)).toBe(true);
    ours.removeAllListeners('message');

    ours.binaryType = 'fragments';
    const second = collect(ours, 1);
    peer.send(Buffer.from('ab'), { fin: false });
    peer.send(Buffer.from('cd'), { fin: true });
    const [[fragments]] = (await second) as unknown as Array<[unknown]>;
    expect(Array.isArray(fragments)).toBe(true);
    expect(Buffer.concat(fragments as Buffer[]).toString()).toBe('abcd');

    ours.binaryType = 'bogus' as 'nodebuffer';
    expect(ours.binaryType).toBe('fragments');
  });

  test('bufferedAmount counts unsent bytes and drains to 0', async () => {
    const { ours, peer } = await pair(role);
    const got = collect(peer, 1);
    const payload = Buffer.alloc(4 * 1024 * 1024, 7);
    const sent = new Promise<Error | null | undefined>((resolve) => ours.send(payload, resolve));
    expect(ours.bufferedAmount).toBeGreaterThanOrEqual(payload.length);
    expect(await sent).toBeFalsy();
    await got;
    expect(ours.bufferedAmount).toBe(0);
  });

  test('send after close fails its callback and grows bufferedAmount', async () => {
    const { ours } = await pair(role);
    const closed = closeOf(ours);
    ours.close();
    await closed;
    const error = await new Promise<Error | null | undefined>((resolve) => ours.send('late', resolve));
    expect(error).toBeInstanceOf(Error);
    expect(ours.bufferedAmount).toBe(4);
  });

  test('readyState, protocol, extensions and url', async () => {
    const { ours } = await pair(role);
    expect(ours.readyState).toBe(WebSocket.OPEN);
    expect(ours.protocol).toBe('');
    expect(ours.extensions).toBe('');
    if (role === 'wskit client ↔ ws server') expect(ours.url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/$/);
    else expect(ours.url).toBeUndefined();
  });
});

test('readyState constants on the class and the instance', () => {
  expect([WebSocket.CONNECTING, WebSocket.OPEN, WebSocket.CLOSING, WebSocket.CLOSED]).toEqual([0, 1, 2, 3]);
  const ws = new WebSocket('ws://127.0.0.1:1');
  ws.on('error', () => {});
  expect([ws.CONNECTING, ws.OPEN, ws.CLOSING, ws.CLOSED]).toEqual([0, 1, 2, 3]);
  expect(ws.readyState).toBe(ws.CONNECTING);
  // Same values as ws.
  expect([WsSocket.CONNECTING, WsSocket.OPEN, WsSocket.CLOSING, WsSocket.CLOSED]).toEqual([0, 1, 2, 3]);
  ws.terminate();
});

test('send/ping before open throws; close before open aborts with an error', async () => {
  const { wss, url } = await wskitServer();
  servers.push(wss);
  const ws = new WebSocket(url);
  expect(() => ws.send('x')).toThrow(/not open/);
  expect(() => ws.ping()).toThrow(/not open/);
  const error = new Promise<Error>((resolve) => ws.once('error', resolve));
  const closed = closeOf(ws);
  ws.close();
  expect((await error).message).toMatch(/closed before the connection was established/);
  expect((await closed)[0]).toBe(1006);
});

test('a server socket sending masked frames (mask: true) is refused by a ws client', async () => {
  const { ours, peer } = await pair('ws client ↔ wskit server');
  const error = new Promise<Error & { code?: string }>((resolve) => peer.once('error', resolve));
  ours.send('masked', { mask: true });
  expect((await within(error, 2000, 'ws client error')).code).toBe('WS_ERR_UNEXPECTED_MASK');
});

test('compress: false sends a plain frame, the default compresses (RSV1 seen on the wire)', async () => {
  const { wss, port } = await wskitServer({ perMessageDeflate: { threshold: 0 } });
  servers.push(wss);
  const peer = new Promise<WebSocket>((resolve) => wss.once('connection', resolve));
  const { rawUpgraded, OP } = await import('./helpers.js');
  const raw = await rawUpgraded(port, { headers: { 'Sec-WebSocket-Extensions': 'permessage-deflate' } });
  expect(raw.head?.headers['sec-websocket-extensions']).toMatch(/^permessage-deflate/);
  const ws = await peer;
  const text = 'x'.repeat(1000);
  ws.send(text, { compress: false });
  ws.send(text);
  expect(await raw.until(() => raw.frames.filter((f) => f.opcode === OP.text).length === 2)).toBe(true);
  const [plain, compressed] = raw.frames.filter((f) => f.opcode === OP.text);
  expect(plain!.rsv1).toBe(false);
  expect(plain!.payload.toString()).toBe(text);
  expect(compressed!.rsv1).toBe(true);
  expect(compressed!.payload.length).toBeLessThan(100);
  raw.socket.destroy();
});
