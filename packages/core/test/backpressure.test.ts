/**
 * Send-side backpressure over real TCP: bufferedAmount accounting, send callbacks (once, after the write,
 * or with an error when the socket went first), and the maxBufferedAmount slow-consumer policy against
 * peers that stop reading.
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { types } from 'node:util';
import { WebSocket as WsClient, WebSocketServer as WsServer } from 'ws';
import { WebSocket, WebSocketServer, type WebSocketError } from '@wskit/core';
import { rawConnect, waitUntil, type RawClient } from './fixtures/raw-ws.js';

const MiB = 1024 * 1024;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Server-to-client frame size (unmasked) for a payload of `n` bytes. */
function serverFrameBytes(n: number): number {
  return n + (n < 126 ? 2 : n < 65536 ? 4 : 10);
}

async function serverWithRawPeer(
  options: Partial<ConstructorParameters<typeof WebSocketServer>[0]> = {},
): Promise<{ wss: WebSocketServer; ws: WebSocket; peer: RawClient; done: () => Promise<void> }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, ...options });
  await once(wss, 'listening');
  const connected = once(wss, 'connection') as Promise<[WebSocket]>;
  // decode: false — the peer never reads what the server sends until the test says so.
  const peer = await rawConnect((wss.address() as AddressInfo).port, { decode: false });
  const [ws] = await connected;
  return {
    wss,
    ws,
    peer,
    done: async () => {
      peer.socket.destroy();
      for (const client of wss.clients) client.terminate();
      await new Promise((resolve) => wss.close(resolve));
    },
  };
}

/** Reads and discards everything from now on; resolves with a getter for the byte count. */
function drainPeer(peer: RawClient): () => number {
  let received = 0;
  peer.socket.on('data', (chunk: Buffer) => (received += chunk.length));
  peer.socket.resume();
  return () => received;
}

describe('bufferedAmount', () => {
  test('a socket closed before it connected counts what is sent after close, as ws does (Blobs by size)', async () => {
    const ws = new WebSocket('ws://127.0.0.1:1/');
    ws.on('error', () => {});
    const closed = new Promise((resolve) => ws.once('close', resolve));
    ws.close();
    await closed;
    const callbacks: Array<Error | null | undefined> = [];
    ws.send('abc', (error) => callbacks.push(error));
    ws.send(new Blob([new Uint8Array(4)]));
    expect(ws.bufferedAmount).toBe(7);
    await new Promise((resolve) => setImmediate(resolve));
    expect(callbacks).toHaveLength(1);
    expect(callbacks[0]).toBeInstanceOf(Error);
  });

  test('counts exactly the frame bytes not yet handed to the kernel and returns to 0 after drain', async () => {
    const { ws, peer, done } = await serverWithRawPeer();
    try {
      expect(ws.bufferedAmount).toBe(0);
      const sizes = [0, 5, 125, 126, 65535, 65536, MiB, 3 * MiB];
      let expected = 0;
      for (const size of sizes) {
        ws.send(Buffer.alloc(size, 1));
        expected += serverFrameBytes(size);
        // Synchronously after send(): every byte is still ours.
        expect(ws.bufferedAmount).toBe(expected);
      }
      ws.send('héllo');
      expected += serverFrameBytes(Buffer.byteLength('héllo'));
      expect(ws.bufferedAmount).toBe(expected);

      // The peer does not read: after the flush the kernel holds part of it, we hold the rest.
      await sleep(200);
      const held = ws.bufferedAmount;
      expect(held).toBeGreaterThanOrEqual(0);
      expect(held).toBeLessThanOrEqual(expected);

      const received = drainPeer(peer);
      expect(await waitUntil(() => received() === expected, 5000)).toBe(true);
      expect(ws.bufferedAmount).toBe(0);
      // What the peer got is exactly the frame bytes accounted for, no more.
      await sleep(50);
      expect(received()).toBe(expected);
    } finally {
      await done();
    }
  });

  test('with a peer that stops reading, bufferedAmount holds what the kernel refused until the peer reads', async () => {
    const { ws, peer, done } = await serverWithRawPeer();
    try {
      const total = 32 * serverFrameBytes(MiB);
      for (let i = 0; i < 32; i++) ws.send(Buffer.alloc(MiB, i));
      expect(ws.bufferedAmount).toBe(total);
      await sleep(300);
      // Loopback kernel buffers take a few MiB at most; the rest waits in user space.
      const stuck = ws.bufferedAmount;
      expect(stuck).toBeGreaterThan(8 * MiB);
      await sleep(100);
      expect(ws.bufferedAmount).toBe(stuck);

      const received = drainPeer(peer);
      expect(await waitUntil(() => ws.bufferedAmount === 0, 10_000)).toBe(true);
      expect(await waitUntil(() => received() === total, 5000)).toBe(true);
    } finally {
      await done();
    }
  });

  test('client side counts the 4-byte mask key per frame too', async () => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await once(wss, 'listening');
    try {
      const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}/`, {
        perMessageDeflate: false,
      });
      await once(client, 'open');
      client.send(Buffer.alloc(100));
      client.send(Buffer.alloc(1000));
      expect(client.bufferedAmount).toBe(100 + 2 + 4 + 1000 + 4 + 4);
      expect(await waitUntil(() => client.bufferedAmount === 0, 2000)).toBe(true);
      client.close();
      await once(client, 'close');
    } finally {
      for (const c of wss.clients) c.terminate();
      await new Promise((resolve) => wss.close(resolve));
    }
  });
});

describe('send callbacks', () => {
  test('fire exactly once each, in order, only after the data was handed to the kernel', async () => {
    const { ws, peer, done } = await serverWithRawPeer();
    try {
      const COUNT = 32;
      const calls: Array<{ index: number; error: unknown; buffered: number }> = [];
      for (let i = 0; i < COUNT; i++) {
        ws.send(Buffer.alloc(MiB, i), (error) => calls.push({ index: i, error, buffered: ws.bufferedAmount }));
      }
      await sleep(300);
      // The peer reads nothing: most of the 32 MiB cannot have been written, so most callbacks are pending.
      const early = calls.length;
      expect(early).toBeLessThan(COUNT - 8);

      drainPeer(peer);
      expect(await waitUntil(() => calls.length === COUNT, 10_000)).toBe(true);
      await sleep(50);
      expect(calls).toHaveLength(COUNT);
      expect(calls.map((c) => c.index)).toEqual(Array.from({ length: COUNT }, (_, i) => i));
      for (const call of calls) {
        expect(call.error).toBeFalsy();
        // When message i is reported written, at most the messages after it can still be buffered.
        expect(call.buffered).toBeLessThanOrEqual((COUNT - 1 - call.index) * serverFrameBytes(MiB));
      }
    } finally {
      await done();
    }
  });

  test('fire once with an error for data the socket could not write before it closed', async () => {
    const { ws, peer, done } = await serverWithRawPeer();
    try {
      const COUNT = 32;
      const results = new Map<number, unknown[]>();
      for (let i = 0; i < COUNT; i++) {
        ws.send(Buffer.alloc(MiB, i), (error) => {
          const list = results.get(i) ?? [];
          list.push(error ?? null);
          results.set(i, list);
        });
      }
      await sleep(200);
      const closed = once(ws, 'close');
      peer.socket.destroy();
      await closed;
      // Sends after the close fail too.
      let lateError: unknown;
      ws.send('late', (error) => (lateError = error));
      await sleep(100);

      expect(results.size).toBe(COUNT);
      let failed = 0;
      for (const [, list] of results) {
        expect(list).toHaveLength(1);
        if (list[0] !== null) {
          failed++;
          // isNativeError, not instanceof: an error made by Node itself (EPIPE) comes from outside jest's realm.
          expect(types.isNativeError(list[0])).toBe(true);
          // Writes cancelled by the destroy: the same code on every Node (22+ reports them as ECANCELED).
          expect(['WS_ERR_SOCKET_CLOSED', 'EPIPE', 'ECONNRESET']).toContain((list[0] as { code?: string }).code);
        }
      }
      expect(failed).toBeGreaterThan(8);
      // Written ones come first: once one failed, every later one failed too.
      const firstFailed = [...Array(COUNT).keys()].find((i) => results.get(i)![0] !== null)!;
      for (let i = firstFailed; i < COUNT; i++) expect(results.get(i)![0]).not.toBeNull();
      expect(lateError).toBeInstanceOf(Error);
    } finally {
      await done();
    }
  });

  test('fire once with an error when the socket is terminated while messages wait for compression', async () => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: { threshold: 0 } });
    await once(wss, 'listening');
    const connected = once(wss, 'connection') as Promise<[WebSocket]>;
    const client = new WsClient(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}/`, { perMessageDeflate: true });
    client.on('error', () => {});
    const [ws] = await connected;
    try {
      expect(ws.extensions).toContain('permessage-deflate');
      const calls: unknown[][] = Array.from({ length: 20 }, () => []);
      const big = Buffer.alloc(4 * MiB, 'abcdefgh');
      for (let i = 0; i < 20; i++) ws.send(big, (error) => calls[i]!.push(error ?? null));
      ws.terminate();
      await once(ws, 'close');
      await sleep(300);
      for (const list of calls) {
        expect(list).toHaveLength(1);
        expect(list[0]).toBeInstanceOf(Error);
      }
    } finally {
      client.terminate();
      await new Promise((resolve) => wss.close(resolve));
    }
  });
});

describe('maxBufferedAmount', () => {
  /** Sends 64 KiB per event-loop turn (bounded) until the socket closes; reports what happened. */
  async function flood(ws: WebSocket, maxMessages: number): Promise<{ sent: number; sendErrors: WebSocketError[] }> {
    const chunk = Buffer.alloc(64 * 1024, 7);
    const sendErrors: WebSocketError[] = [];
    let sent = 0;
    while (sent < maxMessages && ws.readyState === WebSocket.OPEN) {
      ws.send(chunk, (error) => {
        if (error && (error as WebSocketError).code === 'WS_ERR_BUFFER_LIMIT') sendErrors.push(error as WebSocketError);
      });
      sent++;
      await new Promise((resolve) => setImmediate(resolve));
    }
    await sleep(20);
    return { sent, sendErrors };
  }

  test('a raw peer that stops reading is dropped with WS_ERR_BUFFER_LIMIT; memory stays bounded', async () => {
    const limit = MiB;
    const { ws, peer, done } = await serverWithRawPeer({ maxBufferedAmount: limit });
    try {
      const errors: WebSocketError[] = [];
      ws.on('error', (error: WebSocketError) => errors.push(error));
      const closed = new Promise<[number, string]>((resolve) =>
        ws.once('close', (code: number, reason: Buffer) => resolve([code, reason.toString()])),
      );
      global.gc?.();
      const rssBefore = process.memoryUsage().rss;
      // 4,000 × 64 KiB = 250 MiB if nothing stopped it.
      const { sent, sendErrors } = await flood(ws, 4000);
      const rssAfter = process.memoryUsage().rss;

      expect(await closed).toEqual([1006, 'send buffer limit exceeded']);
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatchObject({ code: 'WS_ERR_BUFFER_LIMIT', closeCode: 1008 });
      expect(sendErrors).toHaveLength(1);
      expect(sendErrors[0]!.code).toBe('WS_ERR_BUFFER_LIMIT');
      // Dropped once kernel buffers plus the 1 MiB allowance were full: far short of the flood.
      expect(sent).toBeLessThan(4000);
      expect(sent * 64 * 1024).toBeLessThan(64 * MiB);
      expect(rssAfter - rssBefore).toBeLessThan(100 * MiB);
      // The peer only notices the dropped connection once it reads again.
      drainPeer(peer);
      await peer.closed;
      console.log(
        `maxBufferedAmount (raw peer): dropped after ${sent} × 64 KiB sends; RSS +${((rssAfter - rssBefore) / MiB).toFixed(1)} MiB`,
      );
    } finally {
      await done();
    }
  });

  test('a ws client that pauses is dropped the same way; a reading client under the same flood is not', async () => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, maxBufferedAmount: MiB });
    await once(wss, 'listening');
    const port = (wss.address() as AddressInfo).port;
    const sockets: WebSocket[] = [];
    wss.on('connection', (ws: WebSocket) => sockets.push(ws));
    const paused = new WsClient(`ws://127.0.0.1:${port}/`);
    const reading = new WsClient(`ws://127.0.0.1:${port}/`);
    paused.on('error', () => {});
    let readBytes = 0;
    reading.on('message', (data: Buffer) => (readBytes += data.length));
    try {
      await Promise.all([once(paused, 'open'), once(reading, 'open')]);
      expect(await waitUntil(() => sockets.length === 2, 2000)).toBe(true);
      paused.pause();
      await sleep(20);
      // Tell the two server sockets apart by what each client's local port is.
      const pausedPort = (paused as unknown as { _socket: { localPort: number } })._socket.localPort;
      const slow = sockets.find(
        (s) => (s as unknown as { _socket: { remotePort: number } })._socket.remotePort === pausedPort,
      )!;
      const fast = sockets.find((s) => s !== slow)!;
      const slowError = new Promise<WebSocketError>((resolve) => slow.once('error', resolve));
      const slowClosed = new Promise<[number, string]>((resolve) =>
        slow.once('close', (code: number, reason: Buffer) => resolve([code, reason.toString()])),
      );
      let fastClosed = false;
      fast.on('close', () => (fastClosed = true));

      const [slowResult, fastResult] = await Promise.all([flood(slow, 4000), flood(fast, 400)]);
      expect(await slowError).toMatchObject({ code: 'WS_ERR_BUFFER_LIMIT', closeCode: 1008 });
      expect(await slowClosed).toEqual([1006, 'send buffer limit exceeded']);
      expect(slowResult.sent).toBeLessThan(4000);
      expect(fastResult.sent).toBe(400);
      expect(fastResult.sendErrors).toHaveLength(0);
      expect(fastClosed).toBe(false);
      expect(await waitUntil(() => readBytes === 400 * 64 * 1024, 5000)).toBe(true);
    } finally {
      paused.terminate();
      reading.terminate();
      for (const c of wss.clients) c.terminate();
      await new Promise((resolve) => wss.close(resolve));
    }
  });

  test('broadcast obeys the limit: a peer that stops reading is dropped, the reading one gets every message', async () => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, maxBufferedAmount: MiB });
    await once(wss, 'listening');
    const port = (wss.address() as AddressInfo).port;
    try {
      const stalled = await rawConnect(port, { decode: false });
      const reading = await rawConnect(port, { decode: false });
      const readBytes = drainPeer(reading);
      expect(await waitUntil(() => wss.clients.size === 2, 2000)).toBe(true);
      const errors: WebSocketError[] = [];
      for (const ws of wss.clients) ws.on('error', (error: WebSocketError) => errors.push(error));
      const chunk = Buffer.alloc(64 * 1024, 3);
      // 1,000 × 64 KiB = 62.5 MiB for the stalled peer if nothing stopped it.
      let sent = 0;
      for (; sent < 1000; sent++) {
        wss.broadcast(chunk);
        await new Promise((resolve) => setImmediate(resolve));
      }
      expect(await waitUntil(() => wss.clients.size === 1, 5000)).toBe(true);
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatchObject({ code: 'WS_ERR_BUFFER_LIMIT', closeCode: 1008 });
      expect(await waitUntil(() => readBytes() === 1000 * serverFrameBytes(64 * 1024), 10_000)).toBe(true);
      stalled.socket.destroy();
    } finally {
      for (const c of wss.clients) c.terminate();
      await new Promise((resolve) => wss.close(resolve));
    }
  }, 30_000);

  test('client option: a wskit client whose server stops reading is dropped with WS_ERR_BUFFER_LIMIT', async () => {
    const server = new WsServer({ host: '127.0.0.1', port: 0 });
    await once(server, 'listening');
    server.on('connection', (peer) => peer.pause());
    try {
      const client = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}/`, {
        maxBufferedAmount: MiB,
        perMessageDeflate: false,
      });
      await once(client, 'open');
      await sleep(20);
      const error = new Promise<WebSocketError>((resolve) => client.once('error', resolve));
      const closed = new Promise<[number, string]>((resolve) =>
        client.once('close', (code: number, reason: Buffer) => resolve([code, reason.toString()])),
      );
      const { sent, sendErrors } = await flood(client, 4000);
      expect(await error).toMatchObject({ code: 'WS_ERR_BUFFER_LIMIT', closeCode: 1008 });
      expect(await closed).toEqual([1006, 'send buffer limit exceeded']);
      expect(sendErrors).toHaveLength(1);
      expect(sent).toBeLessThan(4000);
    } finally {
      for (const c of server.clients) c.terminate();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
