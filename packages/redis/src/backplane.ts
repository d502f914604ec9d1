/**
 * The Redis backplane of a wskit topic hub.
 *
 * It takes over the hub's publish() as its relay (core topics.ts): every publish goes to Redis, and each process
 * delivers what Redis gives it back to its local subscribers through hub.deliver(), the hub's fan-out path, so
 * a message is framed once per process. Local subscribers (the publisher's own included) are therefore served
 * in the order Redis delivers: all subscribers of a topic, in every process, see that topic's messages in one
 * order, the order Redis received them.
 *
 * The process holds a Redis subscription (or a stream read) for a topic only while the hub has local
 * subscribers of it, following the hub's 'topicOpen' and 'topicClose' events. Changes made in one loop turn
 * are sent as one SUBSCRIBE / UNSUBSCRIBE.
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { TopicHub, type PublishOptions, type SubscribeOptions, type TopicRelay, type WebSocket } from '@wskit/core';
import { RedisBackplaneError, type RedisAdapter, type RedisReply } from './adapter.js';
import { decode, encode, type Envelope } from './envelope.js';
import { ioredisAdapter, isIORedisClient } from './ioredis.js';
import { isNodeRedisClient, nodeRedisAdapter } from './node-redis.js';
import { keySlot } from './slot.js';
import { compareIds, isStreamId } from './stream-id.js';

export type BackplaneMode = 'pubsub' | 'sharded' | 'streams';

/**
 * streams: XADD (capped) that also stores, as field `p`, the id of the entry before the new one. After the cap
 * trimmed a stream, its oldest entry's `p` tells what was trimmed: nothing after `since` is lost when `p` is not
 * newer than `since`.
 */
const XADD_SCRIPT = `local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local prev = '0-0'
if #last > 0 then prev = last[1][1] end
return redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'm', ARGV[2], 'p', prev)`;

/** Publishes that failed this long (ms) before the connection was seen lost count in that outage's gap. */
const SUSPECT_WINDOW_MS = 10_000;

/** A message of a stream, as given to the `format` option. */
export interface StreamMessage {
  id: string;
  topic: string;
  data: Buffer;
  binary: boolean;
}

export interface RedisBackplaneOptions {
  /**
   * A node-redis v6 client (createClient(), or createCluster() for 'sharded') or an ioredis v6 client
   * (new Redis(), or new Cluster(..., { shardedSubscribers: true }) for 'sharded'). The backplane publishes
   * through it and makes its own connections with duplicate() for subscribing and blocking reads; it never
   * closes the client it was given.
   */
  client: unknown;
  /** Default 'pubsub'. */
  mode?: BackplaneMode;
  /** Prefix of the Redis channel or stream key of each topic. Default 'wskit:'. */
  prefix?: string;
  /** streams: approximate cap of each topic's stream (XADD MAXLEN ~). Default 10,000. */
  maxLen?: number;
  /**
   * pubsub and sharded: how long a publish waits for Redis's reply before it rejects with
   * WS_ERR_REDIS_UNAVAILABLE (ms). Default 500; 0 or Infinity: no timer (wait for the client to give up).
   */
  publishTimeout?: number;
  /** streams: how long one blocking XREAD waits (ms). Default 5,000. */
  blockMs?: number;
  /** streams: publishes held while Redis is unreachable, sent when it is back; more are rejected. Default 10,000. */
  maxQueued?: number;
  /**
   * streams: what subscribers receive for a message (called once per message and process, and for each
   * replayed message). Default: the published data as is. Use it to give clients the id they pass as `since`.
   */
  format?: (message: StreamMessage) => string | Buffer;
}

/** The window in which a pubsub or sharded backplane was disconnected: messages of its topics may be lost. */
export interface GapEvent {
  /** When the connection was lost and when it was ready again (ms since the epoch). */
  from: number;
  to: number;
  /** Topics that had local subscribers during the gap. */
  topics: string[];
  /**
   * Publishes of this process that failed during the gap, or shortly before it was seen (a timed-out publish to
   * a Redis that had died); `from` is then when the first of them was sent.
   */
  failedPublishes: number;
}

/** streams: messages after a subscriber's `since` were trimmed by the cap (it may have missed some). */
export interface HistoryGapEvent {
  ws: WebSocket;
  topic: string;
  since: string;
  /** The oldest id still in the stream (replay starts there). */
  oldest: string;
}

export interface BackplaneStats {
  mode: BackplaneMode;
  /** Redis subscriptions (or stream reads) held: the topics with local subscribers. */
  subscriptions: number;
  /** SUBSCRIBE/UNSUBSCRIBE commands sent (each may carry several channels). */
  subscribeCommands: number;
  published: number;
  failedPublishes: number;
  /** Messages received from Redis, and those that found local subscribers. */
  received: number;
  delivered: number;
  /** streams: publishes waiting for Redis to come back. */
  queued: number;
  gaps: number;
}

interface HubHolder {
  topicHub?: unknown;
  topics?: unknown;
  websocketServer?: { topicHub?: unknown };
}

/** The topic hub of a WebSocketServer, a plugin's instance (express/koa/nest `topics`, fastify), or a hub. */
export function resolveHub(target: unknown): TopicHub {
  if (target instanceof TopicHub) return target;
  const holder = target as HubHolder | null;
  const candidates = [holder?.topicHub, holder?.topics, holder?.websocketServer?.topicHub];
  const hub = candidates.find((c) => c instanceof TopicHub);
  if (hub === undefined) {
    throw new TypeError(
      'createRedisBackplane needs a WebSocketServer, a TopicHub or a plugin instance that exposes its hub (topics)',
    );
  }
  return hub as TopicHub;
}

function makeAdapter(client: unknown, mode: BackplaneMode): RedisAdapter {
  if (isNodeRedisClient(client)) {
    // Clients and clusters both have sSubscribe; only a cluster routes by slot.
    const cluster = typeof (client as { getSlotRandomNode?: unknown }).getSlotRandomNode === 'function';
    if (mode === 'sharded' && !cluster)
      throw new TypeError("mode 'sharded' needs a node-redis cluster (createCluster)");
    return nodeRedisAdapter(client, cluster);
  }
  if (isIORedisClient(client)) return ioredisAdapter(client);
  throw new TypeError('The client must be a node-redis (`redis`) or an ioredis client');
}

interface ReplayState {
  /** Live messages that arrived while the socket's history was read. */
  pending: Array<{ id: string; data: string | Buffer; binary: boolean }>;
  /** Set when the history was sent: the last id sent (live messages up to it are not sent again). */
  last: string | null;
}

type Outgoing = {
  topic: string;
  seq: number;
  message: Buffer;
  resolve: (id: string) => void;
  reject: (e: Error) => void;
};

export class RedisBackplane extends EventEmitter implements TopicRelay {
  readonly hub: TopicHub;
  readonly mode: BackplaneMode;
  readonly prefix: string;
  private readonly adapter: RedisAdapter;
  private readonly origin = randomBytes(8);
  private readonly originHex = this.origin.toString('hex');
  private seq = 0;
  private closed = false;

  // pubsub / sharded
  private readonly desired = new Set<string>();
  private readonly active = new Set<string>();
  private syncing: Promise<void> | null = null;
  private syncScheduled = false;
  private readonly excepts = new Map<number, PublishOptions['except']>();
  private downAt = 0;
  private failedInOutage = 0;
  private readonly publishTimeout: number;
  /** Publishes that failed while the connection still looked up: counted in the gap if it turns out lost. */
  private suspectSince = 0;
  private suspectAt = 0;
  private suspectFailures = 0;

  // streams
  private readonly maxLen: number;
  private readonly blockMs: number;
  private readonly maxQueued: number;
  private readonly format: ((m: StreamMessage) => string | Buffer) | null;
  private readonly cursors = new Map<string, string>();
  private readonly lastSeq = new Map<string, Map<string, number>>();
  private readonly replaying = new Map<string, Map<WebSocket, ReplayState>>();
  private readonly queue: Outgoing[] = [];
  private flushing = false;
  private readerId: number | null = null;
  private readerBlocked = false;
  private wake: (() => void) | null = null;
  private reader: Promise<void> | null = null;

  private readonly counters = {
    subscribeCommands: 0,
    published: 0,
    failedPublishes: 0,
    received: 0,
    delivered: 0,
    gaps: 0,
  };

  private readonly onOpen = (topic: string): void => this.interest(topic, true);
  private readonly onClose = (topic: string): void => this.interest(topic, false);
  private readonly onSubscribe = (ws: WebSocket, topic: string, options: SubscribeOptions): void => {
    if (this.mode === 'streams' && options.since !== undefined) this.replay(ws, topic, options.since);
  };

  constructor(target: unknown, options: RedisBackplaneOptions) {
    super();
    const mode = options.mode ?? 'pubsub';
    if (mode !== 'pubsub' && mode !== 'sharded' && mode !== 'streams') {
      throw new TypeError(`Invalid mode ${JSON.stringify(mode)} (expected "pubsub", "sharded" or "streams")`);
    }
    this.mode = mode;
    this.hub = resolveHub(target);
    this.prefix = options.prefix ?? 'wskit:';
    this.maxLen = options.maxLen ?? 10_000;
    this.blockMs = options.blockMs ?? 5_000;
    const publishTimeout = options.publishTimeout ?? 500;
    if (typeof publishTimeout !== 'number' || Number.isNaN(publishTimeout) || publishTimeout < 0) {
      throw new TypeError(`Invalid publishTimeout ${String(publishTimeout)} (expected a number of ms >= 0)`);
    }
    this.publishTimeout = publishTimeout > 0 && Number.isFinite(publishTimeout) ? publishTimeout : 0;
    this.maxQueued = options.maxQueued ?? 10_000;
    this.format = options.format ?? null;
    this.adapter = makeAdapter(options.client, mode);
    this.adapter.onMessage((channel, message) => this.receive(channel, message));
    this.adapter.onStatus((up, error) => this.status(up, error));
    this.hub.setRelay(this);
    this.hub.on('topicOpen', this.onOpen);
    this.hub.on('topicClose', this.onClose);
    this.hub.on('subscribe', this.onSubscribe);
    for (const topic of this.hub.topics) this.interest(topic, true);
  }

  stats(): BackplaneStats {
    return {
      mode: this.mode,
      subscriptions: this.mode === 'streams' ? this.cursors.size : this.active.size,
      queued: this.queue.length,
      ...this.counters,
    };
  }

  /** Resolves once the Redis subscriptions (or stream cursors) match the hub's topics with subscribers. */
  async synced(): Promise<void> {
    if (this.mode === 'streams') {
      while (!this.closed && [...this.hub.topics].some((t) => !this.cursors.has(t))) await delay(5);
      return;
    }
    while (!this.closed && (this.syncing !== null || this.syncScheduled || !sameSet(this.desired, this.active))) {
      await (this.syncing ?? delay(1));
    }
  }

  /**
   * Publishes through Redis; resolves with the PUBLISH reply (processes that received it) for pubsub and
   * sharded, with the message id for streams. Rejects at once (WS_ERR_REDIS_UNAVAILABLE) when pubsub or
   * sharded has no connection; streams queue the message instead (up to maxQueued).
   */
  publish(topic: string, payload: Buffer, binary: boolean, options: PublishOptions): number;
  publish(topic: string, data: string | Buffer, options?: PublishOptions): Promise<number | string>;
  publish(
    topic: string,
    data: string | Buffer,
    binaryOrOptions?: boolean | PublishOptions,
    relayOptions?: PublishOptions,
  ): number | Promise<number | string> {
    if (typeof binaryOrOptions === 'boolean') {
      // The hub's relay call (wss.publish): failures are reported by 'publishError'.
      this.send(topic, data as Buffer, binaryOrOptions, relayOptions ?? {}).catch(() => {});
      return this.hub.subscriberCount(topic);
    }
    const options = binaryOrOptions ?? {};
    const payload = typeof data === 'string' ? Buffer.from(data) : data;
    return this.send(topic, payload, options.binary ?? typeof data !== 'string', options);
  }

  /** Detaches from the hub (publish() delivers locally again) and closes the connections it made. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.hub.off('topicOpen', this.onOpen);
    this.hub.off('topicClose', this.onClose);
    this.hub.off('subscribe', this.onSubscribe);
    if (this.hub.relay === this) this.hub.setRelay(null);
    for (const item of this.queue.splice(0)) {
      item.reject(new RedisBackplaneError('WS_ERR_REDIS_CLOSED', 'The backplane was closed'));
    }
    this.wake?.();
    if (this.readerBlocked && this.readerId !== null) {
      await this.adapter.command(['CLIENT', 'UNBLOCK', String(this.readerId)]).catch(() => {});
    }
    await this.adapter.close();
    await this.reader?.catch(() => {});
  }

  // ─── Publishing ───────────────────────────────────────────────────────────────────────────────────────

  private send(topic: string, payload: Buffer, binary: boolean, options: PublishOptions): Promise<number | string> {
    if (typeof topic !== 'string') return Promise.reject(new TypeError('A topic must be a string'));
    if (this.closed) {
      return Promise.reject(new RedisBackplaneError('WS_ERR_REDIS_CLOSED', 'The backplane was closed'));
    }
    const seq = (this.seq = (this.seq + 1) >>> 0);
    const except = options.except ?? null;
    const hasExcept = except !== null && this.hub.subscriberCount(topic) > 0;
    if (hasExcept) this.excepts.set(seq, except);
    const message = encode(this.origin, seq, payload, binary, options.compress === true, hasExcept);
    const key = this.prefix + topic;
    this.counters.published++;
    if (this.mode === 'streams') {
      return new Promise<string>((resolve, reject) => {
        const item = { topic, seq, message, resolve, reject };
        if (this.adapter.ready() && this.queue.length === 0) this.xadd(item);
        else this.enqueue(item);
      });
    }
    if (!this.adapter.ready()) {
      this.excepts.delete(seq);
      return Promise.reject(
        this.failed(topic, new RedisBackplaneError('WS_ERR_REDIS_UNAVAILABLE', 'Redis is not connected')),
      );
    }
    const command = this.mode === 'sharded' ? 'SPUBLISH' : 'PUBLISH';
    const started = Date.now();
    return new Promise<number>((resolve, reject) => {
      let settled = false;
      // A publish sent in the instant Redis died waits for the client to notice (seconds): give up sooner.
      const timer =
        this.publishTimeout === 0
          ? null
          : setTimeout(() => {
              // After this turn's I/O: a reply that came while the event loop was busy is read first.
              setImmediate(() => {
                if (settled) return;
                settled = true;
                const message = `PUBLISH got no reply within ${this.publishTimeout} ms`;
                reject(this.failed(topic, new RedisBackplaneError('WS_ERR_REDIS_UNAVAILABLE', message), started));
              });
            }, this.publishTimeout);
      this.adapter.command([command, key, message], key).then(
        (reply) => {
          if (timer !== null) clearTimeout(timer);
          // Redis answers (if late): earlier failures were not the start of an outage.
          this.suspectSince = this.suspectAt = this.suspectFailures = 0;
          if (settled) return;
          settled = true;
          resolve(Number(reply));
        },
        (error: Error) => {
          if (timer !== null) clearTimeout(timer);
          this.excepts.delete(seq);
          if (settled) return;
          settled = true;
          const message = `PUBLISH failed: ${error.message}`;
          reject(
            this.failed(topic, new RedisBackplaneError('WS_ERR_REDIS_UNAVAILABLE', message, { cause: error }), started),
          );
        },
      );
    });
  }

  private failed(topic: string, error: Error, started = Date.now()): Error {
    this.counters.failedPublishes++;
    if (this.downAt !== 0) this.failedInOutage++;
    else {
      // The backplane's connection has not seen the loss yet: counted in the gap if it does soon.
      if (this.suspectFailures === 0) this.suspectSince = started;
      this.suspectFailures++;
      this.suspectAt = Date.now();
    }
    if (this.listenerCount('publishError') > 0) this.emit('publishError', error, topic, this.counters.failedPublishes);
    return error;
  }

  private enqueue(item: Outgoing): void {
    if (this.queue.length >= this.maxQueued) {
      item.reject(
        this.failed(
          item.topic,
          new RedisBackplaneError('WS_ERR_REDIS_QUEUE_FULL', 'Too many publishes held for Redis'),
        ),
      );
      return;
    }
    this.queue.push(item);
  }

  private xadd(item: Outgoing): void {
    const key = this.prefix + item.topic;
    const args = ['EVAL', XADD_SCRIPT, '1', key, String(this.maxLen), item.message];
    this.adapter.command(args, key).then(
      (id) => item.resolve(String(id)),
      () => {
        // Lost with the connection: sent again when Redis is back (a copy that did land is dropped by readers),
        // before the publishes made since, so that a topic's stream keeps each process's order.
        let at = this.queue.length;
        while (at > 0 && this.queue[at - 1].seq > item.seq) at--;
        this.queue.splice(at, 0, item);
        void this.flush();
      },
    );
  }

  /** Sends the held publishes in order once Redis is ready. */
  private async flush(): Promise<void> {
    if (this.flushing) return;
    this.flushing = true;
    try {
      while (this.queue.length > 0 && !this.closed) {
        if (!this.adapter.ready()) {
          await delay(50);
          continue;
        }
        for (const item of this.queue.splice(0)) this.xadd(item);
      }
    } finally {
      this.flushing = false;
    }
  }

  // ─── Interest (which topics this process follows) ────────────────────────────────────────────────────

  private interest(topic: string, on: boolean): void {
    if (this.closed) return;
    if (this.mode === 'streams') {
      if (on) void this.openStream(topic);
      else {
        this.cursors.delete(topic);
        this.lastSeq.delete(topic);
        this.replaying.delete(topic);
      }
      return;
    }
    if (on) this.desired.add(topic);
    else this.desired.delete(topic);
    if (!this.syncScheduled) {
      this.syncScheduled = true;
      queueMicrotask(() => {
        this.syncScheduled = false;
        this.syncing ??= this.sync().finally(() => (this.syncing = null));
      });
    }
  }

  /** Brings the Redis subscriptions to `desired`, one SUBSCRIBE and one UNSUBSCRIBE per round. */
  private async sync(): Promise<void> {
    const sharded = this.mode === 'sharded';
    for (let round = 0; round < 100 && !this.closed; round++) {
      const add = [...this.desired].filter((t) => !this.active.has(t));
      const drop = [...this.active].filter((t) => !this.desired.has(t));
      if (add.length === 0 && drop.length === 0) return;
      try {
        if (add.length > 0) {
          await Promise.all(
            this.batches(add).map((channels) => {
              this.counters.subscribeCommands++;
              return this.adapter.subscribe(channels, sharded);
            }),
          );
          for (const t of add) this.active.add(t);
        }
        if (drop.length > 0) {
          for (const t of drop) this.active.delete(t);
          await Promise.all(
            this.batches(drop).map((channels) => {
              this.counters.subscribeCommands++;
              return this.adapter.unsubscribe(channels, sharded);
            }),
          );
        }
      } catch (error) {
        if (this.listenerCount('error') > 0) this.emit('error', error);
        await delay(100);
      }
    }
  }

  /** Channels of `topics` in one batch, or for sharded one per hash slot (SSUBSCRIBE takes one slot). */
  private batches(topics: string[]): string[][] {
    const channels = topics.map((t) => this.prefix + t);
    if (this.mode !== 'sharded') return [channels];
    const bySlot = new Map<number, string[]>();
    for (const channel of channels) {
      const slot = keySlot(channel);
      const list = bySlot.get(slot);
      if (list === undefined) bySlot.set(slot, [channel]);
      else list.push(channel);
    }
    return [...bySlot.values()];
  }

  // ─── Receiving ────────────────────────────────────────────────────────────────────────────────────────

  private receive(channel: string, message: Buffer): void {
    if (!channel.startsWith(this.prefix)) return;
    const topic = channel.slice(this.prefix.length);
    const envelope = decode(message);
    if (envelope === null) return;
    this.counters.received++;
    let except: PublishOptions['except'] | undefined;
    if (envelope.hasExcept && envelope.origin === this.originHex) {
      except = this.excepts.get(envelope.seq) ?? undefined;
      this.excepts.delete(envelope.seq);
    }
    if (this.hub.subscriberCount(topic) === 0) return;
    this.counters.delivered++;
    this.hub.deliver(topic, envelope.payload, { binary: envelope.binary, compress: envelope.compress, except });
  }

  private status(up: boolean, error?: Error): void {
    if (this.closed) return;
    if (!up) {
      if (this.downAt === 0) {
        const now = Date.now();
        const recent = this.suspectFailures > 0 && now - this.suspectAt <= SUSPECT_WINDOW_MS;
        // The lost window starts at the first publish that went unanswered, if that was just before.
        this.downAt = recent ? Math.min(this.suspectSince, now) : now;
        this.failedInOutage = recent ? this.suspectFailures : 0;
        this.suspectSince = this.suspectAt = this.suspectFailures = 0;
        this.readerId = null;
        if (this.listenerCount('down') > 0) this.emit('down', error);
      }
      return;
    }
    if (this.downAt === 0) return;
    const gap: GapEvent = {
      from: this.downAt,
      to: Date.now(),
      topics: this.mode === 'streams' ? [...this.cursors.keys()] : [...this.desired],
      failedPublishes: this.failedInOutage,
    };
    this.downAt = 0;
    if (this.mode === 'streams') {
      // Nothing was lost: readers resume at their cursors and held publishes go out now.
      void this.flush();
      this.emit('reconnect', gap);
      return;
    }
    // Messages published while we were away are gone (at most once); the client resubscribes on its own, and
    // those of our own that would have come back with an `except` will not.
    this.excepts.clear();
    this.counters.gaps++;
    this.emit('gap', gap);
  }

  // ─── Streams ──────────────────────────────────────────────────────────────────────────────────────────

  private async openStream(topic: string): Promise<void> {
    const key = this.prefix + topic;
    let last = '0-0';
    for (;;) {
      try {
        const reply = (await this.adapter.command(['XREVRANGE', key, '+', '-', 'COUNT', '1'], key)) as RedisReply[];
        if (reply.length > 0) last = String((reply[0] as RedisReply[])[0]);
        break;
      } catch {
        if (this.closed) return;
        await delay(100);
      }
    }
    if (this.hub.subscriberCount(topic) === 0 || this.cursors.has(topic)) return;
    this.cursors.set(topic, last);
    this.kick();
  }

  /** Wakes the reader (or unblocks its XREAD) so it reads the new set of streams. */
  private kick(): void {
    if (this.reader === null) this.reader = this.read();
    if (this.wake !== null) this.wake();
    else if (this.readerBlocked && this.readerId !== null) {
      void this.adapter.command(['CLIENT', 'UNBLOCK', String(this.readerId)]).catch(() => {});
    }
  }

  private async read(): Promise<void> {
    while (!this.closed) {
      if (this.cursors.size === 0) {
        await new Promise<void>((resolve) => (this.wake = resolve));
        this.wake = null;
        continue;
      }
      try {
        this.readerId ??= Number(await this.adapter.blocking(['CLIENT', 'ID']));
        const topics = [...this.cursors.keys()];
        const args = ['XREAD', 'COUNT', '1000', 'BLOCK', String(this.blockMs), 'STREAMS'];
        for (const t of topics) args.push(this.prefix + t);
        for (const t of topics) args.push(this.cursors.get(t)!);
        this.readerBlocked = true;
        const reply = await this.adapter.blocking(args);
        this.readerBlocked = false;
        if (reply !== null) this.deliverStreams(streamsOf(reply));
      } catch {
        this.readerBlocked = false;
        this.readerId = null;
        if (!this.closed) await delay(100);
      }
    }
  }

  private deliverStreams(reply: RedisReply[]): void {
    for (const stream of reply as RedisReply[][]) {
      const topic = String(stream[0]).slice(this.prefix.length);
      for (const entry of stream[1] as RedisReply[][]) {
        if (!this.cursors.has(topic)) break;
        const id = String(entry[0]);
        this.cursors.set(topic, id);
        const envelope = fieldEnvelope(entry[1] as RedisReply[]);
        if (envelope === null || this.seen(topic, envelope)) continue;
        this.counters.received++;
        this.deliverEntry(topic, id, envelope);
      }
    }
  }

  /** True for a retried publish already delivered (a process's sequence only grows on one topic). */
  private seen(topic: string, envelope: Envelope): boolean {
    let origins = this.lastSeq.get(topic);
    if (origins === undefined) this.lastSeq.set(topic, (origins = new Map()));
    const last = origins.get(envelope.origin);
    if (last !== undefined && envelope.seq <= last && last - envelope.seq < 0x40000000) return true;
    origins.set(envelope.origin, envelope.seq);
    return false;
  }

  private formatted(topic: string, id: string, envelope: Envelope): string | Buffer {
    return this.format === null
      ? envelope.payload
      : this.format({ id, topic, data: envelope.payload, binary: envelope.binary });
  }

  private deliverEntry(topic: string, id: string, envelope: Envelope): void {
    let except: PublishOptions['except'] | undefined;
    if (envelope.hasExcept && envelope.origin === this.originHex) {
      except = this.excepts.get(envelope.seq);
      this.excepts.delete(envelope.seq);
    }
    if (this.hub.subscriberCount(topic) === 0) return;
    const data = this.formatted(topic, id, envelope);
    const replays = this.replaying.get(topic);
    if (replays !== undefined && replays.size > 0) {
      const skip = new Set<WebSocket>();
      for (const [ws, state] of replays) {
        if (state.last === null) state.pending.push({ id, data, binary: envelope.binary });
        else if (compareIds(id, state.last) > 0 || ws.readyState !== 1) {
          replays.delete(ws);
          continue;
        }
        skip.add(ws);
      }
      if (except !== undefined && except !== null) {
        for (const ws of isIterable(except) ? except : [except]) skip.add(ws);
      }
      except = skip;
    }
    this.counters.delivered++;
    this.hub.deliver(topic, data, { binary: envelope.binary, compress: envelope.compress, except });
  }

  /** Sends `ws` what its topic's stream holds after `since`, then what arrived meanwhile, then it is live. */
  private replay(ws: WebSocket, topic: string, since: string): void {
    let replays = this.replaying.get(topic);
    if (replays === undefined) this.replaying.set(topic, (replays = new Map()));
    const state: ReplayState = { pending: [], last: null };
    replays.set(ws, state);
    const key = this.prefix + topic;
    const failed = (): void => {
      if (this.replaying.get(topic)?.get(ws) === state) this.replaying.get(topic)!.delete(ws);
    };
    const run = async (): Promise<void> => {
      let from = isStreamId(since) ? since : '0-0';
      const first = (await this.adapter.command(['XRANGE', key, '-', '+', 'COUNT', '1'], key)) as RedisReply[];
      if (first.length > 0) {
        const entry = first[0] as RedisReply[];
        const oldest = String(entry[0]);
        // `since` itself may be trimmed with nothing after it: only when the entry before the oldest one is
        // newer than `since` were messages after it trimmed (an entry without `p`: assume they were).
        const before = fieldOf(entry[1] as RedisReply[], 'p');
        const lost = before === null || compareIds(String(before), from) > 0;
        if (from !== '0' && from !== '0-0' && compareIds(from, oldest) < 0 && lost) {
          const event: HistoryGapEvent = { ws, topic, since, oldest };
          this.emit('historyGap', event);
        }
      }
      let last = from;
      for (;;) {
        const page = (await this.adapter.command(
          ['XRANGE', key, '(' + from, '+', 'COUNT', '500'],
          key,
        )) as RedisReply[];
        if (page.length === 0 || ws.readyState !== 1 || !ws.isSubscribed(topic)) break;
        for (const entry of page as RedisReply[][]) {
          const id = String(entry[0]);
          const envelope = fieldEnvelope(entry[1] as RedisReply[]);
          from = last = id;
          if (envelope !== null) ws.send(this.formatted(topic, id, envelope), { binary: envelope.binary });
        }
        if (page.length < 500) break;
      }
      for (const item of state.pending) {
        if (compareIds(item.id, last) > 0) {
          ws.send(item.data, { binary: item.binary });
          last = item.id;
        }
      }
      // Until the live read passes `last`, live messages up to it were sent by the replay.
      state.last = last;
      state.pending = [];
    };
    run().catch((error: unknown) => {
      failed();
      if (this.listenerCount('error') > 0) this.emit('error', error);
    });
  }
}

/**
 * XREAD's reply as [key, entries] pairs: an array of pairs in RESP2; in RESP3 a map, which node-redis gives as
 * an object and ioredis as a flat [key, entries, key, entries…] array.
 */
function streamsOf(reply: RedisReply | Record<string, RedisReply> | Map<unknown, RedisReply>): RedisReply[] {
  if (Array.isArray(reply)) {
    if (reply.length === 0 || Array.isArray(reply[0])) return reply;
    const pairs: RedisReply[] = [];
    for (let i = 0; i + 1 < reply.length; i += 2) pairs.push([reply[i], reply[i + 1]]);
    return pairs;
  }
  if (reply instanceof Map) return [...reply].map(([k, v]) => [String(k), v]);
  if (reply !== null && typeof reply === 'object' && !Buffer.isBuffer(reply))
    return Object.entries(reply) as RedisReply[];
  return [];
}

function fieldOf(fields: RedisReply[], name: string): RedisReply {
  for (let i = 0; i + 1 < fields.length; i += 2) if (String(fields[i]) === name) return fields[i + 1];
  return null;
}

function fieldEnvelope(fields: RedisReply[]): Envelope | null {
  const m = fieldOf(fields, 'm');
  return Buffer.isBuffer(m) ? decode(m) : null;
}

function isIterable(value: unknown): value is Iterable<WebSocket> {
  return typeof (value as Iterable<WebSocket>)[Symbol.iterator] === 'function';
}

function sameSet(a: Set<string>, b: Set<string>): boolean {
  if (a.size !== b.size) return false;
  for (const x of a) if (!b.has(x)) return false;
  return true;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Attaches a Redis backplane to the hub of `target` (a WebSocketServer, a plugin's instance or a TopicHub). */
export function createRedisBackplane(target: unknown, options: RedisBackplaneOptions): RedisBackplane {
  return new RedisBackplane(target, options);
}
