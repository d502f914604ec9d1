/**
 * Robustness on real sockets: a valid stream cut into random chunkings parses to the same messages, and a
 * server that took a few thousand malformed inputs still serves a fresh client. Seeded, so a failure
 * reproduces.
 */
import type { Socket } from 'node:net';
import { WebSocket as WsClient } from 'ws';
import type { WebSocket } from '@wskit/core';
import {
  OP,
  buildRequest,
  closePayload,
  frame,
  opened,
  rawConnect,
  rawUpgraded,
  shutdown,
  within,
  wskitServer,
} from './helpers.js';

/** mulberry32: small seeded PRNG. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Stream {
  bytes: Buffer;
  messages: Array<[string, boolean]>;
  pings: number;
}

/** Many messages: text (multi-byte UTF-8 split anywhere) and binary, some fragmented with pings between. */
function validStream(rand: () => number, count: number, maxSize: number): Stream {
  const parts: Buffer[] = [];
  const messages: Array<[string, boolean]> = [];
  let pings = 0;
  const sizes = [0, 1, 5, 125, 126, 127, 300, 65535, 65536, 70000].filter((n) => n <= maxSize);
  for (let i = 0; i < count; i++) {
    const binary = rand() < 0.5;
    const size = rand() < 0.1 ? sizes[Math.floor(rand() * sizes.length)]! : Math.floor(rand() * 200);
    const payload = binary
      ? Buffer.from(Array.from({ length: size }, () => Math.floor(rand() * 256)))
      : Buffer.from('aé€😀'.repeat(Math.ceil(size / 4)).slice(0, size));
    messages.push([payload.toString(binary ? 'hex' : 'utf8'), binary]);
    const pieces = rand() < 0.4 ? 1 + Math.floor(rand() * 4) : 1;
    let offset = 0;
    for (let p = 0; p < pieces; p++) {
      const end = p === pieces - 1 ? payload.length : offset + Math.floor(rand() * (payload.length - offset + 1));
      parts.push(
        frame(p === 0 ? (binary ? OP.binary : OP.text) : OP.cont, payload.subarray(offset, end), {
          fin: p === pieces - 1,
        }),
      );
      offset = end;
      if (rand() < 0.3) {
        parts.push(frame(OP.ping, `p${pings++}`));
      }
    }
  }
  return { bytes: Buffer.concat(parts), messages, pings };
}

function writeAll(socket: Socket, chunks: Buffer[]): Promise<void> {
  return new Promise((resolve, reject) => {
    let i = 0;
    const next = (): void => {
      if (i === chunks.length) return resolve();
      const chunk = chunks[i++]!;
      // Waiting for each write (and a macrotask) keeps the kernel from merging most chunks back together.
      socket.write(chunk, (error) => (error ? reject(error) : setImmediate(next)));
    };
    next();
  });
}

function chunkings(bytes: Buffer, rand: () => number): Record<string, Buffer[]> {
  const random: Buffer[] = [];
  for (let o = 0; o < bytes.length;) {
    const n = 1 + Math.floor(rand() * 700);
    random.push(bytes.subarray(o, o + n));
    o += n;
  }
  return { whole: [bytes], random };
}

describe('random splits of a valid stream', () => {
  const cases: Array<[string, number, number, number]> = [
    ['random chunk sizes', 1, 150, 70000],
    ['1-byte chunks', 2, 40, 300],
  ];
  test.each(cases)('%s give the same messages and pongs', async (name, seed, count, maxSize) => {
    const rand = prng(seed);
    const stream = validStream(rand, count, maxSize);
    const { wss, port } = await wskitServer();
    try {
      const variants =
        name === '1-byte chunks'
          ? { oneByte: Array.from({ length: stream.bytes.length }, (_, i) => stream.bytes.subarray(i, i + 1)) }
          : chunkings(stream.bytes, rand);
      for (const [variant, chunks] of Object.entries(variants)) {
        const peer = new Promise<WebSocket>((resolve) => wss.once('connection', resolve));
        const raw = await rawUpgraded(port);
        const ws = await peer;
        const got: Array<[string, boolean]> = [];
        const errors: Error[] = [];
        ws.on('error', (e) => errors.push(e));
        ws.on('message', (d: Buffer, b: boolean) => got.push([d.toString(b ? 'hex' : 'utf8'), b]));
        await writeAll(raw.socket, chunks);
        const complete = await raw.until(
          () =>
            raw.frames.filter((f) => f.opcode === OP.pong).length === stream.pings &&
            got.length === stream.messages.length,
          5000,
        );
        expect({ variant, errors, complete }).toEqual({ variant, errors: [], complete: true });
        expect(got).toEqual(stream.messages);
        expect(raw.frames.filter((f) => f.opcode === OP.pong).map((f) => f.payload.toString())).toEqual(
          Array.from({ length: stream.pings }, (_, i) => `p${i}`),
        );
        raw.socket.destroy();
      }
    } finally {
      await shutdown(wss);
    }
  });
});

describe('malformed input', () => {
  test('a server survives thousands of malformed inputs and still serves a fresh client', async () => {
    const rand = prng(42);
    const { wss, port, url } = await wskitServer({ maxPayload: 64 * 1024, closeTimeout: 200, handshakeTimeout: 500 });
    const serverErrors: Error[] = [];
    wss.on('error', (e) => serverErrors.push(e));
    // No 'error' listener on the sockets on purpose: bad input must not crash the process.
    let connections = 0;
    wss.on('connection', () => connections++);
    const randomBytes = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => Math.floor(rand() * 256)));
    const valid = frame(OP.text, 'hello world, a perfectly valid frame');

    const makeCase = (i: number): { handshake: boolean; bytes: Buffer } => {
      switch (i % 4) {
        case 0: // random bytes after the handshake
          return { handshake: true, bytes: randomBytes(1 + Math.floor(rand() * 64)) };
        case 1: {
          // a valid frame with a few bytes flipped
          const bytes = Buffer.from(Buffer.concat([valid, frame(OP.close, closePayload(1000))]));
          for (let k = 0; k < 3; k++) bytes[Math.floor(rand() * bytes.length)] = Math.floor(rand() * 256);
          return { handshake: true, bytes };
        }
        case 2: // truncated header or payload, then the client goes away
          return { handshake: true, bytes: valid.subarray(0, Math.floor(rand() * valid.length)) };
        default: {
          // a garbage or mangled handshake
          const request = Buffer.from(buildRequest(port));
          if (rand() < 0.5) return { handshake: false, bytes: randomBytes(1 + Math.floor(rand() * 200)) };
          for (let k = 0; k < 4; k++) request[Math.floor(rand() * request.length)] = Math.floor(rand() * 256);
          return { handshake: false, bytes: request };
        }
      }
    };

    const total = 2000;
    const parallel = 40;
    let next = 0;
    const started = Date.now();
    const worker = async (): Promise<void> => {
      while (next < total && Date.now() - started < 20_000) {
        const c = makeCase(next++);
        const raw = c.handshake ? await rawUpgraded(port) : await rawConnect(port);
        raw.write(c.bytes);
        // Give the server a moment to react, then go away (abruptly half of the time).
        await raw.until(() => raw.isTcpClosed, 20);
        if (rand() < 0.5) raw.socket.destroy();
        else raw.socket.end();
      }
    };
    try {
      await Promise.all(Array.from({ length: parallel }, worker));
      expect(next).toBeGreaterThanOrEqual(total);
      expect(connections).toBeGreaterThan(total / 2);
      expect(serverErrors).toEqual([]);

      const client = new WsClient(url);
      await within(opened(client), 2000, 'fresh client');
      const echo = new Promise<string>((resolve) => client.once('message', (d) => resolve(String(d))));
      const peer = [...wss.clients].find((c) => c.readyState === 1 && c.listenerCount('message') === 0);
      expect(peer).toBeDefined();
      for (const c of wss.clients) c.on('message', (d: Buffer) => c.send(d.toString()));
      client.send('still serving');
      expect(await within(echo, 2000, 'echo')).toBe('still serving');
      client.terminate();
    } finally {
      await shutdown(wss);
    }
  });
});
