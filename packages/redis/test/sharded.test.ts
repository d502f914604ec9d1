/** sharded mode on a local 3-master Redis Cluster: SSUBSCRIBE/SPUBLISH per slot, spread of 1,000 topics. */
import { once } from 'node:events';
import { WebSocket, WebSocketServer } from '@wskit/core';
import { createRedisBackplane, keySlot, type RedisBackplane } from '@wskit/redis';
import { collect, messages } from '../../../test/helpers/inbox.js';
import { KINDS, makeClusterClient, type TestClient } from './clients.js';
import { startCluster, type RedisCluster } from './redis-server.js';

interface Node {
  wss: WebSocketServer;
  backplane: RedisBackplane;
  client: TestClient;
  port: number;
}

let cluster: RedisCluster;
beforeAll(async () => {
  cluster = await startCluster();
}, 60_000);
afterAll(async () => {
  await cluster.stop();
});

async function startNode(kind: (typeof KINDS)[number]): Promise<Node> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await once(wss, 'listening');
  const client = await makeClusterClient(kind, cluster.ports);
  const backplane = createRedisBackplane(wss, { client: client.client, mode: 'sharded' });
  wss.on('connection', (ws, req) => {
    for (const topic of new URL(req.url ?? '/', 'http://x').searchParams.getAll('topic')) ws.subscribe(topic);
  });
  return { wss, backplane, client, port: (wss.address() as { port: number }).port };
}

async function stopNode(node: Node): Promise<void> {
  await node.backplane.close();
  for (const ws of node.wss.clients) ws.terminate();
  await new Promise((r) => node.wss.close(r));
  await node.client.close();
}

/** Master port → slot ranges, from CLUSTER SLOTS. */
async function slotOwners(): Promise<Array<{ from: number; to: number; port: number }>> {
  const out = await cluster.nodes[0].cli('CLUSTER', 'SHARDS');
  const ranges: Array<{ from: number; to: number; port: number }> = [];
  // redis-cli prints the nested reply one value a line: "slots" then pairs, "nodes" then fields incl. "port".
  const lines = out.split('\n').map((l) => l.trim());
  for (let i = 0; i < lines.length; i++) {
    if (lines[i] !== 'slots') continue;
    const slots: number[] = [];
    let j = i + 1;
    while (/^\d+$/.test(lines[j])) slots.push(Number(lines[j++]));
    const portAt = lines.indexOf('port', j);
    const port = Number(lines[portAt + 1]);
    for (let k = 0; k + 1 < slots.length; k += 2) ranges.push({ from: slots[k], to: slots[k + 1], port });
  }
  return ranges;
}

describe.each(KINDS)('sharded backplane (%s)', (kind) => {
  let a: Node;
  let b: Node;
  beforeEach(async () => {
    a = await startNode(kind);
    b = await startNode(kind);
  });
  afterEach(async () => {
    await stopNode(a);
    await stopNode(b);
  });

  test('SPUBLISH reaches the other process through the shard that owns the topic', async () => {
    const onA = collect(new WebSocket(`ws://127.0.0.1:${a.port}/?topic=room-1&topic=room-2`));
    const onB = collect(new WebSocket(`ws://127.0.0.1:${b.port}/?topic=room-1&topic=room-2`));
    await Promise.all([once(onA, 'open'), once(onB, 'open')]);
    await a.backplane.synced();
    await b.backplane.synced();
    a.wss.publish('room-1', 'one');
    b.wss.publish('room-2', 'two');
    // Two topics on two shards: the order holds per topic, not between them.
    expect((await messages(onA, 2)).sort()).toEqual(['one', 'two']);
    expect((await messages(onB, 2)).sort()).toEqual(['one', 'two']);
    onA.close();
    onB.close();
  });

  test('1,000 topics spread over the 3 masters; each master holds the shard channels of its slots', async () => {
    const topics = Array.from({ length: 1000 }, (_, i) => `topic-${i}`);
    const ws = collect(new WebSocket(`ws://127.0.0.1:${a.port}/?${topics.map((t) => `topic=${t}`).join('&')}`));
    await once(ws, 'open');
    await a.backplane.synced();
    const owners = await slotOwners();
    const expected = new Map<number, number>();
    for (const t of topics) {
      const slot = keySlot(`wskit:${t}`);
      const port = owners.find((r) => slot >= r.from && slot <= r.to)!.port;
      expected.set(port, (expected.get(port) ?? 0) + 1);
    }
    const held = await Promise.all(
      cluster.nodes.map(async (n) => (await n.cli('PUBSUB', 'SHARDCHANNELS', 'wskit:*')).split('\n').filter(Boolean)),
    );
    const counts = cluster.nodes.map((n, i) => [n.port, held[i].length] as const);
    for (const [port, count] of counts) expect(count).toBe(expected.get(port));
    const sizes = counts.map(([, c]) => c);
    console.log(`sharded spread of 1,000 topics over 3 masters (${kind}): ${sizes.join(' / ')}`);
    expect(sizes.reduce((x, y) => x + y, 0)).toBe(1000);
    for (const size of sizes) expect(Math.abs(size - 1000 / 3)).toBeLessThan(60);
    ws.close();
  }, 30_000);
});
