// A small Nest application exercising the adapter: two gateways on the HTTP port, one with a path
// parameter and connect-time guards, global guard and pipe, a custom exception filter.
import 'reflect-metadata';
import {
  Catch,
  Controller,
  Get,
  Injectable,
  Module,
  UnauthorizedException,
  UseFilters,
  type ArgumentsHost,
  type CanActivate,
  type ExecutionContext,
  type PipeTransform,
  type ArgumentMetadata,
} from '@nestjs/common';
import {
  BaseWsExceptionFilter,
  ConnectedSocket,
  MessageBody,
  SubscribeMessage,
  WebSocketGateway,
  WebSocketServer,
  WsException,
  type OnGatewayConnection,
} from '@nestjs/websockets';
import type { IncomingMessage } from 'node:http';
import type { WebSocket } from '@wskit/core';
import {
  ConnectionRequest,
  GatewayServer,
  UseConnectionGuards,
  WsParams,
  WsQuery,
  type ConnectionContext,
} from '@wskit/nest';

/** Connect-time guard: `?token=good` passes, `?token=bad` is 401, no token is 403 (returns false). */
@Injectable()
export class TokenGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const req = context.switchToHttp().getRequest<IncomingMessage>();
    const token = new URL(req.url ?? '/', 'http://x').searchParams.get('token');
    if (token === 'bad') throw new UnauthorizedException('bad token');
    if (token !== 'good') return false;
    (req as IncomingMessage & { user?: string }).user = 'alice';
    return true;
  }
}

/** Global guard: refuses any message whose payload is the string "blocked". */
export class BlockGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    if (context.getType() !== 'ws') return true;
    return context.switchToWs().getData() !== 'blocked';
  }
}

/** Global pipe: a string message body `shout:x` becomes `X`. */
export class ShoutPipe implements PipeTransform {
  transform(value: unknown, metadata: ArgumentMetadata): unknown {
    const shouted = metadata.type === 'body' && typeof value === 'string' && value.startsWith('shout:');
    return shouted ? value.slice(6).toUpperCase() : value;
  }
}

@Catch(WsException)
class CustomFilter extends BaseWsExceptionFilter {
  override catch(exception: WsException, host: ArgumentsHost): void {
    host
      .switchToWs()
      .getClient<WebSocket>()
      .send(JSON.stringify({ event: 'custom-error', data: exception.getError() }));
  }
}

@WebSocketGateway({ path: '/chat' })
export class ChatGateway {
  @WebSocketServer() server!: GatewayServer;

  @SubscribeMessage('echo')
  echo(@MessageBody() data: unknown): { event: string; data: unknown } {
    return { event: 'echo', data };
  }

  @SubscribeMessage('sum')
  sum(@MessageBody() data: number[]): number {
    return data.reduce((a, b) => a + b, 0);
  }

  @SubscribeMessage('async-sum')
  async asyncSum(@MessageBody() data: number[]): Promise<number> {
    await new Promise((resolve) => setTimeout(resolve, 5));
    return data.reduce((a, b) => a + b, 0);
  }

  @SubscribeMessage('shout')
  shout(@MessageBody() text: string): string {
    return text;
  }

  @SubscribeMessage('broadcast')
  broadcast(@MessageBody() text: string, @ConnectedSocket() client: WebSocket): void {
    this.server.broadcast(JSON.stringify({ event: 'news', data: text }), { except: client });
  }

  @SubscribeMessage('ws-fail')
  wsFail(): never {
    throw new WsException('nope');
  }

  @SubscribeMessage('custom-fail')
  @UseFilters(new CustomFilter())
  customFail(): never {
    throw new WsException({ reason: 'custom' });
  }

  @SubscribeMessage('crash')
  crash(): never {
    throw new Error('secret internals');
  }
}

export const connections: { params: Record<string, string>; query: Record<string, string>; user?: string }[] = [];

@UseConnectionGuards(TokenGuard)
@WebSocketGateway({ path: '/rooms/:room' })
export class RoomGateway implements OnGatewayConnection {
  handleConnection(_client: WebSocket, request: IncomingMessage & { user?: string }, context: ConnectionContext): void {
    connections.push({ params: { ...context.params }, query: { ...context.query }, user: request.user });
  }

  @SubscribeMessage('whoami')
  whoami(
    @WsParams('room') room: string,
    @WsParams() params: Record<string, string>,
    @WsQuery('token') token: string,
    @ConnectionRequest() request: IncomingMessage & { user?: string },
  ): { event: string; data: unknown } {
    return {
      event: 'whoami',
      data: { room, params: { ...params }, token, user: request.user, ua: request.headers['x-test'] },
    };
  }
}

@WebSocketGateway({ path: '/files/*' })
export class FilesGateway implements OnGatewayConnection {
  handleConnection(client: WebSocket, _request: IncomingMessage, context: ConnectionContext): void {
    client.send(JSON.stringify({ event: 'path', data: context.params['*'] }));
  }
}

@Controller()
export class HealthController {
  @Get('/health')
  health(): string {
    return 'ok';
  }
}

@Module({ controllers: [HealthController], providers: [ChatGateway, RoomGateway, FilesGateway, TokenGuard] })
export class TestAppModule {}
