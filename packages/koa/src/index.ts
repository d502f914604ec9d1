import './context.js';

export {
  websocket,
  type KoaWebSocketOptions,
  type KoaWebSocketMiddleware,
  type WebSocketErrorHook,
  type CloseOptions,
} from './websocket-middleware.js';
export { attach, type AttachOptions } from './attach.js';
export type { AcceptWebSocket } from './context.js';
export type { RouteOptions, HeartbeatOptions, ProtocolChooser } from './route-options.js';
export type { ShouldHandle, UpgradeServer } from './upgrade-dispatcher.js';
export { ClientSet, WebSocket, type BroadcastOptions } from '@wskit/core';
export { websocket as default } from './websocket-middleware.js';
