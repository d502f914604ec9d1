/** pubsub mode with both clients on a real redis-server: reach, interest, ordering, outage and gap. */
import { once } from 'node:events';
import { WebSocket, WebSocketServer } from '@wskit/core';
import { createRedisBackplane, type GapEvent, type RedisBackplane } from '@wskit/redis';
import { collect, messages, nextMessage } from '../../../test/helpers/inbox.js';
import { KINDS, makeClient, type TestClient } from './clients.js';
import { startRedis, type RedisProcess } from './redis-server.js';

interface Node {
  wss: WebSocketServer;
  backplane: RedisBackplane;
  client: TestClient;
  port: number;
}

async function startNode(kind: (typeof KINDS)[number], redis: RedisProcess): Promise<Node> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await once(wss, 'listening');
  const client = await makeClient(kind, redis.url);
  const backplane = createRedisBackplane(wss, { client: client.client });
  wss.on('connection', (ws, req) => {
    const topic = new URL(req.url ?? '/', 'http://x').searchParams.get('topic');
    if (topic) ws.subscribe(topic);
    ws.on('message', (data) => {
      const {
        topic: t,
        text,
        except,
      } = JSON.parse(data.toString()) as { topic: string; text: string; except?: boolean };
      wss.publish(t, text, except ? { except: ws } : {});
    });
  });
  return { wss, backplane, client, port: (wss.address() as { port: number }).port };
}

async function stopNode(node: Node): Promise<void> {
  await node.backplane.close();
  for (const ws of node.wss.clients) ws.terminate();
  await new Promise((r) => node.wss.close(r));
  await node.client.close();
}

async function connectTo(node: Node, topic: string): Promise<WebSocket> {
  const ws = collect(new WebSocket(`ws://127.0.0.1:${node.port}/?topic=${topic}`));
  await once(ws, 'open');
  return ws;
}

describe.each(KINDS)('pubsub backplane (%s)', (kind) => {
  let redis: RedisProcess;
  let a: Node;
  let b: Node;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis.stop();
  });
  beforeEach(async () => {
    a = await startNode(kind, redis);
    b = await startNode(kind, redis);
  });
  afterEach(async () => {
    await stopNode(a);
    await stopNode(b);
  });

  test('a publish reaches the subscribers of both processes, once each; except stays local', async () => {
    const onA = await connectTo(a, 'news');
    const onB = await connectTo(b, 'news');
    const other = await connectTo(b, 'other');
    await a.backplane.synced();
    await b.backplane.synced();
    a.wss.publish('news', 'hello');
    expect(await nextMessage(onA)).toBe('hello');
    expect(await nextMessage(onB)).toBe('hello');
    // The publishing socket on A is excluded; B's subscriber is not.
    onA.send(JSON.stringify({ topic: 'news', text: 'not to me', except: true }));
    expect(await nextMessage(onB)).toBe('not to me');
    await expect(await b.backplane.publish('news', 'via promise')).toBe(2);
    expect(await nextMessage(onA)).toBe('via promise');
    expect(await nextMessage(onB)).toBe('via promise');
    await expect(nextMessage(other, 200)).rejects.toThrow('no message');
    await expect(nextMessage(onA, 100)).rejects.toThrow('no message');
    for (const ws of [onA, onB, other]) ws.close();
  });

  test('Redis subscriptions follow local interest', async () => {
    const ws1 = await connectTo(a, 't1');
    const ws2 = await connectTo(a, 't1');
    const ws3 = await connectTo(a, 't2');
    await a.backplane.synced();
    expect((await redis.cli('PUBSUB', 'CHANNELS', 'wskit:*')).split('\n').filter(Boolean).sort()).toEqual([
      'wskit:t1',
      'wskit:t2',
    ]);
    ws1.close();
    await once(ws1, 'close');
    ws3.close();
    await once(ws3, 'close');
    await new Promise((r) => setTimeout(r, 20));
    await a.backplane.synced();
    expect((await redis.cli('PUBSUB', 'CHANNELS', 'wskit:*')).trim()).toBe('wskit:t1');
    expect(a.backplane.stats().subscriptions).toBe(1);
    ws2.close();
    await once(ws2, 'close');
    await new Promise((r) => setTimeout(r, 20));
    await a.backplane.synced();
    expect((await redis.cli('PUBSUB', 'CHANNELS', 'wskit:*')).trim()).toBe('');
  });

  test('ordering: every subscriber in every process sees one topic in the same (Redis) order', async () => {
    const subs = [await connectTo(a, 'seq'), await connectTo(a, 'seq'), await connectTo(b, 'seq')];
    await a.backplane.synced();
    await b.backplane.synced();
    for (let i = 0; i < 100; i++) (i % 2 === 0 ? a : b).wss.publish('seq', `${i % 2 === 0 ? 'a' : 'b'}${i}`);
    const seen = await Promise.all(subs.map((ws) => messages(ws, 100)));
    expect(seen[1]).toEqual(seen[0]);
    expect(seen[2]).toEqual(seen[0]);
    // One publisher's messages keep their order.
    const fromA = seen[0].filter((m) => m.startsWith('a'));
    expect(fromA).toEqual(Array.from({ length: 50 }, (_, i) => `a${i * 2}`));
    for (const ws of subs) ws.close();
  });

  test('an outage: publishes fail fast with a count, subscriptions come back, the gap is reported', async () => {
    const onA = await connectTo(a, 'live');
    const onB = await connectTo(b, 'live');
    await a.backplane.synced();
    await b.backplane.synced();
    const failures: number[] = [];
    a.backplane.on('publishError', (_error: Error, _topic: string, count: number) => failures.push(count));
    const gap = once(a.backplane, 'gap') as Promise<[GapEvent]>;
    const down = once(a.backplane, 'down');
    await redis.kill();
    await down;
    await new Promise((r) => setTimeout(r, 50));
    const t0 = Date.now();
    await expect(a.backplane.publish('live', 'lost')).rejects.toMatchObject({ code: 'WS_ERR_REDIS_UNAVAILABLE' });
    a.wss.publish('live', 'lost too');
    expect(Date.now() - t0).toBeLessThan(500);
    expect(failures).toEqual([1, 2]);
    await redis.restart();
    const [event] = await gap;
    expect(event.to).toBeGreaterThanOrEqual(event.from);
    expect(event.topics).toEqual(['live']);
    expect(event.failedPublishes).toBe(2);
    // Resubscribed: wait until Redis lists both processes on the channel again.
    for (let i = 0; i < 200; i++) {
      if ((await redis.cli('PUBSUB', 'NUMSUB', 'wskit:live')).includes('2')) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    for (let i = 0; i < 100; i++) {
      try {
        await a.backplane.publish('live', 'back');
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    expect(await nextMessage(onA)).toBe('back');
    expect(await nextMessage(onB)).toBe('back');
    onA.close();
    onB.close();
  }, 30_000);
  test('a publish sent in the instant Redis is killed rejects within publishTimeout and counts in the gap', async () => {
    const onA = await connectTo(a, 'live');
    await a.backplane.synced();
    const gap = once(a.backplane, 'gap') as Promise<[GapEvent]>;
    const killed = redis.kill(); // SIGKILL by PID, sent before this returns
    const t0 = Date.now();
    const publish = a.backplane.publish('live', 'lost');
    await expect(publish).rejects.toMatchObject({ code: 'WS_ERR_REDIS_UNAVAILABLE' });
    // Within publishTimeout (500 ms) and slack for a loaded machine; without a timer this could take seconds.
    expect(Date.now() - t0).toBeLessThan(500 + 1000);
    await killed;
    await redis.restart();
    const [event] = await gap;
    expect(event.failedPublishes).toBe(1);
    onA.close();
  }, 30_000);

  test('a hung Redis (SIGSTOP): publish rejects after publishTimeout, counted when the connection is lost', async () => {
    const onA = await connectTo(a, 'live');
    await a.backplane.synced();
    await a.backplane.publish('live', 'before');
    expect(await nextMessage(onA)).toBe('before');
    const gap = once(a.backplane, 'gap') as Promise<[GapEvent]>;
    const errors: string[] = [];
    a.backplane.on('publishError', (error: Error) => errors.push(error.message));
    process.kill(redis.pid, 'SIGSTOP');
    try {
      const t0 = Date.now();
      // Nothing tells the client that Redis stopped answering: only the timer ends these.
      await expect(a.backplane.publish('live', 'unanswered')).rejects.toMatchObject({
        code: 'WS_ERR_REDIS_UNAVAILABLE',
        message: 'PUBLISH got no reply within 500 ms',
      });
      const waited = Date.now() - t0;
      expect(waited).toBeGreaterThanOrEqual(490);
      expect(waited).toBeLessThan(500 + 1000);
      a.wss.publish('live', 'unanswered too');
      for (let i = 0; i < 100 && errors.length < 2; i++) await new Promise((r) => setTimeout(r, 20));
      expect(errors).toHaveLength(2);
      // It dies while hung: the lost window starts at the first unanswered publish, which it counts.
      await redis.kill();
      await redis.restart();
      const [event] = await gap;
      // The first unanswered publish was made right after t0 (the same millisecond or the next).
      expect(event.from).toBeGreaterThanOrEqual(t0);
      expect(event.from).toBeLessThan(t0 + 100);
      expect(event.failedPublishes).toBe(2);
      expect(a.backplane.stats().failedPublishes).toBe(2);
    } finally {
      if (redis.pid) process.kill(redis.pid, 'SIGCONT');
    }
    onA.close();
  }, 30_000);
});
