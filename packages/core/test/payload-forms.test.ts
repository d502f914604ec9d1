/**
 * The payload forms ws 8 documents for `send(data)` (Array, Number, String, ArrayBuffer, Buffer, DataView,
 * TypedArray, Blob), `close(code, reason)` and `ping`/`pong`, including calls after the socket left OPEN
 * (the callback gets the error, `bufferedAmount` still grows, as ws does), pause()/resume() outside OPEN,
 * and createWebSocketStream under every binaryType and in readable/writable object mode.
 */
import { once } from 'node:events';
import { WebSocket, WebSocketServer, createWebSocketStream } from '@wskit/core';
import { closeOf, opened, shutdown, within, wskitServer } from './helpers.js';

let wss: WebSocketServer;
let url: string;
/** What the server received, in order: [bytes as hex, isBinary]. */
let received: Array<[string, boolean]>;

beforeAll(async () => {
  ({ wss, url } = await wskitServer());
  wss.on('connection', (ws) => {
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      received.push([data.toString('hex'), isBinary]);
      if (String(data) === 'echo-binary') for (const form of [Buffer.from('ab'), Buffer.from('cd')]) ws.send(form);
    });
  });
});
afterAll(() => shutdown(wss));
beforeEach(() => {
  received = [];
});

async function client(): Promise<WebSocket> {
  const ws = new WebSocket(url);
  await opened(ws);
  return ws;
}

async function until(count: number): Promise<void> {
  const deadline = Date.now() + 5000;
  while (received.length < count && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
}

test('send(): arrays of bytes and of Buffers, numbers as text, views by their own bytes; others throw', async () => {
  const ws = await client();
  const backing = new Uint8Array([0, 1, 2, 3, 4, 5, 6, 7]);
  ws.send([0x68, 0x69]); // an array of numbers is bytes
  ws.send([Buffer.from('he'), Buffer.from('llo')]); // Buffer[] (ws's fragments form) is joined
  ws.send(42);
  ws.send(new Uint16Array(backing.buffer, 2, 2)); // bytes 2..5 only
  ws.send(new DataView(backing.buffer, 6, 2));
  ws.send(backing.buffer.slice(0, 2));
  expect(() => ws.send({} as unknown as Buffer)).toThrow(TypeError);
  await until(6);
  expect(received).toEqual([
    ['6869', true],
    ['68656c6c6f', true],
    ['3432', false],
    ['02030405', true],
    ['0607', true],
    ['0001', true],
  ]);
  ws.close();
  await closeOf(ws);
});

test('close(): the reason may be an ArrayBuffer or a view; other types throw before anything is sent', async () => {
  const reasons: string[] = [];
  wss.once('connection', (ws) => ws.once('close', (_code: number, reason: Buffer) => reasons.push(String(reason))));
  const ws = await client();
  expect(() => ws.close(1000, 7 as unknown as string)).toThrow(TypeError);
  expect(ws.readyState).toBe(WebSocket.OPEN);
  ws.close(1000, new TextEncoder().encode('done').buffer);
  expect(await closeOf(ws)).toEqual([1000, 'done']);
  await within(
    (async () => {
      while (reasons.length === 0) await new Promise((r) => setTimeout(r, 10));
    })(),
    5000,
  );
  expect(reasons).toEqual(['done']);
});

test('ping and pong: (data, cb) and (cb) forms; oversized Blob control frames throw; after close the callback gets the error', async () => {
  const ws = await client();
  const pongs: string[] = [];
  ws.on('pong', (data: Buffer) => pongs.push(String(data)));
  await new Promise<void>((resolve, reject) => ws.ping('with-cb', (error) => (error ? reject(error) : resolve())));
  await new Promise<void>((resolve, reject) => ws.ping((error) => (error ? reject(error) : resolve())));
  await new Promise<void>((resolve, reject) =>
    ws.pong('unsolicited', (error?: Error | null) => (error ? reject(error) : resolve())),
  );
  expect(() => ws.ping(new Blob([new Uint8Array(126)]))).toThrow(RangeError);
  await within(
    (async () => {
      while (pongs.length < 2) await new Promise((r) => setTimeout(r, 10));
    })(),
    5000,
  );
  expect(pongs).toEqual(['with-cb', '']);

  ws.close();
  expect(ws.readyState).toBe(WebSocket.CLOSING);
  const before = ws.bufferedAmount;
  const errors = await Promise.all(
    [
      (cb: (error?: Error | null) => void) => ws.ping('late', cb),
      (cb: (error?: Error | null) => void) => ws.pong(Buffer.from('late!'), true, cb),
      (cb: (error?: Error | null) => void) => ws.send('late send', cb),
    ].map((call) => new Promise<Error | null | undefined>((resolve) => call(resolve))),
  );
  for (const error of errors) expect(error?.message).toMatch(/WebSocket is not open: readyState 2 \(CLOSING\)/);
  expect(ws.bufferedAmount - before).toBe('late'.length + 'late!'.length + 'late send'.length);
  await closeOf(ws);
  ws.ping(); // CLOSED: no callback, nothing thrown
});

test('pause() and resume() do nothing while CONNECTING or once CLOSED', async () => {
  const ws = new WebSocket(url);
  ws.pause();
  expect(ws.isPaused).toBe(false);
  await opened(ws);
  ws.pause();
  expect(ws.isPaused).toBe(true);
  ws.resume();
  expect(ws.isPaused).toBe(false);
  ws.close();
  await closeOf(ws);
  ws.pause();
  expect(ws.isPaused).toBe(false);
  ws.resume();
  expect(ws.isPaused).toBe(false);
});

describe('createWebSocketStream', () => {
  test.each(['arraybuffer', 'fragments', 'nodebuffer'] as const)(
    "byte mode hands Buffers whatever the socket's binaryType (%s)",
    async (binaryType) => {
      const ws = await client();
      ws.binaryType = binaryType;
      const duplex = createWebSocketStream(ws);
      const chunks: unknown[] = [];
      duplex.on('data', (chunk) => chunks.push(chunk));
      duplex.write('echo-binary');
      await within(
        (async () => {
          while (chunks.length < 2) await new Promise((r) => setTimeout(r, 10));
        })(),
        5000,
      );
      expect(chunks.every((chunk) => Buffer.isBuffer(chunk))).toBe(true);
      expect(Buffer.concat(chunks as Buffer[]).toString()).toBe('abcd');
      duplex.destroy();
      await once(duplex, 'close');
    },
  );

  test('readable object mode: text as strings, binary in the binaryType; an unsendable object write errors the stream', async () => {
    const ws = await client();
    ws.binaryType = 'arraybuffer';
    // `objectMode` itself is forced off, as ws does: the two halves are asked for one by one.
    const duplex = createWebSocketStream(ws, { readableObjectMode: true, writableObjectMode: true });
    const chunks: unknown[] = [];
    duplex.on('data', (chunk) => chunks.push(chunk));
    wss.clients.forEach((peer) => peer.send('text'));
    duplex.write('echo-binary');
    await within(
      (async () => {
        while (chunks.length < 3) await new Promise((r) => setTimeout(r, 10));
      })(),
      5000,
    );
    expect(chunks[0]).toBe('text');
    expect(chunks[1]).toBeInstanceOf(ArrayBuffer);
    const errored = once(duplex, 'error');
    duplex.write({ not: 'a payload' });
    const [error] = (await errored) as [Error];
    expect(error).toBeInstanceOf(TypeError);
    await once(duplex, 'close');
  });
});
