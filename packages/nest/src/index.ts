export { WskitAdapter, type WskitAdapterOptions } from './wskit-adapter.js';
export {
  GatewayServer,
  type GatewayWsOptions,
  type WskitGatewayOptions,
  type GatewayServerEvents,
} from './gateway-server.js';
export { UseConnectionGuards, type ConnectionGuard, type ConnectionGuardOptions } from './connection-guards.js';
export { getConnectionContext, type ConnectionContext } from './connection-context.js';
export { ConnectionRequest, WsConnection, WsParams, WsQuery } from './connection-decorators.js';
export { UpgradeExecutionContext } from './upgrade-execution-context.js';
export {
  parseJsonMessage,
  serializeJson,
  type GatewayError,
  type GatewayErrorCode,
  type InboundMessage,
  type MessageParser,
  type MessageSerializer,
} from './message-protocol.js';
