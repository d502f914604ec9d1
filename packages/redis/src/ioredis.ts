/** RedisAdapter over ioredis (v6): a `new Redis()` client or a `new Cluster()` (with shardedSubscribers for sharded). */
import type { RedisAdapter, RedisArgument, RedisReply } from './adapter.js';

/** What the adapter uses of an ioredis client or cluster (structural: `ioredis` stays an optional peer). */
export interface IORedisClientLike {
  readonly status: string;
  duplicate(): IORedisClientLike;
  callBuffer(command: string, args: RedisArgument[]): Promise<unknown>;
  on(event: string, listener: (...args: never[]) => void): unknown;
  disconnect(): void;
  subscribe(...channels: string[]): Promise<unknown>;
  unsubscribe(...channels: string[]): Promise<unknown>;
  ssubscribe(...channels: string[]): Promise<unknown>;
  sunsubscribe(...channels: string[]): Promise<unknown>;
}

export function isIORedisClient(client: unknown): client is IORedisClientLike {
  const c = client as Partial<IORedisClientLike> | null;
  return c !== null && typeof c === 'object' && typeof c.callBuffer === 'function' && typeof c.duplicate === 'function';
}

export function ioredisAdapter(client: IORedisClientLike): RedisAdapter {
  let subscriber: IORedisClientLike | null = null;
  let blocker: IORedisClientLike | null = null;
  let onMessage: (channel: string, message: Buffer) => void = () => {};
  let onStatus: (up: boolean, error?: Error) => void = () => {};
  const own = (): IORedisClientLike => {
    const c = client.duplicate();
    let up = true;
    c.on('error', () => {});
    c.on('close', () => {
      if (up) onStatus((up = false));
    });
    c.on('ready', () => {
      if (!up) onStatus((up = true));
    });
    return c;
  };
  const sub = (): IORedisClientLike => {
    if (subscriber === null) {
      subscriber = own();
      subscriber.on('messageBuffer', (channel: Buffer, message: Buffer) => onMessage(channel.toString(), message));
      subscriber.on('smessageBuffer', (channel: Buffer, message: Buffer) => onMessage(channel.toString(), message));
    }
    return subscriber;
  };
  const call = (c: IORedisClientLike, args: RedisArgument[]): Promise<RedisReply> =>
    c.callBuffer(args[0].toString(), args.slice(1)) as Promise<RedisReply>;

  return {
    kind: 'ioredis',
    ready: () => client.status === 'ready',
    command: (args) => call(client, args),
    blocking: (args) => call((blocker ??= own()), args),
    async subscribe(channels, sharded) {
      const c = sub();
      await (sharded ? c.ssubscribe(...channels) : c.subscribe(...channels));
    },
    async unsubscribe(channels, sharded) {
      const c = sub();
      await (sharded ? c.sunsubscribe(...channels) : c.unsubscribe(...channels));
    },
    onMessage: (fn) => void (onMessage = fn),
    onStatus: (fn) => void (onStatus = fn),
    async close() {
      for (const c of [subscriber, blocker]) c?.disconnect();
      subscriber = blocker = null;
    },
  };
}
