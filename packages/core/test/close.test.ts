/**
 * The closing handshake (RFC 6455 §7): echo of the peer's code, who closes TCP first, the bounded
 * closeTimeout when the peer never answers, and what happens to bytes after a close frame.
 */
import { once } from 'node:events';
import type { WebSocket as WsSocket } from 'ws';
import { WebSocket, type WebSocketServer } from '@wskit/core';
import {
  OP,
  closeOf,
  closePayload,
  delay,
  frame,
  opened,
  rawServer,
  rawUpgraded,
  shutdown,
  within,
  wskitServer,
  wsServer,
} from './helpers.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function serverWithRaw(options: Parameters<typeof wskitServer>[0] = {}) {
  const { wss, port } = await wskitServer(options);
  cleanups.push(() => shutdown(wss));
  const peer = new Promise<WebSocket>((resolve) => wss.once('connection', resolve));
  const raw = await rawUpgraded(port);
  cleanups.push(() => void raw.socket.destroy());
  return { wss, raw, ws: await peer };
}

describe('server side', () => {
  test('server-initiated close: the server closes TCP first, after the peer answered', async () => {
    const { raw, ws } = await serverWithRaw();
    const closed = closeOf(ws);
    ws.close(1000, 'done');
    expect(await raw.until(() => raw.closeFrame() !== undefined)).toBe(true);
    expect(raw.closeCode()).toBe(1000);
    expect(raw.closeFrame()!.payload.subarray(2).toString()).toBe('done');
    expect(raw.gotEnd).toBe(false); // the server waits for the answer
    raw.write(frame(OP.close, closePayload(1000, 'ok')));
    // The raw socket does not end its side by itself: the FIN that arrives is the server's.
    await within(raw.closed, 2000, 'TCP close');
    expect(raw.gotEnd).toBe(true);
    expect(await within(closed, 2000, 'close event')).toEqual([1000, 'ok']);
  });

  test('peer-initiated close is echoed with the same code and reason, then TCP is closed', async () => {
    const { raw, ws } = await serverWithRaw();
    const closed = closeOf(ws);
    raw.write(frame(OP.close, closePayload(4321, 'bye')));
    await within(raw.closed, 2000, 'TCP close');
    expect(raw.gotEnd).toBe(true);
    expect(raw.closeCode()).toBe(4321);
    expect(raw.closeFrame()!.payload.subarray(2).toString()).toBe('bye');
    expect(await closed).toEqual([4321, 'bye']);
  });

  test('a close frame without payload is answered without payload; close reports 1005', async () => {
    const { raw, ws } = await serverWithRaw();
    const closed = closeOf(ws);
    raw.write(frame(OP.close));
    await within(raw.closed, 2000, 'TCP close');
    expect(raw.closeFrame()!.payload.length).toBe(0);
    expect(await closed).toEqual([1005, '']);
  });

  test('frames after a close frame are ignored', async () => {
    const { raw, ws } = await serverWithRaw();
    const messages: unknown[] = [];
    ws.on('message', (m) => messages.push(m));
    const closed = closeOf(ws);
    raw.write(Buffer.concat([frame(OP.text, 'before'), frame(OP.close, closePayload(1000)), frame(OP.text, 'after')]));
    await within(closed, 2000, 'close');
    expect(messages.map(String)).toEqual(['before']);
    expect(raw.frames.filter((f) => f.opcode === OP.close)).toHaveLength(1);
  });

  test('closeTimeout bounds the wait for a peer that never answers', async () => {
    const { raw, ws } = await serverWithRaw({ closeTimeout: 150 });
    const closed = closeOf(ws);
    const started = Date.now();
    ws.close(1001);
    expect(await raw.until(() => raw.closeCode() === 1001)).toBe(true);
    await within(raw.closed, 2000, 'TCP destroyed after closeTimeout');
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(120);
    expect((await closed)[0]).toBe(1006);
  });

  test('close() while CLOSING and terminate() after close() are harmless', async () => {
    const { raw, ws } = await serverWithRaw();
    const closed = closeOf(ws);
    ws.close(1000);
    ws.close(1000);
    expect(ws.readyState).toBe(WebSocket.CLOSING);
    ws.terminate();
    expect((await within(closed, 2000, 'close'))[0]).toBe(1006);
    await within(raw.closed, 2000, 'TCP close');
    expect(raw.frames.filter((f) => f.opcode === OP.close).length).toBeLessThanOrEqual(1);
  });

  test('the peer dropping TCP without a close frame gives 1006', async () => {
    const { raw, ws } = await serverWithRaw();
    const closed = closeOf(ws);
    raw.socket.destroy();
    expect(await within(closed, 2000, 'close')).toEqual([1006, '']);
  });
});

describe('client side', () => {
  test('client-initiated close: masked close frame, the server closes TCP, event carries the answer', async () => {
    let frames: Array<{ opcode: number; masked: boolean; payload: Buffer }> = [];
    let respond: (() => void) | null = null;
    const server = await rawServer((peer) => {
      frames = peer.frames;
      peer.accept();
      respond = () => {
        peer.socket.write(frame(OP.close, closePayload(1000, 'server ok'), { mask: false }));
        peer.socket.end();
      };
    });
    cleanups.push(server.close);
    const ws = new WebSocket(server.url, { perMessageDeflate: false });
    await opened(ws);
    const closed = closeOf(ws);
    ws.close(1000, 'client');
    await new Promise<void>((resolve) => {
      const check = (): void => (frames.some((f) => f.opcode === OP.close) ? resolve() : void setTimeout(check, 5));
      check();
    });
    const close = frames.find((f) => f.opcode === OP.close)!;
    expect(close.masked).toBe(true);
    expect(close.payload.readUInt16BE(0)).toBe(1000);
    respond!();
    expect(await within(closed, 2000, 'close')).toEqual([1000, 'server ok']);
  });

  test('closeTimeout on the client when the server never answers', async () => {
    const server = await rawServer((peer) => peer.accept());
    cleanups.push(server.close);
    const ws = new WebSocket(server.url, { closeTimeout: 150 });
    await opened(ws);
    const closed = closeOf(ws);
    const started = Date.now();
    ws.close(1000);
    expect((await within(closed, 2000, 'close after timeout'))[0]).toBe(1006);
    expect(Date.now() - started).toBeGreaterThanOrEqual(120);
  });

  test('simultaneous close from both ends (wskit client, ws server)', async () => {
    const { wss, url } = await wsServer();
    cleanups.push(() => shutdown(wss as unknown as WebSocketServer));
    const peer = new Promise<WsSocket>((resolve) => wss.once('connection', resolve));
    const ws = new WebSocket(url);
    await opened(ws);
    const server = await peer;
    const ours = closeOf(ws);
    const theirs = closeOf(server);
    ws.close(4001, 'client');
    server.close(4002, 'server');
    const [a, b] = await within(Promise.all([ours, theirs]), 2000, 'both closed');
    // Each side reports the code it received.
    expect(a).toEqual([4002, 'server']);
    expect(b).toEqual([4001, 'client']);
  });

  test('a ws client closing a wskit server: both see the code; the server closes TCP', async () => {
    const { wss, url } = await wskitServer();
    cleanups.push(() => shutdown(wss));
    const peer = once(wss, 'connection');
    const { WebSocket: WsClient } = await import('ws');
    const client = new WsClient(url);
    await opened(client);
    const [ws] = (await peer) as [WebSocket];
    const ours = closeOf(ws);
    const theirs = closeOf(client);
    client.close(1000, 'bye');
    expect(await within(ours, 2000, 'server close')).toEqual([1000, 'bye']);
    expect(await within(theirs, 2000, 'client close')).toEqual([1000, 'bye']);
    await delay(5);
  });
});
