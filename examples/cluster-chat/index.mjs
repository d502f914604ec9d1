#!/usr/bin/env node
// The demo's chat across node:cluster workers sharing one port: each worker has its own WebSocketServer, and the
// Redis backplane (@wskit/redis, pubsub mode) carries every chat message to the subscribers of all workers.
// Prints READY <port> once every worker listens.
// Usage (after `npm run build`, with a Redis running):
//   node examples/cluster-chat/index.mjs --port 8080 --redis redis://127.0.0.1:6379 [--workers 3]
import cluster from 'node:cluster';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

const fail = (message) => {
  console.error(`cluster-chat: ${message}`);
  process.exit(2);
};
const args = process.argv.slice(2);
const option = (name, fallback) => {
  const at = args.indexOf(`--${name}`);
  if (at < 0) return fallback;
  if (at + 1 >= args.length) fail(`--${name} needs a value`);
  return args[at + 1];
};
for (const arg of args) {
  if (arg.startsWith('--') && !['--port', '--redis', '--workers', '--host'].includes(arg)) {
    fail(`unknown option ${arg} (options: --port N, --redis URL, --workers N, --host ADDRESS)`);
  }
}
const port = Number(option('port', '8080'));
const host = option('host', '127.0.0.1');
const redisUrl = option('redis', process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
const workers = Number(option('workers', '3'));
if (!Number.isInteger(port) || port < 0 || port > 65535) fail('--port must be a whole number from 0 to 65535');
if (!Number.isInteger(workers) || workers < 1 || workers > 64) fail('--workers must be from 1 to 64');

if (cluster.isPrimary) {
  // Port 0 would give each worker its own port: pick one first, then every worker shares it.
  let shared = port;
  if (shared === 0) {
    const probe = createServer();
    await new Promise((resolve) => probe.listen(0, host, resolve));
    shared = probe.address().port;
    await new Promise((resolve) => probe.close(resolve));
  }
  let listening = 0;
  for (let i = 0; i < workers; i++) {
    const worker = cluster.fork({ CHAT_PORT: String(shared) });
    worker.on('message', (message) => {
      if (message === 'listening' && ++listening === workers) {
        console.log(`READY ${shared}`);
        console.log(`cluster-chat: ${workers} workers on http://${host}:${shared}/ (Ctrl+C to stop)`);
      }
    });
    worker.on('exit', (code) => {
      if (listening < workers) fail(`worker ${worker.id} exited with ${code} before listening`);
    });
  }
  const stop = () => {
    for (const worker of Object.values(cluster.workers ?? {})) worker?.kill('SIGTERM');
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
} else {
  const { WebSocketServer } = await import('@wskit/core');
  const { createRedisBackplane } = await import('@wskit/redis');
  const { createClient } = await import('redis');
  const page = readFileSync(new URL('../chat/index.html', import.meta.url));
  const workerId = cluster.worker.id;

  const redis = createClient({ url: redisUrl });
  redis.on('error', (error) => console.error(`cluster-chat worker ${workerId}: ${error.message}`));
  await redis.connect();

  const server = createServer((req, res) => {
    if (req.url === '/' || req.url === '/index.html') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(page);
    } else res.writeHead(404).end('not found\n');
  });
  const wss = new WebSocketServer({ server, path: '/chat' });
  const backplane = createRedisBackplane(wss, { client: redis });
  backplane.on('gap', (gap) => console.error(`cluster-chat worker ${workerId}: lost ${gap.to - gap.from} ms`));
  let next = 1;
  wss.on('connection', async (ws) => {
    const name = `w${workerId}-guest${next++}`;
    ws.subscribe('chat');
    // Once Redis confirms this worker's subscription, the client is sure to get what anyone sends next.
    await backplane.synced();
    ws.send(JSON.stringify({ type: 'welcome', worker: workerId, name, online: wss.clients.size }));
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      const text = data.toString().slice(0, 2000);
      wss.publish('chat', JSON.stringify({ type: 'message', name, text, worker: workerId }));
    });
  });
  server.listen(Number(process.env.CHAT_PORT), host, async () => {
    await backplane.synced();
    process.send?.('listening');
  });
  process.once('SIGTERM', async () => {
    await backplane.close();
    await redis.close().catch(() => {});
    process.exit(0);
  });
}
