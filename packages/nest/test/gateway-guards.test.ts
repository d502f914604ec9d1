// Nest's own guard declarations (class-level @UseGuards, APP_GUARD, useGlobalGuards) applied to the
// upgrade request; message-level guards, pipes, Observable/Promise results and per-gateway options.
import 'reflect-metadata';
import {
  ForbiddenException,
  Injectable,
  Module,
  UnauthorizedException,
  UseGuards,
  UsePipes,
  type CanActivate,
  type ExecutionContext,
  type INestApplication,
  type PipeTransform,
} from '@nestjs/common';
import { APP_GUARD, NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import { MessageBody, SubscribeMessage, WebSocketGateway, WsException } from '@nestjs/websockets';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Observable, of } from 'rxjs';
import WebSocket from 'ws';
import type { WebSocket as WsClient } from '@wskit/core';
import { WskitAdapter } from '@wskit/nest';
import { connect, refusal } from './client-helpers.js';

/** What the connect-time guards saw, to check the ExecutionContext they got. */
const seen: { type: string; gateway: string; url: string }[] = [];

function upgradeRequest(context: ExecutionContext): IncomingMessage {
  return context.switchToHttp().getRequest<IncomingMessage>();
}

/** Class-level guard: at connect time `x-key: good` passes, `bad` is 401, none is 403; per message it checks the data. */
@Injectable()
class KeyGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    if (context.getType() === 'ws') return context.switchToWs().getData() !== 'key-blocked';
    const req = upgradeRequest(context);
    seen.push({ type: context.getType(), gateway: context.getClass().name, url: req.url ?? '' });
    const key = req.headers['x-key'];
    if (key === 'bad') throw new UnauthorizedException('bad key');
    return key === 'good';
  }
}

/** An APP_GUARD provider: `?deny=app` is refused with ForbiddenException. */
@Injectable()
class AppGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    if (context.getType() !== 'http') return true;
    if (upgradeRequest(context).url?.includes('deny=app')) throw new ForbiddenException('app guard says no');
    return true;
  }
}

/** Given to app.useGlobalGuards: `?deny=global` returns false. */
class GlobalGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    if (context.getType() !== 'http') return true;
    return !upgradeRequest(context).url?.includes('deny=global');
  }
}

/** Message-level guard only. */
class EvenGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    return context.getType() === 'ws' && (context.switchToWs().getData<number>() ?? 1) % 2 === 0;
  }
}

/** Written for messages only, without a getType() check: at connect time it must fail closed. */
class NaiveWsGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    return context.switchToWs().getClient() !== undefined;
  }
}

class CreateRoomDto {
  name!: string;
  size!: number;
}

/**
 * Stands in for ValidationPipe, since class-validator is not installed: validates the DTO named by the
 * parameter's metatype and throws WsException, as ValidationPipe configured with a WsException factory would.
 */
class DtoValidationPipe implements PipeTransform {
  transform(value: unknown, metadata: { metatype?: unknown }): unknown {
    if (metadata.metatype !== CreateRoomDto) return value;
    const dto = value as Partial<CreateRoomDto> | null;
    const problems: string[] = [];
    if (typeof dto?.name !== 'string' || dto.name.length === 0) problems.push('name must be a non-empty string');
    if (typeof dto?.size !== 'number' || !Number.isInteger(dto.size) || dto.size < 1)
      problems.push('size must be a positive integer');
    if (problems.length > 0) throw new WsException(problems);
    return Object.assign(new CreateRoomDto(), dto);
  }
}

@UseGuards(KeyGuard)
@WebSocketGateway({ path: '/secure' })
class SecureGateway {
  @SubscribeMessage('ping')
  ping(@MessageBody() data: unknown): { event: string; data: unknown } {
    return { event: 'pong', data };
  }

  @UseGuards(EvenGuard)
  @SubscribeMessage('even')
  even(@MessageBody() n: number): number {
    return n;
  }
}

@WebSocketGateway({ path: '/open' })
class OpenGateway {
  @UsePipes(new DtoValidationPipe())
  @SubscribeMessage('create')
  create(@MessageBody() dto: CreateRoomDto): { event: string; data: unknown } {
    return { event: 'created', data: { isDto: dto instanceof CreateRoomDto, name: dto.name, size: dto.size } };
  }

  @SubscribeMessage('stream')
  stream(@MessageBody() n: number): Observable<{ event: string; data: number }> {
    return of(...Array.from({ length: n }, (_, i) => ({ event: 'item', data: i })));
  }

  @SubscribeMessage('later')
  async later(@MessageBody() n: number): Promise<{ event: string; data: number }> {
    await new Promise((resolve) => setTimeout(resolve, 5));
    return { event: 'later', data: n * 2 };
  }
}

@WebSocketGateway({ path: '/small', maxPayload: 16 })
class SmallGateway {
  @SubscribeMessage('echo')
  echo(@MessageBody() data: unknown): unknown {
    return data;
  }
}

@UseGuards(NaiveWsGuard)
@WebSocketGateway({ path: '/naive' })
class NaiveGateway {}

@WebSocketGateway({ path: '/beat', heartbeat: { interval: 40, timeout: 80 } })
class BeatGateway {}

@Module({
  providers: [
    SecureGateway,
    OpenGateway,
    SmallGateway,
    BeatGateway,
    NaiveGateway,
    { provide: APP_GUARD, useClass: AppGuard },
  ],
})
class GuardsModule {}

let app: INestApplication;
let base: string;

beforeAll(async () => {
  app = await NestFactory.create(GuardsModule, new ExpressAdapter(), { logger: false });
  app.useWebSocketAdapter(new WskitAdapter(app, { shutdownTimeout: 200 }));
  app.useGlobalGuards(new GlobalGuard());
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as AddressInfo;
  base = `ws://127.0.0.1:${port}`;
});

afterAll(async () => {
  await app?.close();
});

test('class-level @UseGuards runs on the upgrade request: false → 403, UnauthorizedException → 401, pass opens', async () => {
  seen.length = 0;
  const forbidden = await refusal(`${base}/secure`);
  expect(forbidden.status).toBe(403);
  expect(JSON.parse(forbidden.body)).toMatchObject({ statusCode: 403 });
  const unauthorized = await refusal(`${base}/secure`, { 'x-key': 'bad' });
  expect(unauthorized.status).toBe(401);
  expect(JSON.parse(unauthorized.body)).toMatchObject({ statusCode: 401, message: 'bad key' });
  // Refused before the handshake: no connection was made, so the guard saw only the upgrade requests.
  expect(seen).toEqual([
    { type: 'http', gateway: 'SecureGateway', url: '/secure' },
    { type: 'http', gateway: 'SecureGateway', url: '/secure' },
  ]);

  const client = await connect(`${base}/secure?x=1`, { 'x-key': 'good' });
  expect(seen).toHaveLength(3);
  client.send({ event: 'ping', data: 'a' });
  expect(await client.next()).toEqual({ event: 'pong', data: 'a' });
  // The same class guard keeps running per message, with a ws context.
  client.send({ event: 'ping', data: 'key-blocked' });
  expect(await client.next()).toMatchObject({
    event: 'exception',
    data: { status: 'error', message: 'Forbidden resource' },
  });
  client.ws.close();
});

test('guards of other gateways do not apply: /open needs no key', async () => {
  seen.length = 0;
  const client = await connect(`${base}/open`);
  expect(seen).toHaveLength(0);
  client.ws.close();
});

test('APP_GUARD and useGlobalGuards refuse at connect time, on every gateway', async () => {
  const app403 = await refusal(`${base}/open?deny=app`);
  expect(app403.status).toBe(403);
  expect(JSON.parse(app403.body)).toMatchObject({ statusCode: 403, message: 'app guard says no' });
  const global403 = await refusal(`${base}/open?deny=global`);
  expect(global403.status).toBe(403);
  expect(JSON.parse(global403.body)).toMatchObject({ statusCode: 403, message: 'Forbidden resource' });
  // Global guards run before the class guard: a good key does not help.
  expect((await refusal(`${base}/secure?deny=global`, { 'x-key': 'good' })).status).toBe(403);
  // A gateway with no guards of its own is still behind the global ones.
  expect((await refusal(`${base}/small?deny=app`)).status).toBe(403);
});

test('a class guard written for messages only (no getType check) fails closed at connect time', async () => {
  expect((await refusal(`${base}/naive`)).status).toBe(403);
});

test('a message-level @UseGuards still refuses per message with a WsException reply', async () => {
  const client = await connect(`${base}/secure`, { 'x-key': 'good' });
  client.send({ event: 'even', data: 4 });
  expect(await client.next()).toBe(4);
  client.send({ event: 'even', data: 3 });
  expect(await client.next()).toMatchObject({
    event: 'exception',
    data: { status: 'error', message: 'Forbidden resource' },
  });
  client.ws.close();
});

test('a validating pipe on a @SubscribeMessage DTO: valid → transformed DTO, invalid → exception reply', async () => {
  const client = await connect(`${base}/open`);
  client.send({ event: 'create', data: { name: 'lobby', size: 3 } });
  expect(await client.next()).toEqual({ event: 'created', data: { isDto: true, name: 'lobby', size: 3 } });
  client.send({ event: 'create', data: { name: '', size: 1.5 } });
  // Nest's WsException filter sends an object or array error as the data itself.
  expect(await client.next()).toEqual({
    event: 'exception',
    data: ['name must be a non-empty string', 'size must be a positive integer'],
  });
  client.ws.close();
});

test('a handler returning an Observable sends every value; a Promise sends its result', async () => {
  const client = await connect(`${base}/open`);
  client.send({ event: 'stream', data: 3 });
  expect([await client.next(), await client.next(), await client.next()]).toEqual([
    { event: 'item', data: 0 },
    { event: 'item', data: 1 },
    { event: 'item', data: 2 },
  ]);
  client.send({ event: 'later', data: 21, id: 7 });
  expect(await client.next()).toEqual({ event: 'later', data: 42, id: 7 });
  client.ws.close();
});

test('per-gateway maxPayload: a larger message closes with 1009, other gateways are not limited', async () => {
  const open = await connect(`${base}/open`);
  open.send({ event: 'later', data: 1, padding: 'x'.repeat(100) });
  expect(await open.next()).toEqual({ event: 'later', data: 2 });
  open.ws.close();

  const small = await connect(`${base}/small`);
  small.send({ event: 'echo', data: 'x'.repeat(100) });
  expect((await small.closed).code).toBe(1009);
});

test('per-gateway heartbeat is passed through: pings arrive, a silent client is terminated', async () => {
  const alive = await connect(`${base}/beat`);
  const pinged = new Promise<void>((resolve) => alive.ws.once('ping', () => resolve()));
  await pinged;
  alive.ws.close();

  const silent = new WebSocket(`${base}/beat`, { autoPong: false });
  const closed = new Promise<number>((resolve) => silent.once('close', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    silent.once('open', () => resolve());
    silent.once('error', reject);
  });
  expect(await closed).toBe(1006);
});

test('the errorEvent option renames the adapter error replies', async () => {
  const server = createServer();
  const adapter = new WskitAdapter(server, { errorEvent: 'oops' });
  const gateway = adapter.create(0, { path: '/bare' });
  adapter.bindClientConnect(gateway, (client) =>
    adapter.bindMessageHandlers(client as WsClient, [], (data) => of(data)),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = server.address() as AddressInfo;
    const client = await connect(`ws://127.0.0.1:${port}/bare`);
    client.send({ event: 'nope', id: 1 });
    expect(await client.next()).toMatchObject({ event: 'oops', id: 1, data: { code: 'UNKNOWN_EVENT' } });
    client.ws.close();
    await adapter.close(gateway);
  } finally {
    await adapter.dispose();
    await new Promise((resolve) => server.close(resolve));
  }
});
