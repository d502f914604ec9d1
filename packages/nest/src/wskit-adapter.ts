/**
 * A Nest `WebSocketAdapter` on the wskit core. Every gateway path of one HTTP server is served by a
 * single `upgrade` listener that matches path patterns, runs connect-time guards against the upgrade
 * request (refusals are real HTTP answers), then hands the socket to that gateway's WebSocketServer.
 */
import * as http from 'node:http';
import type * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { Logger, type CanActivate, type INestApplication, type Type, type WebSocketAdapter, type WsMessageHandler } from '@nestjs/common';
import type { Observable } from 'rxjs';
import {
  OPEN,
  createUpgradeResponse,
  isHttp2Server,
  listenForWebSocketStreams,
  routeAsGet,
  writeHttpError, type PathParams, type RawData, type WebSocket } from '@wskit/core';
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
   * Upgrade requests matching no gateway: `'not-found'` (default) answers 404; `'ignore'` leaves them to
   * other `upgrade` listeners of the same server (the socket is destroyed if there are none).
   */
  unknownPath?: 'not-found' | 'ignore';
  /** How long `app.close()` waits for close handshakes (1001) before terminating sockets. Default 3000 ms. */
  shutdownTimeout?: number;
}

interface UpgradeHost {
  server: HttpServer;
  gateways: GatewayServer[];
  listener: (req: http.IncomingMessage, socket: Duplex, head: Buffer) => void;
  /** Created by the adapter for a gateway port other than the application's. */
  owned: boolean;
  /** Stops taking HTTP/2 extended CONNECT streams (an HTTP/2 application server only). */
  stopStreams?: () => void;
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
  #waitingForListen = false;

  constructor(appOrHttpServer?: INestApplication | HttpServer, options: WskitAdapterOptions = {}) {
    if (isNestApplication(appOrHttpServer)) {
      this.#app = appOrHttpServer;
      this.#httpServer = appOrHttpServer.getHttpServer() as HttpServer;
    } else {
      this.#app = null;
      this.#httpServer = appOrHttpServer ?? null;
    }
    this.#options = options;
    this.#guards = new GuardRunner(this.#app);
  }

  create(port: number, options: WskitGatewayOptions = {}): GatewayServer {
    const gateway = new GatewayServer(port, options, this.#options.ws ?? {});
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
    const parse = this.#options.messageParser ?? parseJsonMessage;

    // Nest 11's default exception filter "emits" to native sockets, which only reaches local listeners.
    client.on('exception', (payload: unknown) => this.#send(client, { event: 'exception', data: payload }));

    client.on('message', (data: RawData, isBinary: boolean) => {
      let message: InboundMessage | null;
      try {
        message = parse(data, isBinary);
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
      this.#dispatch(client, handler, message, transform);
    });
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
        this.#send(client, ackReply(response, message));
      },
      error: fail,
    });
  }

  async close(server: GatewayServer): Promise<void> {
    await server.close(this.#options.shutdownTimeout ?? 3000);
  }

  async dispose(): Promise<void> {
    const closing: Promise<void>[] = [];
    for (const host of this.#hosts.values()) {
      host.server.off('upgrade', host.listener);
      host.stopStreams?.();
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
      const created: UpgradeHost = { server, gateways: [], owned, listener: () => {} };
      created.listener = (req, socket, head) => void this.#onUpgrade(created, req, socket, head);
      server.on('upgrade', created.listener);
      // HTTP/2 (e.g. FastifyAdapter({ http2: true, https })): RFC 8441 streams take the same path, as a GET.
      if (isHttp2Server(server)) {
        created.stopStreams = listenForWebSocketStreams(server, (req, stream) =>
          created.listener(routeAsGet(req), stream, Buffer.alloc(0)),
        );
      }
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
    const existing = [...this.#hosts.values()].find((h) => h.owned && (h.server.address() as AddressInfo | null)?.port === port);
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

  async #onUpgrade(host: UpgradeHost, req: http.IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const onSocketError = (): void => {
      socket.destroy();
    };
    socket.on('error', onSocketError);
    try {
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
        if (this.#options.unknownPath === 'ignore') {
          if (host.server.listenerCount('upgrade') <= 1) socket.destroy();
          return;
        }
        writeHttpError(socket, 404);
        return;
      }
      if (gateway.closing) {
        writeHttpError(socket, 503);
        return;
      }
      if (!(await this.#passGuards(gateway, req, socket))) return;
      if (socket.destroyed) return;
      socket.off('error', onSocketError);
      const matched = gateway;
      const context = createConnectionContext(req, params, matched.path);
      matched.wss.handleUpgrade(req, socket, head, (ws) => matched.accept(ws, context));
    } catch (error) {
      this.#logger.error(error);
      writeHttpError(socket, 500);
    }
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
  async #passGuards(gateway: GatewayServer, req: http.IncomingMessage, socket: Duplex): Promise<boolean> {
    const sets = this.#gatewayGuards(gateway);
    if (gateway.guards.length === 0 && sets.every((set) => set.guards.length === 0)) return true;
    const res = createUpgradeResponse(req, socket);
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
      return res.release();
    }
    if (verdict.status >= 500) this.#logger.error(verdict.error);
    if (!res.headersSent && !res.writableEnded) {
      const body = typeof verdict.body === 'string' ? verdict.body : JSON.stringify(verdict.body);
      res.statusCode = verdict.status;
      res.setHeader('Content-Type', typeof verdict.body === 'string' ? 'text/plain; charset=utf-8' : 'application/json; charset=utf-8');
      res.setHeader('Content-Length', Buffer.byteLength(body));
      res.end(body);
    }
    return false;
  }
}

function describe(error: unknown, fallback: string): string {
  return error instanceof Error && error.message ? error.message : fallback;
}
