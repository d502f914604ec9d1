/** Which requests are WebSocket upgrades (GET with `Upgrade: websocket`), whatever Node did with them. */
export { isWebSocketUpgrade as isWebSocketRequest } from '@wskit/core';
