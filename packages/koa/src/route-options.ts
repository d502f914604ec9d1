/**
 * Options a route passes to `ctx.ws(options)` (and the plugin-wide defaults), and their translation
 * into the core's WebSocketServer options.
 */
import type { IncomingMessage } from 'node:http';
import type { ClientSet, PerMessageDeflateOptions, ServerOptions, WebSocket } from '@wskit/core';

export interface HeartbeatOptions {
  /** Ping every `interval` ms. */
  interval: number;
  /** Terminate when no pong came back within `timeout` ms. */
  timeout: number;
}

export type ProtocolChooser = (offered: Set<string>, req: IncomingMessage) => string | false;

export interface RouteOptions {
  /** Largest message accepted, in bytes; a bigger one closes the socket with 1009. */
  maxPayload?: number;
  /** permessage-deflate: true for defaults, an options object, or false (the default). Same name in every plugin. */
  perMessageDeflate?: boolean | PerMessageDeflateOptions;
  /** @deprecated the old name of `perMessageDeflate`. */
  compression?: boolean | PerMessageDeflateOptions;
  /**
   * Subprotocols this route speaks, most preferred first (the first one the client also offered is
   * chosen), or a function choosing from the offered set. When nothing matches, no protocol is selected.
   */
  protocols?: readonly string[] | ProtocolChooser;
  /** Server-side ping/pong liveness check (passed to the core's WebSocketServer). */
  heartbeat?: HeartbeatOptions | false;
  /** Also track the socket in this set (removed again on close), e.g. one set per chat room. */
  clients?: ClientSet<WebSocket>;
}

/** The fields that select a distinct WebSocketServer (everything except `clients`). */
export type ServerShape = Omit<RouteOptions, 'clients' | 'compression'>;

/** Maps deprecated names onto the shared ones (`compression` → `perMessageDeflate`). */
export function normalizeRoute<T extends RouteOptions>(route: T): Omit<T, 'compression'> {
  const { compression, ...rest } = route;
  if (compression !== undefined && rest.perMessageDeflate === undefined) rest.perMessageDeflate = compression;
  return rest;
}

export function toServerOptions(shape: ServerShape): ServerOptions & { heartbeat?: HeartbeatOptions } {
  const options: ServerOptions & { heartbeat?: HeartbeatOptions } = {
    noServer: true,
    // The plugin keeps its own client sets; these servers only negotiate handshakes.
    clientTracking: false,
    perMessageDeflate: shape.perMessageDeflate ?? false,
  };
  if (shape.maxPayload !== undefined) options.maxPayload = shape.maxPayload;
  if (shape.heartbeat) options.heartbeat = shape.heartbeat;
  const protocols = shape.protocols;
  if (typeof protocols === 'function') {
    options.handleProtocols = protocols;
  } else if (protocols) {
    const list = [...protocols];
    options.handleProtocols = (offered) => list.find((p) => offered.has(p)) ?? false;
  }
  return options;
}

const functionIds = new WeakMap<object, number>();
let nextFunctionId = 1;

/** A stable key for an option set, so equal options given as fresh objects share one server. */
export function shapeKey(shape: ServerShape): string {
  const protocols = shape.protocols;
  let protocolKey: string | number | undefined;
  if (typeof protocols === 'function') {
    let id = functionIds.get(protocols);
    if (id === undefined) {
      id = nextFunctionId++;
      functionIds.set(protocols, id);
    }
    protocolKey = id;
  } else if (protocols) {
    protocolKey = protocols.join(',');
  }
  return JSON.stringify([
    shape.maxPayload ?? null,
    shape.perMessageDeflate ?? false,
    shape.heartbeat ?? false,
    protocolKey ?? null,
  ]);
}
