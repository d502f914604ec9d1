/** RedisAdapter over node-redis (`redis` v6): a client from createClient() or a cluster from createCluster(). */
import type { RedisAdapter, RedisArgument, RedisReply } from './adapter.js';

type Listener = (message: Buffer, channel: Buffer) => void;

/** What the adapter uses of a node-redis client (structural: `redis` stays an optional peer). */
export interface NodeRedisClientLike {
  readonly isReady: boolean;
  readonly isOpen: boolean;
  duplicate(): NodeRedisClientLike;
  connect(): Promise<unknown>;
  destroy(): void;
  withTypeMapping(mapping: Record<number, unknown>): NodeRedisClientLike;
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  subscribe(channels: string[], listener: Listener, bufferMode: true): Promise<void>;
  unsubscribe(channels: string[], listener: Listener, bufferMode: true): Promise<void>;
  sSubscribe(channels: string[], listener: Listener, bufferMode: true): Promise<void>;
  sUnsubscribe(channels: string[], listener: Listener, bufferMode: true): Promise<void>;
  sendCommand(...args: unknown[]): Promise<unknown>;
}

// RESP_TYPES.BLOB_STRING of @redis/client: bulk strings as Buffers.
const BUFFERS = { 36: Buffer };

export function isNodeRedisClient(client: unknown): client is NodeRedisClientLike {
  const c = client as Partial<NodeRedisClientLike> | null;
  return (
    c !== null && typeof c === 'object' && typeof c.withTypeMapping === 'function' && typeof c.sSubscribe === 'function'
  );
}

export function nodeRedisAdapter(client: NodeRedisClientLike, cluster: boolean): RedisAdapter {
  const commands = client.withTypeMapping(BUFFERS);
  let blocker: NodeRedisClientLike | null = null;
  let onMessage: (channel: string, message: Buffer) => void = () => {};
  let onStatus: (up: boolean, error?: Error) => void = () => {};
  const listener: Listener = (message, channel) => onMessage(channel.toString(), message);
  const own = async (): Promise<NodeRedisClientLike> => {
    const c = client.duplicate();
    let up = true;
    c.on('error', (error) => {
      if (up) onStatus((up = false), error as Error);
    });
    c.on('end', () => {
      if (up) onStatus((up = false));
    });
    c.on('ready', () => {
      if (!up) onStatus((up = true));
    });
    await c.connect();
    return c;
  };
  let subscriberMade: Promise<NodeRedisClientLike> | null = null;
  let blockerMade: Promise<NodeRedisClientLike> | null = null;
  const sub = (): Promise<NodeRedisClientLike> => (subscriberMade ??= own());
  const block = (): Promise<NodeRedisClientLike> =>
    (blockerMade ??= own().then((c) => (blocker = c.withTypeMapping(BUFFERS))));
  const send = (c: NodeRedisClientLike, args: RedisArgument[], key?: string): Promise<RedisReply> =>
    (cluster ? c.sendCommand(key, false, args) : c.sendCommand(args)) as Promise<RedisReply>;

  return {
    kind: 'redis',
    ready: () => client.isReady,
    command: (args, key) => send(commands, args, key),
    blocking: async (args) => send(blocker ?? (await block()), args),
    async subscribe(channels, sharded) {
      const c = await sub();
      if (sharded) await c.sSubscribe(channels, listener, true);
      else await c.subscribe(channels, listener, true);
    },
    async unsubscribe(channels, sharded) {
      const c = await sub();
      if (sharded) await c.sUnsubscribe(channels, listener, true);
      else await c.unsubscribe(channels, listener, true);
    },
    onMessage: (fn) => void (onMessage = fn),
    onStatus: (fn) => void (onStatus = fn),
    async close() {
      const made = [subscriberMade, blockerMade].filter((p) => p !== null);
      blocker = null;
      for (const p of made) {
        const c = await p.catch(() => null);
        // destroy(): a blocked XREAD would hold close() until its timeout.
        if (c?.isOpen) c.destroy();
      }
    },
  };
}
