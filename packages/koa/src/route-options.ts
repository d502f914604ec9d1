/**
 * Options a route passes to `ctx.ws(options)` (and the plugin-wide defaults), and their translation
 * into the core's WebSocketServer options.
 */
import type { IncomingMessage } from 'node:http';
import type {
  CanSubscribe,
  ClientSet,
  ConnectionOptions,
  PerMessageDeflateOptions,
  ServerOptions,
  WebSocket,
} from '@wskit/core';

export interface HeartbeatOptions {
  /** Ping every `interval` ms. */
  interval: number;
  /** Terminate when no pong came back within `timeout` ms. */
  timeout: number;
}

export type ProtocolChooser = (offered: Set<string>, req: IncomingMessage) => string | false;

/** The core's per-connection and handshake options a route may set, passed to its WebSocketServer as they are. */
const PASSED_THROUGH = [
  'maxReceivedFrameSize',
  'skipUTF8Validation',
  'autoPong',
  'allowSynchronousEvents',
  'closeTimeout',
  'maxBufferedAmount',
  'fragmentOutgoingMessages',
  'fragmentationThreshold',
  'assembleFragments',
  'maxFragments',
  'maxBufferedChunks',
  'maxPendingAutoPongs',
  'handshakeTimeout',
  'verifyClient',
] as const;
type PassedThrough = (typeof PASSED_THROUGH)[number];

export interface RouteOptions extends Pick<ConnectionOptions & ServerOptions, PassedThrough> {
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
  /**
   * The core's shared option name for a chooser (`false` selects no subprotocol). Takes precedence over
   * `protocols`; a route's own `protocols` drops a plugin-wide `handleProtocols`.
   */
  handleProtocols?: ProtocolChooser;
  /** Server-side ping/pong liveness check (passed to the core's WebSocketServer). */
  heartbeat?: HeartbeatOptions | false;
  /** Also track the socket in this set (removed again on close), e.g. one set per chat room. */
  clients?: ClientSet<WebSocket>;
  /** Authorizes `ws.subscribe(topic)` for this route's sockets (sync or async); replaces the plugin-wide one. */
  canSubscribe?: CanSubscribe;
}

/** The fields that select a distinct WebSocketServer (everything except `clients`). */
export type ServerShape = Omit<RouteOptions, 'clients' | 'compression'>;

/** A route's options over the plugin-wide ones; a route's own `protocols` replaces an inherited `handleProtocols`. */
export function mergeRoute(defaults: RouteOptions, route: RouteOptions): RouteOptions {
  const merged = { ...defaults, ...route };
  if (route.protocols !== undefined && route.handleProtocols === undefined) delete merged.handleProtocols;
  return merged;
}

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
  if (shape.canSubscribe) options.canSubscribe = shape.canSubscribe;
  for (const name of PASSED_THROUGH) {
    if (shape[name] !== undefined) (options as Record<string, unknown>)[name] = shape[name];
  }
  const protocols = shape.handleProtocols ?? shape.protocols;
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

function functionId(fn: object): number {
  let id = functionIds.get(fn);
  if (id === undefined) {
    id = nextFunctionId++;
    functionIds.set(fn, id);
  }
  return id;
}

/** A stable key for an option set, so equal options given as fresh objects share one server. */
export function shapeKey(shape: ServerShape): string {
  const protocols = shape.handleProtocols ?? shape.protocols;
  let protocolKey: string | number | undefined;
  if (typeof protocols === 'function') {
    protocolKey = functionId(protocols);
  } else if (protocols) {
    protocolKey = protocols.join(',');
  }
  const canSubscribe = shape.canSubscribe ? functionId(shape.canSubscribe) : null;
  const passed = PASSED_THROUGH.map((name) => {
    const value = shape[name];
    return typeof value === 'function' ? `fn${functionId(value)}` : (value ?? null);
  });
  return JSON.stringify([
    shape.maxPayload ?? null,
    shape.perMessageDeflate ?? false,
    shape.heartbeat ?? false,
    protocolKey ?? null,
    canSubscribe,
    ...passed,
  ]);
}
