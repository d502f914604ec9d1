/** The parts that need no Redis: finding the hub, hash slots, stream ids, the envelope, option checks. */
import { TopicHub, WebSocketServer } from '@wskit/core';
import { createRedisBackplane, keySlot, resolveHub } from '@wskit/redis';
import { decode, encode } from '../src/envelope.js';
import { compareIds, isStreamId } from '../src/stream-id.js';

test('resolveHub finds the hub of a server, a hub, and plugin instances (topics / websocketServer)', () => {
  const wss = new WebSocketServer({ noServer: true });
  const hub = new TopicHub();
  expect(resolveHub(wss)).toBe(wss.topicHub);
  expect(resolveHub(hub)).toBe(hub);
  expect(resolveHub({ topics: hub })).toBe(hub);
  expect(resolveHub({ websocketServer: wss })).toBe(wss.topicHub);
  expect(() => resolveHub({})).toThrow(TypeError);
  wss.close();
});

test('options are checked', () => {
  const wss = new WebSocketServer({ noServer: true });
  expect(() => createRedisBackplane(wss, { client: {} })).toThrow('node-redis');
  expect(() => createRedisBackplane(wss, { client: {}, mode: 'bogus' as 'pubsub' })).toThrow('Invalid mode');
  expect(() => createRedisBackplane(wss, { client: {}, publishTimeout: -1 })).toThrow('Invalid publishTimeout');
  wss.close();
});

test('keySlot is Redis Cluster’s CRC16 slot, hash tags included', () => {
  expect(keySlot('foo')).toBe(12182);
  expect(keySlot('123456789')).toBe(0x31c3 % 16384);
  expect(keySlot('{user1000}.following')).toBe(keySlot('user1000'));
  expect(keySlot('foo{}{bar}')).toBe(keySlot('foo{}{bar}'));
});

test('stream ids compare as numbers', () => {
  expect(compareIds('10-0', '9-5')).toBe(1);
  expect(compareIds('9-5', '9-10')).toBe(-1);
  expect(compareIds('9-5', '9-5')).toBe(0);
  expect(isStreamId('1700000000000-3')).toBe(true);
  expect(isStreamId('latest')).toBe(false);
});

test('the envelope keeps the payload, its flags, origin and sequence; foreign messages are ignored', () => {
  const origin = Buffer.from('0123456789abcdef', 'hex');
  const message = encode(origin, 0xfffffffe, Buffer.from('hi'), true, true, false);
  expect(decode(message)).toMatchObject({
    binary: true,
    compress: true,
    hasExcept: false,
    origin: '0123456789abcdef',
    seq: 0xfffffffe,
  });
  expect(decode(message)!.payload.toString()).toBe('hi');
  expect(decode(Buffer.from('plain text from elsewhere'))).toBeNull();
});
