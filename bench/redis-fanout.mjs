#!/usr/bin/env node
// Cross-process fan-out on one Redis: 3 processes × 1,000 subscribers, 128-byte messages.
//   wskit:     @wskit/core + @wskit/redis (pubsub mode, node-redis), ws.subscribe / wss.publish
//   socket.io: socket.io 4 + @socket.io/redis-adapter (node-redis), clients on the websocket transport, io.emit
// Each process runs its server and its 1,000 clients (the same for both stacks). Every message carries its send
// time; each client records the delivery latency. Two runs per stack, in this process's order:
//   burst: each process publishes --burst messages as fast as it can → delivered msgs/s (all deliveries / time
//          from the first publish to the last delivery) and the latency percentiles under that load;
//   paced: each process publishes --paced messages at --rate per second → latency percentiles off saturation.
// Then wskit's subscribe/unsubscribe churn: 1,000 sockets × 1 new topic each, batched and one at a time.
// Usage (after `npm run build`): node bench/redis-fanout.mjs [--burst 100] [--paced 40] [--rate 20]
import { fork, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const PROCESSES = 3;
const SUBSCRIBERS = 1000;
const SIZE = 128;
const BUCKET_MS = 0.1;
const BUCKETS = 200_000; // 20 s
const now = () => performance.timeOrigin + performance.now();

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const at = args.indexOf(`--${name}`);
  return at < 0 ? fallback : Number(args[at + 1]);
};

if (args[0] === '--child') await child(args[1], args[2]);
else await main();

// ─── one process: a server, its clients, commands over IPC ───────────────────────────────────────────────

async function child(stack, url) {
  const { createClient } = await import('redis');
  const hist = new Uint32Array(BUCKETS);
  let received = 0;
  const onMessage = (text) => {
    const sent = Number(text.slice(0, text.indexOf(' ')));
    const bucket = Math.min(BUCKETS - 1, Math.max(0, Math.floor((now() - sent) / BUCKET_MS)));
    hist[bucket]++;
    received++;
  };
  const redis = createClient({ url });
  redis.on('error', () => {});
  await redis.connect();
  let publish;
  let backplane = null;
  let wss = null;
  let closeAll;
  if (stack === 'wskit') {
    const { WebSocket, WebSocketServer } = await import('@wskit/core');
    const { createRedisBackplane } = await import('@wskit/redis');
    wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await once(wss, 'listening');
    backplane = createRedisBackplane(wss, { client: redis });
    wss.on('connection', (ws) => ws.subscribe('bench'));
    const clients = [];
    for (let i = 0; i < SUBSCRIBERS; i++) {
      const ws = new WebSocket(`ws://127.0.0.1:${wss.address().port}/`);
      ws.on('message', (data) => onMessage(data.toString()));
      clients.push(once(ws, 'open'));
      if (clients.length % 100 === 0) await Promise.all(clients.slice(-100));
    }
    await Promise.all(clients);
    while (wss.subscriberCount('bench') < SUBSCRIBERS) await new Promise((r) => setTimeout(r, 10));
    await backplane.synced();
    publish = (text) => wss.publish('bench', text);
    closeAll = async () => backplane.close();
  } else {
    const { createServer: createHttp } = await import('node:http');
    const { Server } = await import('socket.io');
    const { createAdapter } = await import('@socket.io/redis-adapter');
    const { io: connect } = await import('socket.io-client');
    const sub = redis.duplicate();
    sub.on('error', () => {});
    await sub.connect();
    const http = createHttp();
    const io = new Server(http, { adapter: createAdapter(redis, sub), transports: ['websocket'] });
    await new Promise((resolve) => http.listen(0, '127.0.0.1', resolve));
    const clients = [];
    for (let i = 0; i < SUBSCRIBERS; i++) {
      const socket = connect(`http://127.0.0.1:${http.address().port}`, {
        transports: ['websocket'],
        forceNew: true,
        reconnection: false,
      });
      socket.on('m', onMessage);
      clients.push(once(socket, 'connect'));
      if (clients.length % 100 === 0) await Promise.all(clients.slice(-100));
    }
    await Promise.all(clients);
    publish = (text) => io.emit('m', text);
    closeAll = async () => {
      io.close();
      await sub.close().catch(() => {});
    };
  }

  const pad = 'x'.repeat(SIZE);
  const message = () => {
    const head = `${now().toFixed(3)} `;
    return head + pad.slice(head.length);
  };
  process.on('message', async (command) => {
    if (command.cmd === 'reset') {
      hist.fill(0);
      received = 0;
      process.send({ cmd: 'reset' });
    } else if (command.cmd === 'publish') {
      const { count, rate } = command;
      if (rate > 0) {
        const start = now();
        for (let i = 0; i < count; i++) {
          const due = start + (i * 1000) / rate;
          const wait = due - now();
          if (wait > 0) await new Promise((r) => setTimeout(r, wait));
          publish(message());
        }
      } else {
        // As fast as the loop allows, yielding every 20 publishes so deliveries and Redis replies run.
        for (let i = 0; i < count; i++) {
          publish(message());
          if (i % 20 === 19) await new Promise((r) => setImmediate(r));
        }
      }
      process.send({ cmd: 'publish' });
    } else if (command.cmd === 'report') {
      // The histogram only when asked: 200,000 numbers over IPC on every poll would load the process.
      process.send({ cmd: 'report', received, hist: command.full ? Array.from(hist) : null });
    } else if (command.cmd === 'churn') {
      process.send({ cmd: 'churn', ...(await churn(wss, backplane)) });
    } else if (command.cmd === 'exit') {
      await closeAll();
      await redis.close().catch(() => {});
      process.exit(0);
    }
  });
  process.send({ cmd: 'ready' });
}

/** wskit only: subscribe/unsubscribe churn of 1,000 sockets to 1,000 new topics. */
async function churn(wss, backplane) {
  const sockets = [...wss.clients];
  const before = backplane.stats().subscribeCommands;
  let t = now();
  sockets.forEach((ws, i) => ws.subscribe(`churn-${i}`));
  await backplane.synced();
  sockets.forEach((ws, i) => ws.unsubscribe(`churn-${i}`));
  await backplane.synced();
  const batchedMs = now() - t;
  const batchedCommands = backplane.stats().subscribeCommands - before;
  const one = Math.min(200, sockets.length);
  t = now();
  for (let i = 0; i < one; i++) {
    sockets[i].subscribe(`solo-${i}`);
    await backplane.synced();
    sockets[i].unsubscribe(`solo-${i}`);
    await backplane.synced();
  }
  const soloMs = now() - t;
  return { ops: sockets.length * 2, batchedMs, batchedCommands, soloOps: one * 2, soloMs };
}

// ─── the parent: Redis, the processes, the runs ──────────────────────────────────────────────────────────

async function freePort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function ask(worker, command) {
  return new Promise((resolve) => {
    const onMessage = (message) => {
      if (message.cmd !== command.cmd) return;
      worker.off('message', onMessage);
      resolve(message);
    };
    worker.on('message', onMessage);
    worker.send(command);
  });
}

function percentile(hist, total, p) {
  const target = Math.ceil(total * p);
  let seen = 0;
  for (let i = 0; i < hist.length; i++) {
    seen += hist[i];
    if (seen >= target) return (i + 1) * BUCKET_MS;
  }
  return Infinity;
}

async function run(workers, count, rate) {
  await Promise.all(workers.map((w) => ask(w, { cmd: 'reset' })));
  // Every process publishes `count`, and each message reaches all PROCESSES × SUBSCRIBERS subscribers.
  const expected = PROCESSES * count * PROCESSES * SUBSCRIBERS;
  const start = now();
  await Promise.all(workers.map((w) => ask(w, { cmd: 'publish', count, rate })));
  let reports;
  const until = Date.now() + 60_000;
  for (;;) {
    reports = await Promise.all(workers.map((w) => ask(w, { cmd: 'report' })));
    const received = reports.reduce((sum, r) => sum + r.received, 0);
    if (received >= expected || Date.now() > until) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  const elapsed = now() - start;
  reports = await Promise.all(workers.map((w) => ask(w, { cmd: 'report', full: true })));
  const received = reports.reduce((sum, r) => sum + r.received, 0);
  const hist = new Array(BUCKETS).fill(0);
  for (const r of reports) for (let i = 0; i < BUCKETS; i++) hist[i] += r.hist[i];
  return {
    delivered: received,
    expected,
    seconds: elapsed / 1000,
    msgsPerSec: (received / elapsed) * 1000,
    p50: percentile(hist, received, 0.5),
    p99: percentile(hist, received, 0.99),
  };
}

async function main() {
  const burst = option('burst', 100);
  const paced = option('paced', 40);
  const rate = option('rate', 20);
  const port = await freePort();
  const redis = spawn(
    '/usr/bin/redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    {
      stdio: 'ignore',
    },
  );
  await new Promise((r) => setTimeout(r, 300));
  const url = `redis://127.0.0.1:${port}`;
  const results = {};
  const self = fileURLToPath(import.meta.url);
  try {
    for (const stack of ['wskit', 'socket.io']) {
      const workers = [];
      for (let i = 0; i < PROCESSES; i++) {
        const worker = fork(self, ['--child', stack, url], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
        await new Promise((resolve) => worker.once('message', resolve));
        workers.push(worker);
      }
      await run(workers, 20, 0); // warm-up
      const b = await run(workers, burst, 0);
      const p = await run(workers, paced, rate);
      results[stack] = { burst: b, paced: p };
      if (stack === 'wskit') results.churn = await ask(workers[0], { cmd: 'churn' });
      await Promise.all(
        workers.map(async (w) => {
          w.send({ cmd: 'exit' });
          await once(w, 'exit');
        }),
      );
    }
  } finally {
    redis.kill('SIGTERM');
  }
  const line = (name, r) =>
    `${name.padEnd(10)} ${String(Math.round(r.msgsPerSec)).padStart(9)} msgs/s  p50 ${r.p50.toFixed(1).padStart(7)} ms  p99 ${r.p99.toFixed(1).padStart(7)} ms  (${r.delivered}/${r.expected} in ${r.seconds.toFixed(2)} s)`;
  console.log(`\n3 processes × ${SUBSCRIBERS} subscribers, ${SIZE} B messages, one Redis`);
  console.log(`burst: ${burst} messages per process, as fast as possible`);
  console.log(line('wskit', results.wskit.burst));
  console.log(line('socket.io', results['socket.io'].burst));
  console.log(`paced: ${paced} messages per process at ${rate}/s`);
  console.log(line('wskit', results.wskit.paced));
  console.log(line('socket.io', results['socket.io'].paced));
  const ratio = results.wskit.burst.msgsPerSec / results['socket.io'].burst.msgsPerSec;
  console.log(`wskit / socket.io delivered msgs/s (burst): ${ratio.toFixed(2)}×`);
  const c = results.churn;
  console.log(
    `churn (wskit): ${c.ops} subscribe+unsubscribe of new topics batched in ${c.batchedMs.toFixed(1)} ms ` +
      `(${c.batchedCommands} Redis SUBSCRIBE/UNSUBSCRIBE commands); one at a time, waiting for Redis: ` +
      `${((c.soloMs / c.soloOps) * 1000).toFixed(0)} µs per operation`,
  );
  console.log(JSON.stringify(results));
}
