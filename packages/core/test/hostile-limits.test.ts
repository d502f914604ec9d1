/**
 * The receive limits of issue 15 at their exact edges, in both roles against a raw peer: maxFragments
 * (empty fragments count), maxBufferedChunks, maxPendingAutoPongs (pongs count in bufferedAmount),
 * terminate() of a paused socket, and invalid UTF-8 failing a single text frame as its bytes arrive,
 * compressed or not. The memory side of the same attacks is in hostile-floods.test.ts.
 */
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { deflateRawSync, constants as zlibConstants } from 'node:zlib';
import { WebSocket, WebSocketServer, type ServerOptions } from '@wskit/core';
import {
  FrameReader,
  OP,
  closeOf,
  delay,
  errorOf,
  frame,
  rawServer,
  rawUpgraded,
  within,
  type ParsedFrame,
} from './helpers.js';

interface Pair {
  ours: WebSocket;
  /** Writes raw bytes from the peer. */
  write(bytes: Buffer): void;
  /** Builds a frame as the peer sends it (masked toward a server). */
  frame(opcode: number, payload?: Buffer | string, spec?: { fin?: boolean; rsv1?: boolean }): Buffer;
  peerFrames: ParsedFrame[];
  peerSocket: Socket;
  wss: WebSocketServer | null;
  cleanup(): Promise<void>;
}

async function pair(role: 'server' | 'client', options: ServerOptions = {}, extensions?: string): Promise<Pair> {
  if (role === 'server') {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, ...options });
    await once(wss, 'listening');
    const port = (wss.address() as { port: number }).port;
    const connected = once(wss, 'connection') as Promise<[WebSocket]>;
    const client = await rawUpgraded(port, { headers: extensions ? { 'Sec-WebSocket-Extensions': extensions } : {} });
    const [ours] = await connected;
    return {
      ours,
      write: (bytes) => client.write(bytes),
      frame: (opcode, payload, spec) => frame(opcode, payload, { ...spec, mask: true }),
      peerFrames: client.frames,
      peerSocket: client.socket,
      wss,
      cleanup: async () => {
        client.socket.destroy();
        for (const ws of wss.clients) ws.terminate();
        await new Promise((resolve) => wss.close(resolve));
      },
    };
  }
  const frames: ParsedFrame[] = [];
  let peerSocket!: Socket;
  const server = await rawServer((peer) => {
    peerSocket = peer.socket;
    peer.accept(extensions ? { 'Sec-WebSocket-Extensions': extensions } : {});
    const reader = new FrameReader();
    peer.socket.on('data', (chunk: Buffer) => frames.push(...reader.push(chunk)));
  });
  const ours = new WebSocket(server.url, { perMessageDeflate: extensions !== undefined, ...options });
  ours.on('error', () => {});
  await once(ours, 'open');
  return {
    ours,
    write: (bytes) => peerSocket.write(bytes),
    frame: (opcode, payload, spec) => frame(opcode, payload, { ...spec, mask: false }),
    peerFrames: frames,
    peerSocket,
    wss: null,
    cleanup: async () => {
      ours.terminate();
      await server.close();
    },
  };
}

function closeCodeOf(frames: ParsedFrame[]): number | undefined {
  const close = frames.find((f) => f.opcode === OP.close);
  return close && close.payload.length >= 2 ? close.payload.readUInt16BE(0) : undefined;
}

async function peerClose(p: Pair): Promise<number | undefined> {
  const end = Date.now() + 5000;
  while (closeCodeOf(p.peerFrames) === undefined && Date.now() < end) await delay(5);
  return closeCodeOf(p.peerFrames);
}

test('WebSocketServer defaults: maxFragments 16,384, maxBufferedChunks 262,144, maxPendingAutoPongs 60 (as ws 8.21+)', () => {
  const wss = new WebSocketServer({ noServer: true });
  expect(wss.options).toMatchObject({ maxFragments: 16384, maxBufferedChunks: 262144, maxPendingAutoPongs: 60 });
});

describe.each(['server', 'client'] as const)('%s role', (role) => {
  test('maxFragments: a message of exactly maxFragments frames (empty ones included) arrives; one more fails with 1008', async () => {
    const p = await pair(role, { maxFragments: 4 });
    try {
      const message = once(p.ours, 'message') as Promise<[Buffer, boolean]>;
      p.write(
        Buffer.concat([
          p.frame(OP.binary, 'a', { fin: false }),
          p.frame(OP.cont, '', { fin: false }),
          p.frame(OP.cont, '', { fin: false }),
          p.frame(OP.cont, 'b', { fin: true }),
        ]),
      );
      const [data] = await within(message, 5000, 'message');
      expect(data.toString()).toBe('ab');
      const error = errorOf(p.ours);
      const closed = closeOf(p.ours);
      p.write(
        Buffer.concat([
          p.frame(OP.text, 'x', { fin: false }),
          ...Array.from({ length: 4 }, () => p.frame(OP.cont, '', { fin: false })),
        ]),
      );
      expect(await within(error, 5000, 'error')).toMatchObject({
        code: 'WS_ERR_TOO_MANY_BUFFERED_PARTS',
        closeCode: 1008,
      });
      expect(await peerClose(p)).toBe(1008);
      p.peerSocket.end();
      await within(closed, 5000, 'close');
    } finally {
      await p.cleanup();
    }
  });

  test('the default maxFragments is 16,384: that many frames make a message, 16,385 fail with 1008', async () => {
    const p = await pair(role);
    try {
      const message = once(p.ours, 'message') as Promise<[Buffer, boolean]>;
      const fragments = (n: number): Buffer =>
        Buffer.concat([
          p.frame(OP.binary, 'a', { fin: false }),
          ...Array.from({ length: n - 2 }, () => p.frame(OP.cont, 'a', { fin: false })),
          p.frame(OP.cont, 'a'),
        ]);
      p.write(fragments(16384));
      expect((await within(message, 10_000, 'message'))[0].length).toBe(16384);
      const error = errorOf(p.ours);
      p.write(fragments(16385));
      expect(await within(error, 10_000, 'error')).toMatchObject({
        code: 'WS_ERR_TOO_MANY_BUFFERED_PARTS',
        closeCode: 1008,
      });
      expect(await peerClose(p)).toBe(1008);
    } finally {
      await p.cleanup();
    }
  }, 30_000);

  test('maxBufferedChunks: a frame dripped in more chunks than the limit fails with 1008', async () => {
    const p = await pair(role, { maxBufferedChunks: 3 });
    try {
      const error = errorOf(p.ours);
      // A control frame is only handed on whole, so its chunks are held: header, then one byte at a time.
      const ping = p.frame(OP.ping, Buffer.alloc(100, 1));
      for (let i = 0; i < 8 && closeCodeOf(p.peerFrames) === undefined; i++) {
        p.write(ping.subarray(i, i + 1));
        await delay(30);
      }
      expect(await within(error, 5000, 'error')).toMatchObject({
        code: 'WS_ERR_TOO_MANY_BUFFERED_PARTS',
        closeCode: 1008,
        message: 'Too many buffered chunks',
      });
      expect(await peerClose(p)).toBe(1008);
    } finally {
      await p.cleanup();
    }
  });

  test('maxPendingAutoPongs: 60 pings in one burst are answered; the 61st pending pong terminates the socket', async () => {
    const p = await pair(role);
    try {
      const ping = p.frame(OP.ping, 'x');
      let bufferedAtPing = 0;
      p.ours.once('ping', () => (bufferedAtPing = p.ours.bufferedAmount));
      p.write(Buffer.concat(Array.from({ length: 60 }, () => ping)));
      const end = Date.now() + 5000;
      while (p.peerFrames.filter((f) => f.opcode === OP.pong).length < 60 && Date.now() < end) await delay(5);
      expect(p.peerFrames.filter((f) => f.opcode === OP.pong)).toHaveLength(60);
      // The automatic pong is queued before 'ping' is emitted, and counts in bufferedAmount.
      expect(bufferedAtPing).toBeGreaterThanOrEqual(3);
      expect(p.ours.readyState).toBe(WebSocket.OPEN);

      const closed = closeOf(p.ours);
      p.write(Buffer.concat(Array.from({ length: 61 }, () => ping)));
      const [code, reason] = await within(closed, 5000, 'close');
      expect(code).toBe(1006);
      expect(reason).toBe('too many pending pongs');
    } finally {
      await p.cleanup();
    }
  });

  test('maxPendingAutoPongs can be lowered (2), and 0 turns the limit off', async () => {
    const low = await pair(role, { maxPendingAutoPongs: 2 });
    try {
      const closed = closeOf(low.ours);
      low.write(Buffer.concat(Array.from({ length: 3 }, () => low.frame(OP.ping, 'x'))));
      expect((await within(closed, 5000, 'close'))[0]).toBe(1006);
    } finally {
      await low.cleanup();
    }
    const off = await pair(role, { maxPendingAutoPongs: 0 });
    try {
      off.write(Buffer.concat(Array.from({ length: 500 }, () => off.frame(OP.ping, 'x'))));
      const end = Date.now() + 5000;
      while (off.peerFrames.filter((f) => f.opcode === OP.pong).length < 500 && Date.now() < end) await delay(5);
      expect(off.peerFrames.filter((f) => f.opcode === OP.pong)).toHaveLength(500);
      expect(off.ours.readyState).toBe(WebSocket.OPEN);
    } finally {
      await off.cleanup();
    }
  });

  test('terminate() on a paused socket emits close at once and leaves clients', async () => {
    const p = await pair(role);
    try {
      p.ours.pause();
      p.write(Buffer.concat([p.frame(OP.text, 'held'), p.frame(OP.text, 'back')]));
      await delay(50);
      const closed = closeOf(p.ours);
      p.ours.terminate();
      const [code] = await within(closed, 1000, 'close after terminate on a paused socket');
      expect(code).toBe(1006);
      expect(p.ours.readyState).toBe(WebSocket.CLOSED);
      if (p.wss) expect(p.wss.clients.size).toBe(0);
    } finally {
      await p.cleanup();
    }
  });

  test('invalid UTF-8 in a single text frame fails with 1007 as its bytes arrive, before the frame is complete', async () => {
    const p = await pair(role);
    try {
      const error = errorOf(p.ours);
      const whole = p.frame(
        OP.text,
        Buffer.concat([Buffer.from('fine so far '), Buffer.from([0xff]), Buffer.alloc(1024 * 1024, 0x61)]),
      );
      // Only the header and the first bytes: the rest of the 1 MiB frame never comes.
      p.write(whole.subarray(0, 200));
      expect(await within(error, 5000, 'error')).toMatchObject({ code: 'WS_ERR_INVALID_UTF8', closeCode: 1007 });
      expect(await peerClose(p)).toBe(1007);
    } finally {
      await p.cleanup();
    }
  });

  test('a truncated multi-byte sequence split across the pieces of one text frame is still valid', async () => {
    const p = await pair(role);
    try {
      const text = 'é€😀'.repeat(2000);
      const whole = p.frame(OP.text, text);
      const message = once(p.ours, 'message') as Promise<[Buffer, boolean]>;
      for (let at = 0; at < whole.length; at += 7777) {
        p.write(whole.subarray(at, at + 7777));
        await delay(2);
      }
      expect((await within(message, 5000, 'message'))[0].toString()).toBe(text);
    } finally {
      await p.cleanup();
    }
  });

  test('compressed text: invalid UTF-8 in the inflated output fails with 1007 before the message ends', async () => {
    const p = await pair(role, { perMessageDeflate: true }, 'permessage-deflate');
    try {
      expect(p.ours.extensions).toBe('permessage-deflate');
      const error = errorOf(p.ours);
      const bad = deflateRawSync(Buffer.from([0x61, 0xff, 0x62]), { finishFlush: zlibConstants.Z_SYNC_FLUSH });
      // The first fragment of a message whose end never comes.
      p.write(p.frame(OP.text, bad, { fin: false, rsv1: true }));
      expect(await within(error, 5000, 'error')).toMatchObject({ code: 'WS_ERR_INVALID_UTF8', closeCode: 1007 });
      expect(await peerClose(p)).toBe(1007);
    } finally {
      await p.cleanup();
    }
  });

  test('compressed text whose inflated output ends inside a UTF-8 sequence fails with 1007', async () => {
    const p = await pair(role, { perMessageDeflate: true }, 'permessage-deflate');
    try {
      const error = errorOf(p.ours);
      let messages = 0;
      p.ours.on('message', () => messages++);
      // 'a' then the first byte of a two-byte sequence: every prefix is valid, the whole message is not.
      const truncated = deflateRawSync(Buffer.from([0x61, 0xc3]), { finishFlush: zlibConstants.Z_SYNC_FLUSH });
      p.write(p.frame(OP.text, truncated.subarray(0, truncated.length - 4), { rsv1: true }));
      expect(await within(error, 5000, 'error')).toMatchObject({ code: 'WS_ERR_INVALID_UTF8', closeCode: 1007 });
      expect(await peerClose(p)).toBe(1007);
      expect(messages).toBe(0);
    } finally {
      await p.cleanup();
    }
  });
});

test('a frame dripped one byte per chunk is held compactly (coalesced), not as a Buffer per chunk', () => {
  const { setFlagsFromString } = require('node:v8') as typeof import('node:v8');
  const { runInNewContext } = require('node:vm') as typeof import('node:vm');
  setFlagsFromString('--expose_gc');
  const gc = runInNewContext('gc') as () => void;
  // A compressed frame is only inflated whole, so the parser must hold all of it while it arrives.
  const { Receiver } = require('../src/receiver.js') as typeof import('../src/receiver.js');
  let inflated = 0;
  const receiver = new Receiver(
    {
      onMessage: () => {},
      onPing: () => {},
      onPong: () => {},
      onCloseFrame: () => {},
      onFragment: () => {},
      onReceiveError: (error) => {
        throw error;
      },
    },
    { isServer: true, maxPayload: 0, skipUTF8Validation: true, allowSynchronousEvents: true, maxBufferedChunks: 0 },
  );
  receiver.setDecompressor({ decompress: (data, _fin, cb) => ((inflated = data.length), cb(null, data)) });
  const wire = frame(OP.binary, Buffer.alloc(300_000, 1), { rsv1: true });
  gc();
  const before = process.memoryUsage();
  const used = (m: NodeJS.MemoryUsage): number => m.heapUsed + m.arrayBuffers;
  for (let i = 0; i < wire.length - 1; i++) receiver.push(Buffer.from(wire.subarray(i, i + 1)));
  gc();
  const growth = used(process.memoryUsage()) - used(before);
  receiver.push(Buffer.from(wire.subarray(wire.length - 1)));
  expect(inflated).toBe(300_000);
  // 300,000 one-byte Buffers would be tens of MiB; coalesced they are the 300 KB themselves.
  expect(growth).toBeLessThan(4 * 1024 * 1024);
});
