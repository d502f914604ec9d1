// Nest's own ValidationPipe (class-validator + class-transformer) on a @SubscribeMessage DTO, through the
// adapter: a valid payload reaches the handler as a DTO instance, an invalid one gets an exception reply.
import 'reflect-metadata';
import { Module, UsePipes, ValidationPipe, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import { MessageBody, SubscribeMessage, WebSocketGateway, WsException } from '@nestjs/websockets';
import { IsInt, IsNotEmpty, IsString, Min } from 'class-validator';
import type { AddressInfo } from 'node:net';
import { WskitAdapter } from '@wskit/nest';
import { connect } from './client-helpers.js';

class JoinDto {
  @IsString()
  @IsNotEmpty()
  room!: string;

  @IsInt()
  @Min(1)
  seats!: number;
}

@WebSocketGateway({ path: '/rooms' })
class RoomsGateway {
  @UsePipes(
    new ValidationPipe({
      transform: true,
      exceptionFactory: (errors) =>
        new WsException(errors.flatMap((e) => Object.keys(e.constraints ?? {}).map((rule) => `${e.property}:${rule}`))),
    }),
  )
  @SubscribeMessage('join')
  join(@MessageBody() dto: JoinDto): { event: string; data: unknown } {
    return { event: 'joined', data: { isDto: dto instanceof JoinDto, room: dto.room, seats: dto.seats } };
  }
}

@Module({ providers: [RoomsGateway] })
class RoomsModule {}

let app: INestApplication;
let base: string;

beforeAll(async () => {
  app = await NestFactory.create(RoomsModule, new ExpressAdapter(), { logger: false });
  app.useWebSocketAdapter(new WskitAdapter(app, { shutdownTimeout: 200 }));
  await app.listen(0, '127.0.0.1');
  base = `ws://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
});

afterAll(async () => {
  await app?.close();
});

test('ValidationPipe: valid → DTO instance, invalid → { event: "exception", data: [violations] }', async () => {
  const client = await connect(`${base}/rooms`);
  client.send({ event: 'join', data: { room: 'lobby', seats: 2 } });
  expect(await client.next()).toEqual({ event: 'joined', data: { isDto: true, room: 'lobby', seats: 2 } });
  client.send({ event: 'join', data: { room: '', seats: 0 } });
  const reply = (await client.next()) as { event: string; data: string[] };
  expect(reply.event).toBe('exception');
  expect([...reply.data].sort()).toEqual(['room:isNotEmpty', 'seats:min']);
  client.ws.close();
});
