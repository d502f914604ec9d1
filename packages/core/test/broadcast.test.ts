/**
 * wss.broadcast over real sockets: every open client gets the message exactly once, except/filter pick
 * the recipients, clients that negotiated permessage-deflate decode the shared frame, the fan-out pump
 * (slices per turn, merged writes, per-socket order), and a printed
 * (not asserted) comparison with a plain send loop for 2,000 clients.
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { WebSocket as WsClient } from 'ws';
import { WebSocket, WebSocketServer, broadcast } from '@wskit/core';
import { rawConnect, waitUntil, type RawClient } from './fixtures/raw-ws.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function startServer(options: Partial<ConstructorParameters<typeof WebSocketServer>[0]> = {}): Promise<{
  wss: WebSocketServer;
  port: number;
  stop: () => Promise<void>;
}> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, ...options });
  await once(wss, 'listening');
  return {
    wss,
    port: (wss.address() as AddressInfo).port,
    stop: async () => {
      for (const client of wss.clients) client.terminate();
      await new Promise((resolve) => wss.close(resolve));
    },
  };
}

interface Recorder {
  client: WebSocket;
  messages: Array<{ data: string | Buffer; isBinary: boolean }>;
  /** The server-side socket of this client. */
  server: WebSocket;
}

/** Connects `count` wskit clients, each tagged with its index so server sockets can be matched up. */
async function connectRecorders(wss: WebSocketServer, port: number, count: number): Promise<Recorder[]> {
  const byIndex = new Map<number, WebSocket>();
  const onConnection = (ws: WebSocket, req: { url?: string }): void => {
    byIndex.set(Number(new URL(req.url ?? '/', 'http://x').searchParams.get('i')), ws);
  };
  wss.on('connection', onConnection);
  const recorders: Recorder[] = [];
  for (let i = 0; i < count; i++) {
    const client = new WebSocket(`ws://127.0.0.1:${port}/?i=${i}`, { perMessageDeflate: false });
    const recorder = { client, messages: [], server: null as unknown as WebSocket } as Recorder;
    client.on('message', (data: Buffer, isBinary: boolean) =>
      recorder.messages.push({ data: isBinary ? data : data.toString(), isBinary }),
    );
    recorders.push(recorder);
  }
  await Promise.all(recorders.map((r) => once(r.client, 'open')));
  expect(await waitUntil(() => byIndex.size === count, 5000)).toBe(true);
  wss.off('connection', onConnection);
  recorders.forEach((r, i) => (r.server = byIndex.get(i)!));
  return recorders;
}

describe('broadcast', () => {
  test('200 clients each receive every message exactly once, in order, text and binary', async () => {
    const { wss, port, stop } = await startServer();
    try {
      const recorders = await connectRecorders(wss, port, 200);
      const big = Buffer.alloc(100_000, 0xab);
      expect(wss.broadcast('hello everyone')).toBe(200);
      expect(wss.broadcast(Buffer.from([1, 2, 3]))).toBe(200);
      expect(wss.broadcast(big)).toBe(200);
      expect(wss.broadcast('as binary', { binary: true })).toBe(200);
      expect(await waitUntil(() => recorders.every((r) => r.messages.length >= 4), 5000)).toBe(true);
      await sleep(100);
      for (const { messages } of recorders) {
        expect(messages).toHaveLength(4);
        expect(messages[0]).toEqual({ data: 'hello everyone', isBinary: false });
        expect(messages[1]).toEqual({ data: Buffer.from([1, 2, 3]), isBinary: true });
        expect(messages[2]!.isBinary).toBe(true);
        expect((messages[2]!.data as Buffer).equals(big)).toBe(true);
        expect(messages[3]).toEqual({ data: Buffer.from('as binary'), isBinary: true });
      }
      for (const r of recorders) r.client.terminate();
    } finally {
      await stop();
    }
  });

  test('except (one socket or several) and filter choose the recipients; closed sockets are skipped', async () => {
    const { wss, port, stop } = await startServer();
    try {
      const recorders = await connectRecorders(wss, port, 10);
      const sender = recorders[0]!.server;
      expect(wss.broadcast('not to the sender', { except: sender })).toBe(9);
      expect(wss.broadcast('not to 1 and 2', { except: [recorders[1]!.server, recorders[2]!.server] })).toBe(8);
      const evens = new Set(recorders.filter((_, i) => i % 2 === 0).map((r) => r.server));
      expect(wss.broadcast('evens only', { filter: (ws) => evens.has(ws) })).toBe(5);
      expect(wss.broadcast('evens but 0', { filter: (ws) => evens.has(ws), except: sender })).toBe(4);
      // A closing socket gets nothing.
      recorders[9]!.server.close();
      expect(wss.broadcast('after 9 closed')).toBe(9);

      const expected = (i: number): string[] => {
        const out: string[] = [];
        if (i !== 0) out.push('not to the sender');
        if (i !== 1 && i !== 2) out.push('not to 1 and 2');
        if (i % 2 === 0) out.push('evens only');
        if (i % 2 === 0 && i !== 0) out.push('evens but 0');
        if (i !== 9) out.push('after 9 closed');
        return out;
      };
      expect(await waitUntil(() => recorders.every((r, i) => r.messages.length >= expected(i).length), 5000)).toBe(
        true,
      );
      await sleep(100);
      recorders.forEach((r, i) => expect(r.messages.map((m) => m.data)).toEqual(expected(i)));
      for (const r of recorders) r.client.terminate();
    } finally {
      await stop();
    }
  });

  test('broadcast() over client-side sockets: each frame is masked per client and reaches its server', async () => {
    const { wss, port, stop } = await startServer();
    try {
      const received: Array<[string, boolean]> = [];
      wss.on('connection', (ws: WebSocket) =>
        ws.on('message', (data: Buffer, isBinary: boolean) => received.push([data.toString(), isBinary])),
      );
      const clients = [1, 2].map(() => new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: false }));
      await Promise.all(clients.map((c) => once(c, 'open')));
      expect(broadcast(clients, 'from clients')).toBe(2);
      expect(broadcast(clients, Buffer.from('bin'), { compress: true })).toBe(2);
      expect(await waitUntil(() => received.length === 4, 5000)).toBe(true);
      expect(received.sort()).toEqual([
        ['bin', true],
        ['bin', true],
        ['from clients', false],
        ['from clients', false],
      ]);
      for (const c of clients) c.terminate();
    } finally {
      await stop();
    }
  });

  test('clients that negotiated permessage-deflate decode the broadcast, shared frame or compressed per client', async () => {
    const { wss, port, stop } = await startServer({ perMessageDeflate: { threshold: 0 } });
    try {
      const text = 'compressible '.repeat(500);
      const clients = [
        new WsClient(`ws://127.0.0.1:${port}/`, { perMessageDeflate: true }),
        new WsClient(`ws://127.0.0.1:${port}/`, {
          perMessageDeflate: { serverNoContextTakeover: true, serverMaxWindowBits: 10 },
        }),
        new WsClient(`ws://127.0.0.1:${port}/`, { perMessageDeflate: false }),
        new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: true }),
      ];
      const got: string[][] = clients.map(() => []);
      clients.forEach((c, i) => (c as WsClient).on('message', (data: Buffer) => got[i]!.push(data.toString())));
      await Promise.all(clients.map((c) => once(c as WsClient, 'open')));
      expect(await waitUntil(() => wss.clients.size === 4, 2000)).toBe(true);
      expect(clients.map((c) => c.extensions.length > 0)).toEqual([true, true, false, true]);

      expect(wss.broadcast(text)).toBe(4);
      expect(wss.broadcast(`${text}!`, { compress: true })).toBe(4);
      expect(wss.broadcast('short', { compress: true })).toBe(4);
      expect(await waitUntil(() => got.every((g) => g.length >= 3), 5000)).toBe(true);
      for (const g of got) expect(g).toEqual([text, `${text}!`, 'short']);
      for (const c of clients) c.terminate();
    } finally {
      await stop();
    }
  });

  test('broadcast vs a send loop, 2,000 clients × 100 messages (figures printed, not asserted)', async () => {
    const CLIENTS = 2000;
    const MESSAGES = 100;
    const payload = 'x'.repeat(512);
    const frameBytes = payload.length + 4;
    const { wss, port, stop } = await startServer();
    const peers: RawClient[] = [];
    try {
      for (let i = 0; i < CLIENTS; i += 200) {
        peers.push(...(await Promise.all(Array.from({ length: 200 }, () => rawConnect(port, { decode: false })))));
      }
      expect(await waitUntil(() => wss.clients.size === CLIENTS, 10_000)).toBe(true);
      const received = new Array<number>(CLIENTS).fill(0);
      peers.forEach((peer, i) => {
        peer.socket.on('data', (chunk: Buffer) => (received[i] += chunk.length));
        peer.socket.resume();
      });
      const sockets = [...wss.clients];

      const run = async (label: string, sendAll: () => void): Promise<{ cpuMs: number; wallMs: number }> => {
        received.fill(0);
        const start = performance.now();
        const cpu = process.cpuUsage();
        for (let m = 0; m < MESSAGES; m++) sendAll();
        const cpuUsed = process.cpuUsage(cpu);
        const target = MESSAGES * frameBytes;
        expect(await waitUntil(() => received.every((n) => n === target), 20_000, 2)).toBe(true);
        const wallMs = performance.now() - start;
        const cpuTotal = process.cpuUsage(cpu);
        const result = { cpuMs: (cpuUsed.user + cpuUsed.system) / 1000, wallMs };
        console.log(
          `${label}: ${CLIENTS} clients × ${MESSAGES} msgs (${payload.length} B): CPU in the calls (broadcast writes after them) ${result.cpuMs.toFixed(0)} ms, ` +
            `process CPU until delivered ${((cpuTotal.user + cpuTotal.system) / 1000).toFixed(0)} ms (incl. the raw readers), ` +
            `all delivered in ${wallMs.toFixed(0)} ms`,
        );
        return result;
      };
      // Warm-up round so neither mode pays for JIT or first allocations.
      await run('warm-up (broadcast)', () => wss.broadcast(payload));
      await run('warm-up (send loop)', () => {
        for (const ws of sockets) ws.send(payload);
      });
      const loop = await run('send loop', () => {
        for (const ws of sockets) ws.send(payload);
      });
      const bcast = await run('broadcast', () => wss.broadcast(payload));
      console.log(
        `broadcast/send-loop: sync CPU ${(bcast.cpuMs / loop.cpuMs).toFixed(2)}×, delivery time ${(bcast.wallMs / loop.wallMs).toFixed(2)}×`,
      );
      // Whatever the speed, every byte arrived exactly: nothing duplicated, nothing lost.
      await sleep(50);
      expect(received.every((n) => n === MESSAGES * frameBytes)).toBe(true);
    } finally {
      for (const peer of peers) peer.socket.destroy();
      await stop();
    }
  }, 60_000);
});

/** Counts what reaches each socket's low-level write (_write, or one _writev for a corked batch). */
function countKernelWrites(sockets: Iterable<WebSocket>): number[] {
  type LowLevel = { _write: (...a: unknown[]) => void; _writev?: (...a: unknown[]) => void };
  const writes: number[] = [];
  for (const ws of sockets) {
    const socket = (ws as unknown as { _socket: LowLevel })._socket;
    const index = writes.push(0) - 1;
    const write = socket._write.bind(socket);
    socket._write = (...args: unknown[]) => {
      writes[index]!++;
      write(...args);
    };
    const writev = socket._writev?.bind(socket);
    if (writev) {
      socket._writev = (...args: unknown[]) => {
        writes[index]!++;
        writev(...args);
      };
    }
  }
  return writes;
}

/** `count` raw peers that decode frames, and the server sockets in connection order. */
async function rawPeers(wss: WebSocketServer, port: number, count: number): Promise<RawClient[]> {
  const peers: RawClient[] = [];
  for (let i = 0; i < count; i += 100) {
    peers.push(...(await Promise.all(Array.from({ length: Math.min(100, count - i) }, () => rawConnect(port)))));
  }
  expect(await waitUntil(() => wss.clients.size === count, 10_000)).toBe(true);
  return peers;
}

const texts = (peer: RawClient): string[] => peer.frames.map((f) => f.payload.toString());
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('broadcast fan-out', () => {
  test('many broadcasts in one tick reach each socket in one write to the kernel, in order', async () => {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await once(wss, 'listening');
    const port = (wss.address() as AddressInfo).port;
    const clients: WsClient[] = [];
    try {
      for (let i = 0; i < 5; i++) {
        const c = new WsClient(`ws://127.0.0.1:${port}`);
        await once(c, 'open');
        clients.push(c);
      }
      while (wss.clients.size < 5) await new Promise((r) => setTimeout(r, 5));
      const writes = countKernelWrites(wss.clients);
      const received = clients.map(() => [] as string[]);
      const all = Promise.all(
        clients.map(
          (c, i) =>
            new Promise<void>((resolve) =>
              c.on('message', (d) => {
                received[i]!.push(String(d));
                if (received[i]!.length === 100) resolve();
              }),
            ),
        ),
      );
      for (let n = 0; n < 100; n++) wss.broadcast(`m${n}`);
      await all;
      const expected = Array.from({ length: 100 }, (_, n) => `m${n}`);
      for (const r of received) expect(r).toEqual(expected);
      expect(writes).toEqual([1, 1, 1, 1, 1]);
    } finally {
      for (const c of clients) c.terminate();
      await new Promise((r) => wss.close(r));
    }
  });

  test('a fan-out to many sockets lets the event loop turn between slices; every socket still gets it', async () => {
    const { wss, port, stop } = await startServer();
    try {
      const peers = await rawPeers(wss, port, 600);
      const writes = countKernelWrites(wss.clients);
      const written = (): number => writes.filter((n) => n > 0).length;
      wss.broadcast('to all');
      expect(written()).toBe(0);
      await nextTurn();
      // Part of the sockets are written, not all: the loop ran other callbacks (this one) in between.
      const afterOneTurn = written();
      expect(afterOneTurn).toBeGreaterThan(0);
      expect(afterOneTurn).toBeLessThan(600);
      expect(await waitUntil(() => peers.every((p) => p.frames.length === 1), 5000)).toBe(true);
      expect(writes.every((n) => n === 1)).toBe(true);
      for (const peer of peers) expect(texts(peer)).toEqual(['to all']);
    } finally {
      await stop();
    }
  }, 30_000);

  test('broadcasts made in separate turns while a fan-out is going out share writes; none is lost or reordered', async () => {
    const { wss, port, stop } = await startServer();
    try {
      const peers = await rawPeers(wss, port, 400);
      const writes = countKernelWrites(wss.clients);
      const COUNT = 40;
      for (let n = 0; n < COUNT; n++) {
        wss.broadcast(`b${n}`);
        await nextTurn();
      }
      expect(await waitUntil(() => peers.every((p) => p.frames.length >= COUNT), 10_000)).toBe(true);
      const expected = Array.from({ length: COUNT }, (_, n) => `b${n}`);
      for (const peer of peers) expect(texts(peer)).toEqual(expected);
      // One write per socket per broadcast would be 16,000.
      const total = writes.reduce((a, b) => a + b, 0);
      expect(total).toBeLessThan((400 * COUNT) / 2);
    } finally {
      await stop();
    }
  }, 30_000);

  test('a socket keeps its own order across broadcasts, sends and close; bufferedAmount counts queued frames', async () => {
    const { wss, port, stop } = await startServer();
    try {
      const [peer] = await rawPeers(wss, port, 1);
      const [ws] = [...wss.clients];
      wss.broadcast('b1');
      expect(ws!.bufferedAmount).toBe(4);
      ws!.send('s1');
      wss.broadcast('b2');
      ws!.send('s2');
      ws!.close(4000, 'bye');
      expect(await waitUntil(() => peer!.frames.length === 5, 5000)).toBe(true);
      expect(texts(peer!).slice(0, 4)).toEqual(['b1', 's1', 'b2', 's2']);
      expect(peer!.frames[4]!.opcode).toBe(0x8);
      expect(peer!.frames[4]!.payload.readUInt16BE(0)).toBe(4000);
      expect(ws!.bufferedAmount).toBe(0);
    } finally {
      await stop();
    }
  });

  test('a socket closed while its broadcast frame waits fails the send callback, and the others still get it', async () => {
    const { wss, port, stop } = await startServer();
    try {
      const peers = await rawPeers(wss, port, 3);
      const sockets = [...wss.clients];
      const results: Array<Error | null | undefined> = [];
      for (const ws of sockets) ws._sendFrame(Buffer.from([0x81, 0x01, 0x78]), (error) => results.push(error));
      sockets[1]!.terminate();
      expect(await waitUntil(() => results.length === 3, 5000)).toBe(true);
      expect(results.filter((e) => e instanceof Error).map((e) => (e as { code?: string }).code)).toEqual([
        'WS_ERR_SOCKET_CLOSED',
      ]);
      expect(await waitUntil(() => peers[0]!.frames.length === 1 && peers[2]!.frames.length === 1, 5000)).toBe(true);
    } finally {
      await stop();
    }
  });
});
