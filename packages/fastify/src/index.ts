import { fastifyWebSocket } from './plugin.js';

export { fastifyWebSocket };
export { InjectWSError } from './inject.js';
export type {
  InjectWSContext,
  InjectWSHooks,
  WebSocketErrorHandler,
  WebSocketHandler,
  WebSocketOptions,
  WebSocketPluginOptions,
  WebSocketPreClose,
} from './options.js';
export type {} from './fastify-types.js';
export default fastifyWebSocket;
