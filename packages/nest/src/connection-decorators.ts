/**
 * Parameter decorators giving any `@SubscribeMessage` handler what the connection started with:
 * `@ConnectionRequest()` the upgrade request, `@WsParams('room')` path parameters, `@WsQuery('token')`
 * query parameters, `@WsConnection()` the whole ConnectionContext.
 */
import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { WebSocket } from '@wskit/core';
import { getConnectionContext, type ConnectionContext } from './connection-context.js';

function contextOf(ctx: ExecutionContext): ConnectionContext | undefined {
  return getConnectionContext(ctx.switchToWs().getClient<WebSocket>());
}

export const WsConnection = createParamDecorator((_data: unknown, ctx: ExecutionContext) => contextOf(ctx));

export const ConnectionRequest = createParamDecorator(
  (_data: unknown, ctx: ExecutionContext) => contextOf(ctx)?.request,
);

export const WsParams = createParamDecorator((name: string | undefined, ctx: ExecutionContext) => {
  const params = contextOf(ctx)?.params;
  return name === undefined ? params : params?.[name];
});

export const WsQuery = createParamDecorator((name: string | undefined, ctx: ExecutionContext) => {
  const query = contextOf(ctx)?.query;
  return name === undefined ? query : query?.[name];
});
