export { wskitExpress, type WskitExpress, type WskitExpressSetup, type AnyServer } from './plugin.js';
export type { WskitExpressOptions, SocketOptions, ErrorHook, UnmatchedUpgrade } from './options.js';
export type { WsHandler, WsMethod, WithWebSocket, Middleware, MiddlewareArg, Routable } from './ws-method.js';
export { WsRoute, type PathParams } from './ws-route.js';
export { isWebSocketRequest } from './upgrade-context.js';
export type { RouterFactory } from './router-factory.js';

import { wskitExpress } from './plugin.js';
export default wskitExpress;
