/**
 * Buffer ownership of send(): once send(buf) returns, the caller may overwrite `buf` (up to 1 MiB) and the
 * peer still gets the bytes as they were at the call. Each case overwrites the buffer with buf.fill() right
 * after send() and checks what a ws peer received. Larger messages may be held by reference until the send
 * callback (documented in README.md), so there the buffer is reused only after the callback.
 */
import { once } from 'node:events';
import { WebSocket as WsClient, WebSocketServer as WsServer } from 'ws';
import { WebSocket, type WebSocketServer } from '@wskit/core';
import { opened, shutdown, within, wskitServer, wsServer } from './helpers.js';

const KiB = 1024;
const MiB = 1024 * KiB;

function pattern(n: number, seed = 1): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed + (i >> 10)) & 0xff;
  return b;
}

/** Collects the next `count` messages a ws-client receives. */
function messages(ws: WsClient | WebSocket, count: number): Promise<Buffer[]> {
  const got: Buffer[] = [];
  return within(
    new Promise((resolve) => {
      (ws as WsClient).on('message', (data: Buffer) => {
        got.push(Buffer.from(data));
        if (got.length === count) resolve(got);
      });
    }),
    20_000,
    `${count} messages`,
  );
}

interface ServerSide {
  wss: WebSocketServer;
  client: WsClient;
  server: WebSocket;
}

async function serverSide(options: Parameters<typeof wskitServer>[0] = {}): Promise<ServerSide> {
  const { wss, url } = await wskitServer(options);
  const connection = once(wss, 'connection') as Promise<[WebSocket]>;
  const client = new WsClient(url, { perMessageDeflate: options.perMessageDeflate !== undefined });
  await opened(client);
  const [server] = await connection;
  return { wss, client, server };
}

async function end(side: ServerSide): Promise<void> {
  side.client.terminate();
  await shutdown(side.wss);
}

describe('server send(): the peer gets the bytes as they were at the call', () => {
  test.each([
    ['1 KB plain', 1000, {}],
    ['16 KiB + 1 plain', 16 * KiB + 1, {}],
    ['1 MiB plain', MiB, {}],
    ['1 KB compressed', 1000, { perMessageDeflate: { threshold: 0 } }],
    ['1 MiB compressed', MiB, { perMessageDeflate: true }],
  ] as const)('%s', async (_name, size, options) => {
    const side = await serverSide(options);
    try {
      const want = pattern(size);
      const buf = Buffer.from(want);
      const got = messages(side.client, 1);
      side.server.send(buf);
      buf.fill(0xee);
      const [message] = await got;
      expect(message!.length).toBe(size);
      expect(message!.equals(want)).toBe(true);
    } finally {
      await end(side);
    }
  });

  test('1 MiB fragmented (fragmentOutgoingMessages) that waits for drain between fragments', async () => {
    const side = await serverSide({ fragmentOutgoingMessages: true });
    try {
      // The client stops reading, so the server's socket backs up and the message goes out as it drains.
      const clientSocket = (side.client as unknown as { _socket: import('node:net').Socket })._socket;
      clientSocket.pause();
      const filler = Buffer.alloc(16 * KiB, 1);
      const fillers = 400;
      const raw = (side.server as unknown as { _socket: import('node:net').Socket })._socket;
      for (let i = 0; i < fillers; i++) side.server.send(filler);
      await new Promise((resolve) => setImmediate(resolve));
      expect(raw.writableNeedDrain).toBe(true);
      const want = pattern(MiB, 12);
      const buf = Buffer.from(want);
      const got = messages(side.client, fillers + 1);
      side.server.send(buf);
      buf.fill(0xee);
      clientSocket.resume();
      const all = await got;
      expect(all[fillers]!.equals(want)).toBe(true);
    } finally {
      await end(side);
    }
  });

  test('a send queued behind a compression job, and a typed-array view into a larger buffer', async () => {
    const side = await serverSide({ perMessageDeflate: { threshold: 0 } });
    try {
      const first = pattern(MiB, 3);
      const second = pattern(64 * KiB, 5);
      const backing = new Uint8Array(1000 + 64 * KiB + 1000);
      backing.set(second, 1000);
      const view = new Uint8Array(backing.buffer, 1000, 64 * KiB);
      const firstBuf = Buffer.from(first);
      const got = messages(side.client, 3);
      side.server.send(firstBuf); // compressed: the line is busy until zlib answers
      side.server.send(view, { compress: false }); // waits behind it
      const small = Buffer.from('tail message');
      side.server.send(small);
      firstBuf.fill(0);
      backing.fill(0xab);
      small.fill(0x21);
      const [a, b, c] = await got;
      expect(a!.equals(first)).toBe(true);
      expect(b!.equals(second)).toBe(true);
      expect(c!.toString()).toBe('tail message');
    } finally {
      await end(side);
    }
  });

  test('an ArrayBuffer payload of 64 KiB', async () => {
    const side = await serverSide();
    try {
      const want = pattern(64 * KiB, 9);
      const ab = new ArrayBuffer(want.length);
      new Uint8Array(ab).set(want);
      const got = messages(side.client, 1);
      side.server.send(ab);
      new Uint8Array(ab).fill(1);
      expect((await got)[0]!.equals(want)).toBe(true);
    } finally {
      await end(side);
    }
  });

  test("above 1 MiB the buffer is the caller's again once the send callback ran", async () => {
    const side = await serverSide();
    try {
      const want = pattern(3 * MiB, 11);
      const buf = Buffer.from(want);
      const got = messages(side.client, 1);
      await new Promise<void>((resolve, reject) =>
        side.server.send(buf, (error) => (error ? reject(error) : resolve())),
      );
      buf.fill(0);
      expect((await got)[0]!.equals(want)).toBe(true);
    } finally {
      await end(side);
    }
  });
});

describe('client send(): the peer gets the bytes as they were at the call', () => {
  let peer: { wss: WsServer; url: string };
  beforeEach(async () => {
    peer = await wsServer({ perMessageDeflate: true });
  });
  afterEach(async () => {
    await shutdown(peer.wss);
  });

  async function connect(
    options: ConstructorParameters<typeof WebSocket>[1] = {},
  ): Promise<{ ws: WebSocket; remote: WsClient }> {
    const connection = once(peer.wss, 'connection') as Promise<[WsClient]>;
    const ws = new WebSocket(peer.url, options);
    await opened(ws);
    const [remote] = await connection;
    return { ws, remote };
  }

  test('a send queued behind a Blob', async () => {
    const { ws, remote } = await connect({ perMessageDeflate: false });
    try {
      const blobBytes = pattern(200 * KiB, 2);
      const want = pattern(1000, 4);
      const buf = Buffer.from(want);
      const got = messages(remote, 3);
      ws.send(new Blob([blobBytes]));
      ws.send(buf);
      const pingPayload = Buffer.from('ping payload');
      const pongs = once(remote, 'ping') as Promise<[Buffer]>;
      ws.ping(pingPayload);
      const big = pattern(MiB, 6);
      const bigBuf = Buffer.from(big);
      ws.send(bigBuf);
      buf.fill(0x55);
      bigBuf.fill(0x66);
      pingPayload.fill(0x30);
      const [a, b, c] = await got;
      expect(a!.equals(blobBytes)).toBe(true);
      expect(b!.equals(want)).toBe(true);
      expect(c!.equals(big)).toBe(true);
      expect((await pongs)[0].toString()).toBe('ping payload');
    } finally {
      ws.terminate();
    }
  });

  test.each([
    ['1 MiB masked', MiB, { perMessageDeflate: false }],
    ['1 KB compressed', 1000, { perMessageDeflate: { threshold: 0 } }],
    ['1 MiB compressed', MiB, {}],
  ] as const)('%s', async (_name, size, options) => {
    const { ws, remote } = await connect(options);
    try {
      const want = pattern(size, 8);
      const buf = Buffer.from(want);
      const got = messages(remote, 1);
      ws.send(buf);
      buf.fill(0x77);
      expect((await got)[0]!.equals(want)).toBe(true);
    } finally {
      ws.terminate();
    }
  });
});
