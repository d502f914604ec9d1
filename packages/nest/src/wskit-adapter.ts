/**
 * A Nest `WebSocketAdapter` on the wskit core. Every gateway path of one HTTP server is served by a
 * single `upgrade` listener that matches path patterns, runs connect-time guards against the upgrade
 * request (refusals are real HTTP answers), then hands the socket to that gateway's WebSocketServer.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import * as http from 'node:http';
import type * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import {
  Logger,
  type CanActivate,
  type INestApplication,
  type Type,
  type WebSocketAdapter,
  type WsMessageHandler,
} from '@nestjs/common';
import type { Observable } from 'rxjs';
import {
  OPEN,
  TopicHub,
  UpgradePipeline,
  type PathParams,
  type PendingUpgrade,
  type RawData,
  type UnmatchedUpgrade,
  type WebSocket,
} from '@wskit/core';
import { createConnectionContext } from './connection-context.js';
import { GatewayServer, type GatewayWsOptions, type WskitGatewayOptions } from './gateway-server.js';
import { collectGatewayGuards, type GatewayGuardSet } from './gateway-guards.js';
import { GuardRunner, type GuardVerdict } from './guard-runner.js';
import {
  DEFAULT_ERROR_EVENT,
  ackReply,
  errorReply,
  parseJsonMessage,
  serializeJson,
  type GatewayError,
  type InboundMessage,
  type MessageParser,
  type MessageSerializer,
} from './message-protocol.js';
import { UpgradeExecutionContext } from './upgrade-execution-context.js';

type HttpServer = http.Server | https.Server;

export interface WskitAdapterOptions {
  /** WebSocket options for every gateway; a gateway's own options override them. */
  ws?: GatewayWsOptions;
  /** Decodes a client message; default `{ event, data, id? }` JSON. */
  messageParser?: MessageParser;
  /** Encodes replies (acks and error reports); default JSON.stringify. */
  serializer?: MessageSerializer;
  /**
   * Called for a message the gateway cannot serve (unparsable, unknown event, handler failure outside
   * Nest's exception filters). Default: send `{ event: errorEvent, data: { status, code, message, event } }`.
   */
  onError?: (error: GatewayError, client: WebSocket) => void;
  /** Event name of the adapter's own error replies. Default `'exception'`, as Nest's WsException filter sends. */
  errorEvent?: string;
  /**
   * Upgrade requests matching no gateway: `'reject'` (default) answers 404; `'ignore'` leaves them to
   * other `upgrade` listeners of the same server (the socket is destroyed if there are none).
   */
  unmatched?: UnmatchedUpgrade;
  /** @deprecated the old spelling of `unmatched` (`'not-found'` = `'reject'`). */
  unknownPath?: 'not-found' | 'ignore';
  /** How long `app.close()` waits for close handshakes (1001) before terminating sockets. Default 5000 ms. */
  shutdownTimeout?: number;
  /** Close reason sent with 1001 when a gateway closes. Default 'Server shutting down'. */
  closeReason?: string;
  /** How long middleware and guards may take before the upgrade is answered 408 (ms). Default 10000. */
  upgradeTimeout?: number;
  /**
   * Run the application's HTTP middleware (`app.use`, `MiddlewareConsumer.forRoutes`) on the Express
   * platform, or its hooks on the Fastify platform, before the guards — as for an HTTP request to the
   * gateway path. Default true (when the adapter is given the application before `init()`).
   */
  httpPipeline?: boolean;
}

interface UpgradeHost {
  server: HttpServer;
  gateways: GatewayServer[];
  pipeline: UpgradePipeline;
  /** Created by the adapter for a gateway port other than the application's. */
  owned: boolean;
}

/** Where an upgrade that went through the app's HTTP pipeline continues (guards, then the handshake). */
type Continuation = () => void;

interface HttpAdapterLike {
  getType?(): string;
  getInstance?(): unknown;
  setNotFoundHandler?: (handler: (...args: unknown[]) => unknown, ...rest: unknown[]) => unknown;
}

function isNestApplication(value: unknown): value is INestApplication {
  return typeof value === 'object' && value !== null && typeof (value as INestApplication).getHttpServer === 'function';
}

export class WskitAdapter implements WebSocketAdapter<GatewayServer, WebSocket, WskitGatewayOptions> {
  readonly #app: INestApplication | null;
  readonly #httpServer: HttpServer | null;
  readonly #options: WskitAdapterOptions;
  readonly #guards: GuardRunner;
  readonly #hosts = new Map<HttpServer, UpgradeHost>();
  /** Gateways with an explicit port, until the application server's own port is known. */
  readonly #pendingPorts = new Map<number, GatewayServer[]>();
  readonly #logger = new Logger('WskitAdapter');
  /** Nest guards (global, gateway class, handleConnection) per gateway, found on its first upgrade. */
  readonly #nestGuards = new WeakMap<GatewayServer, GatewayGuardSet[]>();
  /** Upgrades sent through the app's HTTP pipeline, waiting for its not-found handler to hand them back. */
  readonly #continuations = new WeakMap<http.IncomingMessage, Continuation>();
  /** The message being handled, so exception replies (sent later by Nest's filters) carry its `id`. */
  readonly #currentMessage = new AsyncLocalStorage<InboundMessage>();
  #httpPipeline = false;
  #messageParser: MessageParser;
  #waitingForListen = false;
  /** The application's topic hub, shared by every gateway (from `ws.topics`). */
  readonly topics: TopicHub;

  constructor(appOrHttpServer?: INestApplication | HttpServer, options: WskitAdapterOptions = {}) {
    if (isNestApplication(appOrHttpServer)) {
      this.#app = appOrHttpServer;
      this.#httpServer = appOrHttpServer.getHttpServer() as HttpServer;
    } else {
      this.#app = null;
      this.#httpServer = appOrHttpServer ?? null;
    }
    this.#options = options;
    this.#messageParser = options.messageParser ?? parseJsonMessage;
    this.#guards = new GuardRunner(this.#app);
    const topics = options.ws?.topics;
    this.topics = topics instanceof TopicHub ? topics : new TopicHub(topics);
    if (this.#app && options.httpPipeline !== false) this.#httpPipeline = this.#hookNotFoundHandler(this.#app);
  }

  /** As WsAdapter's: replaces how client messages are decoded (return null/undefined to ignore one). */
  setMessageParser(parser: MessageParser): void {
    if (typeof parser !== 'function') throw new TypeError('setMessageParser() needs a function');
    this.#messageParser = parser;
  }

  /**
   * Nest's HTTP pipeline ends in its not-found handler for a path no controller serves (a gateway path):
   * wrapping it (an own property of this app's HTTP adapter, set before init registers it) lets an
   * upgrade run every middleware and hook first, then continue to the gateway.
   */
  #hookNotFoundHandler(app: INestApplication): boolean {
    const adapter = app.getHttpAdapter() as unknown as HttpAdapterLike;
    const type = adapter.getType?.();
    const original = adapter.setNotFoundHandler;
    if ((type !== 'express' && type !== 'fastify') || typeof original !== 'function') return false;
    const continuations = this.#continuations;
    adapter.setNotFoundHandler = function (
      this: unknown,
      handler: (...args: unknown[]) => unknown,
      ...rest: unknown[]
    ) {
      const wrapped = function (this: unknown, req: unknown, res: unknown, ...more: unknown[]): unknown {
        const raw = ((req as { raw?: http.IncomingMessage }).raw ?? req) as http.IncomingMessage;
        const next = continuations.get(raw);
        if (!next) return handler.call(this, req, res, ...more);
        continuations.delete(raw);
        // Fastify would answer the 404 itself once the handler returns: the socket is ours now.
        (res as { hijack?: () => void }).hijack?.();
        next();
        return undefined;
      };
      return original.call(this, wrapped, ...rest);
    };
    return true;
  }

  /** The platform's path case rule: Express matches case-insensitively by default, Fastify case-sensitively. */
  #platformCaseSensitive(): boolean | undefined {
    if (!this.#app) return undefined;
    const adapter = this.#app.getHttpAdapter() as unknown as HttpAdapterLike;
    const instance = adapter.getInstance?.() as
      { enabled?: (setting: string) => boolean; initialConfig?: { caseSensitive?: boolean } } | undefined;
    if (adapter.getType?.() === 'express' && typeof instance?.enabled === 'function') {
      return instance.enabled('case sensitive routing');
    }
    if (adapter.getType?.() === 'fastify') return instance?.initialConfig?.caseSensitive ?? true;
    return undefined;
  }

  create(port: number, options: WskitGatewayOptions = {}): GatewayServer {
    const caseSensitive = options.caseSensitive ?? this.#platformCaseSensitive();
    const gateway = new GatewayServer(
      port,
      { ...options, caseSensitive },
      this.#options.ws ?? {},
      this.#options.closeReason,
      this.topics,
    );
    // Nest calls handleConnection from an rxjs subscription, where a throw becomes an uncaught exception;
    // it binds the method right after create(), so the guard goes on now.
    for (const set of this.#gatewayGuards(gateway)) this.#guardConnectionHandler(set.instance);
    if (port === 0) {
      if (!this.#httpServer) {
        throw new Error('WskitAdapter: a gateway without a port needs the application (or an HTTP server) to share');
      }
      this.#attach(this.#httpServer, gateway, false);
    } else {
      this.#addExplicitPort(gateway);
    }
    return gateway;
  }

  bindClientConnect(server: GatewayServer, callback: (...args: unknown[]) => unknown): void {
    server.on('connection', (ws, request, context) => callback(ws, request, context));
  }

  /** A throwing or rejecting `handleConnection` closes that socket with 1011 and is logged, nothing more. */
  #guardConnectionHandler(instance: object): void {
    const gateway = instance as { handleConnection?: (...args: unknown[]) => unknown };
    const original = gateway.handleConnection;
    if (typeof original !== 'function' || GUARDED.has(original)) return;
    const logger = this.#logger;
    const fail = (error: unknown, client: unknown): void => {
      logger.error(error);
      const ws = client as WebSocket;
      if (ws && typeof ws.close === 'function' && ws.readyState === OPEN) ws.close(1011, 'Internal server error');
    };
    const guarded = function (this: unknown, client: unknown, ...rest: unknown[]): unknown {
      try {
        const result = original.call(this, client, ...rest);
        if (result && typeof (result as PromiseLike<unknown>).then === 'function') {
          return Promise.resolve(result).catch((error: unknown) => fail(error, client));
        }
        return result;
      } catch (error) {
        fail(error, client);
        return undefined;
      }
    };
    GUARDED.add(guarded);
    Object.defineProperty(instance, 'handleConnection', { value: guarded, writable: true, configurable: true });
  }

  bindClientDisconnect(client: WebSocket, callback: (...args: unknown[]) => unknown): void {
    client.once('close', (code: number, reason: Buffer) => callback(code, reason.toString()));
  }

  /** Nest v12: a client that arrived before the application finished bootstrapping. */
  closeClient(client: WebSocket): void {
    if (client.readyState === OPEN) client.close(1013, 'Try again later');
  }

  bindMessageHandlers(
    client: WebSocket,
    handlers: WsMessageHandler[],
    transform: (data: unknown) => Observable<unknown>,
  ): void {
    const byEvent = new Map<unknown, WsMessageHandler>();
    for (const handler of handlers) if (!byEvent.has(handler.message)) byEvent.set(handler.message, handler);
    // Nest 11's default exception filter "emits" to native sockets, which only reaches local listeners.
    // The reply carries the id of the message whose handler failed.
    client.on('exception', (payload: unknown) => {
      const id = this.#currentMessage.getStore()?.id;
      this.#send(
        client,
        id === undefined ? { event: 'exception', data: payload } : { event: 'exception', data: payload, id },
      );
    });

    this.#tagExceptionReplies(client);

    client.on('message', (data: RawData, isBinary: boolean) => {
      let message: InboundMessage | null | undefined;
      try {
        message = this.#messageParser(data, isBinary);
      } catch (error) {
        this.#report(client, { code: 'INVALID_MESSAGE', message: describe(error, 'Invalid message'), cause: error });
        return;
      }
      if (!message) return;
      const handler = byEvent.get(message.event);
      if (!handler) {
        this.#report(client, {
          code: 'UNKNOWN_EVENT',
          message: `No handler for event "${message.event}"`,
          event: message.event,
          id: message.id,
        });
        return;
      }
      if (message.id === undefined) this.#dispatch(client, handler, message, transform);
      else this.#currentMessage.run(message, () => this.#dispatch(client, handler, message, transform));
    });
  }

  /**
   * Nest 12's exception filter writes `{"event":"exception",…}` to native sockets itself: while a message
   * with an id is being handled, that reply gets the id too. Other sends pass with one string check.
   */
  #tagExceptionReplies(client: WebSocket): void {
    const current = this.#currentMessage;
    const send = client.send;
    // Fixed arity (send takes at most three arguments): no rest array on every send of the socket.
    const tagged = function (this: WebSocket, data: unknown, options?: unknown, cb?: unknown): void {
      if (typeof data === 'string' && data.startsWith(EXCEPTION_PREFIX)) {
        const id = current.getStore()?.id;
        if (id !== undefined) {
          try {
            data = JSON.stringify({ ...(JSON.parse(data) as object), id });
          } catch {
            // not JSON after all: sent as it is
          }
        }
      }
      return (send as (data: unknown, options: unknown, cb: unknown) => void).call(this, data, options, cb);
    };
    Object.defineProperty(client, 'send', { value: tagged, writable: true, configurable: true, enumerable: false });
  }

  #dispatch(
    client: WebSocket,
    handler: WsMessageHandler,
    message: InboundMessage,
    transform: (data: unknown) => Observable<unknown>,
  ): void {
    const fail = (error: unknown): void =>
      this.#report(client, {
        code: 'HANDLER_ERROR',
        // The cause stays server-side (logged, and given to onError); the client gets no internals.
        message: 'Internal server error',
        event: message.event,
        id: message.id,
        cause: error,
      });
    let result: unknown;
    try {
      result = handler.isAckHandledManually
        ? handler.callback(message.data, message.event, (response: unknown) =>
            this.#send(client, ackReply(response, message)),
          )
        : handler.callback(message.data, message.event);
    } catch (error) {
      fail(error);
      return;
    }
    transform(result).subscribe({
      next: (response) => {
        if (handler.isAckHandledManually || response === undefined || response === null) return;
        // A reply that cannot be serialized (circular, BigInt) is this handler's error, not an uncaught one.
        try {
          this.#send(client, ackReply(response, message));
        } catch (error) {
          fail(error);
        }
      },
      error: fail,
    });
  }

  async close(server: GatewayServer): Promise<void> {
    await server.close(this.#options.shutdownTimeout ?? 5000);
  }

  async dispose(): Promise<void> {
    const closing: Promise<void>[] = [];
    for (const host of this.#hosts.values()) {
      host.pipeline.detach(host.server);
      if (host.owned) closing.push(new Promise((resolve) => host.server.close(() => resolve())));
    }
    this.#hosts.clear();
    this.#pendingPorts.clear();
    await Promise.all(closing);
  }

  #send(client: WebSocket, value: unknown): void {
    if (client.readyState !== OPEN) return;
    client.send((this.#options.serializer ?? serializeJson)(value));
  }

  #report(client: WebSocket, error: GatewayError): void {
    if (error.code === 'HANDLER_ERROR') this.#logger.error(error.cause);
    if (this.#options.onError) {
      this.#options.onError(error, client);
      return;
    }
    this.#send(client, errorReply(error, this.#options.errorEvent ?? DEFAULT_ERROR_EVENT));
  }

  #attach(server: HttpServer, gateway: GatewayServer, owned: boolean): void {
    let host = this.#hosts.get(server);
    if (!host) {
      const { unmatched, unknownPath } = this.#options;
      const pipeline: UpgradePipeline = new UpgradePipeline(
        {
          dispatch: (upgrade) => this.#onUpgrade(created, upgrade),
          onDebug: (message, error) => this.#logger.debug?.(`${message}: ${describe(error, 'error')}`),
        },
        {
          upgradeTimeout: this.#options.upgradeTimeout,
          unmatched: unmatched ?? (unknownPath === 'ignore' ? 'ignore' : 'reject'),
        },
      );
      const created: UpgradeHost = { server, gateways: [], owned, pipeline };
      pipeline.attach(server);
      this.#hosts.set(server, created);
      host = created;
    }
    host.gateways.push(gateway);
    // Exact paths win over patterns; patterns keep declaration order.
    host.gateways.sort((a, b) => Number(b.pattern.isStatic) - Number(a.pattern.isStatic));
  }

  /**
   * A gateway with its own port shares the application server when the application listens on that
   * same port, else gets a server of its own. Which one is only known once the application listens.
   */
  #addExplicitPort(gateway: GatewayServer): void {
    const appServer = this.#httpServer;
    if (!appServer) {
      this.#listenOwn(gateway.port, gateway.host, [gateway]);
      return;
    }
    if (appServer.listening) {
      this.#placeByPort(appServer, gateway.port, [gateway]);
      return;
    }
    const list = this.#pendingPorts.get(gateway.port) ?? [];
    list.push(gateway);
    this.#pendingPorts.set(gateway.port, list);
    if (this.#waitingForListen) return;
    this.#waitingForListen = true;
    appServer.once('listening', () => {
      this.#waitingForListen = false;
      for (const [port, gateways] of this.#pendingPorts) this.#placeByPort(appServer, port, gateways);
      this.#pendingPorts.clear();
    });
  }

  #placeByPort(appServer: HttpServer, port: number, gateways: GatewayServer[]): void {
    const address = appServer.address() as AddressInfo | null;
    if (address && address.port === port) {
      for (const gateway of gateways) this.#attach(appServer, gateway, false);
      return;
    }
    this.#listenOwn(port, gateways[0]?.host ?? address?.address, gateways);
  }

  #listenOwn(port: number, host: string | undefined, gateways: GatewayServer[]): void {
    const existing = [...this.#hosts.values()].find(
      (h) => h.owned && (h.server.address() as AddressInfo | null)?.port === port,
    );
    if (existing) {
      for (const gateway of gateways) this.#attach(existing.server, gateway, true);
      return;
    }
    const server = http.createServer((_req, res) => {
      res.writeHead(426, { Connection: 'close', Upgrade: 'websocket', 'Content-Type': 'text/plain' });
      res.end('Upgrade Required');
    });
    for (const gateway of gateways) this.#attach(server, gateway, true);
    server.on('error', (error) => this.#logger.error(`Gateway port ${port}: ${describe(error, 'listen failed')}`));
    server.listen(port, host);
  }

  #onUpgrade(host: UpgradeHost, upgrade: PendingUpgrade): void {
    const req = upgrade.req;
    const url = req.url ?? '/';
    let gateway: GatewayServer | undefined;
    let params: PathParams | null = null;
    for (const candidate of host.gateways) {
      params = candidate.pattern.match(url);
      if (params) {
        gateway = candidate;
        break;
      }
    }
    if (!gateway || !params) {
      upgrade.unmatched();
      return;
    }
    if (gateway.closing) {
      upgrade.reject(503);
      return;
    }
    const matched = gateway;
    const matchedParams = params;
    const proceed = (): void => {
      void this.#passGuards(matched, upgrade).then(
        (allowed) => {
          if (!allowed || upgrade.settled) return;
          const context = createConnectionContext(req, matchedParams, matched.path);
          void upgrade.accept(
            matched.wss,
            (ws) => matched.accept(ws, context),
            (error) => this.#logger.error(error),
          );
        },
        (error: unknown) => {
          this.#logger.error(error);
          upgrade.reject(500);
        },
      );
    };
    const handlers = host.owned ? [] : (host.server.listeners('request') as ((req: unknown, res: unknown) => void)[]);
    if (!this.#httpPipeline || handlers.length === 0) {
      proceed();
      return;
    }
    // The app's middleware/hooks first, as for an HTTP request to this path; its not-found handler
    // hands the request back (see #hookNotFoundHandler). Whatever the middleware answers stands.
    this.#continuations.set(req, proceed);
    for (const handler of handlers) handler.call(host.server, req, upgrade.res);
  }

  #gatewayGuards(gateway: GatewayServer): GatewayGuardSet[] {
    if (!this.#app) return [];
    let sets = this.#nestGuards.get(gateway);
    if (!sets) {
      sets = collectGatewayGuards(this.#app, gateway.port, gateway.declaredPath);
      this.#nestGuards.set(gateway, sets);
    }
    return sets;
  }

  /**
   * Nest's guards for the gateway class(es) first (global, class, handleConnection, in Nest's order),
   * then the connection guards; the first refusal answers the upgrade.
   */
  async #passGuards(gateway: GatewayServer, upgrade: PendingUpgrade): Promise<boolean> {
    const sets = this.#gatewayGuards(gateway);
    if (gateway.guards.length === 0 && sets.every((set) => set.guards.length === 0)) return true;
    const { req, res } = upgrade;
    let verdict: GuardVerdict = { allowed: true };
    // A global guard is shared by every gateway class of a server: it runs once per upgrade.
    const ran = new Set<CanActivate>();
    for (const set of sets) {
      const guards = set.guards.filter((guard) => !ran.has(guard));
      for (const guard of guards) ran.add(guard);
      if (guards.length === 0) continue;
      verdict = await this.#guards.run(guards, new UpgradeExecutionContext(req, res, set.gatewayClass, set.handler));
      if (!verdict.allowed || res.headersSent || res.writableEnded) break;
    }
    if (verdict.allowed && gateway.guards.length > 0 && !res.headersSent && !res.writableEnded) {
      const gatewayClass: Type<unknown> = gateway.gatewayClass ?? sets[0]?.gatewayClass ?? GatewayServer;
      const prototype = gatewayClass.prototype as { handleConnection?: (...args: never[]) => unknown };
      const handler = prototype.handleConnection ?? gateway.close;
      verdict = await this.#guards.run(gateway.guards, new UpgradeExecutionContext(req, res, gatewayClass, handler));
    }
    if (verdict.allowed) {
      // False when a guard answered through the response itself (a redirect, say): that answer stands.
      return !res.headersSent && !res.writableEnded;
    }
    if (verdict.status >= 500) this.#logger.error(verdict.error);
    if (!res.headersSent && !res.writableEnded) {
      const body = typeof verdict.body === 'string' ? verdict.body : JSON.stringify(verdict.body);
      res.statusCode = verdict.status;
      res.setHeader(
        'Content-Type',
        typeof verdict.body === 'string' ? 'text/plain; charset=utf-8' : 'application/json; charset=utf-8',
      );
      res.setHeader('Content-Length', Buffer.byteLength(body));
      res.end(body);
    }
    return false;
  }
}

const EXCEPTION_PREFIX = '{"event":"exception",';

/** handleConnection functions already wrapped (a gateway instance serving two servers is wrapped once). */
const GUARDED = new WeakSet<object>();

function describe(error: unknown, fallback: string): string {
  return error instanceof Error && error.message ? error.message : fallback;
}
