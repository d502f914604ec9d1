export {
  RedisBackplane,
  createRedisBackplane,
  resolveHub,
  type BackplaneMode,
  type BackplaneStats,
  type GapEvent,
  type HistoryGapEvent,
  type RedisBackplaneOptions,
  type StreamMessage,
} from './backplane.js';
export { RedisBackplaneError, type RedisAdapter, type RedisArgument, type RedisReply } from './adapter.js';
export { nodeRedisAdapter, type NodeRedisClientLike } from './node-redis.js';
export { ioredisAdapter, type IORedisClientLike } from './ioredis.js';
export { keySlot } from './slot.js';
