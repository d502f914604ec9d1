/**
 * One gateway path: its pattern, its own noServer WebSocketServer (so per-gateway options such as
 * maxPayload or perMessageDeflate apply), its client set with broadcast, and its connect-time guards.
 * This is the object `@WebSocketServer()` injects into a gateway.
 */
import { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import type { Type } from '@nestjs/common';
import {
  ClientSet,
  PathPattern,
  TopicHub,
  WebSocketServer,
  closeAll,
  type BroadcastOptions,
  type BufferLike,
  type Data,
  type PublishOptions,
  type ServerOptions,
  type WebSocket,
} from '@wskit/core';
import { bindConnectionContext, type ConnectionContext } from './connection-context.js';
import { GATEWAY_CLASS, type ConnectionGuard, type ConnectionGuardOptions } from './connection-guards.js';

/** WebSocket options a gateway (or the adapter, as defaults) may set; the adapter owns the transport ones. */
export type GatewayWsOptions = Omit<
  ServerOptions,
  'port' | 'host' | 'backlog' | 'server' | 'noServer' | 'path' | 'WebSocket'
>;

export interface WskitGatewayOptions extends GatewayWsOptions, ConnectionGuardOptions {
  /** Path pattern: `/chat`, `/rooms/:room`, `/files/*`. Default `/`. */
  path?: string;
  /**
   * Compare literal path segments case-sensitively. Default: the platform's rule (Nest on Express matches
   * case-insensitively unless 'case sensitive routing' is enabled; on Fastify, its `caseSensitive`, true).
   */
  caseSensitive?: boolean;
  /** Treat `/a/` and `/a` as different paths. Default false. */
  strictTrailingSlash?: boolean;
  /** Interface for a gateway on its own port (not the application's). Default: the application server's address. */
  host?: string;
}

export interface GatewayServerEvents {
  connection: [ws: WebSocket, request: IncomingMessage, context: ConnectionContext];
}

export class GatewayServer extends EventEmitter<GatewayServerEvents> {
  readonly path: string;
  /** The `path` option as declared (Nest pairs gateways with servers by it and the port). */
  readonly declaredPath: string | undefined;
  readonly pattern: PathPattern;
  readonly port: number;
  readonly host: string | undefined;
  readonly clients = new ClientSet<WebSocket>();
  readonly guards: readonly ConnectionGuard[];
  readonly gatewayClass: Type<unknown> | undefined;
  /** Upgrades to a closing gateway are refused with 503. */
  closing = false;
  readonly #wss: WebSocketServer;
  readonly #closeReason: string;

  /** `topicHub` is the adapter's (one per application), so a publish reaches every gateway's subscribers. */
  constructor(
    port: number,
    options: WskitGatewayOptions,
    defaults: GatewayWsOptions,
    closeReason = 'Server shutting down',
    readonly topicHub: TopicHub = new TopicHub(),
  ) {
    super();
    const {
      path = '/',
      caseSensitive,
      strictTrailingSlash,
      connectionGuards = [],
      host,
      [GATEWAY_CLASS]: gatewayClass,
      ...rest
    } = options;
    this.path = path;
    this.declaredPath = options.path;
    this.port = port;
    this.host = host;
    this.pattern = new PathPattern(path, { caseSensitive, strictTrailingSlash });
    this.guards = connectionGuards;
    this.gatewayClass = gatewayClass;
    this.#closeReason = closeReason;
    this.#wss = new WebSocketServer({ ...defaults, ...pickWsOptions(rest), topics: topicHub, noServer: true });
  }

  get wss(): WebSocketServer {
    return this.#wss;
  }

  broadcast(data: Exclude<Data, Blob>, options?: BroadcastOptions<WebSocket>): number {
    return this.clients.broadcast(data, options);
  }

  /**
   * Sends to every subscriber of `topic` (`client.subscribe(topic)`) on any gateway of the application;
   * returns how many sockets it was queued for.
   */
  publish(topic: string, data: Exclude<BufferLike, Blob>, options?: PublishOptions): number {
    return this.topicHub.publish(topic, data, options);
  }

  subscriberCount(topic: string): number {
    return this.topicHub.subscriberCount(topic);
  }

  /** Topics with at least one subscriber, over the whole application. */
  get topics(): string[] {
    return this.topicHub.topics;
  }

  /** Called by the adapter once the handshake is done. */
  accept(ws: WebSocket, context: ConnectionContext): void {
    this.clients.track(ws);
    bindConnectionContext(ws, context);
    this.emit('connection', ws, context.request, context);
  }

  /** Stops accepting, closes every client with 1001, waits at most `timeout` ms, terminates the rest. */
  async close(timeout: number): Promise<void> {
    this.closing = true;
    await closeAll(this.clients, { code: 1001, reason: this.#closeReason, timeout });
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
  }
}

/**
 * Nest passes every gateway option through; the transport ones belong to the adapter. Everything else
 * goes to the core as is (so options the core gains later, like `heartbeat`, need no change here).
 */
function pickWsOptions(options: object): GatewayWsOptions {
  const picked: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(options)) {
    if (!TRANSPORT_KEYS.has(key) && value !== undefined) picked[key] = value;
  }
  return picked as GatewayWsOptions;
}

const TRANSPORT_KEYS = new Set(['port', 'backlog', 'server', 'noServer', 'WebSocket', 'namespace']);
