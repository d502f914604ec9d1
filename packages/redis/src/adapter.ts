/**
 * The small interface the backplane needs from a Redis client, whichever library provides it
 * (node-redis: node-redis.ts, ioredis: ioredis.ts). Replies are raw RESP values with bulk strings as Buffers.
 */
export type RedisArgument = string | Buffer;
export type RedisReply = Buffer | string | number | null | RedisReply[] | { [key: string]: RedisReply };

export interface RedisAdapter {
  readonly kind: 'redis' | 'ioredis';
  /** Whether the command connection is connected and ready (publishes fail fast when it is not). */
  ready(): boolean;
  /** One command on the command connection; `key` routes it on a cluster. */
  command(args: RedisArgument[], key?: string): Promise<RedisReply>;
  /** One command on a connection of its own that may block (XREAD BLOCK); made on first use. */
  blocking(args: RedisArgument[]): Promise<RedisReply>;
  /** SUBSCRIBE (or SSUBSCRIBE when sharded) on the subscriber connection, made on first use. */
  subscribe(channels: string[], sharded: boolean): Promise<void>;
  unsubscribe(channels: string[], sharded: boolean): Promise<void>;
  /** Sets the receiver of every message of the subscriber connection. */
  onMessage(listener: (channel: string, message: Buffer) => void): void;
  /** Sets the receiver of the connection state (false: lost, true: ready again) of the connections it made. */
  onStatus(listener: (up: boolean, error?: Error) => void): void;
  /** Closes the connections the adapter made (not the client it was given). */
  close(): Promise<void>;
}

/** Error codes of the backplane's own failures. */
export class RedisBackplaneError extends Error {
  constructor(
    readonly code: 'WS_ERR_REDIS_UNAVAILABLE' | 'WS_ERR_REDIS_QUEUE_FULL' | 'WS_ERR_REDIS_CLOSED',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'RedisBackplaneError';
  }
}
