export {
  WebSocket,
  type Data,
  type RawData,
  type BufferLike,
  type SendOptions,
  type FragmentInfo,
  type WebSocketEvents,
} from './websocket.js';
export type {
  CertMeta,
  VerifyClientCallbackSync,
  VerifyClientCallbackAsync,
  FinishRequestCallback,
  WebSocketEventMap,
  EventListenerOptions,
  AddressInfo,
} from './ws-types.js';
export {
  WebSocketServer,
  type ServerOptions,
  type VerifyClient,
  type VerifyClientCallback,
  type VerifyClientInfo,
  type WebSocketServerEvents,
} from './websocket-server.js';
export type { ClientOptions } from './client-handshake.js';
export type { ConnectionOptions } from './connection-options.js';
export {
  WebSocketError,
  HandshakeError,
  Http2UnsupportedError,
  Http2ConnectError,
  type WebSocketErrorCode,
} from './errors.js';
export { CloseCode, CONNECTING, OPEN, CLOSING, CLOSED, isValidCloseCode } from './constants.js';
export { PerMessageDeflate, type PerMessageDeflateOptions } from './permessage-deflate.js';
export { parseExtensions, formatExtensions } from './extension-header.js';
export { writeHttpError } from './handshake.js';
export {
  listenForWebSocketStreams,
  isHttp2Server,
  isWebSocketConnect,
  routeAsGet,
  type Http2ServerLike,
} from './http2.js';
export { createUpgradeResponse, type UpgradeResponse } from './upgrade-response.js';
export { ClientSet, broadcast, type BroadcastOptions } from './client-set.js';
export {
  TopicHub,
  setCanSubscribe,
  type TopicHubOptions,
  type PublishOptions,
  type SlowConsumerPolicy,
  type SlowConsumerAction,
  type CanSubscribe,
  type TopicCompression,
  type TopicStats,
  type SubscribeOptions,
  type TopicRelay,
} from './topics.js';
export { closeAll, type CloseAllOptions } from './shutdown.js';
export { runHandler } from './handler-gate.js';
export {
  UpgradePipeline,
  pendingUpgradeOf,
  isWebSocketUpgrade,
  statusOf,
  type PendingUpgrade,
  type UpgradePipelineOptions,
  type UpgradePipelineHooks,
  type UnmatchedUpgrade,
  type UpgradeServer,
  type SocketErrorHook,
} from './upgrade-pipeline.js';
export { guardSocket, isPeerError, type SocketProblem, type SocketProblemHandler } from './listener-guard.js';
export { PathPattern, type PathPatternOptions, type PathParams } from './path-pattern.js';
export { createWebSocketStream } from './stream.js';
export { Heartbeat, type HeartbeatOptions } from './heartbeat.js';
export { W3CWebSocket, type W3CClientConfig } from './w3c-websocket.js';
export {
  WebSocketRouter,
  type RouterRequest,
  type RouterCookie,
  type RouteHandler,
  type RouterOptions,
  type AcceptOptions,
} from './websocket-router.js';
export { Event, MessageEvent, CloseEvent, ErrorEvent, type EventListenerLike } from './event-target.js';

import { WebSocket } from './websocket.js';
export default WebSocket;
