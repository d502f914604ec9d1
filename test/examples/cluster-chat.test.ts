/**
 * examples/cluster-chat: node:cluster workers behind one port with the Redis backplane; `READY <port>` once
 * every worker listens; the chat page; each message on /chat reaches the clients of every worker.
 */
import { once } from 'node:events';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { startRedis, type RedisProcess } from '../../packages/redis/test/redis-server.js';
import { ensureBuilt } from '../helpers/built.js';
import { startPeer, type Peer } from '../helpers/child.js';

const script = join(__dirname, '..', '..', 'examples', 'cluster-chat', 'index.mjs');

interface ChatMessage {
  type: string;
  worker?: number;
  text?: string;
}

let redis: RedisProcess;
let chat: Peer;
beforeAll(async () => {
  ensureBuilt('redis');
  redis = await startRedis();
  chat = await startPeer(process.execPath, [script, '--port', '0', '--redis', redis.url, '--workers', '3'], 20_000);
}, 40_000);
afterAll(async () => {
  await chat?.stop();
  await redis?.stop();
});

test('serves the chat page', async () => {
  const res = await fetch(`http://127.0.0.1:${chat.port}/`);
  expect(res.status).toBe(200);
  expect(await res.text()).toContain('/chat');
});

test('a message reaches the clients of every worker; the first message is a welcome naming the worker', async () => {
  const clients: Array<{ ws: WebSocket; inbox: ChatMessage[]; worker: number }> = [];
  const workers = new Set<number>();
  // Connections are spread over the workers; connect until all three have clients (bounded).
  for (let i = 0; i < 30 && workers.size < 3; i++) {
    const ws = new WebSocket(`ws://127.0.0.1:${chat.port}/chat`);
    const inbox: ChatMessage[] = [];
    ws.on('message', (data) => inbox.push(JSON.parse(String(data)) as ChatMessage));
    await once(ws, 'open');
    while (inbox.length === 0) await new Promise((r) => setTimeout(r, 10));
    expect(inbox[0].type).toBe('welcome');
    const worker = inbox[0].worker!;
    expect(typeof worker).toBe('number');
    workers.add(worker);
    clients.push({ ws, inbox, worker });
  }
  expect(workers.size).toBe(3);
  clients[0].ws.send('hello from one worker');
  const until = Date.now() + 5000;
  const got = (c: (typeof clients)[number]): ChatMessage[] => c.inbox.filter((m) => m.type === 'message');
  while (Date.now() < until && !clients.every((c) => got(c).length === 1)) await new Promise((r) => setTimeout(r, 20));
  for (const c of clients) {
    expect(got(c)).toHaveLength(1);
    expect(got(c)[0].text).toBe('hello from one worker');
  }
  for (const c of clients) c.ws.close();
}, 30_000);
