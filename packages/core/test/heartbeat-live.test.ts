/**
 * Heartbeat against peers that really go silent over real TCP: a hand-written client that swallows
 * pings, a whole process frozen with SIGSTOP (client and server side), peers that stay alive, and a
 * check that hundreds of watched sockets create no per-socket timers.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createHook } from 'node:async_hooks';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { WebSocketServer as WsServer } from 'ws';
import { WebSocket, WebSocketServer } from '@wskit/core';
import { OP, clientFrame, rawConnect, waitUntil } from './fixtures/raw-ws.js';

const INTERVAL = 300;
const TIMEOUT = 300;
/** Timer lateness on a loaded 2-CPU box plus the wheel resolution (a tenth of the smaller period). */
const TOLERANCE = 600;
const PEER = join(__dirname, 'fixtures', 'ws-peer.cjs');

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function listen(
  options: ConstructorParameters<typeof WebSocketServer>[0] = {},
): Promise<{ wss: WebSocketServer; port: number }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, ...options });
  await once(wss, 'listening');
  return { wss, port: (wss.address() as AddressInfo).port };
}

function close(wss: WebSocketServer): Promise<void> {
  for (const client of wss.clients) client.terminate();
  return new Promise((resolve) => wss.close(() => resolve()));
}

interface ClosedWith {
  code: number;
  reason: string;
  at: number;
}

function closeOf(ws: WebSocket): Promise<ClosedWith> {
  return new Promise((resolve) => {
    ws.once('close', (code: number, reason: Buffer) =>
      resolve({ code, reason: reason.toString(), at: performance.now() }),
    );
  });
}

interface Child {
  child: ChildProcessWithoutNullStreams;
  waitForLine(pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray | null>;
  exited: Promise<unknown>;
}

function startChild(args: string[]): Child {
  const child = spawn(process.execPath, [PEER, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  const waiters = new Set<() => void>();
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString();
    for (const waiter of waiters) waiter();
  });
  const exited = once(child, 'exit');
  return {
    child,
    exited,
    waitForLine: (pattern, timeoutMs) =>
      new Promise((resolve) => {
        const check = (): void => {
          const match = output.match(pattern);
          if (match) finish(match);
        };
        const timer = setTimeout(() => finish(null), timeoutMs);
        const finish = (value: RegExpMatchArray | null): void => {
          clearTimeout(timer);
          waiters.delete(check);
          resolve(value);
        };
        waiters.add(check);
        check();
      }),
  };
}

async function stopChild(c: Child): Promise<void> {
  if (c.child.exitCode !== null || c.child.signalCode !== null) return;
  c.child.kill('SIGKILL');
  await c.exited;
}

describe('server heartbeat with silent peers', () => {
  test('a raw TCP peer that swallows pings is terminated within interval + timeout, close 1006 "heartbeat timeout"', async () => {
    const { wss, port } = await listen({ heartbeat: { interval: INTERVAL, timeout: TIMEOUT } });
    try {
      const connected = once(wss, 'connection') as Promise<[WebSocket]>;
      const peer = await rawConnect(port);
      const [ws] = await connected;
      const openedAt = performance.now();
      const closed = closeOf(ws);
      const result = await closed;
      const elapsed = result.at - openedAt;

      expect(result).toMatchObject({ code: 1006, reason: 'heartbeat timeout' });
      expect(elapsed).toBeGreaterThanOrEqual(INTERVAL + TIMEOUT - 5);
      expect(elapsed).toBeLessThan(INTERVAL + TIMEOUT + TOLERANCE);
      // It was pinged (once: the timeout ends it before a second interval), with the 8-byte heartbeat payload.
      const pings = peer.frames.filter((f) => f.opcode === OP.ping);
      expect(pings).toHaveLength(1);
      expect(pings[0]!.payload).toHaveLength(8);
      // Terminated, not closed politely: the TCP connection goes away without a close frame.
      await peer.closed;
      expect(peer.frames.some((f) => f.opcode === OP.close)).toBe(false);
      expect(wss.clients.size).toBe(0);
    } finally {
      await close(wss);
    }
  });

  test('a peer whose whole process is frozen (SIGSTOP) is gone within interval + timeout', async () => {
    const { wss, port } = await listen({ heartbeat: { interval: INTERVAL, timeout: TIMEOUT } });
    const connected = once(wss, 'connection') as Promise<[WebSocket]>;
    const peer = startChild(['client', String(port)]);
    try {
      expect(await peer.waitForLine(/OPEN/, 5000)).not.toBeNull();
      const [ws] = await connected;
      // While the child runs it answers pings: the socket survives several intervals and RTTs are measured.
      const rtts: number[] = [];
      ws.on('heartbeat', (rtt: number) => rtts.push(rtt));
      await sleep(INTERVAL * 3);
      expect(ws.readyState).toBe(WebSocket.OPEN);
      expect(rtts.length).toBeGreaterThanOrEqual(1);

      const closed = closeOf(ws);
      peer.child.kill('SIGSTOP');
      const stoppedAt = performance.now();
      const result = await closed;
      expect(result).toMatchObject({ code: 1006, reason: 'heartbeat timeout' });
      expect(result.at - stoppedAt).toBeLessThan(INTERVAL + TIMEOUT + TOLERANCE);

      // Woken up, the child finds its connection gone and exits on its own.
      peer.child.kill('SIGCONT');
      const exitedInTime = await Promise.race([peer.exited.then(() => true), sleep(5000).then(() => false)]);
      expect(exitedInTime).toBe(true);
    } finally {
      await stopChild(peer);
      await close(wss);
    }
  });

  test('a peer that answers pings is never terminated; rtt and the heartbeat event are measured', async () => {
    const { wss, port } = await listen({ heartbeat: { interval: 100, timeout: 100 } });
    try {
      const connected = once(wss, 'connection') as Promise<[WebSocket]>;
      const client = new WebSocket(`ws://127.0.0.1:${port}/`);
      const [ws] = await connected;
      await once(client, 'open');
      const rtts: number[] = [];
      ws.on('heartbeat', (rtt: number) => rtts.push(rtt));
      let closed = false;
      ws.on('close', () => (closed = true));
      expect(ws.rtt).toBeUndefined();

      await sleep(1200);
      expect(closed).toBe(false);
      expect(ws.readyState).toBe(WebSocket.OPEN);
      // Idle 100 ms, then pinged; the answer arrives within a few ms: several rounds in 1.2 s.
      expect(rtts.length).toBeGreaterThanOrEqual(3);
      for (const rtt of rtts) {
        expect(rtt).toBeGreaterThanOrEqual(0);
        expect(rtt).toBeLessThan(100);
      }
      expect(ws.rtt).toBe(rtts[rtts.length - 1]);
      expect(typeof ws.lastActivity).toBe('number');
      expect(performance.now() - ws.lastActivity!).toBeLessThan(100 + 100 + TOLERANCE);
      client.close();
    } finally {
      await close(wss);
    }
  });

  test('with a timeout longer than the interval, an answering peer is still pinged every interval', async () => {
    // Regression: the next idle check used to wait for the full timeout after each ping, so a peer that
    // died right after answering went unnoticed for up to timeout + timeout.
    const { wss, port } = await listen({ heartbeat: { interval: 100, timeout: 1000 } });
    try {
      const connected = once(wss, 'connection') as Promise<[WebSocket]>;
      const client = new WebSocket(`ws://127.0.0.1:${port}/`);
      const [ws] = await connected;
      let beats = 0;
      ws.on('heartbeat', () => beats++);
      await sleep(1000);
      expect(beats).toBeGreaterThanOrEqual(5);
      client.terminate();
    } finally {
      await close(wss);
    }
  });

  test('a peer that keeps talking is never pinged; lastActivity follows its traffic', async () => {
    // The peer talks every 30 ms; the interval leaves room for a loaded machine's stalls between its sends.
    const interval = 400;
    const { wss, port } = await listen({ heartbeat: { interval, timeout: interval } });
    try {
      const connected = once(wss, 'connection') as Promise<[WebSocket]>;
      const peer = await rawConnect(port);
      const [ws] = await connected;
      let messages = 0;
      ws.on('message', () => messages++);
      const until = Date.now() + 1000;
      while (Date.now() < until) {
        peer.send(clientFrame(OP.text, Buffer.from('tick')));
        await sleep(30);
        expect(ws.isAlive).toBe(true);
      }
      const sinceLast = performance.now() - ws.lastActivity!;
      expect(sinceLast).toBeLessThan(interval);
      expect(messages).toBeGreaterThan(10);
      expect(ws.readyState).toBe(WebSocket.OPEN);
      expect(peer.frames.filter((f) => f.opcode === OP.ping)).toHaveLength(0);
      peer.socket.destroy();
    } finally {
      await close(wss);
    }
  });
});

describe('client heartbeat with a server that stops answering', () => {
  test('a server process frozen with SIGSTOP: the client closes 1006 "heartbeat timeout" in time', async () => {
    const server = startChild(['server']);
    try {
      const ready = await server.waitForLine(/READY (\d+)/, 5000);
      expect(ready).not.toBeNull();
      const client = new WebSocket(`ws://127.0.0.1:${ready![1]}/`, {
        heartbeat: { interval: INTERVAL, timeout: TIMEOUT },
      });
      await once(client, 'open');
      const rtts: number[] = [];
      client.on('heartbeat', (rtt: number) => rtts.push(rtt));
      await sleep(INTERVAL * 3);
      expect(client.readyState).toBe(WebSocket.OPEN);
      expect(rtts.length).toBeGreaterThanOrEqual(1);
      expect(client.rtt).toBe(rtts[rtts.length - 1]);

      const closed = closeOf(client);
      server.child.kill('SIGSTOP');
      const stoppedAt = performance.now();
      const result = await closed;
      expect(result).toMatchObject({ code: 1006, reason: 'heartbeat timeout' });
      expect(result.at - stoppedAt).toBeLessThan(INTERVAL + TIMEOUT + TOLERANCE);
      server.child.kill('SIGCONT');
    } finally {
      await stopChild(server);
    }
  });

  test('a server that never answers pings (autoPong off) is given up on; one that answers is kept', async () => {
    const silent = new WsServer({ host: '127.0.0.1', port: 0, autoPong: false });
    const answering = new WsServer({ host: '127.0.0.1', port: 0 });
    await Promise.all([once(silent, 'listening'), once(answering, 'listening')]);
    try {
      const heartbeat = { interval: 200, timeout: 200 };
      const dead = new WebSocket(`ws://127.0.0.1:${(silent.address() as AddressInfo).port}/`, { heartbeat });
      const alive = new WebSocket(`ws://127.0.0.1:${(answering.address() as AddressInfo).port}/`, { heartbeat });
      await Promise.all([once(dead, 'open'), once(alive, 'open')]);
      const openedAt = performance.now();
      const result = await closeOf(dead);
      expect(result).toMatchObject({ code: 1006, reason: 'heartbeat timeout' });
      expect(result.at - openedAt).toBeGreaterThanOrEqual(400 - 5);
      expect(result.at - openedAt).toBeLessThan(400 + TOLERANCE);
      expect(alive.readyState).toBe(WebSocket.OPEN);
      expect(alive.rtt).toEqual(expect.any(Number));
      alive.close();
      await once(alive, 'close');
    } finally {
      for (const ws of silent.clients) ws.terminate();
      for (const ws of answering.clients) ws.terminate();
      await Promise.all([new Promise((r) => silent.close(r)), new Promise((r) => answering.close(r))]);
    }
  });
});

describe('heartbeat cost', () => {
  test('200 live connections under heartbeat create no per-socket timers', async () => {
    const COUNT = 200;
    const interval = 100;
    const { wss, port } = await listen({ heartbeat: { interval, timeout: 1000 } });
    const refTimeouts = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const clients: WebSocket[] = [];
    try {
      for (let i = 0; i < COUNT; i++)
        clients.push(new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: false }));
      await Promise.all(clients.map((c) => once(c, 'open')));
      expect(await waitUntil(() => wss.clients.size === COUNT, 5000)).toBe(true);

      // Count every timer created (ref'd or not) while the heartbeat pings all 200 sockets a few times.
      let created = 0;
      const hook = createHook({
        init(_id, type) {
          if (type === 'Timeout') created++;
        },
      }).enable();
      const refBefore = refTimeouts();
      // Two heartbeat rounds answered by every socket, however slow a loaded machine makes them: waited for
      // by event, with one deadline timer (a polling wait would create a timer per poll).
      let pongs = 0;
      const rounds = new Promise<boolean>((resolve) => {
        const deadline = setTimeout(() => resolve(false), 10_000);
        for (const ws of wss.clients) {
          ws.on('heartbeat', () => {
            if (++pongs === COUNT * 2) {
              clearTimeout(deadline);
              resolve(true);
            }
          });
        }
      });
      expect(await rounds).toBe(true);
      const refDuring = refTimeouts();
      hook.disable();

      // The deadline is one timer; the heartbeat adds none per socket (its single timer already exists).
      expect(created).toBeLessThanOrEqual(5);
      expect(refDuring - refBefore).toBeLessThanOrEqual(1);
      for (const ws of wss.clients) expect(ws.readyState).toBe(WebSocket.OPEN);
    } finally {
      for (const c of clients) c.terminate();
      await close(wss);
    }
  });
});
