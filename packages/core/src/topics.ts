/**
 * Topic pub/sub: sockets subscribe to exact-string topics and a publish reaches every subscriber.
 *
 * A TopicHub maps each topic to its set of subscribers (a Map of Sets: subscribe and unsubscribe are O(1));
 * a topic without subscribers is dropped from the map. Each server has a hub, and several servers can share
 * one (the framework plugins pass one hub to every route's server, so a publish on one route reaches the
 * topic's subscribers on all of them).
 *
 * A publish frames its message once and queues the same buffer on every subscriber's framer, which the
 * fan-out pump (fanout.ts) then writes a slice per loop turn, as broadcast does. Because the frame joins each
 * socket's own queue, publishes and send() calls on one socket leave in the order they were made.
 *
 * With `compress` and permessage-deflate, the hub's `compression` policy decides:
 * - 'shared' (default): a socket whose server compressor works without context takeover
 *   (server_no_context_takeover negotiated) can take a frame compressed independently of its history, so all
 *   such sockets with the same window bits share one deflate per publish. That deflate runs synchronously on
 *   the publishing call (one per publish instead of one per subscriber), and the sockets never build a zlib
 *   stream of their own for it. Sockets with context takeover are compressed one by one.
 * - 'dedicated': every socket's copy is deflated on its own, as send() does: a message up to 16 KiB on the
 *   publishing call (sync-deflate.ts), on a process-wide context where the socket has no context takeover and
 *   on the socket's own stream where it has; larger ones through that stream on the thread pool. Past the
 *   first 16 of a publish, every other copy without context takeover is deflated by the deflate worker thread
 *   meanwhile (deflate-offload.ts).
 *
 * Slow consumers: with a policy `{ limit, action }` (per hub, overridable per topic), a subscriber whose
 * bufferedAmount plus the frame would pass `limit` either misses the message (`skip`, counted per socket and
 * per topic) or is terminated (`close`, the same WS_ERR_BUFFER_LIMIT failure as maxBufferedAmount). Every
 * drop also emits 'drop' (socket, topic, action) on the hub.
 *
 * Relays (a backplane such as @wskit/redis): with a relay set, publish() hands the message to the relay instead
 * of delivering it, and the relay calls deliver() (the local fan-out above) when the message comes back to this
 * process. The hub reports local interest for it: 'topicOpen' (topic) when a topic gets its first subscriber,
 * 'topicClose' (topic) when its last one leaves, and 'subscribe' (ws, topic, options) for each new subscription.
 */
import { EventEmitter } from 'node:events';
import * as zlib from 'node:zlib';
import { OPEN, Opcode } from './constants.js';
import { WebSocketError } from './errors.js';
import { COPY_LIMIT, buildFrame } from './framer.js';
import { deflateIndependently } from './sync-deflate.js';
import { isFresh, toBuffer, type BufferLike, type WebSocket } from './websocket.js';

export type SlowConsumerAction = 'skip' | 'close';

export interface SlowConsumerPolicy {
  /** Largest bufferedAmount (bytes, frame included) a subscriber may reach with a published message. */
  limit: number;
  action: SlowConsumerAction;
}

/** Decides whether `ws` may subscribe to `topic`; a false result (or a rejected promise) refuses it. */
export type CanSubscribe<T extends WebSocket = WebSocket> = (ws: T, topic: string) => boolean | Promise<boolean>;

export type TopicCompression = 'shared' | 'dedicated';

export interface TopicHubOptions {
  /** How compressed publishes are deflated (see the file comment). Default 'shared'. */
  compression?: TopicCompression;
  /** Default slow-consumer policy of every topic; none by default. */
  slowConsumer?: SlowConsumerPolicy | null;
  /**
   * Authorizes subscriptions (sync or async). A server's `canSubscribe` option (a route's) replaces it for
   * that server's sockets, and setCanSubscribe() for one socket.
   */
  canSubscribe?: CanSubscribe | null;
}

export interface PublishOptions {
  /** Default: true for binary data, false for strings. */
  binary?: boolean;
  /** Compress where permessage-deflate was negotiated (see `compression`). Default false. */
  compress?: boolean;
  /**
   * Sockets that do not get this publish. A publishing socket that is subscribed receives its own message
   * unless it is listed here.
   */
  except?: WebSocket | Iterable<WebSocket>;
}

/** Options of ws.subscribe(), passed to the hub's 'subscribe' listeners (a relay may read them). */
export interface SubscribeOptions {
  /** Id of the last message the client got (a relay with history replays what came after it). */
  since?: string;
}

/** Takes over publish() (see the file comment); its return value is publish()'s. */
export interface TopicRelay {
  publish(topic: string, payload: Buffer, binary: boolean, options: PublishOptions): number;
}

/** Counters of a topic since it was created (a topic and its counters go when its last subscriber leaves). */
export interface TopicStats {
  subscribers: number;
  /** Publishes that found at least the topic (not counting those refused by `except` alone). */
  published: number;
  /** Messages queued on subscribers. */
  delivered: number;
  /** Messages a slow subscriber missed (action 'skip'). */
  skipped: number;
  /** Subscribers terminated as slow consumers (action 'close'). */
  closed: number;
  /** Deflates made for shared compressed frames (one per publish and window size). */
  sharedDeflates: number;
}

type Topic = { -readonly [K in keyof Omit<TopicStats, 'subscribers'>]: number } & {
  readonly subscribers: Set<WebSocket>;
};

/** A socket's side of its subscriptions (made on first use; a socket that never subscribes holds none). */
export interface SocketTopics {
  hub: TopicHub | null;
  readonly topics: Set<string>;
  /** Published messages this socket missed as a slow consumer. */
  skipped: number;
  /** Per-socket authorization (e.g. a route's), checked instead of the hub's. */
  canSubscribe: CanSubscribe | null;
  /**
   * Subscriptions waiting for an asynchronous canSubscribe answer, by topic. unsubscribe() (or close)
   * removes the entry, and an answer that finds its entry gone (or replaced) subscribes nothing.
   */
  pending: Map<string, Promise<boolean>> | null;
}

function socketTopics(ws: WebSocket): SocketTopics {
  return (ws._topicState ??= { hub: null, topics: new Set(), skipped: 0, canSubscribe: null, pending: null });
}

function noHubError(): WebSocketError {
  return new WebSocketError(
    'WS_ERR_NO_TOPIC_HUB',
    1011,
    'Topics need a socket accepted by a WebSocketServer (client sockets cannot subscribe)',
  );
}

function checkTopic(topic: unknown): asserts topic is string {
  if (typeof topic !== 'string') throw new TypeError('A topic must be a string');
}

function isThenable(value: unknown): value is PromiseLike<boolean> {
  return value !== null && typeof value === 'object' && typeof (value as PromiseLike<boolean>).then === 'function';
}

export class TopicHub extends EventEmitter {
  readonly compression: TopicCompression;
  slowConsumer: SlowConsumerPolicy | null;
  canSubscribe: CanSubscribe | null;

  /** Set by a backplane (setRelay); null: publish() delivers locally. */
  relay: TopicRelay | null = null;

  private readonly map = new Map<string, Topic>();
  private readonly topicPolicies = new Map<string, SlowConsumerPolicy | null>();

  constructor(options: TopicHubOptions = {}) {
    super();
    const compression = options.compression ?? 'shared';
    if (compression !== 'shared' && compression !== 'dedicated') {
      throw new TypeError(
        `Invalid topic compression ${JSON.stringify(compression)} (expected "shared" or "dedicated")`,
      );
    }
    this.compression = compression;
    this.slowConsumer = checkPolicy(options.slowConsumer ?? null);
    this.canSubscribe = options.canSubscribe ?? null;
  }

  /** Hands every publish to `relay` (null: back to local delivery). One relay per hub. */
  setRelay(relay: TopicRelay | null): void {
    if (relay !== null && this.relay !== null && this.relay !== relay) {
      throw new Error('This topic hub already has a relay');
    }
    this.relay = relay;
  }

  /** Names of the topics that have subscribers. */
  get topics(): string[] {
    return [...this.map.keys()];
  }

  subscriberCount(topic: string): number {
    return this.map.get(topic)?.subscribers.size ?? 0;
  }

  stats(topic: string): TopicStats {
    const t = this.map.get(topic);
    if (!t) return { subscribers: 0, published: 0, delivered: 0, skipped: 0, closed: 0, sharedDeflates: 0 };
    const { published, delivered, skipped, closed, sharedDeflates } = t;
    return { subscribers: t.subscribers.size, published, delivered, skipped, closed, sharedDeflates };
  }

  /** Published messages `ws` missed as a slow consumer ('skip'), over all its topics. */
  skippedFor(ws: WebSocket): number {
    return ws._topicState?.skipped ?? 0;
  }

  /**
   * Sets the slow-consumer policy of one topic (null: none for this topic; undefined: back to the hub's
   * default). Kept while the topic has no subscribers.
   */
  setTopicPolicy(topic: string, policy: SlowConsumerPolicy | null | undefined): void {
    checkTopic(topic);
    if (policy === undefined) this.topicPolicies.delete(topic);
    else this.topicPolicies.set(topic, checkPolicy(policy));
  }

  /**
   * Subscribes `ws` (which must be OPEN). Returns true when subscribed, false when refused; when the
   * authorization hook answers with a promise, a promise of that result (errors count as a refusal).
   */
  subscribe(
    ws: WebSocket,
    topic: string,
    serverHook?: CanSubscribe | null,
    options?: SubscribeOptions,
  ): boolean | Promise<boolean> {
    checkTopic(topic);
    if (ws.readyState !== OPEN) return false;
    const state = ws._topicState;
    if (state?.topics.has(topic)) return true;
    // Asked again while the first answer is awaited: the same answer.
    const waiting = state?.pending?.get(topic);
    if (waiting !== undefined) return waiting;
    const hook = state?.canSubscribe ?? serverHook ?? this.canSubscribe;
    if (hook === null) return this.add(ws, topic, options);
    const allowed = hook(ws, topic);
    if (!isThenable(allowed)) return allowed === true && this.add(ws, topic, options);
    const own = socketTopics(ws);
    const pending = (own.pending ??= new Map());
    const answer: Promise<boolean> = Promise.resolve(allowed).then(
      (ok) => {
        // unsubscribe() or close while the hook was deciding: the later call wins.
        if (pending.get(topic) !== answer) return false;
        pending.delete(topic);
        return ok === true && ws._readyState === OPEN && this.add(ws, topic, options);
      },
      () => {
        if (pending.get(topic) === answer) pending.delete(topic);
        return false;
      },
    );
    pending.set(topic, answer);
    return answer;
  }

  /**
   * Returns whether `ws` was subscribed. A subscription still waiting for an asynchronous canSubscribe is
   * cancelled too (its promise resolves false), and false is returned for it.
   */
  unsubscribe(ws: WebSocket, topic: string): boolean {
    checkTopic(topic);
    const state = ws._topicState;
    state?.pending?.delete(topic);
    if (!state?.topics.delete(topic)) return false;
    this.remove(ws, topic);
    return true;
  }

  /** Removes `ws` from every topic (called when it closes). */
  leaveAll(ws: WebSocket): void {
    const state = ws._topicState;
    if (!state) return;
    state.pending?.clear();
    for (const topic of state.topics) this.remove(ws, topic);
    state.topics.clear();
  }

  /**
   * Queues `data` on every open subscriber of `topic`; returns how many sockets it was queued for. Needs
   * no subscription of the publisher. One frame (and with shared compression one deflate) per publish.
   * With a relay, hands the message to it and returns what the relay returns.
   */
  publish(topic: string, data: Exclude<BufferLike, Blob>, options: PublishOptions = {}): number {
    checkTopic(topic);
    const relay = this.relay;
    if (relay !== null)
      return relay.publish(topic, toBuffer(data), options.binary ?? typeof data !== 'string', options);
    return this.deliver(topic, data, options);
  }

  /** Local delivery of publish() whatever the relay (a relay calls it for messages that reach this process). */
  deliver(topic: string, data: Exclude<BufferLike, Blob>, options: PublishOptions = {}): number {
    checkTopic(topic);
    const t = this.map.get(topic);
    if (t === undefined) return 0;
    const payload = toBuffer(data);
    const binary = options.binary ?? typeof data !== 'string';
    const opcode = binary ? Opcode.Binary : Opcode.Text;
    const except = options.except;
    let skipOne: WebSocket | null = null;
    let skipSet: Set<WebSocket> | null = null;
    if (except !== undefined && except !== null) {
      if (typeof (except as Iterable<WebSocket>)[Symbol.iterator] === 'function') {
        // A Set is used as given (no copy per publish); other iterables are gathered once.
        skipSet = except instanceof Set ? (except as Set<WebSocket>) : new Set(except as Iterable<WebSocket>);
      } else skipOne = except as WebSocket;
    }
    const compress = options.compress === true;
    const sharing = this.compression === 'shared';
    const policy = this.topicPolicies.has(topic) ? this.topicPolicies.get(topic)! : this.slowConsumer;
    const limit = policy === null ? 0 : policy.limit;

    let plain: Buffer | null = null;
    let shareable: Buffer | null = null;
    // Shared compressed frames by window bits (8..15); nearly always one entry is used.
    let deflated: Array<Buffer | undefined> | null = null;
    let count = 0;
    t.published++;
    for (const ws of t.subscribers) {
      if (ws._readyState !== OPEN || ws === skipOne || (skipSet !== null && skipSet.has(ws))) continue;
      const pmd = compress ? ws._perMessageDeflate : null;
      let frame: Buffer;
      if (pmd !== null && payload.length >= pmd.threshold) {
        const bits = sharing ? pmd.independentWindowBits : 0;
        if (bits === 0) {
          // Compressed through the socket's own stream; the limit counts the uncompressed size.
          if (limit > 0 && ws.bufferedAmount + payload.length > limit && this.drop(ws, t, topic, policy!)) continue;
          // One copy of the caller's bytes for all of them (each compressor reads it later), not one each.
          shareable ??= isFresh(data) || payload.length > COPY_LIMIT ? payload : Buffer.from(payload);
          ws._sendWhole(shareable, binary, true, true);
          if (ws._readyState === OPEN) count++;
          continue;
        }
        deflated ??= [];
        let shared = deflated[bits];
        if (shared === undefined) {
          t.sharedDeflates++;
          shared = deflated[bits] = buildFrame(
            opcode,
            true,
            true,
            deflateIndependent(payload, bits, pmd.zlibDeflateOptions),
            false,
          );
        }
        frame = shared;
      } else {
        frame = plain ??= buildFrame(opcode, true, false, payload, false);
      }
      if (limit > 0 && ws.bufferedAmount + frame.length > limit && this.drop(ws, t, topic, policy!)) continue;
      ws._sendFrame(frame);
      // maxBufferedAmount may have terminated it.
      if (ws._readyState === OPEN) count++;
    }
    t.delivered += count;
    return count;
  }

  private add(ws: WebSocket, topic: string, options?: SubscribeOptions): true {
    const state = socketTopics(ws);
    if (state.hub !== null && state.hub !== this) {
      throw new Error('A socket subscribes through one topic hub only (the one of the server that accepted it)');
    }
    state.hub = this;
    if (state.topics.has(topic)) return true;
    state.topics.add(topic);
    let t = this.map.get(topic);
    if (t === undefined) {
      t = { subscribers: new Set(), published: 0, delivered: 0, skipped: 0, closed: 0, sharedDeflates: 0 };
      this.map.set(topic, t);
      if (this.listenerCount('topicOpen') > 0) this.emit('topicOpen', topic);
    }
    t.subscribers.add(ws);
    if (this.listenerCount('subscribe') > 0) this.emit('subscribe', ws, topic, options ?? {});
    return true;
  }

  private remove(ws: WebSocket, topic: string): void {
    const t = this.map.get(topic);
    if (t === undefined) return;
    t.subscribers.delete(ws);
    if (t.subscribers.size === 0) {
      this.map.delete(topic);
      if (this.listenerCount('topicClose') > 0) this.emit('topicClose', topic);
    }
  }

  /** Applies the slow-consumer action; returns true (the message is not queued for `ws`). */
  private drop(ws: WebSocket, t: Topic, topic: string, policy: SlowConsumerPolicy): true {
    if (policy.action === 'skip') {
      t.skipped++;
      socketTopics(ws).skipped++;
    } else {
      t.closed++;
      const error = new WebSocketError(
        'WS_ERR_BUFFER_LIMIT',
        1008,
        `Send buffer limit of topic ${JSON.stringify(topic)} exceeded (${policy.limit} bytes): the peer is not reading`,
      );
      ws._abortReason = 'topic buffer limit exceeded';
      ws.emitError(error);
      ws.terminate();
    }
    if (this.listenerCount('drop') > 0) this.emit('drop', ws, topic, policy.action);
    return true;
  }
}

function checkPolicy(policy: SlowConsumerPolicy | null): SlowConsumerPolicy | null {
  if (policy === null) return null;
  if (typeof policy !== 'object' || typeof policy.limit !== 'number' || !(policy.limit > 0)) {
    throw new TypeError('A slow-consumer policy needs a positive "limit" (bytes)');
  }
  if (policy.action !== 'skip' && policy.action !== 'close') {
    throw new TypeError(`Invalid slow-consumer action ${JSON.stringify(policy.action)} (expected "skip" or "close")`);
  }
  return { limit: policy.limit, action: policy.action };
}

/**
 * One message deflated on its own (fresh context, sync flush, the 00 00 ff ff tail removed): valid for every
 * peer whose inflater window is at least `bits`, whatever it received before. A view of the deflater's
 * scratch where sync deflate is available (buildFrame copies it at once).
 */
function deflateIndependent(payload: Buffer, bits: number, options: zlib.ZlibOptions | undefined): Buffer {
  const fast = deflateIndependently(payload, bits, options);
  if (fast !== null) return fast;
  const out = zlib.deflateRawSync(payload, {
    ...options,
    windowBits: bits,
    finishFlush: zlib.constants.Z_SYNC_FLUSH,
  });
  return out.subarray(0, out.length - 4);
}

// ─── The socket's side (WebSocket's subscribe/unsubscribe/isSubscribed/topics call these) ────────────────

export function subscribeSocket(
  ws: WebSocket,
  hub: TopicHub | null | undefined,
  topic: string,
  serverHook: CanSubscribe | null | undefined,
  options?: SubscribeOptions,
): boolean | Promise<boolean> {
  const own = ws._topicState?.hub ?? hub;
  if (!own) throw noHubError();
  return own.subscribe(ws, topic, serverHook, options);
}

export function unsubscribeSocket(ws: WebSocket, topic: string): boolean {
  checkTopic(topic);
  const state = ws._topicState;
  if (!state) return false;
  // A first subscription still waiting for its answer has no hub yet: cancelled here.
  if (state.hub === null) {
    state.pending?.delete(topic);
    return false;
  }
  return state.hub.unsubscribe(ws, topic);
}

/** A copy: the socket's subscriptions change only through subscribe/unsubscribe. */
export function socketTopicList(ws: WebSocket): string[] {
  const topics = ws._topicState?.topics;
  return topics ? [...topics] : [];
}

export function isSocketSubscribed(ws: WebSocket, topic: string): boolean {
  return ws._topicState?.topics.has(topic) ?? false;
}

/** Gives one socket its own authorization hook (a route's), used instead of its hub's. */
export function setCanSubscribe<T extends WebSocket>(ws: T, hook: CanSubscribe<T> | null): void {
  socketTopics(ws).canSubscribe = hook as CanSubscribe | null;
}
