/**
 * Smaller defects of issue 15, each against a real socket: runHandler and a socket the handler paused, the
 * router's accept() that throws, a heartbeat whose target fails, Blob sends and maxBufferedAmount, close
 * reasons given as typed-array views, and heartbeat liveness 'pong' against a peer that writes but never reads.
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocket as WsClient } from 'ws';
import { WebSocketRouter, runHandler, type WebSocket, type WebSocketServer } from '@wskit/core';
import {
  OP,
  closeOf,
  delay,
  frame,
  opened,
  rawHandshake,
  rawUpgraded,
  shutdown,
  within,
  wskitServer,
} from './helpers.js';

const servers: WebSocketServer[] = [];

/** Polls `pred` until it holds; fails after `ms` (and stops polling). */
async function waitUntil(pred: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${ms} ms`);
    await delay(10);
  }
}
afterEach(async () => {
  for (const wss of servers.splice(0)) await shutdown(wss);
});

async function connected(
  options: Parameters<typeof wskitServer>[0] = {},
): Promise<{ server: WebSocket; client: WsClient; wss: WebSocketServer; port: number }> {
  const { wss, url, port } = await wskitServer(options);
  servers.push(wss);
  const connection = once(wss, 'connection') as Promise<[WebSocket]>;
  const client = new WsClient(url);
  client.on('error', () => {});
  await opened(client);
  const [server] = await connection;
  return { server, client, wss, port };
}

describe('runHandler', () => {
  test('resumes the socket after the handler, unless the handler paused it itself', async () => {
    const { server, client } = await connected();
    const got: string[] = [];
    server.on('message', (data: Buffer) => got.push(String(data)));
    await runHandler(server, () => {
      server.pause();
    });
    expect(server.isPaused).toBe(true);
    client.send('held');
    await delay(100);
    expect(got).toEqual([]);
    server.resume();
    await waitUntil(() => got.length > 0, 5000, 'message');
    expect(got).toEqual(['held']);
    // The gate's own methods are gone again: pause() and resume() are the prototype's, and they are not
    // enumerable (the socket stays in V8's fast mode: nothing is deleted from it).
    const proto = Object.getPrototypeOf(server) as WebSocket;
    expect(server.pause).toBe(proto.pause);
    expect(server.resume).toBe(proto.resume);
    expect(Object.keys(server)).not.toContain('pause');
  });

  test('an async handler that pauses stays paused; one that pauses then resumes is resumed', async () => {
    const a = await connected();
    await runHandler(a.server, async () => {
      await delay(10);
      a.server.pause();
    });
    expect(a.server.isPaused).toBe(true);
    const b = await connected();
    await runHandler(b.server, async () => {
      b.server.pause();
      await delay(10);
      b.server.resume();
    });
    expect(b.server.isPaused).toBe(false);
    const c = await connected();
    await runHandler(c.server, () => undefined);
    expect(c.server.isPaused).toBe(false);
  });
});

describe('WebSocketRouter: accept() that throws', () => {
  let server: Server;
  let router: WebSocketRouter;
  let port: number;
  beforeAll(async () => {
    server = createServer();
    router = new WebSocketRouter(server, { decisionTimeout: 60_000 });
    router.mount('/bad-cookie', null, (request) => {
      try {
        request.accept(null, { cookies: [{ name: 'bad name', value: 'x' }] });
      } catch {
        // Swallowed on purpose: the request must still be answered.
      }
    });
    router.mount('/bad-header', null, (request) => {
      request.accept(null, { headers: { 'X-Evil': 'a\r\nSet-Cookie: injected=1' } });
    });
    router.mount('/bad-header-async', null, async (request) => {
      await delay(5);
      request.accept(null, { headers: { 'Bad Name': 'x' } });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await router.close({ timeout: 500 });
    await new Promise((resolve) => server.close(resolve));
  });

  test.each(['/bad-cookie', '/bad-header', '/bad-header-async'])(
    '%s: 500 at once, and the socket is closed',
    async (path) => {
      const started = Date.now();
      const raw = await rawHandshake(port, { path });
      expect(raw.head?.status).toBe(500);
      expect(raw.head?.headers['set-cookie']).toBeUndefined();
      await within(raw.closed, 5000, 'socket close');
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(router.clients.size).toBe(0);
    },
  );
});

describe('heartbeat with a failing target', () => {
  test('an exception from a target is reported as a warning, the process goes on', async () => {
    const { server, client } = await connected({ heartbeat: { interval: 100, timeout: 5000 } });
    // jest's sandboxed process does not deliver 'warning' events: watch emitWarning itself.
    const warn = jest.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    try {
      (server as unknown as { sendHeartbeatPing: () => void }).sendHeartbeatPing = () => {
        throw new Error('target broke');
      };
      await waitUntil(() => warn.mock.calls.length > 0, 10_000, 'warning');
      const [message, options] = warn.mock.calls[0] as [string, { code?: string }];
      expect(message).toMatch(/heartbeat target failed: target broke/);
      expect(options.code).toBe('WSKIT_HEARTBEAT_TARGET');
      expect(client.readyState).toBe(WsClient.OPEN);
    } finally {
      warn.mockRestore();
    }
  });
});

describe('Blob sends and maxBufferedAmount', () => {
  test('a Blob counts from the call: bufferedAmount includes it', async () => {
    const { server } = await connected({ maxBufferedAmount: 1 << 20 });
    server.send(new Blob([Buffer.alloc(100_000)]));
    expect(server.bufferedAmount).toBeGreaterThanOrEqual(100_000);
  });

  test('a Blob past the limit drops the peer with WS_ERR_BUFFER_LIMIT', async () => {
    const { server } = await connected({ maxBufferedAmount: 64 * 1024 });
    const errors: Array<Error & { code?: string }> = [];
    server.on('error', (error) => errors.push(error));
    const closed = closeOf(server);
    const failed = new Promise<Error & { code?: string }>((resolve) =>
      server.send(new Blob([Buffer.alloc(200_000)]), (error) => resolve(error as Error)),
    );
    expect((await within(failed, 5000, 'send callback')).code).toBe('WS_ERR_BUFFER_LIMIT');
    expect(errors[0]?.code).toBe('WS_ERR_BUFFER_LIMIT');
    expect((await within(closed, 5000, 'close'))[0]).toBe(1006);
  });
});

describe('close(code, reason) with binary reasons', () => {
  const backing = Buffer.alloc(4096, 0xaa);
  backing.write('inside', 1000);
  const reasons: Array<[string, () => string | Buffer | ArrayBuffer | ArrayBufferView, Buffer]> = [
    [
      'a Uint8Array view into a larger buffer',
      () => new Uint8Array(backing.buffer, backing.byteOffset + 1000, 6),
      Buffer.from('inside'),
    ],
    [
      'a DataView into a larger buffer',
      () => new DataView(backing.buffer, backing.byteOffset + 1000, 6),
      Buffer.from('inside'),
    ],
    [
      'a Float32Array view (its bytes, not its element values)',
      () => new Float32Array(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]).buffer, 4, 1),
      Buffer.from([5, 6, 7, 8]),
    ],
    ['an ArrayBuffer', () => new Uint8Array([0x68, 0x69]).buffer, Buffer.from('hi')],
    ['a Buffer slice of the shared pool', () => Buffer.from('pooled'), Buffer.from('pooled')],
    ['a string', () => 'bye', Buffer.from('bye')],
  ];

  test.each(reasons)('%s: exactly its bytes are sent', async (_name, reason, want) => {
    const { wss, port } = await wskitServer();
    servers.push(wss);
    const connection = once(wss, 'connection') as Promise<[WebSocket]>;
    const raw = await rawUpgraded(port);
    const [server] = await connection;
    server.close(4000, reason() as Buffer);
    await raw.until(() => raw.closeFrame() !== undefined, 5000);
    const payload = raw.closeFrame()!.payload;
    expect(payload.readUInt16BE(0)).toBe(4000);
    expect(payload.subarray(2)).toEqual(want);
    raw.socket.destroy();
  });

  test('a view longer than 123 bytes is refused by its byteLength', async () => {
    const { server } = await connected();
    expect(() => server.close(1000, new Uint8Array(new ArrayBuffer(4096), 0, 124) as unknown as Buffer)).toThrow(
      RangeError,
    );
    expect(() =>
      server.close(1000, new Uint8Array(new ArrayBuffer(4096), 100, 123) as unknown as Buffer),
    ).not.toThrow();
  });
});

describe("heartbeat liveness 'pong'", () => {
  /** A raw peer that sends a text frame every 30 ms and never answers a ping. */
  async function talkingDeafPeer(
    liveness: 'any' | 'pong',
  ): Promise<{ closed: Promise<[number, string]>; stop: () => void }> {
    const { wss, port } = await wskitServer({ heartbeat: { interval: 300, timeout: 600, liveness } });
    servers.push(wss);
    const connection = once(wss, 'connection') as Promise<[WebSocket]>;
    const raw = await rawUpgraded(port);
    const [server] = await connection;
    const timer = setInterval(() => raw.write(frame(OP.text, 'still here')), 30);
    return {
      closed: closeOf(server),
      stop: () => {
        clearInterval(timer);
        raw.socket.destroy();
      },
    };
  }

  test('a peer that writes but never answers pings is dropped', async () => {
    const peer = await talkingDeafPeer('pong');
    try {
      const [code, reason] = await within(peer.closed, 15_000, 'heartbeat drop');
      expect([code, reason]).toEqual([1006, 'heartbeat timeout']);
    } finally {
      peer.stop();
    }
  });

  test("with the default liveness ('any') the same peer is kept", async () => {
    const peer = await talkingDeafPeer('any');
    try {
      const outcome = await Promise.race([peer.closed.then(() => 'closed'), delay(2000).then(() => 'open')]);
      expect(outcome).toBe('open');
    } finally {
      peer.stop();
    }
  });

  test('a peer that answers pings stays, and reports rtt', async () => {
    const { server } = await connected({ heartbeat: { interval: 200, timeout: 2000, liveness: 'pong' } });
    const [rtt] = (await within(once(server, 'heartbeat'), 10_000, 'heartbeat')) as [number];
    expect(rtt).toBeGreaterThanOrEqual(0);
    expect(server.readyState).toBe(1);
  });
});
