/**
 * Topic pub/sub over real sockets: the subscription API, delivery and `except`, ordering against send(),
 * exact delivery to 10,000 subscribers, unsubscribe/close during a publish, shared and dedicated
 * compression, slow-consumer policies and canSubscribe.
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { join } from 'node:path';
import * as zlib from 'node:zlib';
import { WebSocket, WebSocketServer, TopicHub, setCanSubscribe, type ServerOptions } from '@wskit/core';
import { rawConnect, waitUntil, OP } from './fixtures/raw-ws.js';
import { startPeer } from '../../../test/helpers/child.js';
import { wskitServer } from './helpers.js';

interface Peer {
  client: WebSocket;
  server: WebSocket;
  messages: string[];
}

/** `count` wskit clients and their server-side sockets, matched by index. */
async function connect(
  wss: WebSocketServer,
  url: string,
  count: number,
  clientOptions: ConstructorParameters<typeof WebSocket>[1] = { perMessageDeflate: false },
): Promise<Peer[]> {
  const byIndex = new Map<number, WebSocket>();
  const onConnection = (ws: WebSocket, req: { url?: string }): void => {
    byIndex.set(Number(new URL(req.url ?? '/', 'http://x').searchParams.get('i')), ws);
  };
  wss.on('connection', onConnection);
  const peers: Peer[] = [];
  for (let i = 0; i < count; i++) {
    const client = new WebSocket(`${url}/?i=${i}`, clientOptions);
    const peer = { client, server: null as unknown as WebSocket, messages: [] as string[] };
    client.on('message', (data: Buffer) => peer.messages.push(data.toString()));
    peers.push(peer);
  }
  await Promise.all(peers.map((p) => once(p.client, 'open')));
  expect(await waitUntil(() => byIndex.size === count, 10_000)).toBe(true);
  wss.off('connection', onConnection);
  peers.forEach((p, i) => (p.server = byIndex.get(i)!));
  return peers;
}

async function withServer(
  options: Omit<ServerOptions, 'port' | 'host' | 'server' | 'noServer'>,
  body: (wss: WebSocketServer, url: string) => Promise<void>,
): Promise<void> {
  const { wss, url } = await wskitServer(options);
  try {
    await body(wss, url);
  } finally {
    for (const c of wss.clients) c.terminate();
    await new Promise((resolve) => wss.close(resolve));
  }
}

const allReceived = (peers: Peer[], n: number, ms = 10_000): Promise<boolean> =>
  waitUntil(() => peers.every((p) => p.messages.length >= n), ms);

describe('subscription API', () => {
  test('subscribe, isSubscribed, topics, subscriberCount; empty topics are dropped; close leaves all topics', async () => {
    await withServer({}, async (wss, url) => {
      const [a, b] = await connect(wss, url, 2);
      expect(a!.server.subscribe('news')).toBe(true);
      expect(a!.server.subscribe('news')).toBe(true);
      expect(a!.server.subscribe('sport')).toBe(true);
      expect(b!.server.subscribe('news')).toBe(true);
      expect(a!.server.isSubscribed('news')).toBe(true);
      expect(a!.server.isSubscribed('News')).toBe(false);
      expect(a!.server.topics.sort()).toEqual(['news', 'sport']);
      // A copy: changing it changes nothing.
      a!.server.topics.push('x');
      expect(a!.server.topics).toHaveLength(2);
      expect(wss.subscriberCount('news')).toBe(2);
      expect(wss.subscriberCount('sport')).toBe(1);
      expect(wss.subscriberCount('none')).toBe(0);
      expect(wss.topics.sort()).toEqual(['news', 'sport']);

      expect(a!.server.unsubscribe('sport')).toBe(true);
      expect(a!.server.unsubscribe('sport')).toBe(false);
      expect(wss.topics).toEqual(['news']);

      const closed = once(a!.server, 'close');
      a!.client.close();
      await closed;
      expect(a!.server.topics).toEqual([]);
      expect(wss.subscriberCount('news')).toBe(1);
      b!.client.terminate();
      await once(b!.server, 'close');
      expect(wss.topics).toEqual([]);
      // A closed socket cannot subscribe again.
      expect(b!.server.subscribe('news')).toBe(false);
      expect(wss.topics).toEqual([]);
    });
  });

  test('topics are exact strings (no patterns, case and Unicode as given); bad arguments throw', async () => {
    await withServer({}, async (wss, url) => {
      const [a] = await connect(wss, url, 1);
      for (const t of ['', 'a.*', 'rooms/#', 'Ünïcode ✓', 'a']) a!.server.subscribe(t);
      expect(wss.publish('a.b', 'x')).toBe(0);
      expect(wss.publish('A', 'x')).toBe(0);
      expect(wss.publish('a.*', 'star')).toBe(1);
      expect(wss.publish('', 'empty')).toBe(1);
      expect(wss.publish('Ünïcode ✓', 'u')).toBe(1);
      expect(await allReceived([a!], 3)).toBe(true);
      expect(a!.messages).toEqual(['star', 'empty', 'u']);
      expect(() => a!.server.subscribe(1 as unknown as string)).toThrow(TypeError);
      expect(() => wss.publish(undefined as unknown as string, 'x')).toThrow(TypeError);
    });
  });

  test("hub events: topicOpen, subscribe (with the caller's options) and topicClose, in order", async () => {
    await withServer({}, async (wss, url) => {
      const [a, b] = await connect(wss, url, 2);
      const events: string[] = [];
      const hub = wss.topicHub;
      hub.on('topicOpen', (topic: string) => events.push(`open ${topic}`));
      hub.on('subscribe', (ws: WebSocket, topic: string, options: object) =>
        events.push(`subscribe ${ws === a!.server ? 'a' : 'b'} ${topic} ${JSON.stringify(options)}`),
      );
      hub.on('topicClose', (topic: string) => events.push(`close ${topic}`));
      a!.server.subscribe('room');
      hub.subscribe(b!.server, 'room', null, { meta: 1 } as object);
      a!.server.unsubscribe('room');
      b!.server.unsubscribe('room');
      expect(events).toEqual(['open room', 'subscribe a room {}', 'subscribe b room {"meta":1}', 'close room']);
    });
  });

  test('a socket belongs to one hub; stats and skippedFor of unknown topics and sockets are zero', async () => {
    await withServer({}, async (wss, url) => {
      const [a] = await connect(wss, url, 1);
      expect(wss.topicHub.stats('none')).toEqual({
        subscribers: 0,
        published: 0,
        delivered: 0,
        skipped: 0,
        closed: 0,
        sharedDeflates: 0,
      });
      expect(wss.topicHub.skippedFor(a!.server)).toBe(0);
      a!.server.subscribe('x');
      expect(() => new TopicHub().subscribe(a!.server, 'y')).toThrow(/one topic hub only/);
      expect(a!.server.topics).toEqual(['x']);
      // Leaving every topic of a socket that never subscribed is a no-op.
      wss.topicHub.leaveAll(a!.client);
      expect(wss.topicHub.subscriberCount('x')).toBe(1);
    });
  });

  test('a client socket has no hub: subscribe throws WS_ERR_NO_TOPIC_HUB', async () => {
    await withServer({}, async (wss, url) => {
      const [a] = await connect(wss, url, 1);
      expect(() => a!.client.subscribe('x')).toThrow(expect.objectContaining({ code: 'WS_ERR_NO_TOPIC_HUB' }));
      expect(a!.client.unsubscribe('x')).toBe(false);
      expect(a!.client.isSubscribed('x')).toBe(false);
      expect(a!.client.topics).toEqual([]);
    });
  });
});

describe('publish', () => {
  test('reaches every subscriber once; needs no subscription; the publisher gets its own message unless excepted', async () => {
    await withServer({}, async (wss, url) => {
      const peers = await connect(wss, url, 5);
      const [p0, p1, p2, p3, p4] = peers as [Peer, Peer, Peer, Peer, Peer];
      for (const p of [p0, p1, p2, p3]) p.server.subscribe('room');
      // p4 is not subscribed and publishes.
      expect(wss.publish('room', 'one')).toBe(4);
      // p0 publishes from its own handler: it receives its own message...
      p0.server.on('message', (data: Buffer) => wss.publish('room', data.toString()));
      p0.client.send('echo-to-me');
      // ...and not when excluded; an iterable excludes several.
      expect(wss.publish('room', 'not-p0', { except: p0.server })).toBe(3);
      expect(wss.publish('room', 'only-p0-p1', { except: [p2.server, p3.server] })).toBe(2);
      expect(wss.publish('room', 'not-p0-p1', { except: new Set([p0.server, p1.server]) })).toBe(2);
      expect(await waitUntil(() => p0.messages.length === 3 && p1.messages.length === 4, 5000)).toBe(true);
      expect(await allReceived([p2, p3], 4)).toBe(true);
      expect(p0.messages).toEqual(['one', 'only-p0-p1', 'echo-to-me']);
      expect(p1.messages).toEqual(['one', 'not-p0', 'only-p0-p1', 'echo-to-me']);
      expect(p2.messages).toEqual(['one', 'not-p0', 'not-p0-p1', 'echo-to-me']);
      expect(p4.messages).toEqual([]);
      expect(wss.publish('nobody', 'x')).toBe(0);
      expect(wss.topicHub.stats('room')).toEqual({
        subscribers: 4,
        published: 5,
        delivered: 15,
        skipped: 0,
        closed: 0,
        sharedDeflates: 0,
      });
    });
  });

  test('binary flag: Buffers go binary, strings text, `binary` overrides', async () => {
    await withServer({}, async (wss, url) => {
      const raw = await rawConnect(Number(new URL(url).port));
      await waitUntil(() => wss.clients.size === 1, 5000);
      const [server] = [...wss.clients];
      server!.subscribe('t');
      wss.publish('t', 'text');
      wss.publish('t', Buffer.from([1, 2]));
      wss.publish('t', 'as binary', { binary: true });
      wss.publish('t', new Uint8Array([3]));
      expect(await waitUntil(() => raw.frames.length === 4, 5000)).toBe(true);
      expect(raw.frames.map((f) => [f.opcode, f.rsv1, f.payload.toString('hex')])).toEqual([
        [OP.text, false, Buffer.from('text').toString('hex')],
        [OP.binary, false, '0102'],
        [OP.binary, false, Buffer.from('as binary').toString('hex')],
        [OP.binary, false, '03'],
      ]);
      raw.socket.destroy();
    });
  });

  test('ordering: publishes and sends on one socket arrive in call order, across topics', async () => {
    await withServer({ perMessageDeflate: { threshold: 0 } }, async (wss, url) => {
      const plain = await connect(wss, url, 3);
      const deflate = await connect(wss, url, 2, { perMessageDeflate: true });
      const all = [...plain, ...deflate];
      for (const p of all) {
        p.server.subscribe('a');
        p.server.subscribe('b');
      }
      const expected: string[] = [];
      for (let i = 0; i < 300; i++) {
        const kind = i % 5;
        const text = `m${i}`;
        expected.push(text);
        if (kind === 0) wss.publish('a', text);
        else if (kind === 1) wss.publish('b', text);
        else if (kind === 2) for (const p of all) p.server.send(text);
        else if (kind === 3) wss.publish('a', text, { compress: true });
        else for (const p of all) p.server.send(text, { compress: i % 2 === 0 });
        // Now and then let the pump and the event loop run between calls.
        if (i % 37 === 0) await new Promise((resolve) => setImmediate(resolve));
      }
      expect(await allReceived(all, 300)).toBe(true);
      for (const p of all) expect(p.messages).toEqual(expected);
    });
  });

  test('one frame buffer per publish, shared by every subscriber', async () => {
    await withServer({}, async (wss, url) => {
      const peers = await connect(wss, url, 20);
      const seen = new Set<Buffer>();
      for (const p of peers) {
        p.server.subscribe('t');
        const original = p.server._sendFrame.bind(p.server);
        p.server._sendFrame = (frame, cb) => {
          seen.add(frame);
          original(frame, cb);
        };
      }
      expect(wss.publish('t', 'shared')).toBe(20);
      expect(seen.size).toBe(1);
      expect(await allReceived(peers, 1)).toBe(true);
    });
  });

  test('exact delivery counts for 10,000 subscribers', async () => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await once(wss, 'listening');
    wss.on('connection', (ws: WebSocket) => ws.subscribe('ticker'));
    const port = (wss.address() as { port: number }).port;
    const COUNT = 10_000;
    const MESSAGES = 5;
    const swarm = await startPeer(
      process.execPath,
      [join(__dirname, 'fixtures', 'subscriber-swarm.mjs'), String(port), String(COUNT), String(MESSAGES)],
      60_000,
    );
    try {
      expect(swarm.port).toBe(COUNT);
      expect(await waitUntil(() => wss.subscriberCount('ticker') === COUNT, 20_000)).toBe(true);
      const payload = Buffer.alloc(128, 0x61);
      const counts: number[] = [];
      for (let i = 0; i < MESSAGES; i++) {
        counts.push(wss.publish('ticker', payload));
        // Two publishes in one turn, the others a turn apart: both paths of the pump.
        if (i !== 1) await new Promise((resolve) => setImmediate(resolve));
      }
      expect(counts).toEqual(Array(MESSAGES).fill(COUNT));
      const done = await swarm.waitForLine((l) => l.startsWith('DONE '), 60_000);
      if (!done) swarm.child.stdin.write('report\n');
      await swarm.waitForLine((l) => l.startsWith('DONE '), 5000);
      const report = JSON.parse(swarm.lines.find((l) => l.startsWith('DONE '))!.slice(5)) as {
        counts: Record<string, number>;
        payloadBytes: number;
        errors: number;
      };
      expect(report).toEqual({ counts: { [MESSAGES]: COUNT }, payloadBytes: COUNT * MESSAGES * 128, errors: 0 });
      expect(wss.topicHub.stats('ticker')).toMatchObject({ published: MESSAGES, delivered: COUNT * MESSAGES });
    } finally {
      swarm.child.stdin.end();
      await swarm.stop();
      for (const c of wss.clients) c.terminate();
      await new Promise((resolve) => wss.close(resolve));
    }
  }, 120_000);

  test('unsubscribe and close during a publish: queued messages arrive, later ones do not, no errors', async () => {
    await withServer({}, async (wss, url) => {
      const peers = await connect(wss, url, 300);
      const errors: Error[] = [];
      for (const p of peers) {
        p.server.subscribe('t');
        p.server.on('error', (e: Error) => errors.push(e));
      }
      const leaving = peers.slice(0, 100);
      const closing = peers.slice(100, 200);
      const staying = peers.slice(200);
      expect(wss.publish('t', 'first')).toBe(300);
      // The fan-out of 'first' is still in progress (nothing written yet): leave and close now.
      for (const p of leaving) p.server.unsubscribe('t');
      for (const p of closing) p.server.terminate();
      expect(wss.publish('t', 'second')).toBe(100);
      // A subscriber that unsubscribes from its own 'message' handler while a publish fans out.
      staying[0]!.server.on('message', () => staying[0]!.server.unsubscribe('t'));
      staying[0]!.client.send('leave');
      await once(staying[0]!.server, 'message');
      expect(wss.publish('t', 'third')).toBe(99);
      expect(await allReceived(staying.slice(1), 3)).toBe(true);
      expect(await allReceived(leaving, 1)).toBe(true);
      await waitUntil(() => closing.every((p) => p.client.readyState === WebSocket.CLOSED), 10_000);
      for (const p of staying.slice(1)) expect(p.messages).toEqual(['first', 'second', 'third']);
      expect(staying[0]!.messages).toEqual(['first', 'second']);
      for (const p of leaving) expect(p.messages).toEqual(['first']);
      for (const p of closing) expect(p.messages).toEqual([]);
      expect(wss.subscriberCount('t')).toBe(99);
      expect(errors).toEqual([]);
    });
  });
});

describe('compression', () => {
  const sharedDeflates = (wss: WebSocketServer): number => wss.topicHub.stats('t').sharedDeflates;

  const text = 'A compressible message about the weather. '.repeat(40);

  test('shared: one deflate per publish for every no-context-takeover subscriber with the same window', async () => {
    await withServer({ perMessageDeflate: { serverNoContextTakeover: true } }, async (wss, url) => {
      const port = Number(new URL(url).port);
      const raws = await Promise.all(
        Array.from({ length: 6 }, (_, i) =>
          rawConnect(port, {
            extensions: i < 4 ? 'permessage-deflate' : 'permessage-deflate; server_max_window_bits=10',
          }),
        ),
      );
      for (const r of raws) expect(r.headers['sec-websocket-extensions']).toContain('server_no_context_takeover');
      await waitUntil(() => wss.clients.size === 6, 5000);
      for (const ws of wss.clients) ws.subscribe('t');
      expect(wss.publish('t', text, { compress: true })).toBe(6);
      expect(wss.publish('t', text, { compress: true })).toBe(6);
      // Two window sizes (15 and 10), two publishes.
      expect(sharedDeflates(wss)).toBe(4);
      expect(await waitUntil(() => raws.every((r) => r.frames.length === 2), 5000)).toBe(true);
      for (const [i, r] of raws.entries()) {
        for (const frame of r.frames) {
          expect(frame.rsv1).toBe(true);
          expect(frame.payload.length).toBeLessThan(text.length / 4);
          const bits = i < 4 ? 15 : 10;
          const inflated = zlib.inflateRawSync(Buffer.concat([frame.payload, Buffer.from([0, 0, 0xff, 0xff])]), {
            windowBits: bits,
            finishFlush: zlib.constants.Z_SYNC_FLUSH,
          });
          expect(inflated.toString()).toBe(text);
        }
      }
      // Below the threshold (1024 by default): uncompressed, no deflate.
      expect(wss.publish('t', 'short', { compress: true })).toBe(6);
      expect(sharedDeflates(wss)).toBe(4);
      for (const r of raws) r.socket.destroy();
    });
  });

  test('shared: context-takeover sockets are compressed per socket; mixed with their own sends, all decode', async () => {
    await withServer({ perMessageDeflate: { threshold: 0 } }, async (wss, url) => {
      const takeover = await connect(wss, url, 3, { perMessageDeflate: true });
      const independent = await connect(wss, url, 3, { perMessageDeflate: { serverNoContextTakeover: true } });
      const none = await connect(wss, url, 2, { perMessageDeflate: false });
      const all = [...takeover, ...independent, ...none];
      for (const p of all) p.server.subscribe('t');
      const expected: string[] = [];
      for (let i = 0; i < 20; i++) {
        const message = `${text}#${i}`;
        expected.push(message, `own ${message}`);
        expect(wss.publish('t', message, { compress: true })).toBe(all.length);
        for (const p of all) p.server.send(`own ${message}`);
      }
      // Only the independent group shared a deflate (one per publish).
      expect(sharedDeflates(wss)).toBe(20);
      expect(await allReceived(all, 40)).toBe(true);
      for (const p of all) expect(p.messages).toEqual(expected);
    });
  });

  test('dedicated: no shared deflate, every socket compresses itself, all decode', async () => {
    const hub = new TopicHub({ compression: 'dedicated' });
    expect(hub.compression).toBe('dedicated');
    await withServer({ perMessageDeflate: { serverNoContextTakeover: true }, topics: hub }, async (wss, url) => {
      expect(wss.topicHub).toBe(hub);
      const peers = await connect(wss, url, 4, { perMessageDeflate: true });
      for (const p of peers) p.server.subscribe('t');
      for (let i = 0; i < 5; i++) expect(wss.publish('t', `${text}${i}`, { compress: true })).toBe(4);
      expect(sharedDeflates(wss)).toBe(0);
      expect(await allReceived(peers, 5)).toBe(true);
      for (const p of peers) expect(p.messages).toEqual([0, 1, 2, 3, 4].map((i) => `${text}${i}`));
    });
  });

  test('per-socket compression: the caller may reuse its Buffer once publish/broadcast returned', async () => {
    await withServer(
      { perMessageDeflate: { threshold: 0 }, topics: { compression: 'dedicated' } },
      async (wss, url) => {
        const peers = await connect(wss, url, 3, { perMessageDeflate: true });
        for (const p of peers) p.server.subscribe('t');
        const buffer = Buffer.from(text);
        expect(wss.publish('t', buffer, { compress: true, binary: false })).toBe(3);
        buffer.fill(0x78);
        buffer.write('broadcast ');
        expect(wss.broadcast(buffer, { compress: true, binary: false })).toBe(3);
        buffer.fill(0x79);
        expect(await allReceived(peers, 2)).toBe(true);
        const second = `broadcast ${'x'.repeat(text.length - 10)}`;
        for (const p of peers) expect(p.messages).toEqual([text, second]);
      },
    );
  });

  test('invalid compression policy is refused', () => {
    expect(() => new TopicHub({ compression: 'sometimes' as 'shared' })).toThrow(TypeError);
  });
});

describe('slow consumers', () => {
  const big = Buffer.alloc(256 * 1024, 0x62);

  /** A raw subscriber that never reads, plus a reading one. */
  async function stalledAndReading(wss: WebSocketServer, url: string) {
    const port = Number(new URL(url).port);
    const stalled = await rawConnect(port, { decode: false });
    await waitUntil(() => wss.clients.size === 1, 5000);
    const stalledServer = [...wss.clients][0]!;
    const [reader] = await connect(wss, url, 1);
    return { stalled, stalledServer, reader: reader! };
  }

  /** Publishes until the stalled socket has been dropped `n` times or `rounds` publishes were made. */
  async function publishUntil(wss: WebSocketServer, topic: string, done: () => boolean, rounds = 400): Promise<number> {
    let made = 0;
    while (!done() && made < rounds) {
      wss.publish(topic, big);
      made++;
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    return made;
  }

  test('skip: the stalled subscriber misses messages (counted per socket, per topic, event); it stays open', async () => {
    await withServer({ topics: { slowConsumer: { limit: 1 << 20, action: 'skip' } } }, async (wss, url) => {
      const { stalled, stalledServer, reader } = await stalledAndReading(wss, url);
      stalledServer.subscribe('t');
      reader.server.subscribe('t');
      const drops: Array<[WebSocket, string, string]> = [];
      wss.topicHub.on('drop', (ws: WebSocket, topic: string, action: string) => drops.push([ws, topic, action]));
      const made = await publishUntil(wss, 't', () => wss.topicHub.skippedFor(stalledServer) >= 3);
      expect(wss.topicHub.skippedFor(stalledServer)).toBeGreaterThanOrEqual(3);
      expect(stalledServer.readyState).toBe(WebSocket.OPEN);
      // Memory stays bounded by the limit (plus what the kernel took).
      expect(stalledServer.bufferedAmount).toBeLessThanOrEqual(1 << 20);
      const skipped = wss.topicHub.skippedFor(stalledServer);
      expect(wss.topicHub.stats('t')).toMatchObject({ skipped, closed: 0, published: made });
      expect(drops).toHaveLength(skipped);
      expect(drops[0]).toEqual([stalledServer, 't', 'skip']);
      // The reading subscriber got every message.
      expect(await waitUntil(() => reader.messages.length === made, 20_000)).toBe(true);
      expect(wss.topicHub.skippedFor(reader.server)).toBe(0);
      stalled.socket.destroy();
    });
  }, 60_000);

  test('close: the stalled subscriber is terminated with WS_ERR_BUFFER_LIMIT; a per-topic override applies', async () => {
    await withServer({ topics: { slowConsumer: { limit: 1 << 20, action: 'skip' } } }, async (wss, url) => {
      wss.topicHub.setTopicPolicy('strict', { limit: 1 << 20, action: 'close' });
      const { stalled, stalledServer, reader } = await stalledAndReading(wss, url);
      stalledServer.subscribe('strict');
      reader.server.subscribe('strict');
      const error = new Promise<Error & { code?: string; closeCode?: number }>((resolve) =>
        stalledServer.once('error', resolve),
      );
      const closed = new Promise<[number, string]>((resolve) =>
        stalledServer.once('close', (code: number, reason: Buffer) => resolve([code, reason.toString()])),
      );
      const drops: Array<[WebSocket, string, string]> = [];
      wss.topicHub.on('drop', (ws: WebSocket, topic: string, action: string) => drops.push([ws, topic, action]));
      const made = await publishUntil(wss, 'strict', () => stalledServer.readyState !== WebSocket.OPEN);
      expect(drops).toEqual([[stalledServer, 'strict', 'close']]);
      expect(await error).toMatchObject({ code: 'WS_ERR_BUFFER_LIMIT', closeCode: 1008 });
      expect(await closed).toEqual([1006, 'topic buffer limit exceeded']);
      expect(wss.subscriberCount('strict')).toBe(1);
      expect(wss.topicHub.stats('strict')).toMatchObject({ closed: 1, skipped: 0 });
      expect(await waitUntil(() => reader.messages.length === made, 20_000)).toBe(true);
      stalled.socket.destroy();
    });
  }, 60_000);

  test('skip on a subscriber compressed per socket (context takeover): the limit counts the message', async () => {
    const noise = randomBytes(256 * 1024);
    await withServer(
      { perMessageDeflate: { threshold: 0 }, topics: { slowConsumer: { limit: 1 << 20, action: 'skip' } } },
      async (wss, url) => {
        const port = Number(new URL(url).port);
        const stalled = await rawConnect(port, { decode: false, extensions: 'permessage-deflate' });
        expect(stalled.headers['sec-websocket-extensions']).toBe('permessage-deflate');
        await waitUntil(() => wss.clients.size === 1, 5000);
        const stalledServer = [...wss.clients][0]!;
        const [reader] = await connect(wss, url, 1, { perMessageDeflate: true });
        stalledServer.subscribe('t');
        reader!.server.subscribe('t');
        let made = 0;
        while (wss.topicHub.skippedFor(stalledServer) < 2 && made < 400) {
          wss.publish('t', noise, { compress: true });
          made++;
          await new Promise((resolve) => setTimeout(resolve, 2));
        }
        expect(wss.topicHub.skippedFor(stalledServer)).toBeGreaterThanOrEqual(2);
        // Messages waiting for the reader's compressor count too, so on a loaded machine it may miss some.
        const readerSkipped = wss.topicHub.skippedFor(reader!.server);
        expect(wss.topicHub.stats('t')).toMatchObject({
          skipped: wss.topicHub.skippedFor(stalledServer) + readerSkipped,
          closed: 0,
        });
        expect(stalledServer.readyState).toBe(WebSocket.OPEN);
        expect(stalledServer.bufferedAmount).toBeLessThanOrEqual(1 << 20);
        expect(await waitUntil(() => reader!.messages.length === made - readerSkipped, 20_000)).toBe(true);
        stalled.socket.destroy();
      },
    );
  }, 60_000);

  test('per-topic null turns the default off; invalid policies are refused', async () => {
    const hub = new TopicHub({ slowConsumer: { limit: 1000, action: 'close' } });
    hub.setTopicPolicy('free', null);
    await withServer({ topics: hub }, async (wss, url) => {
      const [a] = await connect(wss, url, 1);
      a!.server.subscribe('free');
      // 10 kB above a 1,000-byte limit: on 'free' nothing is dropped.
      expect(wss.publish('free', Buffer.alloc(10_000))).toBe(1);
      expect(a!.server.readyState).toBe(WebSocket.OPEN);
      hub.setTopicPolicy('free', undefined);
      a!.server.subscribe('other');
      expect(wss.publish('other', Buffer.alloc(10_000))).toBe(0);
      expect(a!.server.readyState).not.toBe(WebSocket.OPEN);
    });
    expect(() => new TopicHub({ slowConsumer: { limit: 0, action: 'skip' } })).toThrow(TypeError);
    expect(() => hub.setTopicPolicy('x', { limit: 10, action: 'drop' as 'skip' })).toThrow(TypeError);
  });
});

describe('canSubscribe', () => {
  test('sync hook refuses or allows; async hook returns a promise; errors refuse', async () => {
    const calls: string[] = [];
    const hub = new TopicHub({
      canSubscribe: (ws, topic) => {
        calls.push(topic);
        if (topic === 'throw') throw new Error('boom');
        if (topic.startsWith('async:')) {
          return new Promise<boolean>((resolve, reject) =>
            setTimeout(() => (topic === 'async:reject' ? reject(new Error('no')) : resolve(topic === 'async:ok')), 5),
          );
        }
        return topic !== 'secret';
      },
    });
    await withServer({ topics: hub }, async (wss, url) => {
      const [a] = await connect(wss, url, 1);
      const ws = a!.server;
      expect(ws.subscribe('public')).toBe(true);
      expect(ws.subscribe('secret')).toBe(false);
      expect(() => ws.subscribe('throw')).toThrow('boom');
      const ok = ws.subscribe('async:ok');
      expect(ok).toBeInstanceOf(Promise);
      expect(ws.isSubscribed('async:ok')).toBe(false);
      expect(await ok).toBe(true);
      expect(await ws.subscribe('async:no')).toBe(false);
      expect(await ws.subscribe('async:reject')).toBe(false);
      expect(ws.topics.sort()).toEqual(['async:ok', 'public']);
      // Already subscribed: no second check.
      calls.length = 0;
      expect(ws.subscribe('public')).toBe(true);
      expect(calls).toEqual([]);
      // A socket that closes while the check runs is not subscribed.
      const late = ws.subscribe('async:ok2');
      ws.terminate();
      expect(await late).toBe(false);
      expect(wss.subscriberCount('async:ok2')).toBe(0);
    });
  });

  test("a server's canSubscribe option replaces the hub's for its sockets", async () => {
    const hub = new TopicHub({ canSubscribe: () => false });
    const open = await wskitServer({ topics: hub, canSubscribe: async (ws, topic) => topic.startsWith('public:') });
    const closed = await wskitServer({ topics: hub });
    try {
      const [a] = await connect(open.wss, open.url, 1);
      const [b] = await connect(closed.wss, closed.url, 1);
      expect(await a!.server.subscribe('public:x')).toBe(true);
      expect(await a!.server.subscribe('private')).toBe(false);
      expect(b!.server.subscribe('public:x')).toBe(false);
    } finally {
      for (const s of [open.wss, closed.wss]) {
        for (const c of s.clients) c.terminate();
        await new Promise((resolve) => s.close(resolve));
      }
    }
  });

  test('a per-socket hook replaces the hub hook', async () => {
    await withServer({ topics: { canSubscribe: () => false } }, async (wss, url) => {
      const [a, b] = await connect(wss, url, 2);
      setCanSubscribe(a!.server, (ws, topic) => topic === 'mine');
      expect(a!.server.subscribe('mine')).toBe(true);
      expect(a!.server.subscribe('other')).toBe(false);
      expect(b!.server.subscribe('mine')).toBe(false);
    });
  });
});

describe('shared hub', () => {
  test('servers sharing a hub deliver one publish to subscribers of both', async () => {
    const hub = new TopicHub();
    const one = await wskitServer({ topics: hub });
    const two = await wskitServer({ topics: hub });
    try {
      const [a] = await connect(one.wss, one.url, 1);
      const [b] = await connect(two.wss, two.url, 1);
      a!.server.subscribe('t');
      b!.server.subscribe('t');
      expect(one.wss.subscriberCount('t')).toBe(2);
      expect(two.wss.publish('t', 'both')).toBe(2);
      expect(await allReceived([a!, b!], 1)).toBe(true);
    } finally {
      for (const s of [one.wss, two.wss]) {
        for (const c of s.clients) c.terminate();
        await new Promise((resolve) => s.close(resolve));
      }
    }
  });
});

describe('fragmented messages', () => {
  const script = (ws: WebSocket, wss: WebSocketServer): void => {
    ws.send('A1', { fin: false });
    wss.publish('t', 'P1');
    ws.send('A2', { fin: false });
    wss.publish('t', 'P2 compressible compressible compressible', { compress: true });
    wss.broadcast('B');
    ws.ping();
    ws.send('A3', { fin: true });
    ws.send('S');
    wss.publish('t', 'P3');
  };
  const expected = ['A1A2A3', 'P1', 'P2 compressible compressible compressible', 'B', 'S', 'P3'];

  test('a publish or broadcast inside a fragmented message waits for its end (no interleaved data frame)', async () => {
    await withServer({ perMessageDeflate: { threshold: 0 } }, async (wss, url) => {
      const raw = await rawConnect(Number(new URL(url).port));
      await waitUntil(() => wss.clients.size === 1, 5000);
      const [server] = [...wss.clients] as [WebSocket];
      server.subscribe('t');
      script(server, wss);
      // The publishes wait in the socket's buffer until the message ends.
      expect(await waitUntil(() => raw.frames.length === 9, 5000)).toBe(true);
      expect(raw.frames.map((f) => [f.opcode, f.fin, f.payload.toString()])).toEqual([
        [OP.text, false, 'A1'],
        [OP.cont, false, 'A2'],
        [OP.ping, true, ''],
        [OP.cont, true, 'A3'],
        [OP.text, true, 'P1'],
        [OP.text, true, 'P2 compressible compressible compressible'],
        [OP.text, true, 'B'],
        [OP.text, true, 'S'],
        [OP.text, true, 'P3'],
      ]);
      raw.socket.destroy();
    });
  });

  test('the same with compressed fragments, shared and per-socket deflate: every peer decodes in call order', async () => {
    await withServer({ perMessageDeflate: { threshold: 0 } }, async (wss, url) => {
      const shared = await connect(wss, url, 2, { perMessageDeflate: { serverNoContextTakeover: true } });
      const takeover = await connect(wss, url, 2, { perMessageDeflate: true });
      const plain = await connect(wss, url, 1, { perMessageDeflate: false });
      const all = [...shared, ...takeover, ...plain];
      const errors: Error[] = [];
      for (const p of all) {
        p.server.subscribe('t');
        p.client.on('error', (e: Error) => errors.push(e));
      }
      // Fragments compressed (busy framer) on the deflate sockets; each socket runs the script in turn.
      for (const p of all) {
        p.server.send('A1', { fin: false, compress: true });
        wss.publish('t', 'P1', { except: all.filter((q) => q !== p).map((q) => q.server) });
        p.server.send('A2', { fin: false });
        wss.publish('t', 'P2 compressible compressible compressible', {
          compress: true,
          except: all.filter((q) => q !== p).map((q) => q.server),
        });
        p.server.send('A3', { fin: true });
        p.server.send('S');
        wss.publish('t', 'P3', { except: all.filter((q) => q !== p).map((q) => q.server) });
      }
      expect(await allReceived(all, 5)).toBe(true);
      for (const p of all) {
        expect(p.messages).toEqual(['A1A2A3', 'P1', 'P2 compressible compressible compressible', 'S', 'P3']);
      }
      expect(errors).toEqual([]);
      // And the script with broadcast and ping, all sockets at once through the first socket.
      for (const p of all) p.messages.length = 0;
      script(all[0]!.server, wss);
      expect(await waitUntil(() => all[0]!.messages.length === expected.length, 5000)).toBe(true);
      expect(all[0]!.messages).toEqual(expected);
      expect(await allReceived(all.slice(1), 3)).toBe(true);
      for (const p of all.slice(1)) expect(p.messages).toEqual(expected.filter((m) => m.startsWith('P') || m === 'B'));
    });
  });

  test('queued publishes count in bufferedAmount and fail their place when the socket closes mid-message', async () => {
    await withServer({}, async (wss, url) => {
      const [a] = await connect(wss, url, 1);
      const ws = a!.server;
      ws.subscribe('t');
      ws.send('open', { fin: false });
      const before = ws.bufferedAmount;
      expect(wss.publish('t', 'x'.repeat(100))).toBe(1);
      expect(ws.bufferedAmount).toBeGreaterThanOrEqual(before + 100);
      ws.terminate();
      await once(ws, 'close');
      expect(a!.messages).toEqual([]);
    });
  });
});

describe('asynchronous subscribe', () => {
  const later = (value: boolean, ms = 20): Promise<boolean> =>
    new Promise((resolve) => setTimeout(() => resolve(value), ms));

  test('an unsubscribe made while canSubscribe decides wins; a new subscribe after it is answered anew', async () => {
    await withServer({ canSubscribe: () => later(true) }, async (wss, url) => {
      const [a, b] = await connect(wss, url, 2);
      const ws = a!.server;
      // First subscription of the socket (no hub bound yet).
      const first = ws.subscribe('room');
      expect(first).toBeInstanceOf(Promise);
      // Asked twice while waiting: the same answer.
      expect(ws.subscribe('room')).toBe(first);
      expect(ws.unsubscribe('room')).toBe(false);
      expect(await first).toBe(false);
      expect(ws.isSubscribed('room')).toBe(false);
      expect(wss.subscriberCount('room')).toBe(0);

      // With a hub bound (another topic subscribed), and subscribe again after the unsubscribe.
      expect(await ws.subscribe('other')).toBe(true);
      const cancelled = ws.subscribe('room');
      ws.unsubscribe('room');
      const again = ws.subscribe('room');
      expect(again).not.toBe(cancelled);
      expect(await cancelled).toBe(false);
      expect(await again).toBe(true);
      expect(ws.topics.sort()).toEqual(['other', 'room']);
      expect(wss.publish('room', 'hello')).toBe(1);

      // An unsubscribe of another topic leaves a waiting one alone.
      const kept = b!.server.subscribe('x');
      b!.server.unsubscribe('y');
      expect(await kept).toBe(true);

      // Close while waiting: not subscribed.
      const closing = b!.server.subscribe('z');
      b!.server.terminate();
      expect(await closing).toBe(false);
      expect(wss.subscriberCount('z')).toBe(0);
      expect(await allReceived([a!], 1)).toBe(true);
      expect(a!.messages).toEqual(['hello']);
    });
  });
});
