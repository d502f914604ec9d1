/**
 * Three Node processes × 1,000 subscribers on one real Redis: every message exactly once to each subscriber
 * (pubsub with node-redis and with ioredis, streams with ioredis);
 * Redis killed and restarted mid-run (pubsub recovers and reports the gap, streams delivers everything); one
 * Node process killed mid-run (the others go on). The processes load the built packages.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { ensureBuilt } from '../../../test/helpers/built.js';
import { startRedis, type RedisProcess } from './redis-server.js';

const SUBSCRIBERS = 1000;
const PER_PROCESS = 40;
const TOPIC = 'fanout';

interface Report {
  cmd: 'report';
  seen: number[];
  duplicates: number;
  gaps: number;
}
interface Published {
  cmd: 'published';
  ok: number[];
  failed: number[];
}

class NodeProcess {
  private readonly waiting = new Map<string, (message: unknown) => void>();
  exited = false;
  constructor(readonly child: ChildProcess) {
    child.on('message', (message: { cmd: string }) => {
      const waiter = this.waiting.get(message.cmd);
      this.waiting.delete(message.cmd);
      waiter?.(message);
    });
    child.on('exit', () => (this.exited = true));
  }

  static async start(kind: string, mode: string, url: string): Promise<NodeProcess> {
    const child = fork(join(__dirname, 'fixtures', 'node-process.mjs'), [kind, mode, url, String(SUBSCRIBERS), TOPIC], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const node = new NodeProcess(child);
    await node.next('ready', 30_000);
    return node;
  }

  next<T>(cmd: string, timeoutMs = 20_000): Promise<T> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${cmd} from the child`)), timeoutMs);
      this.waiting.set(cmd, (message) => {
        clearTimeout(timer);
        resolve(message as T);
      });
    });
  }

  async ask<T>(message: object, reply: string): Promise<T> {
    const answer = this.next<T>(reply);
    this.child.send(message);
    return answer;
  }

  async stop(): Promise<void> {
    if (this.exited) return;
    const exited = once(this.child, 'exit');
    this.child.send({ cmd: 'exit' });
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  }
}

/** Waits until every live process's subscribers have `expected(index)` copies, or the time is up. */
async function settle(nodes: NodeProcess[], done: (reports: Report[]) => boolean, ms = 15_000): Promise<Report[]> {
  const until = Date.now() + ms;
  for (;;) {
    const reports = await Promise.all(nodes.map((n) => n.ask<Report>({ cmd: 'report' }, 'report')));
    if (done(reports) || Date.now() > until) return reports;
    await new Promise((r) => setTimeout(r, 200));
  }
}

const TOTAL = 3 * PER_PROCESS;

async function startAll(kind: string, mode: string, persist: boolean): Promise<[RedisProcess, NodeProcess[]]> {
  const redis = await startRedis({ persist });
  const nodes: NodeProcess[] = [];
  // One after the other: 1,000 handshakes each on a 2-core machine.
  for (let i = 0; i < 3; i++) nodes.push(await NodeProcess.start(kind, mode, redis.url));
  return [redis, nodes];
}

const expectFresh = (nodes: NodeProcess[]): Promise<unknown> =>
  Promise.all(nodes.map((n) => n.ask({ cmd: 'expect', total: TOTAL }, 'expecting')));

const publishEach = (nodes: NodeProcess[], base: (from: number) => number, count: number, pauseMs = 0) =>
  Promise.all(
    nodes.map((n, from) => n.ask<Published>({ cmd: 'publish', base: base(from), count, pauseMs }, 'published')),
  );

const all = (reports: Report[], copies: number, indexes: Iterable<number>): boolean =>
  reports.every((r) => [...indexes].every((i) => r.seen[i] === copies));

beforeAll(() => ensureBuilt('redis'));

describe('pubsub, node-redis: 3 processes × 1,000 subscribers', () => {
  let redis: RedisProcess;
  let nodes: NodeProcess[];
  beforeAll(async () => {
    [redis, nodes] = await startAll('redis', 'pubsub', false);
  }, 60_000);
  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    await redis.stop();
  });
  beforeEach(() => expectFresh(nodes));

  test('every message exactly once to each subscriber', async () => {
    const published = await publishEach(nodes, (from) => from * PER_PROCESS, PER_PROCESS);
    const indexes = published.flatMap((p) => p.ok);
    expect(indexes).toHaveLength(TOTAL);
    const reports = await settle(nodes, (r) => all(r, SUBSCRIBERS, indexes));
    for (const report of reports) {
      expect(report.duplicates).toBe(0);
      expect(report.seen.every((count) => count === SUBSCRIBERS)).toBe(true);
    }
  }, 30_000);

  test('Redis killed and restarted mid-run: publishes fail meanwhile, every process reports the gap, then all flows', async () => {
    const before = await publishEach(nodes, (from) => from * 20, 20, 5);
    await redis.kill();
    await new Promise((r) => setTimeout(r, 200));
    // During the outage: rejected at once.
    const during = await nodes[0].ask<Published>({ cmd: 'publish', base: 60, count: 10 }, 'published');
    expect(during.failed).toHaveLength(10);
    await redis.restart();
    const reports = await settle(nodes, (r) => r.every((x) => x.gaps === 1), 10_000);
    for (const report of reports) expect(report.gaps).toBe(1);
    // Resubscribed (the client does it on reconnect): what is published now reaches everyone once.
    await new Promise((r) => setTimeout(r, 300));
    const after = await publishEach(nodes, (from) => 70 + from * 5, 5);
    const afterIndexes = after.flatMap((p) => p.ok);
    expect(afterIndexes.length).toBe(15);
    const done = await settle(nodes, (r) => all(r, SUBSCRIBERS, afterIndexes));
    const beforeIndexes = before.flatMap((p) => p.ok);
    for (const report of done) {
      expect(report.duplicates).toBe(0);
      for (const i of afterIndexes) expect(report.seen[i]).toBe(SUBSCRIBERS);
      // Framed once per process: a message reached all of a process's subscribers or none.
      for (const i of beforeIndexes) expect([0, SUBSCRIBERS]).toContain(report.seen[i]);
    }
  }, 30_000);

  test('one Node process killed mid-run: the others go on', async () => {
    const victim = nodes[2];
    const survivors = nodes.slice(0, 2);
    const run = publishEach(survivors, (from) => from * PER_PROCESS, PER_PROCESS, 10);
    victim.child.kill('SIGKILL');
    await once(victim.child, 'exit');
    const indexes = (await run).flatMap((p) => p.ok);
    expect(indexes).toHaveLength(2 * PER_PROCESS);
    const reports = await settle(survivors, (r) => all(r, SUBSCRIBERS, indexes));
    for (const report of reports) {
      expect(report.duplicates).toBe(0);
      for (const i of indexes) expect(report.seen[i]).toBe(SUBSCRIBERS);
    }
  }, 30_000);
});

describe('pubsub, ioredis: 3 processes × 1,000 subscribers', () => {
  let redis: RedisProcess;
  let nodes: NodeProcess[];
  beforeAll(async () => {
    [redis, nodes] = await startAll('ioredis', 'pubsub', false);
  }, 60_000);
  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    await redis.stop();
  });
  beforeEach(() => expectFresh(nodes));

  test('every message exactly once to each subscriber', async () => {
    const published = await publishEach(nodes, (from) => from * PER_PROCESS, PER_PROCESS);
    const indexes = published.flatMap((p) => p.ok);
    expect(indexes).toHaveLength(TOTAL);
    const reports = await settle(nodes, (r) => all(r, SUBSCRIBERS, indexes));
    for (const report of reports) {
      expect(report.duplicates).toBe(0);
      expect(report.seen.every((count) => count === SUBSCRIBERS)).toBe(true);
    }
  }, 30_000);
});

describe('streams, ioredis: 3 processes × 1,000 subscribers', () => {
  let redis: RedisProcess;
  let nodes: NodeProcess[];
  beforeAll(async () => {
    [redis, nodes] = await startAll('ioredis', 'streams', true);
  }, 60_000);
  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    await redis.stop();
  });
  beforeEach(() => expectFresh(nodes));

  test('every message exactly once to each subscriber', async () => {
    const indexes = (await publishEach(nodes, (from) => from * PER_PROCESS, PER_PROCESS)).flatMap((p) => p.ok);
    expect(indexes).toHaveLength(TOTAL);
    const reports = await settle(nodes, (r) => all(r, SUBSCRIBERS, indexes));
    for (const report of reports) {
      expect(report.duplicates).toBe(0);
      expect(report.seen.every((count) => count === SUBSCRIBERS)).toBe(true);
    }
  }, 30_000);

  test('Redis killed and restarted mid-run: every message still reaches every subscriber exactly once', async () => {
    const run = publishEach(nodes, (from) => from * PER_PROCESS, PER_PROCESS, 10);
    await new Promise((r) => setTimeout(r, 30));
    await redis.kill();
    await new Promise((r) => setTimeout(r, 300));
    await redis.restart();
    const indexes = (await run).flatMap((p) => p.ok);
    expect(indexes).toHaveLength(TOTAL);
    const reports = await settle(nodes, (r) => all(r, SUBSCRIBERS, indexes), 20_000);
    for (const report of reports) {
      expect(report.duplicates).toBe(0);
      expect(report.seen.every((count) => count === SUBSCRIBERS)).toBe(true);
    }
  }, 40_000);
});
