/** streams mode with both clients: ids, replay with `since`, history gaps, and a Redis restart losing nothing. */
import { once } from 'node:events';
import { WebSocket, WebSocketServer } from '@wskit/core';
import { createRedisBackplane, type HistoryGapEvent, type RedisBackplane } from '@wskit/redis';
import { collect, messages, nextMessage } from '../../../test/helpers/inbox.js';
import { KINDS, makeClient, type TestClient } from './clients.js';
import { startRedis, type RedisProcess } from './redis-server.js';

interface Node {
  wss: WebSocketServer;
  backplane: RedisBackplane;
  client: TestClient;
  port: number;
}

async function startNode(kind: (typeof KINDS)[number], redis: RedisProcess, maxLen = 1000): Promise<Node> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await once(wss, 'listening');
  const client = await makeClient(kind, redis.url);
  const backplane = createRedisBackplane(wss, {
    client: client.client,
    mode: 'streams',
    maxLen,
    blockMs: 1000,
    // Clients get each message's id, to pass back as `since` when they reconnect.
    format: ({ id, data }) => JSON.stringify({ id, text: data.toString() }),
  });
  wss.on('connection', (ws, req) => {
    const params = new URL(req.url ?? '/', 'http://x').searchParams;
    ws.subscribe(params.get('topic')!, { since: params.get('since') ?? undefined });
  });
  return { wss, backplane, client, port: (wss.address() as { port: number }).port };
}

async function stopNode(node: Node): Promise<void> {
  await node.backplane.close();
  for (const ws of node.wss.clients) ws.terminate();
  await new Promise((r) => node.wss.close(r));
  await node.client.close();
}

async function connectTo(node: Node, topic: string, since?: string): Promise<WebSocket> {
  const query = since === undefined ? '' : `&since=${since}`;
  const ws = collect(new WebSocket(`ws://127.0.0.1:${node.port}/?topic=${topic}${query}`));
  await once(ws, 'open');
  return ws;
}

const texts = (list: string[]): string[] => list.map((m) => (JSON.parse(m) as { text: string }).text);

describe.each(KINDS)('streams backplane (%s)', (kind) => {
  let redis: RedisProcess;
  let a: Node;
  let b: Node;
  beforeAll(async () => {
    redis = await startRedis({ persist: true });
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

  test('messages carry ids; a reconnecting socket replays what it missed with `since`, then goes live', async () => {
    const topic = `replay-${kind}`;
    const live = await connectTo(b, topic);
    await b.backplane.synced();
    const id1 = await a.backplane.publish(topic, 'one');
    expect(typeof id1).toBe('string');
    expect(JSON.parse(await nextMessage(live))).toEqual({ id: id1, text: 'one' });
    for (const text of ['two', 'three']) await a.backplane.publish(topic, text);
    expect(texts(await messages(live, 2))).toEqual(['two', 'three']);
    // A client that saw only "one" comes back: it gets two and three, then live messages, in order.
    const back = await connectTo(a, topic, String(id1));
    const replay = b.wss.publish(topic, 'four');
    expect(replay).toBe(1);
    expect(texts(await messages(back, 3))).toEqual(['two', 'three', 'four']);
    expect(texts(await messages(live, 1))).toEqual(['four']);
    await expect(nextMessage(back, 200)).rejects.toThrow('no message');
    live.close();
    back.close();
  });

  test('a `since` older than the capped history is reported, never a silent gap', async () => {
    const topic = `capped-${kind}`;
    const capped = await startNode(kind, redis, 20);
    const first = String(await capped.backplane.publish(topic, 'm0'));
    // This one caps at ~20 entries (MAXLEN ~ trims whole nodes: publish enough to drop the first one).
    for (let i = 1; i < 300; i++) await capped.backplane.publish(topic, `m${i}`);
    await stopNode(capped);
    const gap = once(a.backplane, 'historyGap') as Promise<[HistoryGapEvent]>;
    const ws = await connectTo(a, topic, first);
    const [event] = await gap;
    expect(event).toMatchObject({ topic, since: first });
    expect(event.ws).toBeDefined();
    const replayed = texts(await messages(ws, 1));
    expect(replayed[0]).not.toBe('m1');
    ws.close();
  });

  test('historyGap only when messages after `since` were trimmed, not when `since` alone was', async () => {
    const topic = `boundary-${kind}`;
    const capped = await startNode(kind, redis, 20);
    const ids: string[] = [];
    for (let i = 0; i < 300; i++) ids.push(String(await capped.backplane.publish(topic, `m${i}`)));
    await stopNode(capped);
    const oldest = (await redis.cli('XRANGE', `wskit:${topic}`, '-', '+', 'COUNT', '1')).split('\n')[0].trim();
    const at = ids.indexOf(oldest);
    expect(at).toBeGreaterThan(1);
    const gaps: HistoryGapEvent[] = [];
    a.backplane.on('historyGap', (event: HistoryGapEvent) => gaps.push(event));
    // `since` is the last trimmed entry: trimmed itself, but everything after it is still there.
    const whole = await connectTo(a, topic, ids[at - 1]);
    expect(texts(await messages(whole, 300 - at))).toEqual(ids.slice(at).map((_, i) => `m${at + i}`));
    expect(gaps).toEqual([]);
    // One entry earlier: ids[at - 1] came after it and is gone.
    const behind = await connectTo(a, topic, ids[at - 2]);
    expect(texts(await messages(behind, 300 - at))[0]).toBe(`m${at}`);
    expect(gaps).toHaveLength(1);
    expect(gaps[0]).toMatchObject({ topic, since: ids[at - 2], oldest });
    whole.close();
    behind.close();
  });

  test('entries written without the previous id (other tools): a `since` older than the oldest is a gap', async () => {
    const topic = `foreign-${kind}`;
    await redis.cli('XADD', `wskit:${topic}`, '*', 'm', 'not an envelope');
    const gap = once(a.backplane, 'historyGap') as Promise<[HistoryGapEvent]>;
    const ws = await connectTo(a, topic, '1-0');
    const [event] = await gap;
    expect(event).toMatchObject({ topic, since: '1-0' });
    ws.close();
  });

  test('a Redis restart mid-run loses nothing (appendonly, publishes held while it is down)', async () => {
    const topic = `restart-${kind}`;
    const subs = [await connectTo(a, topic), await connectTo(b, topic)];
    await a.backplane.synced();
    await b.backplane.synced();
    const total = 200;
    const sent: Promise<unknown>[] = [];
    for (let i = 0; i < total; i++) {
      if (i === 80) {
        await Promise.all(sent);
        await redis.kill();
      }
      if (i === 120) await redis.restart();
      sent.push((i % 2 === 0 ? a : b).backplane.publish(topic, `n${i}`));
      if (i % 10 === 0) await new Promise((r) => setTimeout(r, 5));
    }
    await Promise.all(sent);
    const got = await Promise.all(subs.map((ws) => messages(ws, total, 15_000)));
    for (const list of got) {
      const seen = texts(list);
      expect(new Set(seen).size).toBe(total);
      expect(seen.length).toBe(total);
    }
    expect(texts(got[1])).toEqual(texts(got[0]));
    for (const ws of subs) ws.close();
  }, 30_000);
});
