import { createHash, randomBytes } from 'node:crypto';
import { EventEmitter, once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from '@wskit/core';
import { createWebSocketStream } from '../src/stream.js';

let wss: WebSocketServer;
let url: string;
let nextPeer: Promise<WebSocket>;

function expectPeer(): void {
  nextPeer = new Promise((resolve) => wss.once('connection', resolve));
}

beforeEach(async () => {
  wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(wss, 'listening');
  url = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`;
  expectPeer();
});

afterEach(async () => {
  for (const client of wss.clients) client.terminate();
  await new Promise<void>((resolve) => wss.close(() => resolve()));
});

async function connect(
  options?: ConstructorParameters<typeof WebSocket>[2],
): Promise<{ client: WebSocket; peer: WebSocket }> {
  const client = new WebSocket(url, options);
  const peer = await nextPeer;
  if (client.readyState === WebSocket.CONNECTING) await once(client, 'open');
  return { client, peer };
}

function sha256(chunks: Buffer[]): string {
  const h = createHash('sha256');
  for (const c of chunks) h.update(c);
  return h.digest('hex');
}

const closeOf = (ws: WebSocket): Promise<[number, string]> =>
  new Promise((resolve) => ws.once('close', (code, reason) => resolve([code, reason.toString()])));

const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('createWebSocketStream', () => {
  test('readable backpressure: a slow consumer pauses the socket and memory stays bounded', async () => {
    const { client, peer } = await connect();
    const stream = createWebSocketStream(client);
    const messageSize = 64 * 1024;
    const count = 64; // 4 MiB
    const sent: Buffer[] = [];
    for (let i = 0; i < count; i++) {
      const chunk = randomBytes(messageSize);
      sent.push(chunk);
      peer.send(chunk);
    }
    peer.close(1000);

    const received: Buffer[] = [];
    let maxBuffered = 0;
    let sawPaused = false;
    // Observed at the call: a resumed socket may legitimately be running again by the time the consumer looks.
    const pause = client.pause.bind(client);
    client.pause = () => {
      pause();
      sawPaused ||= client.isPaused;
    };
    for await (const chunk of stream) {
      received.push(chunk as Buffer);
      maxBuffered = Math.max(maxBuffered, stream.readableLength);
      if (received.length % 4 === 0) await delay(5); // slow consumer
    }
    expect(sha256(received)).toBe(sha256(sent));
    expect(sawPaused).toBe(true);
    // Without pausing, the whole 4 MiB would be queued in the stream while the consumer sleeps.
    expect(maxBuffered).toBeLessThanOrEqual(4 * messageSize);
  });

  test('writable backpressure: each write waits for its send, the socket holds at most one chunk', async () => {
    const { client, peer } = await connect();
    peer.pause(); // the server does not read at first
    const stream = createWebSocketStream(client);
    const chunkSize = 64 * 1024;
    const count = 256; // 16 MiB: more than the loopback socket buffers absorb
    const sent: Buffer[] = [];
    const received: Buffer[] = [];
    peer.on('message', (data: Buffer) => received.push(data));

    let maxBufferedAmount = 0;
    let writesCompleted = 0;
    let writesCompletedWhilePaused = 0;
    const resumeTimer = setTimeout(() => {
      writesCompletedWhilePaused = writesCompleted;
      peer.resume();
    }, 400);
    for (let i = 0; i < count; i++) {
      const chunk = randomBytes(chunkSize);
      sent.push(chunk);
      const more = stream.write(chunk, () => void writesCompleted++);
      maxBufferedAmount = Math.max(maxBufferedAmount, client.bufferedAmount);
      expect(stream.writableLength).toBeLessThanOrEqual(2 * chunkSize);
      if (!more) await once(stream, 'drain');
    }
    const peerClosed = closeOf(peer);
    stream.end();
    const [code] = await peerClosed;
    clearTimeout(resumeTimer);

    expect(code).toBe(1005); // ws: the stream ends with a close frame without a code
    expect(writesCompletedWhilePaused).toBeGreaterThan(0);
    expect(writesCompletedWhilePaused).toBeLessThan(count); // the writer really was held back
    expect(maxBufferedAmount).toBeLessThanOrEqual(2 * (chunkSize + 14));
    expect(received).toHaveLength(count);
    expect(sha256(received)).toBe(sha256(sent));
  });

  test('ending the writable side closes the socket (no code, as ws); the peer close ends the readable side', async () => {
    const { client, peer } = await connect();
    const stream = createWebSocketStream(client);
    const peerClosed = closeOf(peer);
    const events: string[] = [];
    stream.on('finish', () => events.push('finish'));
    stream.on('end', () => events.push('end'));
    const streamClosed = once(stream, 'close');
    stream.resume();
    stream.end('bye');
    const [code] = await peerClosed;
    await streamClosed;
    // As ws: ending the stream sends a close frame without a code.
    expect(code).toBe(1005);
    expect(events).toEqual(['finish', 'end']);
    expect(client.readyState).toBe(WebSocket.CLOSED);
    expect(stream.destroyed).toBe(true);
  });

  test('the socket closing ends the readable side after its data; writable stays open until ended', async () => {
    const { client, peer } = await connect();
    const stream = createWebSocketStream(client);
    peer.send('one');
    peer.send(Buffer.from('two'));
    peer.close(4001, 'server done');
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    // Byte mode: message boundaries are not kept, text arrives as Buffers.
    expect(chunks.every((c) => Buffer.isBuffer(c))).toBe(true);
    expect(Buffer.concat(chunks).toString()).toBe('onetwo');
    expect(stream.writableFinished).toBe(false);
  });

  test('a socket error destroys the stream with that error', async () => {
    const { client, peer } = await connect({ maxPayload: 1024 });
    const stream = createWebSocketStream(client);
    const errored = once(stream, 'error');
    // events.once(stream, 'close') would reject on the 'error' event.
    const closed = new Promise((resolve) => stream.once('close', resolve));
    stream.resume();
    peer.send(Buffer.alloc(4096));
    const [error] = (await errored) as [Error & { code?: string }];
    await closed;
    expect(error.code).toBe('WS_ERR_UNSUPPORTED_MESSAGE_LENGTH');
    expect(stream.destroyed).toBe(true);
    expect(client.readyState).toBe(WebSocket.CLOSED);
  });

  test('destroying the stream terminates the socket', async () => {
    const { client, peer } = await connect();
    const stream = createWebSocketStream(client);
    const peerClosed = closeOf(peer);
    const closed = once(stream, 'close');
    stream.destroy();
    await closed;
    expect(client.readyState).toBe(WebSocket.CLOSED);
    const [code] = await peerClosed;
    expect(code).toBe(1006);
  });

  test('destroying with an error reports it once the socket is closed', async () => {
    const { client } = await connect();
    const stream = createWebSocketStream(client);
    const boom = new Error('boom');
    const errored = once(stream, 'error');
    stream.destroy(boom);
    const [error] = await errored;
    expect(error).toBe(boom);
    expect(client.readyState).toBe(WebSocket.CLOSED);
  });

  test('text and binary messages: Buffers in byte mode, strings per encoding or readable object mode', async () => {
    const { client, peer } = await connect();
    const decoded = createWebSocketStream(client, { encoding: 'utf8' });
    const objects = createWebSocketStream(client, { readableObjectMode: true });
    peer.send('héllo');
    peer.send(Buffer.from([0x61, 0x62]));
    peer.close();
    const strings: unknown[] = [];
    const items: unknown[] = [];
    await Promise.all([
      (async () => {
        for await (const c of decoded) strings.push(c);
      })(),
      (async () => {
        for await (const c of objects) items.push(c);
      })(),
    ]);
    expect(strings.join('')).toBe('héllo' + 'ab');
    expect(strings.every((s) => typeof s === 'string')).toBe(true);
    expect(items[0]).toBe('héllo');
    expect(Buffer.isBuffer(items[1])).toBe(true);
    expect((items[1] as Buffer).toString()).toBe('ab');
  });

  // 'fragments' also sends the message in two frames: still one contiguous Buffer in byte mode.
  test.each([
    ['arraybuffer', [[1, 2, 3]]],
    ['fragments', [[1, 2], [3]]],
  ] as const)('binaryType %s still yields one Buffer per message in byte mode', async (binaryType, parts) => {
    const { client, peer } = await connect();
    client.binaryType = binaryType;
    const stream = createWebSocketStream(client);
    parts.forEach((part, i) => peer.send(Buffer.from(part), { fin: i === parts.length - 1 }));
    peer.close();
    const chunks: Buffer[] = [];
    for await (const c of stream) chunks.push(c as Buffer);
    expect(chunks).toHaveLength(1);
    expect(Buffer.isBuffer(chunks[0])).toBe(true);
    expect([...chunks[0]!]).toEqual([1, 2, 3]);
  });

  test('writes before the socket opens are sent once it does; object mode writes strings as text', async () => {
    const client = new WebSocket(url);
    const stream: Duplex = createWebSocketStream(client, { writableObjectMode: true });
    expect(client.readyState).toBe(WebSocket.CONNECTING);
    stream.write('early text');
    stream.write(Buffer.from('early binary'));
    const peer = await nextPeer;
    const got: [string, boolean][] = [];
    const done = new Promise<void>((resolve) =>
      peer.on('message', (data: Buffer, isBinary) => {
        got.push([data.toString(), isBinary]);
        if (got.length === 2) resolve();
      }),
    );
    await done;
    expect(got).toEqual([
      ['early text', false],
      ['early binary', true],
    ]);
    stream.destroy();
    await once(stream, 'close');
  });

  test('piping a server stream back to itself echoes data intact', async () => {
    wss.once('connection', (peer) => {
      const s = createWebSocketStream(peer);
      s.pipe(s);
    });
    const { client } = await connect();
    const stream = createWebSocketStream(client);
    const payload = randomBytes(1024 * 1024);
    const received: Buffer[] = [];
    stream.on('data', (c: Buffer) => received.push(c));
    const ended = once(stream, 'end');
    for (let i = 0; i < payload.length; i += 32 * 1024) {
      if (!stream.write(payload.subarray(i, i + 32 * 1024))) await once(stream, 'drain');
    }
    // Wait for the echo before ending, since ending closes the socket.
    const deadline = Date.now() + 5000;
    while (Buffer.concat(received).length < payload.length && Date.now() < deadline) await delay(5);
    stream.end();
    await ended;
    expect(Buffer.concat(received).equals(payload)).toBe(true);
  });
});

describe('createWebSocketStream over another ws-compatible socket', () => {
  /** A socket that hands text messages over as strings (as W3C-style wrappers do), open from the start. */
  class StringSocket extends EventEmitter {
    readyState = WebSocket.OPEN;
    isPaused = false;
    send(_data: unknown, cb?: (err?: Error | null) => void): void {
      cb?.();
    }
    close(): void {
      this.readyState = WebSocket.CLOSED;
      this.emit('close');
    }
    terminate(): void {
      this.close();
    }
    pause(): void {
      this.isPaused = true;
    }
    resume(): void {
      this.isPaused = false;
    }
  }

  test('string messages: strings in readable object mode, bytes in byte mode', async () => {
    const forObjects = new StringSocket();
    const forBytes = new StringSocket();
    const objects = createWebSocketStream(forObjects, { readableObjectMode: true });
    const bytes = createWebSocketStream(forBytes);
    forObjects.emit('message', 'héllo', false);
    forBytes.emit('message', 'héllo', false);
    forObjects.close();
    forBytes.close();
    const items: unknown[] = [];
    for await (const c of objects) items.push(c);
    const chunks: Buffer[] = [];
    for await (const c of bytes) chunks.push(c as Buffer);
    expect(items).toEqual(['héllo']);
    expect(Buffer.concat(chunks).toString()).toBe('héllo');
  });
});
