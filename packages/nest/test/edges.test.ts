// WskitAdapter edges: message shapes the default parser refuses, a handler that throws synchronously, a
// connect-time guard that throws (500, not a hanging socket), a rejecting handleConnection (1011), and
// setMessageParser() validation.
import 'reflect-metadata';
import { Module, UseGuards, type CanActivate, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import { SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import type { AddressInfo } from 'node:net';
import { WskitAdapter } from '@wskit/nest';
import { connect, refusal } from './client-helpers.js';

class ThrowingGuard implements CanActivate {
  canActivate(): boolean {
    throw new Error('guard exploded');
  }
}

@WebSocketGateway({ path: '/plain' })
class PlainGateway {
  @SubscribeMessage('sync-throw')
  syncThrow(): never {
    throw new Error('sync failure');
  }

  @SubscribeMessage('ok')
  ok(): { event: string; data: unknown } {
    return { event: 'ok', data: 1 };
  }
}

@UseGuards(ThrowingGuard)
@WebSocketGateway({ path: '/guarded' })
class GuardedGateway {
  @SubscribeMessage('ok')
  ok(): number {
    return 1;
  }
}

@WebSocketGateway({ path: '/rejecting' })
class RejectingGateway {
  async handleConnection(): Promise<void> {
    await Promise.resolve();
    throw new Error('connection handler rejected');
  }
}

@Module({ providers: [PlainGateway, GuardedGateway, RejectingGateway] })
class EdgesModule {}

let app: INestApplication;
let base: string;
let adapter: WskitAdapter;

beforeAll(async () => {
  app = await NestFactory.create(EdgesModule, new ExpressAdapter(), { logger: false });
  adapter = new WskitAdapter(app, { shutdownTimeout: 200 });
  app.useWebSocketAdapter(adapter);
  await app.listen(0, '127.0.0.1');
  base = `ws://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
});
afterAll(async () => {
  await app?.close();
});

test('messages the default parser refuses get INVALID_MESSAGE replies; the socket stays usable', async () => {
  const client = await connect(`${base}/plain`);
  client.send('[1,2]');
  const array = (await client.next()) as { event: string; data: { code: string; message: string } };
  expect(array.event).toBe('exception');
  expect(array.data.code).toBe('INVALID_MESSAGE');
  expect(array.data.message).toMatch(/JSON object/);
  client.send({ event: 5 });
  const noEvent = (await client.next()) as { data: { code: string; message: string } };
  expect(noEvent.data.code).toBe('INVALID_MESSAGE');
  expect(noEvent.data.message).toMatch(/string "event"/);
  client.ws.send(Buffer.from(JSON.stringify({ event: 'ok' })));
  expect(await client.next()).toEqual({ event: 'ok', data: 1 });
  client.ws.close();
});

test('a handler that throws synchronously gets an exception reply without internals; the socket stays usable', async () => {
  const client = await connect(`${base}/plain`);
  client.send({ event: 'sync-throw', id: 7 });
  const reply = (await client.next()) as { event: string; data: { code: string; message: string }; id?: number };
  expect(reply.event).toBe('exception');
  expect(JSON.stringify(reply)).not.toContain('sync failure');
  client.send({ event: 'ok' });
  expect(await client.next()).toEqual({ event: 'ok', data: 1 });
  client.ws.close();
});

test('a connect-time guard that throws answers the upgrade with 500', async () => {
  const answer = await refusal(`${base}/guarded`);
  expect(answer.status).toBe(500);
  expect(answer.body).not.toContain('guard exploded');
});

test('a rejecting handleConnection closes that socket with 1011', async () => {
  const client = await connect(`${base}/rejecting`);
  const code = await new Promise<number>((resolve) => client.ws.once('close', (c: number) => resolve(c)));
  expect(code).toBe(1011);
});

test('setMessageParser() refuses a non-function', () => {
  expect(() => adapter.setMessageParser('nope' as never)).toThrow(TypeError);
});
